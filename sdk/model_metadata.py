"""What an exported mottrack ONNX model says about itself (``metadata_props``), read by the runtime.

The exporter (``mottrack_export``) writes these keys as strings; the runtime reads them with
ONNX Runtime's ``InferenceSession.get_modelmeta().custom_metadata_map`` instead of guessing the
input size, preprocessing or output layout. No torch, no onnx protobuf: numpy-free plain Python.

Keys (all prefixed ``mottrack.``; lists and numbers are JSON):

=====================  ==========================================================================
``format_version``     ``1``: the version of this key set
``model_name``         e.g. ``cstrack_s``
``project_version``    mottrack-sdk version that exported the model
``precision``          ``fp32`` | ``fp16`` | ``int8`` (int8 = QDQ from mottrack_calibration)
``input_name``         name of the single image input (``images``)
``input_size``         ``WIDTHxHEIGHT`` in pixels, static (e.g. ``1088x608``)
``input_format``       ``NCHW RGB float32 0..1`` (pixels / 255, no mean/std)
``resize_mode``        ``letterbox`` | ``stretch`` (see ``mottrack_sdk.preprocessing``)
``pad_value``          letterbox padding in 0..255 pixel units (127.5 -> 128 on uint8 frames)
``strides``            ``[8, 16, 32]``
``anchors``            ``[[[w, h] x A] x L]`` input pixels (for ``box_coding: yolox`` only the training
                       loss's assignment sizes, one per level: decoding is anchor-free)
``box_coding``         optional: ``yolov5`` (default; anchor boxes) or ``yolox`` (anchor-free head); the
                       outputs are decoded in the graph either way, so the runtime needs it only to report
``num_classes``        ``1``
``embedding_dim``      ``E`` (embeddings are L2-normalised by the in-graph tail)
``embedding_stride``   ``8``
``output_layout``      ``nms``: outputs ``boxes [max_det, 4]`` xyxy px, ``scores [max_det]``,
                       ``embeddings [max_det, E]``, ``count [1]`` int64;  ``raw_heads``:
                       ``predictions [B, N, 4 + nc]`` (xyxy px, scores), ``embedding_map [B, E, h, w]``
``outputs``            output names in order (JSON list)
``score_threshold``, ``iou_threshold``, ``top_k``, ``max_det``   the in-graph tail's settings
                       (``nms`` layout only; absent for ``raw_heads``)
``opset``              ONNX opset of the default domain
``weights_sha256``     SHA-256 of the weights file exported, or ``random-init``
``tracker_defaults``   optional JSON object of :class:`~mottrack_sdk.tracking.TrackerOptions` fields the
                       model was validated with (e.g. ``{"det_thresh": 0.6}``, from its metrics card);
                       :class:`~mottrack_sdk.Tracker` starts from them unless given a full ``options``
=====================  ==========================================================================
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from mottrack_sdk.config import MAX_SIDE, short_repr

__all__ = ["METADATA_FORMAT_VERSION", "METADATA_PREFIX", "OUTPUT_LAYOUTS", "PRECISIONS", "ModelMetadata",
           "metadata_from_props", "read_model_metadata"]

METADATA_PREFIX = "mottrack."
METADATA_FORMAT_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
OUTPUT_LAYOUTS = ("nms", "raw_heads")

# field name -> how it is stored ("str", "int", "float", "json", "size")
_ENCODING = {
    "model_name": "str", "project_version": "str", "precision": "str", "input_name": "str",
    "input_size": "size", "input_format": "str", "resize_mode": "str", "pad_value": "float", "strides": "json",
    "anchors": "json", "num_classes": "int", "embedding_dim": "int", "embedding_stride": "int",
    "output_layout": "str", "outputs": "json", "opset": "int", "weights_sha256": "str",
    "score_threshold": "float", "iou_threshold": "float", "top_k": "int", "max_det": "int",
    "tracker_defaults": "json", "box_coding": "str",
}
_OPTIONAL = {"score_threshold", "iou_threshold", "top_k", "max_det", "tracker_defaults", "box_coding"}
BOX_CODINGS = ("yolov5", "yolox")
MAX_INPUT_SIDE = 16384   # pixels; also the largest stride
MAX_EMBEDDING_DIM = 1 << 16
MAX_DETECTIONS = 100_000  # top_k / max_det of the in-graph tail


@dataclass(frozen=True)
class ModelMetadata:
    """Typed view of the ``mottrack.*`` metadata of an exported model (see the module docstring)."""

    model_name: str
    project_version: str
    precision: str
    input_name: str
    input_size: tuple[int, int]  # (width, height)
    input_format: str
    resize_mode: str
    pad_value: float
    strides: tuple[int, ...]
    anchors: tuple[tuple[tuple[float, float], ...], ...]
    num_classes: int
    embedding_dim: int
    embedding_stride: int
    output_layout: str
    outputs: tuple[str, ...]
    opset: int
    weights_sha256: str
    score_threshold: float | None = None
    iou_threshold: float | None = None
    top_k: int | None = None
    max_det: int | None = None
    tracker_defaults: Mapping[str, Any] | None = None
    box_coding: str | None = None

    def __post_init__(self) -> None:
        self._check_numbers()
        if self.box_coding is not None and self.box_coding not in BOX_CODINGS:
            raise ValueError(f"model metadata: box_coding must be one of {BOX_CODINGS}, got {self.box_coding!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"model metadata: precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.output_layout not in OUTPUT_LAYOUTS:
            raise ValueError(f"model metadata: output_layout must be one of {OUTPUT_LAYOUTS}, "
                             f"got {self.output_layout!r}")
        if self.resize_mode not in ("letterbox", "stretch"):
            raise ValueError(f"model metadata: resize_mode must be letterbox or stretch, got {self.resize_mode!r}")
        width, height = self.input_size
        if width <= 0 or height <= 0:
            raise ValueError(f"model metadata: input_size must be positive, got {self.input_size}")
        if self.output_layout == "nms" and None in (self.score_threshold, self.iou_threshold, self.top_k,
                                                     self.max_det):
            raise ValueError("model metadata: the nms layout needs score_threshold, iou_threshold, top_k, max_det")
        defaults = self.tracker_defaults
        if defaults is not None and (not isinstance(defaults, Mapping) or not all(
                isinstance(k, str) and (v is None or isinstance(v, (int, float))) for k, v in defaults.items())):
            raise ValueError("model metadata: tracker_defaults must map TrackerOptions field names to numbers, "
                             f"got {short_repr(defaults)}")

    def _check_numbers(self) -> None:
        """Every number in a range a model can have (metadata is read from files users hand over:
        nothing downstream may size memory by an absurd value)."""
        width, height = self.input_size
        checks = [
            ("input_size", 0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE,  # what preprocessing can make
             f"sides in 1..{MAX_SIDE}"),
            ("pad_value", math.isfinite(self.pad_value) and 0 <= self.pad_value <= 255, "a number in 0..255"),
            ("strides", len(self.strides) > 0 and all(0 < s <= MAX_INPUT_SIDE for s in self.strides),
             f"one or more strides in 1..{MAX_INPUT_SIDE}"),
            ("anchors", all(math.isfinite(v) and 0 < v <= 1e6 for level in self.anchors for pair in level for v in pair),
             "widths and heights > 0"),
            ("num_classes", 0 < self.num_classes <= 10_000, "1..10000"),
            ("embedding_dim", 0 < self.embedding_dim <= MAX_EMBEDDING_DIM, f"1..{MAX_EMBEDDING_DIM}"),
            ("embedding_stride", 0 < self.embedding_stride <= MAX_INPUT_SIDE, f"1..{MAX_INPUT_SIDE}"),
            ("opset", 0 <= self.opset <= 1000, "0..1000 (0: not an ONNX model)"),
        ]
        for name in ("score_threshold", "iou_threshold"):
            value = getattr(self, name)
            checks.append((name, value is None or (math.isfinite(value) and 0 <= value <= 1), "a number in 0..1"))
        for name in ("top_k", "max_det"):
            value = getattr(self, name)
            checks.append((name, value is None or 0 < value <= MAX_DETECTIONS, f"1..{MAX_DETECTIONS}"))
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"model metadata: {name} must be {expected}, got {getattr(self, name)!r}")

    def to_props(self) -> dict[str, str]:
        """``{"mottrack.key": "value"}`` strings, ready for ONNX ``metadata_props`` (None fields omitted)."""
        props = {METADATA_PREFIX + "format_version": str(METADATA_FORMAT_VERSION)}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            kind = _ENCODING[f.name]
            if kind == "size":
                text = f"{value[0]}x{value[1]}"
            elif kind == "json":
                text = json.dumps(_plain(value))
            else:
                text = str(value)
            props[METADATA_PREFIX + f.name] = text
        return props

    def with_precision(self, precision: str) -> ModelMetadata:
        """A copy with another ``precision`` (the calibration tools re-tag quantized models)."""
        import dataclasses

        return dataclasses.replace(self, precision=precision)


def metadata_from_props(props: Mapping[str, str], where: str = "model") -> ModelMetadata:
    """Parse ``metadata_props`` / ``custom_metadata_map`` strings into :class:`ModelMetadata`.

    Raises:
        ValueError: a key is missing or malformed, or the format version is newer than this reader;
            the message names ``where`` (e.g. the file) and the key.
    """
    version = props.get(METADATA_PREFIX + "format_version")
    if version is None:
        raise ValueError(f"{where}: no mottrack metadata (not exported by mottrack export, or stripped)")
    if not (isinstance(version, str) and version.isascii() and version.isdigit() and len(version) <= 9):
        raise ValueError(f"{where}: metadata {METADATA_PREFIX}format_version={short_repr(version)} is malformed "
                         "(expected a whole number)")
    if int(version) > METADATA_FORMAT_VERSION:
        raise ValueError(f"{where}: metadata format version {version!r} is newer than this runtime reads "
                         f"({METADATA_FORMAT_VERSION}); update mottrack-sdk")
    values: dict[str, Any] = {}
    missing = []
    for name, kind in _ENCODING.items():
        text = props.get(METADATA_PREFIX + name)
        if text is None:
            if name not in _OPTIONAL:
                missing.append(METADATA_PREFIX + name)
            continue
        try:
            values[name] = _shape(name, _decode(kind, text))
        except (ValueError, TypeError, RecursionError) as exc:
            raise ValueError(f"{where}: metadata {METADATA_PREFIX}{name}={text[:200]!r} is malformed "
                             f"({str(exc)[:200]})") from None
    if missing:
        raise ValueError(f"{where}: metadata keys missing: {', '.join(missing)}")
    try:
        return ModelMetadata(**values)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def read_model_metadata(source: str | Path | Any) -> ModelMetadata:
    """Metadata of an ONNX file path or of an open ``onnxruntime.InferenceSession``.

    A path opens a CPU session only to read the map (ONNX Runtime is imported here, lazily).
    Raises FileNotFoundError for a missing file and ValueError for a corrupt model or bad metadata.
    """
    if hasattr(source, "get_modelmeta"):
        return metadata_from_props(source.get_modelmeta().custom_metadata_map, where="model")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ONNX model not found")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf types
        raise ValueError(f"{path}: not a loadable ONNX model ({' '.join(str(exc).split())[:300]})") from exc
    return metadata_from_props(session.get_modelmeta().custom_metadata_map, where=str(path))


def _shape(name: str, value: Any) -> Any:
    """The JSON fields as the typed tuples of :class:`ModelMetadata` (TypeError / ValueError otherwise)."""
    if name == "strides":
        return tuple(_whole(s) for s in _list(value, "a list of whole numbers"))
    if name == "anchors":
        return tuple(tuple(_pair(p) for p in _list(level, "a list of [w, h] pairs per level"))
                     for level in _list(value, "a list of levels"))
    if name == "outputs":
        names = _list(value, "a list of output names")
        if not all(isinstance(o, str) for o in names):
            raise ValueError("expected a list of output names")
        return tuple(names)
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or len(value) > 1000:
        raise ValueError(f"expected {what}")
    return value


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected whole numbers, got {value!r}")
    return value


def _pair(value: Any) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"expected [w, h] pairs of numbers, got {value!r}"[:120])
    return float(value[0]), float(value[1])


def _decode(kind: str, text: str) -> Any:
    if kind == "str":
        return text
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "json":
        return json.loads(text)
    width, sep, height = text.lower().partition("x")
    if not sep:
        raise ValueError("expected WIDTHxHEIGHT")
    return int(width), int(height)


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
