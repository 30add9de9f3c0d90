"""Property tests (hypothesis): invariants of the tracker on arbitrary detection streams."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mottrack_sdk import Tracker


@st.composite
def streams(draw):
    n_frames = draw(st.integers(1, 12))
    dim = draw(st.sampled_from([0, 4]))
    classes = draw(st.booleans())
    frames = []
    for _ in range(n_frames):
        n = draw(st.integers(0, 12))
        xy = np.array(draw(st.lists(st.tuples(st.floats(0, 300), st.floats(0, 300)), min_size=n, max_size=n)),
                      dtype=float).reshape(n, 2)
        wh = np.array(draw(st.lists(st.tuples(st.floats(11, 80), st.floats(11, 120)), min_size=n, max_size=n)),
                      dtype=float).reshape(n, 2)
        scores = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)), dtype=float)
        emb = None
        if dim:
            emb = np.array(draw(st.lists(st.lists(st.floats(0.1, 1), min_size=dim, max_size=dim),
                                         min_size=n, max_size=n)), dtype=float).reshape(n, dim)
        cls = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=int) if classes else None
        frames.append((np.concatenate([xy, xy + wh], axis=1), scores, emb, cls))
    return frames


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_invariants(frames):
    tr = Tracker(min_box_area=0, max_aspect_ratio=None)
    ever: dict[int, int] = {}  # id -> class
    last_max_id = 0
    for xyxy, scores, emb, cls in frames:
        out = tr.update_detections_arrays(xyxy, scores, emb, cls)
        ids = out.track_id.tolist()
        assert len(ids) == len(set(ids)), "two tracks share an ID in one frame"
        assert np.isfinite(out.xyxy).all() and np.isfinite(out.score).all()
        assert all(i >= 1 for i in ids)
        # each output box comes from a distinct detection: scores are copied from the matched detection
        # and tracks are updated by exactly one detection -> at most one track per detection
        assert len(ids) <= len(scores)
        for i, c in zip(ids, out.class_id.tolist()):
            assert ever.setdefault(i, c) == c, "a track changed class"
        new = [i for i in ids if i > last_max_id]
        assert sorted(new) == list(range(last_max_id + 1, last_max_id + 1 + len(new))), "IDs not increasing"
        last_max_id = max([last_max_id, *ids])


@settings(max_examples=60, deadline=None)
@given(streams())
def test_no_detection_is_assigned_twice(frames):
    tr = Tracker(min_box_area=0, max_aspect_ratio=None)
    for xyxy, scores, emb, cls in frames:
        core = tr._core
        out = tr.update_detections_arrays(xyxy, scores, emb, cls)
        hit = core.table.last_frame == core.frame_id
        # every track updated this frame holds a detection's score; updated tracks <= detections
        assert int(hit.sum()) <= len(scores)
        taken = core.table.score[hit & (core.table.hits > 1)]
        assert len(taken) <= len(scores)
        assert len(out.track_id) <= len(scores)
