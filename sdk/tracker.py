"""`Tracker`: the public tracking API.

- ``Tracker().update(frame)``: frame in, tracks out. Runs the detection model (default: the shipped
  CSTrack-nano default model; or ``Tracker(model=...)``) through a backend, then the association cascade.
- ``Tracker().update_detections(boxes_xyxy, scores, embeddings=None, classes=None)`` runs one frame
  of the association cascade (:mod:`mottrack_sdk.tracking.core`) on detections from any detector
  and returns the confirmed tracks of that frame.

The model is opened on the first ``update(frame)`` (or :meth:`Tracker.load_model`): a tracker used for
detections only never imports onnxruntime, torch or tensorrt.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import replace
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mottrack_sdk.config import short_repr
from mottrack_sdk.tracking.core import AssociationCore, FrameTracks
from mottrack_sdk.tracking.native import make_core
from mottrack_sdk.tracking.options import TrackerOptions, keyword_changes, model_options
from mottrack_sdk.tracking.validation import check_boxes, check_column, check_embeddings
from mottrack_sdk.types import Detections, Track, TrackState

if TYPE_CHECKING:
    import numpy as np

    from mottrack_sdk.detector import FrameDetector, StageTimings
    from mottrack_sdk.postprocessing import PostprocessOptions
    from mottrack_sdk.tracking.cmc import CameraMotionEstimator, CmcOptions

CMC_CHOICES = ("auto", "off", "sparse_flow", "ecc")


def _cmc_options(cmc: Any) -> CmcOptions | None:
    """``Tracker(cmc=...)`` -> the estimator's options, or None for off."""
    from mottrack_sdk.tracking.cmc import CmcOptions

    if isinstance(cmc, CmcOptions):
        return cmc
    if not isinstance(cmc, str) or cmc not in CMC_CHOICES:
        raise ValueError(f"cmc: expected one of {list(CMC_CHOICES)} or a CmcOptions, got {cmc!r}")
    return None if cmc == "off" else CmcOptions() if cmc == "auto" else CmcOptions(method=cmc)


_new_track = partial(tuple.__new__, Track)


