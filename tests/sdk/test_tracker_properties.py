"""Property tests (hypothesis): invariants of the tracker on arbitrary detection streams."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mottrack_sdk import Tracker
from mottrack_sdk.tracking.native import native_available

CORES = ["python"] + (["native"] if native_available() else [])


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
    for core in CORES:
        _check_invariants(Tracker(core=core, min_box_area=0, max_aspect_ratio=None), frames)


def _check_invariants(tr: Tracker, frames) -> None:
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


@settings(max_examples=80, deadline=None)
@given(streams())
def test_no_detection_is_assigned_twice_and_removed_ids_never_return(frames):
    tr = Tracker(core="python", min_box_area=0, max_aspect_ratio=None)  # spies on the reference core
    core = tr._core
    seen_matches: list[np.ndarray] = []
    original = core._update_matched

    def spy(match, *args, **kwargs):
        seen_matches.append(np.array(match, copy=True))
        return original(match, *args, **kwargs)

    core._update_matched = spy
    removed: set[int] = set()
    live_before: set[int] = set()
    for xyxy, scores, emb, cls in frames:
        seen_matches.clear()
        out = tr.update_detections_arrays(xyxy, scores, emb, cls)
        for match in seen_matches:
            dets = match[match >= 0]
            assert len(dets) == len(set(dets.tolist())), "a detection was assigned to two tracks"
            assert (dets < len(scores)).all()
        assert not (set(out.track_id.tolist()) & removed), "a removed track's ID came back"
        live = {int(i) for i in core.table.track_id if i > 0}
        removed |= live_before - live
        live_before = live
