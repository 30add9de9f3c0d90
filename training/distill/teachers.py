"""Teacher person detectors: big models that label footage for the small one.

One interface, :class:`Teacher`: ``detect(frame_bgr) -> Detections`` with ``xyxy (N, 4) float32`` in
frame pixels (clipped to the frame, zero-area boxes dropped) and person ``scores (N,) float32`` in
0..1, after the teacher's own NMS. Two implementations, each at any input size ``(width, height)``:

- :class:`OpenVinoPersonTeacher`: Intel person-detection-0200 / -0201 (OpenVINO IR). Plain resize to
  the input size (no letterbox), BGR 0..255 NCHW; output ``[1, 1, 200, 7]`` rows ``[image_id, label,
  conf, x1, y1, x2, y2]`` normalised to 0..1, NMS inside the graph, ``image_id < 0`` = padding.
- :class:`YoloxOnnxTeacher`: YOLOX-nano COCO (ONNX Runtime). Letterbox aligned top-left, pad 114,
  BGR 0..255 NCHW; output ``[1, cells, 85]`` (tx, ty, tw, th, objectness, 80 class scores, sigmoids
  applied); person = objectness x class 0; NMS IoU 0.45 on the host. The file has a static 416x416
  input: its input H/W and the output's cell count are made symbolic in memory (``onnx``), so any
  multiple of 32 runs.

:class:`MultiScaleTeacher` runs one model at several input sizes and keeps the best box per person (NMS):
a detector tuned for small pedestrians at a large input misses people who fill a small frame.

Heavy imports (openvino, onnx, onnxruntime) happen when a teacher first runs. Facts about the files:
``../shared/models/README.md``.
"""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.postprocessing import nms_xyxy
from mottrack_sdk.types import Detections

__all__ = ["MAX_INPUT_SIDE", "MultiScaleTeacher", "OpenVinoPersonTeacher", "Teacher", "YoloxOnnxTeacher",
           "clip_boxes", "import_runtime", "openvino_infer_request"]

INSTALL_HINT = "pip install 'mottrack-sdk[distill]' (or -r requirements/distill.txt)"
# the largest teacher input side, over 3x the largest default input (1280x736); yolox at 8192x8192 took 26 s
# and 5.1 GB of memory for one frame
MAX_INPUT_SIDE = 4096


