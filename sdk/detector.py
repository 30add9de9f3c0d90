"""Frame in, detections out: the checks, preprocessing, inference and decoding before association.

:class:`FrameDetector` runs one model through any :class:`~mottrack_sdk.backends.base.Backend`:
``check_frame`` -> :func:`~mottrack_sdk.preprocessing.to_network_input` (the very function training
and INT8 calibration use, with the resize mode, size and pad value from the model's metadata) ->
``backend.infer`` -> :class:`~mottrack_sdk.postprocessing.DetectionDecoder`, timing each stage.

The default model (``model=None``) is the CSTrack-nano model shipped inside the package,
``mottrack_sdk/assets/models/cstrack_nano_int8.onnx`` (INT8 QDQ, ONNX Runtime): YOLOX-nano's COCO
backbone with CSTrack's REN and SAAN, trained for real pedestrians (see its metrics card in
``training/weights/cstrack_nano_real_ft``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.backends.base import Backend
from mottrack_sdk.postprocessing import DetectionDecoder, PostprocessOptions
from mottrack_sdk.types import MIN_FRAME_SIDE, Detections

__all__ = ["DEFAULT_MODEL_NAME", "DefaultModelMissingError", "FrameDetector", "StageTimings", "check_frame",
           "default_model_path"]

DEFAULT_MODEL_NAME = "cstrack_nano_int8.onnx"


class DefaultModelMissingError(FileNotFoundError):
    """``model=None`` was asked for, but this build ships no default model."""


def default_model_path(must_exist: bool = False) -> Path:
    """Where the shipped default model lives in the installed package.

    Raises:
        DefaultModelMissingError: with ``must_exist``, when the file is not there, saying how to pass a model.
    """
    path = Path(__file__).resolve().parent / "assets" / "models" / DEFAULT_MODEL_NAME
    if must_exist and not path.is_file():
        raise DefaultModelMissingError(
            f"the default CSTrack-nano model is not shipped in this build yet ({path} is missing). "
            "Pass a model explicitly: Tracker(model='cstrack_s.onnx') (an ONNX from `mottrack export`), "
            "model='cstrack_s.engine' (TensorRT) or a TorchScript file / torch.nn.Module; on the command line "
            "use --model PATH. Detection-only tracking (update_detections) needs no model.")
    return path


@dataclass(frozen=True)
class StageTimings:
    """Milliseconds spent in each stage of one ``Tracker.update(frame)`` call.

    ``preprocess``: frame check, letterbox, normalisation; ``inference``: ``backend.infer`` (host <->
    device copies included); ``postprocess``: decoding, host NMS (raw-heads models), mapping boxes
    back to the frame, embedding normalisation; ``association``: the tracking core and the track list;
    ``camera_motion``: estimating the camera's motion from the frame (0 with ``cmc="off"``).
    """

    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0
    association: float = 0.0
    camera_motion: float = 0.0

    STAGES = ("preprocess", "inference", "postprocess", "camera_motion", "association")

    @property
    def total(self) -> float:
        return self.preprocess + self.inference + self.postprocess + self.camera_motion + self.association

    @property
    def outside_network(self) -> float:
        """Everything but ``inference``, milliseconds."""
        return self.preprocess + self.postprocess + self.camera_motion + self.association

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "total": self.total}


def check_frame(frame: Any, rgb: bool = False) -> np.ndarray:
    """An (H, W, 3) uint8 BGR frame, or ValueError saying what is wrong and how to convert it.

    ``rgb=True`` takes an RGB frame (e.g. from PIL or imageio) and returns a BGR copy. Grayscale and
    BGRA frames are refused rather than converted silently; the message gives the one-line conversion.
    """
    if not isinstance(rgb, (bool, np.bool_)):
        raise ValueError(f"rgb: expected True (an RGB frame) or False (BGR), got {rgb!r}")
    if frame is None:
        raise ValueError("frame: expected an (H, W, 3) uint8 BGR image, got None (did the video reader "
                         "return no frame? cv2 returns None at the end of a stream)")
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame: expected an (H, W, 3) uint8 numpy array, got {type(frame).__name__}")
    if frame.size == 0:
        raise ValueError(f"frame: expected a non-empty image, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame: expected dtype uint8 (0..255), got {frame.dtype}; convert first, e.g. "
                         "np.clip(frame * 255, 0, 255).astype(np.uint8) for floats in [0, 1]")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        raise ValueError(f"frame: expected 3 colour channels, got a grayscale image of shape {frame.shape}; "
                         "convert with cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)")
    if frame.ndim == 3 and frame.shape[2] == 4:
        raise ValueError(f"frame: expected 3 channels (BGR), got 4 {frame.shape}; drop alpha with "
                         f"cv2.cvtColor(frame, cv2.COLOR_{'RGBA2RGB' if rgb else 'BGRA2BGR'})")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame: expected shape (H, W, 3), got {frame.shape}")
    if min(frame.shape[:2]) < MIN_FRAME_SIDE:  # what camera-motion estimation can match; frame readers skip them
        raise ValueError(f"frame: expected an image of at least {MIN_FRAME_SIDE}x{MIN_FRAME_SIDE} pixels, "
                         f"got {frame.shape[1]}x{frame.shape[0]}")
    if rgb:
        return np.ascontiguousarray(frame[:, :, ::-1])
    return frame


class FrameDetector:
    """One model behind a backend: ``detect(frame) -> Detections`` in frame pixels, with stage timings.

    Args:
        backend: an (un)loaded backend; it is loaded here.
        postprocess: host NMS settings for ``raw_heads`` models.

    Attributes:
        last_timings: preprocess / inference / postprocess of the latest ``detect`` (association 0).
        last_halved: the latest frame's exact 2x area halving (BGR), when preprocessing made one (a
            frame of at least twice the input size with even sides), else None. The tracker's
            camera-motion estimate starts from it instead of reading the full frame again.
    """

    def __init__(self, backend: Backend, postprocess: PostprocessOptions | None = None) -> None:
        self.backend = backend.load()
        metadata = backend.metadata
        self.metadata = metadata
        self.input_name = metadata.input_name
        self.input_size = tuple(metadata.input_size)
        self.decoder = DetectionDecoder(metadata, postprocess)
        self.last_timings = StageTimings()
        self.last_halved: np.ndarray | None = None

    @classmethod
    def from_model(cls, model: Any = None, backend: str = "auto", backend_options: Any = None,
                   postprocess: PostprocessOptions | None = None) -> "FrameDetector":
        """Open ``model`` (None: the shipped default model) on ``backend`` and load it."""
        from mottrack_sdk.backends.registry import open_backend

        if model is None:
            model = default_model_path(must_exist=True)
        return cls(open_backend(model, backend, backend_options), postprocess)

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Any]:
        """A checked BGR frame -> ``([1, 3, H, W] float32, ResizeTransform)``, as training and calibration do."""
        prepared = self._network_input(frame_bgr)
        return prepared.batch, prepared.transform

    def _network_input(self, frame_bgr: np.ndarray) -> Any:
        from mottrack_sdk.preprocessing import network_input

        md = self.metadata
        return network_input(frame_bgr, self.input_size, md.resize_mode, md.pad_value)  # type: ignore[arg-type]

    def detect(self, frame: Any, rgb: bool = False) -> Detections:
        """Detections of one frame (H x W x 3 uint8; BGR, or RGB with ``rgb=True``), boxes in frame pixels.

        Frame sizes may change from call to call. Raises ValueError for a bad frame (see :func:`check_frame`).
        """
        t0 = time.perf_counter()
        image = check_frame(frame, rgb)
        batch, transform, self.last_halved = self._network_input(image)
        t1 = time.perf_counter()
        outputs = self.backend.infer({self.input_name: batch})
        t2 = time.perf_counter()
        detections = self.decoder(outputs, transform)
        t3 = time.perf_counter()
        self.last_timings = StageTimings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, 0.0)
        return detections

    def close(self) -> None:
        self.backend.close()

    def describe(self) -> str:
        """One line: model, precision, size, backend and device."""
        md, be = self.metadata, self.backend
        w, h = self.input_size
        note = f"; {be.load_note}" if be.load_note else ""
        return f"{md.model_name} {md.precision} {w}x{h} ({md.output_layout}) on {be.name} [{be.device}{note}]"
