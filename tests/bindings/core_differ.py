"""What the differential tests of tests/bindings share: :class:`Differ` (the same frames and camera
warps into the Python reference core and the native core, compared frame by frame), random camera
warps, and the hypothesis strategy of random streams (options, frames, warps).

Imported by the test modules of this folder (pytest puts it on ``sys.path``)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from mottrack_sdk.tracking.core import AssociationCore, FrameTracks
from mottrack_sdk.tracking.native import NativeAssociationCore
from mottrack_sdk.tracking.options import TrackerOptions

BOX_TOL = 1e-5       # what every comparison asserts (any real disagreement is pixels, not 1e-5)
TIGHT_BOX_TOL = 1e-9  # what the tests of the new options also assert on max_box_diff
FIELDS = ("score", "class_id", "hits", "age")

# The options of the JDE reference behaviour before adaptive thresholds and birth hysteresis: the
# fixed det_thresh / low_score_thresh, tracks confirmed on their second match, the chi^2 gate on.
LEGACY = TrackerOptions(det_quantile=None, min_hits=2, gating=True)


class Differ:
    """Feeds the same frames (and camera warps) to both cores and records how far apart they are."""

    def __init__(self, options: TrackerOptions, **limits: int):
        self.python = AssociationCore(options, **limits)
        self.native = NativeAssociationCore(options, **limits)
        self.frames = 0
        self.tracks = 0
        self.max_box_diff = 0.0

    def warp(self, warp: np.ndarray) -> None:
        self.python.apply_camera_motion(warp)
        self.native.apply_camera_motion(warp)

    def step(self, xyxy, scores, embeddings=None, classes=None) -> FrameTracks:
        """One frame on both cores, compared; returns the native core's tracks."""
        cls = np.zeros(len(scores), np.int64) if classes is None else classes
        a = self.python.step(xyxy, scores, embeddings, cls)
        b = self.native.step(xyxy, scores, embeddings, classes)
        self.frames += 1
        where = f"frame {self.frames}"
        np.testing.assert_array_equal(b.track_id, a.track_id, err_msg=f"{where}: track IDs differ")
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=f"{where}: {name}")
        if len(a.track_id):
            diff = float(np.abs(a.xyxy - b.xyxy).max())
            assert diff <= BOX_TOL, f"{where}: boxes differ by {diff}"
            self.max_box_diff = max(self.max_box_diff, diff)
        self.tracks += len(a.track_id)
        assert b.xyxy.dtype == np.float64 and b.track_id.dtype == np.int64
        assert self.native.frame_id == self.python.frame_id == self.frames
        # tentative tracks waiting for min_hits are held (and counted) alike
        assert self.native.live_tracks == self.python.live_tracks, f"{where}: live tracks differ"
        return b


def random_warp(rng: np.random.Generator, shift: float = 8.0, angle: float = 0.02, zoom: float = 0.03) -> np.ndarray:
    """A (2, 3) similarity [R | t] as a camera gives one between frames: a small rotation, a zoom
    near 1 and a shift of a few pixels."""
    theta, s = rng.normal(0.0, angle), 1.0 + rng.normal(0.0, zoom)
    c, n = s * np.cos(theta), s * np.sin(theta)
    return np.array([[c, -n, rng.normal(0.0, shift)], [n, c, rng.normal(0.0, shift)]])


# Warps of the random streams: the identity (a no-op in both cores), exact shifts on the boxes' 10 px
# grid, a zoom, and a rotation with a shift (inexact: the costs' ties are then broken by rounding).
STREAM_WARPS = (
    np.eye(2, 3),
    np.array([[1.0, 0.0, 10.0], [0.0, 1.0, -10.0]]),
    np.array([[1.25, 0.0, -5.0], [0.0, 1.25, 0.0]]),
    np.array([[np.cos(0.05), -np.sin(0.05), 3.0], [np.sin(0.05), np.cos(0.05), -2.0]]),
)