def import_runtime(module: str) -> Any:
    """``import module``; ImportError with the extra to install when it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"teacher models need {module!r} ({exc}); {INSTALL_HINT}") from exc


def openvino_infer_request(path: Path, input_size: tuple[int, int], threads: int) -> Any:
    """An OpenVINO infer request of the IR ``path``, its first input reshaped to ``[1, 3, height, width]``
    (``input_size`` = (width, height)), compiled for the CPU with ``threads`` inference threads."""
    openvino = import_runtime("openvino")
    core = openvino.Core()
    model = core.read_model(str(path))
    width, height = input_size
    model.reshape({model.inputs[0].any_name: [1, 3, height, width]})
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads})
    return compiled.create_infer_request()


def clip_boxes(xyxy: np.ndarray, scores: np.ndarray, frame_w: int, frame_h: int) -> Detections:
    """Clip ``xyxy (N, 4)`` frame-pixel boxes to the frame and drop boxes with no width or height."""
    boxes = np.clip(np.asarray(xyxy, np.float32).reshape(-1, 4), 0.0,
                    np.array([frame_w, frame_h, frame_w, frame_h], np.float32))
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return Detections(np.ascontiguousarray(boxes[keep]), np.asarray(scores, np.float32).reshape(-1)[keep])


class Teacher(abc.ABC):
    """A person detector that labels frames; subclasses implement ``_load`` and ``_detect``.

    Args:
        path: the model file (``.xml`` for OpenVINO, ``.onnx`` for ONNX Runtime).
        input_size: network input ``(width, height)`` in pixels.
        name: a label for reports, e.g. ``"pd0200@960x544"``.
        min_score: boxes scoring below this are not returned (the fusion sees the rest).
        threads: CPU threads of the inference runtime.

    The model is opened on the first :meth:`detect` (so building a teacher is cheap) and released
    by :meth:`close`.
    """

    kind: str = "teacher"

    def __init__(self, path: str | Path, input_size: tuple[int, int], name: str | None = None,
                 min_score: float = 0.05, threads: int = 2) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"teacher model {self.path}: file not found")
        width, height = (int(v) for v in input_size)
        if not (0 < width <= MAX_INPUT_SIDE and 0 < height <= MAX_INPUT_SIDE):
            raise ValueError(f"teacher {self.path.name}: input width and height must be in [1, {MAX_INPUT_SIDE}], "
                             f"got {input_size!r}")
        if not 0.0 <= min_score < 1.0:
            raise ValueError(f"teacher {self.path.name}: min_score must be in [0, 1), got {min_score}")
        self.input_size = (width, height)
        self.name = name or f"{self.path.stem}@{width}x{height}"
        self.min_score = float(min_score)
        self.threads = int(threads)
        self._loaded = False

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """Persons in one frame: ``frame_bgr`` (H, W, 3) uint8 BGR -> Detections (xyxy frame px, scores)."""
        if not isinstance(frame_bgr, np.ndarray) or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 \
                or frame_bgr.dtype != np.uint8 or frame_bgr.size == 0:
            shape = getattr(frame_bgr, "shape", type(frame_bgr).__name__)
            raise ValueError(f"{self.name}: frame_bgr must be a (H, W, 3) uint8 BGR image, got {shape}")
        self.load()
        return self._detect(frame_bgr)

    def load(self) -> None:
        """Open the model now (``detect`` opens it on first use). ValueError naming the file when it is
        not a model this teacher's runtime can open; ImportError (with the extra) when the runtime is missing."""
        if self._loaded:
            return
        try:
            self._load()
        except ImportError:
            raise
        except Exception as exc:  # the runtimes raise their own types (protobuf, OpenVINO, IndexError)
            reason = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ValueError(f"teacher model {self.path}: {self.kind} cannot open it "
                             f"({type(exc).__name__}: {reason})") from None
        self._loaded = True

    def close(self) -> None:
        """Release the runtime objects (idempotent); the next ``detect`` loads the model again."""
        self._loaded = False

    def describe(self) -> dict[str, Any]:
        """What a report needs to reproduce this teacher."""
        return {"name": self.name, "kind": self.kind, "file": self.path.name,
                "input_size": f"{self.input_size[0]}x{self.input_size[1]}", "min_score": self.min_score}

    @abc.abstractmethod
    def _load(self) -> None:
        """Open the model (import the runtime here)."""

    @abc.abstractmethod
    def _detect(self, frame_bgr: np.ndarray) -> Detections:
        """The detections of a checked frame."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.path})"


class OpenVinoPersonTeacher(Teacher):
    """Intel person-detection-0200 / -0201 (OpenVINO IR with an SSD ``DetectionOutput``), see module doc."""

    kind = "openvino"

    def _load(self) -> None:
        self._request = openvino_infer_request(self.path, self.input_size, self.threads)

    def _detect(self, frame_bgr: np.ndarray) -> Detections:
        from mottrack_sdk.preprocessing import stretch

        frame_h, frame_w = frame_bgr.shape[:2]
        resized, _ = stretch(frame_bgr, self.input_size)
        blob = resized.transpose(2, 0, 1)[None].astype(np.float32)
        self._request.infer({0: blob})
        rows = np.asarray(self._request.get_output_tensor(0).data, np.float32).reshape(-1, 7)
        rows = rows[(rows[:, 0] >= 0) & (rows[:, 2] >= self.min_score)]
        rows = rows[np.argsort(-rows[:, 2], kind="stable")]
        scale = np.array([frame_w, frame_h, frame_w, frame_h], np.float32)
        return clip_boxes(rows[:, 3:7] * scale, rows[:, 2], frame_w, frame_h)

    def close(self) -> None:
        self._request = None
        super().close()


class YoloxOnnxTeacher(Teacher):
    """YOLOX-nano (COCO, ONNX Runtime), person class only; see module doc. Sizes: multiples of 32."""

    kind = "onnxruntime"
    STRIDES = (8, 16, 32)
    PAD_VALUE = 114
    NMS_IOU = 0.45

    def __init__(self, path: str | Path, input_size: tuple[int, int], name: str | None = None,
                 min_score: float = 0.05, threads: int = 2) -> None:
        super().__init__(path, input_size, name, min_score, threads)
        if any(v % 32 for v in self.input_size):
            raise ValueError(f"teacher {self.name}: YOLOX input width and height must be multiples of 32, "
                             f"got {self.input_size[0]}x{self.input_size[1]}")
        self._grid, self._stride = self._make_grid(*self.input_size)

    @classmethod
    def _make_grid(cls, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Cell offsets ``(cells, 2)`` (gx, gy) and strides ``(cells, 1)``: stride 8 rows first, row-major."""
        grids, strides = [], []
        for s in cls.STRIDES:
            gy, gx = np.meshgrid(np.arange(height // s), np.arange(width // s), indexing="ij")
            grids.append(np.stack([gx.ravel(), gy.ravel()], 1))
            strides.append(np.full((gx.size, 1), s))
        return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)

    def _load(self) -> None:
        onnx, onnxruntime = import_runtime("onnx"), import_runtime("onnxruntime")
        model = onnx.load(str(self.path))
        image_dims = model.graph.input[0].type.tensor_type.shape.dim
        image_dims[2].dim_param, image_dims[3].dim_param = "height", "width"
        model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "cells"
        del model.graph.value_info[:]  # shapes recorded at 416x416 would contradict other sizes
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                     providers=["CPUExecutionProvider"])
        self._input_name = self._session.get_inputs()[0].name

    def _detect(self, frame_bgr: np.ndarray) -> Detections:
        from mottrack_sdk.preprocessing import stretch

        frame_h, frame_w = frame_bgr.shape[:2]
        width, height = self.input_size
        ratio = min(width / frame_w, height / frame_h)
        new_w, new_h = min(width, max(1, round(frame_w * ratio))), min(height, max(1, round(frame_h * ratio)))
        canvas = np.full((height, width, 3), self.PAD_VALUE, np.uint8)
        canvas[:new_h, :new_w] = stretch(frame_bgr, (new_w, new_h))[0]  # letterbox aligned top-left
        blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        out = self._session.run(None, {self._input_name: blob})[0][0]
        if out.shape[0] != len(self._grid):
            raise ValueError(f"{self.name}: expected {len(self._grid)} output cells at {width}x{height}, "
                             f"got {out.shape[0]} (not a YOLOX model?)")
        scores = out[:, 4] * out[:, 5]
        cand = np.flatnonzero(scores >= self.min_score)
        centre = (out[cand, :2] + self._grid[cand]) * self._stride[cand]
        half = np.exp(out[cand, 2:4]) * self._stride[cand] / 2.0
        boxes = np.concatenate([centre - half, centre + half], 1)
        keep = nms_xyxy(boxes, scores[cand], self.NMS_IOU, -1.0, max_output=len(cand))
        sx, sy = new_w / frame_w, new_h / frame_h
        xyxy = boxes[keep] / np.array([sx, sy, sx, sy], np.float32)
        return clip_boxes(xyxy, scores[cand][keep], frame_w, frame_h)

    def close(self) -> None:
        self._session = None
        super().close()


