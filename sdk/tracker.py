"""`Tracker`: the public tracking API.

``Tracker().update_detections(boxes_xyxy, scores, embeddings=None, classes=None)`` runs one frame
of the association cascade (:mod:`mottrack_sdk.tracking.core`) on detections from any detector
and returns the confirmed tracks of that frame.
"""
from __future__ import annotations

from functools import partial
from itertools import repeat
from typing import Any

from mottrack_sdk.tracking.core import AssociationCore, FrameTracks
from mottrack_sdk.tracking.native import make_core
from mottrack_sdk.tracking.options import TrackerOptions
from mottrack_sdk.tracking.validation import check_boxes, check_column, check_embeddings
from mottrack_sdk.types import Track, TrackState


_new_track = partial(tuple.__new__, Track)


class Tracker:
    """Multi-object tracker. IDs start at 1 per instance and are never reused.

    Args:
        options: a :class:`TrackerOptions`; keyword overrides (``Tracker(det_thresh=0.4)``) are
            applied on top and validated by name.
        core: ``"python"`` (the numpy reference core), ``"native"`` (the C++ core of ``bindings/``;
            an error if it was not built) or ``"auto"`` (native when built, else Python). Both give
            the same tracks (differential tests).
    """

    def __init__(self, options: TrackerOptions | None = None, *, core: str = "auto", **overrides: Any):
        if options is not None and not isinstance(options, TrackerOptions):
            raise ValueError(f"options: expected a TrackerOptions, got {type(options).__name__}")
        options = options or TrackerOptions()
        self.options = options.replace(**overrides) if overrides else options
        self._core = make_core(self.options, core)
        self._embedding_dim: int | None = None

    @property
    def core(self) -> str:
        """Which association core runs: ``"native"`` or ``"python"``."""
        return "python" if isinstance(self._core, AssociationCore) else "native"

    @property
    def frame_id(self) -> int:
        """Frames processed since creation or the last :meth:`reset` (the first frame is 1)."""
        return self._core.frame_id

    def reset(self) -> None:
        """Forget all tracks and restart IDs at 1 (a new stream)."""
        self._core.reset()
        self._embedding_dim = None

    def update_detections(self, boxes_xyxy: Any, scores: Any, embeddings: Any = None,
                          classes: Any = None) -> list[Track]:
        """Advance one frame.

        Args:
            boxes_xyxy: (N, 4) [x1, y1, x2, y2] in frame pixels, x2 > x1, y2 > y1.
            scores: (N,) detection confidences (any finite scale; thresholds use the same scale).
            embeddings: (N, D) appearance embeddings (normalised here), or None for motion + IoU only.
            classes: (N,) integer class ids, or None (one class). Tracks never change class.

        Returns:
            The confirmed tracks matched in this frame.

        Raises:
            ValueError: naming the argument, for wrong shapes, dtypes, NaN/inf or non-positive sizes.
        """
        return self._to_tracks(self.update_detections_arrays(boxes_xyxy, scores, embeddings, classes))

    def update_detections_arrays(self, boxes_xyxy: Any, scores: Any, embeddings: Any = None,
                                 classes: Any = None) -> FrameTracks:
        """As :meth:`update_detections`, but returns columns (no per-track objects)."""
        boxes = check_boxes(boxes_xyxy)
        n = len(boxes)
        score_arr = check_column(scores, "scores", n)
        cls = None if classes is None else check_column(classes, "classes", n, integer=True)
        emb = None
        if embeddings is not None:
            emb = check_embeddings(embeddings, n, self._embedding_dim)
            if n:
                self._embedding_dim = emb.shape[1]
        return self._core.step(boxes, score_arr, emb, cls)

    @staticmethod
    def _to_tracks(ft: FrameTracks) -> list[Track]:
        # Track is a NamedTuple: tuple.__new__ over zipped columns builds each one in C, without
        # the generated Python __new__ (a third of the cost of a frame's output at N = 200).
        n = len(ft.track_id)
        return list(map(_new_track, zip(
            ft.track_id.tolist(), zip(*ft.xyxy.T.tolist()), ft.score.tolist(), ft.class_id.tolist(),
            repeat(TrackState.TRACKED, n), ft.hits.tolist(), ft.age.tolist(), repeat(0, n))))

    def __repr__(self) -> str:
        return f"Tracker(frame_id={self.frame_id}, live_tracks={self._core.live_tracks}, core={self.core!r})"