class Tracker:
    """Multi-object tracker. IDs start at 1 per instance and are never reused.

    Args:
        options: a :class:`TrackerOptions`; keyword overrides (``Tracker(det_thresh=0.4)``) are
            applied on top and validated by name. The library defaults suit detections of any
            score scale (``update_detections``: adaptive thresholds, see ``TrackerOptions``); a
            ``det_thresh`` or ``crowd_drop`` keyword (or ``--set det_thresh=...``) without
            ``det_quantile`` switches to fixed thresholds (``det_quantile=None``), so the number
            given is the one used.
            Without ``options``, opening a model (``update(frame)``) switches to the settings for
            the model's calibrated scores: :meth:`TrackerOptions.for_model` with the model's
            validated ``tracker_defaults`` (metadata, e.g. the shipped model's ``det_thresh``) on
            top, before the first frame; keyword overrides still win. Pass
            ``options=TrackerOptions()`` to keep the library defaults.
        model: the detection model for :meth:`update`: None (the shipped CSTrack-nano default model), a
            ``.onnx`` export (ONNX Runtime), a ``.engine`` / ``.plan`` (TensorRT, with its sidecar),
            a TorchScript file (code that runs when loaded: only files you trust) or ``torch.nn.Module``
            (PyTorch), or a ready :class:`~mottrack_sdk.backends.base.Backend`. Opened on first use.
        backend: ``"auto"`` (by model) or ``"onnxruntime"`` / ``"tensorrt"`` / ``"torch"``.
        backend_options: that backend's typed options (``OnnxRuntimeOptions``, ``TensorRTOptions``,
            ``TorchOptions``), or None for its defaults (ONNX Runtime: CPU unless GPU providers are
            installed, 2 intra-op threads).
        postprocess: host NMS settings for raw-heads models (:class:`PostprocessOptions`).
        core: ``"python"`` (the numpy reference core), ``"native"`` (the C++ core of ``bindings/``;
            an error if it was not built) or ``"auto"`` (native when built, else Python). Both give
            the same tracks (differential tests).
        cmc: camera-motion compensation: ``"auto"`` (the default: on whenever a frame is seen,
            i.e. every :meth:`update` and :meth:`update_detections` calls given ``frame=``),
            ``"off"``, a method (``"sparse_flow"``, ``"ecc"``) or a :class:`CmcOptions`. The
            global motion between consecutive frames (a similarity: pan, zoom, roll, shake) moves
            every track's Kalman state before association (:mod:`mottrack_sdk.tracking.cmc`).

    Raises:
        FileNotFoundError: ``model`` is a path that does not exist.
        ValueError: unknown options, backend or core; a model that is a folder, or one no backend reads.
    """

    def __init__(self, options: TrackerOptions | None = None, *, model: Any = None, backend: str = "auto",
                 backend_options: Any = None, postprocess: PostprocessOptions | None = None, core: str = "auto",
                 cmc: Any = "auto", **overrides: Any):
        if options is not None and not isinstance(options, TrackerOptions):
            hint = " (to choose a model, pass it by name: Tracker(model=...))" if isinstance(options, (str, Path)) else ""
            raise ValueError(f"options: expected a TrackerOptions, got {type(options).__name__}{hint}")
        self._model_defaults_allowed = options is None
        overrides = keyword_changes(overrides)  # a threshold given by keyword is a fixed one, not ignored
        self._overrides = overrides
        options = options or TrackerOptions()
        self.options = options.replace(**overrides) if overrides else options
        self._core_request = core
        self._core = make_core(self.options, core)
        self._embedding_dim: int | None = None
        self._warned_max_detections = False  # the max_detections warning is given once per tracker
        self._cmc_options = _cmc_options(cmc)
        self._cmc: CameraMotionEstimator | None = None
        self.last_camera_warp = None  # the (2, 3) warp applied on the last frame that had one
        if backend != "auto":
            from mottrack_sdk.backends.registry import resolve_backend_name

            resolve_backend_name(backend)
        if isinstance(model, (str, Path)):
            from mottrack_sdk.io.path_components import check_model_file

            check_model_file(model, f"model {model}")
        if model is not None and backend == "auto":  # an unreadable kind fails here, not on the first frame
            from mottrack_sdk.backends.base import Backend
            from mottrack_sdk.backends.registry import backend_for_model

            if not isinstance(model, Backend):
                backend_for_model(model)
        self._model_request = (model, backend, backend_options, postprocess)
        self._detector: FrameDetector | None = None
        self.last_timings: StageTimings | None = None
        self.last_detections: Detections | None = None

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
        if self._cmc is not None:
            self._cmc.reset()

    def load_model(self) -> FrameDetector:
        """Open the model now (``update`` does it on first use); returns the :class:`FrameDetector`.

        Raises:
            DefaultModelMissingError: ``model=None`` and this build ships no default model.
            FileNotFoundError, ModelLoadError, ImportError: see :meth:`Backend.load`.
        """
        if self._detector is None:
            from mottrack_sdk.detector import FrameDetector

            model, backend, backend_options, postprocess = self._model_request
            detector = FrameDetector.from_model(model, backend, backend_options, postprocess)
            self._apply_model_defaults(detector.metadata.tracker_defaults)
            self._detector = detector
        return self._detector

    def _apply_model_defaults(self, defaults: Any) -> None:
        """Start from the model's ``tracker_defaults`` (see the class docstring) if allowed and no
        frame has been tracked yet; the user's keyword overrides are applied on top."""
        if not self._model_defaults_allowed or self._core.frame_id != 0:
            return
        try:
            options = model_options(defaults, self._overrides)
        except ValueError as exc:
            model = self._model_request[0]
            where = f"{model}: " if isinstance(model, (str, Path)) else ""
            raise ValueError(f"{where}model metadata tracker_defaults {short_repr(dict(defaults))}: {exc}") from None
        if options != self.options:
            self.options = options
            self._core = make_core(options, self._core_request)

    @property
    def detector(self) -> FrameDetector | None:
        """The loaded :class:`FrameDetector`, or None before the first frame / :meth:`load_model`."""
        return self._detector

    def update(self, frame: Any, rgb: bool = False) -> list[Track]:
        """Track one video frame: detect with the model, then associate.

        Args:
            frame: (H, W, 3) uint8 BGR image (OpenCV's convention); ``rgb=True`` for RGB. The size
                may change between calls (each frame is letterboxed into the model's input).

        Returns:
            The confirmed tracks matched in this frame, boxes in frame pixels.

        Raises:
            ValueError: None, empty, non-uint8, grayscale (2-D) or 4-channel frames, with the fix.
            DefaultModelMissingError / FileNotFoundError / ModelLoadError: the model cannot be opened.

        ``last_timings`` then holds the preprocess / inference / postprocess / association ms.
        """
        return self._to_tracks(self.update_arrays(frame, rgb), timed=True)

    def update_arrays(self, frame: Any, rgb: bool = False) -> FrameTracks:
        """As :meth:`update`, but returns columns (no per-track objects)."""
        detector = self._detector or self.load_model()
        detections = detector.detect(frame, rgb)
        start = time.perf_counter()
        inputs = self._checked(detections.xyxy, detections.scores, detections.embeddings, detections.classes)
        warp = self._camera_warp(frame, inputs[0], detector.last_halved)
        mid = time.perf_counter()
        tracks = self._step(*inputs, warp)
        self.last_detections = detections
        self.last_timings = replace(detector.last_timings, camera_motion=(mid - start) * 1e3,
                                    association=(time.perf_counter() - mid) * 1e3)
        return tracks

    def close(self) -> None:
        """Release the model (its backend's memory); the next ``update`` opens it again."""
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def update_detections(self, boxes_xyxy: Any, scores: Any, embeddings: Any = None,
                          classes: Any = None, frame: Any = None) -> list[Track]:
        """Advance one frame.

        Args:
            boxes_xyxy: (N, 4) [x1, y1, x2, y2] in frame pixels, x2 > x1, y2 > y1.
            scores: (N,) detection confidences (any finite scale; thresholds use the same scale).
            embeddings: (N, D) appearance embeddings (normalised here), or None for motion + IoU only.
            classes: (N,) integer class ids, or None (one class). Tracks never change class.
            frame: optional (H, W, 3) uint8 BGR or (H, W) uint8 image these detections came from:
                with ``cmc`` not ``"off"``, camera motion since the last frame given is compensated.

        Returns:
            The confirmed tracks matched in this frame.

        Raises:
            ValueError: naming the argument, for wrong shapes, dtypes, NaN/inf or non-positive sizes.
        """
        return self._to_tracks(self.update_detections_arrays(boxes_xyxy, scores, embeddings, classes, frame))

    def update_detections_arrays(self, boxes_xyxy: Any, scores: Any, embeddings: Any = None,
                                 classes: Any = None, frame: Any = None) -> FrameTracks:
        """As :meth:`update_detections`, but returns columns (no per-track objects)."""
        inputs = self._checked(boxes_xyxy, scores, embeddings, classes)  # before the estimator sees the frame
        return self._step(*inputs, None if frame is None else self._camera_warp(frame, inputs[0]))

    def _checked(self, boxes_xyxy: Any, scores: Any, embeddings: Any, classes: Any) -> tuple:
        """Validated (boxes, scores, embeddings or None, classes or None); ValueError names the argument."""
        boxes = check_boxes(boxes_xyxy)
        n = len(boxes)
        score_arr = check_column(scores, "scores", n)
        cls = None if classes is None else check_column(classes, "classes", n, integer=True)
        emb = None if embeddings is None else check_embeddings(embeddings, n, self._embedding_dim)
        return boxes, score_arr, emb, cls

    def _step(self, boxes: np.ndarray, scores: np.ndarray, emb: np.ndarray | None, cls: np.ndarray | None,
              warp: np.ndarray | None) -> FrameTracks:
        limit = self._core.options.max_detections
        if len(boxes) > limit and not self._warned_max_detections:
            self._warned_max_detections = True
            warnings.warn(f"a frame brought {len(boxes)} detections: the tracker keeps the {limit} highest scores "
                          "of every frame (TrackerOptions.max_detections, a bound on a frame's time; raise it "
                          "for scenes with more objects)", RuntimeWarning, stacklevel=4)
        if warp is not None:
            self._core.apply_camera_motion(warp)
        tracks = self._core.step(boxes, scores, emb, cls)  # a frame that fails changes nothing
        if emb is not None and len(boxes):
            self._embedding_dim = emb.shape[1]
        return tracks

    def _camera_warp(self, frame: Any, boxes: Any, halved: Any = None) -> Any:
        """The camera's warp from the last frame to ``frame`` (None when CMC is off); the detected
        boxes are left out of the feature search (people move on their own). ``halved``: the
        frame's 2x halving if preprocessing made one (the same estimate, one full-frame read less)."""
        if self._cmc_options is None:
            return None
        if self._cmc is None:
            from mottrack_sdk.tracking.cmc import CameraMotionEstimator

            self._cmc = CameraMotionEstimator(self._cmc_options)
        self.last_camera_warp = self._cmc.estimate(frame, boxes, halved)
        return self.last_camera_warp

    def _to_tracks(self, ft: FrameTracks, timed: bool = False) -> list[Track]:
        # Track is a NamedTuple: tuple.__new__ over zipped columns builds each one in C, without
        # the generated Python __new__ (a third of the cost of a frame's output at N = 200).
        start = time.perf_counter() if timed else 0.0
        n = len(ft.track_id)
        tracks = list(map(_new_track, zip(
            ft.track_id.tolist(), zip(*ft.xyxy.T.tolist()), ft.score.tolist(), ft.class_id.tolist(),
            repeat(TrackState.TRACKED, n), ft.hits.tolist(), ft.age.tolist(), repeat(0, n))))
        if timed and self.last_timings is not None:  # building the list is part of association
            extra = (time.perf_counter() - start) * 1e3
            self.last_timings = replace(self.last_timings, association=self.last_timings.association + extra)
        return tracks

    def __repr__(self) -> str:
        model = f", model={self._detector.describe()!r}" if self._detector is not None else ""
        return f"Tracker(frame_id={self.frame_id}, live_tracks={self._core.live_tracks}, core={self.core!r}{model})"