class MultiScaleTeacher(Teacher):
    """One model at several input sizes (``scales``: teachers of the same file), merged by NMS (IoU 0.5,
    the higher score wins), so the fusion sees it as one teacher. ``input_size`` is the first scale's."""

    kind = "multi-scale"
    NMS_IOU = 0.5

    def __init__(self, scales: list[Teacher], name: str | None = None) -> None:
        if len(scales) < 2 or len({t.path for t in scales}) != 1:
            raise ValueError("MultiScaleTeacher: expected two or more teachers of the same model file")
        self.scales = list(scales)
        first = self.scales[0]
        self.path, self.input_size, self.min_score, self.threads = first.path, first.input_size, first.min_score, \
            first.threads
        sizes = "+".join(f"{t.input_size[0]}x{t.input_size[1]}" for t in self.scales)
        self.name = name or f"{first.path.stem}@{sizes}"
        self._loaded = False

    def _load(self) -> None:
        for teacher in self.scales:
            teacher.load()

    def _detect(self, frame_bgr: np.ndarray) -> Detections:
        found = [t.detect(frame_bgr) for t in self.scales]
        boxes = np.concatenate([d.xyxy for d in found])
        scores = np.concatenate([d.scores for d in found])
        keep = nms_xyxy(boxes, scores, self.NMS_IOU, -1.0, max_output=len(scores))
        return Detections(boxes[keep], scores[keep])

    def close(self) -> None:
        for t in self.scales:
            t.close()
        super().close()

    def describe(self) -> dict[str, Any]:
        inner = self.scales[0].describe()
        sizes = "+".join(f"{t.input_size[0]}x{t.input_size[1]}" for t in self.scales)
        return {**inner, "name": self.name, "kind": f"{inner['kind']} multi-scale", "input_size": sizes,
                "merge": f"NMS IoU {self.NMS_IOU}"}