@st.composite
def stream_options(draw) -> TrackerOptions:
    """Varied options, the adaptive thresholds, birth hysteresis and crowd drop included."""
    det_quantile = draw(st.sampled_from([None, 0.0, 0.15, 0.5, 1.0]))
    low_quantiles = [q for q in (0.0, 0.1, 0.5) if det_quantile is None or q <= det_quantile]
    crowd_low = draw(st.sampled_from([0.0, 1.0, 2.5]))
    return TrackerOptions(
        det_thresh=draw(st.sampled_from([0.5, 0.6])),
        low_score_thresh=draw(st.sampled_from([None, 0.1, 0.3])),
        motion_thresh=draw(st.sampled_from([0.2, 0.8, 1.0])),
        iou_thresh=draw(st.sampled_from([0.0, 0.5, 1.0])),
        low_score_iou_thresh=draw(st.sampled_from([0.5, 1.0])),
        tentative_iou_thresh=draw(st.sampled_from([0.3, 0.7, 1.0])),
        embedding_thresh=draw(st.sampled_from([0.4, 0.99])),
        fusion_weight=draw(st.sampled_from([0.0, 0.5, 0.98, 1.0])),
        gating=draw(st.booleans()),
        track_buffer=draw(st.sampled_from([0, 1, 3, 30])),
        duplicate_iou=draw(st.sampled_from([0.0, 0.5, 0.85])),
        min_box_area=draw(st.sampled_from([0.0, 100.0])),
        max_aspect_ratio=draw(st.sampled_from([None, 1.6])),
        min_hits=draw(st.sampled_from([2, 3, 5])),
        det_quantile=det_quantile,
        low_score_quantile=draw(st.sampled_from(low_quantiles)),
        score_window=draw(st.sampled_from([1, 7, 64, 2048])),
        crowd_drop=draw(st.sampled_from([0.0, 0.1, 0.45])) if det_quantile is None else 0.0,
        crowd_low=crowd_low,
        crowd_high=crowd_low + draw(st.sampled_from([0.5, 3.0, 7.0])),
        crowd_frames=draw(st.sampled_from([1, 2, 5])),
        max_detections=draw(st.sampled_from([1, 4, 1000])),
    )


@st.composite
def streams(draw, warps: bool = False):
    """Options and frames of boxes on a coarse grid (exact cost ties happen), scores around the
    thresholds, optional one-hot embeddings and classes; with ``warps``, a camera warp (or None)
    before each frame. Frames are (warp, xyxy, scores, embeddings, classes)."""
    options = draw(stream_options())
    dim = draw(st.sampled_from([0, 4]))
    with_classes = draw(st.booleans())
    frames = []
    for _ in range(draw(st.integers(1, 14))):
        n = draw(st.integers(0, 10))
        cells = draw(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 6), st.integers(1, 5), st.integers(2, 8)),
                              min_size=n, max_size=n))
        xyxy = np.array([(10.0 * x, 10.0 * y, 10.0 * (x + w), 10.0 * (y + h)) for x, y, w, h in cells],
                        dtype=float).reshape(n, 4)
        scores = np.array(draw(st.lists(st.sampled_from([0.05, 0.2, 0.5, 0.55, 0.9]), min_size=n, max_size=n)))
        emb = None
        if dim:  # one-hot rows: every dot product with a template is one exact product
            hot = draw(st.lists(st.integers(0, dim - 1), min_size=n, max_size=n))
            emb = np.zeros((n, dim), np.float32)
            emb[np.arange(n), hot] = 1.0
        cls = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.int64) if with_classes else None
        warp = draw(st.sampled_from((None, *STREAM_WARPS))) if warps else None
        frames.append((warp, xyxy, scores.astype(float), emb, cls))
    return options, frames


def run_stream(d: Differ, frames: list) -> None:
    for warp, xyxy, scores, emb, cls in frames:
        if warp is not None:
            d.warp(warp)
        d.step(xyxy, scores, emb, cls)
