"""Typed options of the tracking core (defaults: the CSTrack/JDE reference behaviour)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

# chi-square 0.95 quantile with 4 degrees of freedom: the Kalman gate on (cx, cy, aspect, h).
CHI2_95_4DOF = 9.4877
_MIN_STD_WEIGHT, _MAX_STD_WEIGHT = 1e-6, 1e6
_INT64_MAX = 2**63 - 1  # track_buffer is an int64 in the native core and the C API
_MAX_MIN_HITS = 1000
_MAX_SCORE_WINDOW = 1 << 20  # the adaptive thresholds' ring buffer: at most 8 MiB
_MAX_CROWD_FRAMES = 10_000  # the crowd count's ring buffer (frames)
_MAX_KEPT_DETECTIONS = 1 << 20  # the largest max_detections (= kMaxKeptDetections in the C++ core)


# What a detection model's scores get (see TrackerOptions.for_model): the cascade as validated
# with the shipped models (fixed thresholds; their score floor makes quantiles meaningless).
MODEL_BASE: dict[str, Any] = {"det_quantile": None, "min_hits": 2, "gating": True}


@dataclass(frozen=True)
class TrackerOptions:
    """Thresholds of the association cascade; every cost threshold is an *accept if cost <= value*.

    Stages (see ``AssociationCore``): (1) active + lost tracks vs high-score detections on
    ``fusion_weight``·cosine + (1 − ``fusion_weight``)·Mahalanobis² (embedding mode; gated by
    ``gating_threshold``), or on 1 − IoU with the same gate when no embeddings are given;
    (2) remaining active tracks vs remaining high-score detections on 1 − IoU; (2b) low-score
    rescue: remaining active tracks vs detections with ``low_score_thresh`` <= score <
    ``det_thresh`` on 1 − IoU (they never start tracks); (3) tentative tracks on 1 − IoU;
    (4) new tracks from unmatched detections with score >= ``det_thresh``.

    Score scale (``det_quantile``): a detector's scores have its own scale (logistic, min-max
    normalised, raw SVM margins, ...). With ``det_quantile`` set (the default, 0.15) the high and
    low thresholds are the ``det_quantile`` / ``low_score_quantile`` quantiles of the latest
    ``score_window`` scores the tracker has seen, this frame's included, so any monotone change of
    the scores gives the same tracks; ``det_thresh`` is then unused and ``low_score_thresh`` only
    switches the rescue on (a number) or off (None). ``det_quantile=None`` restores the fixed
    thresholds: use it for a detector whose scores are calibrated and whose output keeps many
    low-score boxes (``for_model()``, what ``Tracker(model=...)`` uses: a quantile of the shipped
    model's score floor at 0.1 would count most of its background boxes as confident).

    Track birth (``min_hits``): a new detection starts a tentative track that is confirmed (gets
    its public id) after ``min_hits`` matches on consecutive frames; one missed frame drops it.
    The first frame's tracks are confirmed at once (JDE). Gating (``gating``): off by default;
    the χ² gate rejected correct stage-1 pairs of jittery real detections (see the ablation in
    ``benchmarks/README.md``).

    Crowds (``crowd_drop``, fixed thresholds only): a missed person is likelier in a crowd and a
    stray box likelier in an empty scene. With ``crowd_drop`` > 0 both thresholds of a frame drop by
    ``crowd_drop`` x r, where r grows linearly from 0 to 1 as the mean number of confident detections
    (score >= ``det_thresh``) over the last ``crowd_frames`` frames, this one included, goes from
    ``crowd_low`` to ``crowd_high`` (0 under, 1 over). 0 (the default) switches it off.

    Time bound (``max_detections``): a frame with more detections keeps the ``max_detections``
    highest-scoring ones (equal scores: the earlier rows), in their order, and the rest are dropped
    before anything else sees them (the score window included). A detector's own output is a few
    hundred boxes; without the bound the second frame of 100,000 mutually overlapping boxes (a detector
    without NMS, or hostile input) took 12 s on the native core and 50 s on the Python one
    (``benchmarks/bench_hostile_frames.py``).
    """

    det_thresh: float = 0.5               # high-score detections (fixed mode); the only ones that start tracks
    low_score_thresh: float | None = 0.1  # floor of the low-score rescue (None: rescue off)
    embedding_thresh: float = 0.4         # stage 1 (fused cosine + motion) accept
    motion_thresh: float = 0.8            # stage 1 accept (1 − IoU) when no embeddings are given
    iou_thresh: float = 0.5               # stage 2 accept (1 − IoU)
    low_score_iou_thresh: float = 0.5     # stage 2b accept (1 − IoU)
    tentative_iou_thresh: float = 0.7     # stage 3 accept (1 − IoU)
    fusion_weight: float = 0.98           # weight of the cosine distance in stage 1
    gating: bool = False                  # forbid stage-1 pairs whose Mahalanobis² exceeds the gate
    gating_threshold: float = CHI2_95_4DOF
    track_buffer: int = 30                # frames a lost track is kept, at 30 fps
    frame_rate: float = 30.0              # the buffer scales by frame_rate / 30
    template_momentum: float = 0.9        # template = m·old + (1 − m)·new, re-normalised
    duplicate_iou: float = 0.85           # tracked/lost pairs above this IoU: drop the younger
    min_box_area: float = 100.0           # output filter (px²)
    max_aspect_ratio: float | None = 1.6  # output filter on w/h (None: off)
    std_weight_position: float = 1.0 / 20  # Kalman noise, scaled by box height
    std_weight_velocity: float = 1.0 / 160
    min_hits: int = 4                     # matches on consecutive frames that confirm a track (JDE: 2)
    det_quantile: float | None = 0.15     # adaptive high threshold: this quantile of the latest scores
    low_score_quantile: float = 0.0       # adaptive low-score floor (with det_quantile)
    score_window: int = 2048              # scores the adaptive thresholds look back on
    crowd_drop: float = 0.0               # thresholds drop by up to this much in a crowd (0: off)
    crowd_low: float = 5.0                # confident detections a frame (mean) where the drop starts
    crowd_high: float = 20.0              # ... and where it is whole
    crowd_frames: int = 30                # frames that mean looks back on (this one included)
    max_detections: int = 1000            # a frame's highest-scoring detections kept (time bound)

    def __post_init__(self) -> None:
        for f in fields(self):  # numpy scalars (np.float32(0.4), np.int64(30), np.bool_) as Python numbers
            value = getattr(self, f.name)
            if isinstance(value, np.generic):
                object.__setattr__(self, f.name, value.item())
        unit = ("embedding_thresh", "motion_thresh", "iou_thresh", "low_score_iou_thresh",
                "tentative_iou_thresh", "fusion_weight", "template_momentum", "duplicate_iou")
        for name in unit:
            _check(name, getattr(self, name), 0.0, 1.0)
        _check("det_thresh", self.det_thresh, -math.inf, math.inf)
        if self.low_score_thresh is not None:
            _check("low_score_thresh", self.low_score_thresh, -math.inf, math.inf)
            if self.low_score_thresh > self.det_thresh:
                raise ValueError(f"TrackerOptions.low_score_thresh: expected <= det_thresh "
                                 f"({self.det_thresh}), got {self.low_score_thresh} (lower it with det_thresh, "
                                 "or switch the low-score rescue off with None)")
        _check("gating_threshold", self.gating_threshold, 0.0, math.inf, open_low=True)
        _check("frame_rate", self.frame_rate, 0.0, math.inf, open_low=True)
        _check("min_box_area", self.min_box_area, 0.0, math.inf)
        # Kalman noise per px of box height: beyond these its squares over- or underflow float64 on large or
        # tiny boxes (the C++ core checks the same range)
        _check("std_weight_position", self.std_weight_position, _MIN_STD_WEIGHT, _MAX_STD_WEIGHT)
        _check("std_weight_velocity", self.std_weight_velocity, _MIN_STD_WEIGHT, _MAX_STD_WEIGHT)
        if self.max_aspect_ratio is not None:
            _check("max_aspect_ratio", self.max_aspect_ratio, 0.0, math.inf, open_low=True)
        _check_int("track_buffer", self.track_buffer, 0, _INT64_MAX, "2**63 - 1")
        _check_int("min_hits", self.min_hits, 2, _MAX_MIN_HITS)
        _check_int("score_window", self.score_window, 1, _MAX_SCORE_WINDOW)
        _check("low_score_quantile", self.low_score_quantile, 0.0, 1.0)
        if self.det_quantile is not None:
            _check("det_quantile", self.det_quantile, 0.0, 1.0)
            if self.low_score_quantile > self.det_quantile:
                raise ValueError(f"TrackerOptions.low_score_quantile: expected <= det_quantile "
                                 f"({self.det_quantile}), got {self.low_score_quantile}")
        _check("crowd_drop", self.crowd_drop, 0.0, math.inf)
        if self.crowd_drop > 0 and self.det_quantile is not None:
            raise ValueError(f"TrackerOptions.crowd_drop: expected 0 with det_quantile set (the drop is in "
                             f"score units: use det_quantile=None), got {self.crowd_drop!r}")
        _check("crowd_low", self.crowd_low, 0.0, math.inf)
        _check("crowd_high", self.crowd_high, self.crowd_low, math.inf, open_low=True)
        _check_int("crowd_frames", self.crowd_frames, 1, _MAX_CROWD_FRAMES)
        _check_int("max_detections", self.max_detections, 1, _MAX_KEPT_DETECTIONS)
        if not isinstance(self.gating, bool):
            raise ValueError(f"TrackerOptions.gating: expected True/False, got {self.gating!r}")

    @classmethod
    def for_model(cls, **changes: Any) -> "TrackerOptions":
        """Options for a detection model's own, calibrated scores: :data:`MODEL_BASE` (fixed
        thresholds, JDE's two-hit birth, the χ² gate) with ``changes`` on top. ``Tracker(model=...)``
        starts from these and a model's metadata ``tracker_defaults`` are changes over them."""
        return cls().replace(**{**MODEL_BASE, **changes})

    @property
    def max_time_lost(self) -> int:
        """Frames a lost track survives: ``track_buffer`` scaled by ``frame_rate / 30``, at most 2**63 - 1."""
        frames = self.frame_rate / 30.0 * self.track_buffer
        return _INT64_MAX if frames >= 2.0**63 else int(frames)  # saturated, as in the C++ core

    def replace(self, **changes: Any) -> "TrackerOptions":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""  # a file may hold thousands
            names = [name[:40] for name in unknown[:5]]
            raise ValueError(f"TrackerOptions: unknown option(s) {names}{more}; known: {sorted(known)}")
        return TrackerOptions(**{**asdict(self), **changes})


def keyword_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` as ``Tracker(**changes)`` and ``--set`` mean them: a ``det_thresh`` or a non-zero
    ``crowd_drop`` (numbers on the detector's score scale) without ``det_quantile`` switches to fixed
    thresholds (``det_quantile=None``), so the number given is the one used."""
    if "det_quantile" not in changes and ("det_thresh" in changes or changes.get("crowd_drop")):
        return {**changes, "det_quantile": None}
    return dict(changes)


def model_options(defaults: dict[str, Any] | None, changes: dict[str, Any]) -> TrackerOptions:
    """:meth:`TrackerOptions.for_model` with a model's validated ``tracker_defaults`` and then
    ``changes`` on top (what ``Tracker(model=...)`` runs with). The model's ``crowd_drop`` is on its
    fixed thresholds' scale: changes that ask for quantile thresholds without a ``crowd_drop`` of
    their own leave it out."""
    merged = {**(defaults or {}), **changes}
    if merged.get("det_quantile") is not None and "crowd_drop" not in changes:
        merged.pop("crowd_drop", None)
    return TrackerOptions.for_model(**merged)


def _check(name: str, value: Any, low: float, high: float, open_low: bool = False) -> None:
    ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok_type or not math.isfinite(value):
        raise ValueError(f"TrackerOptions.{name}: expected a finite number, got {value!r}")
    if value < low or value > high or (open_low and value == low):
        bound = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
        raise ValueError(f"TrackerOptions.{name}: expected a value in {bound}, got {value!r}")


def _check_int(name: str, value: Any, low: int, high: int, high_text: str | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"TrackerOptions.{name}: expected an integer in [{low}, {high_text or high}], got {value!r}")
