"""Typed options of ONNX export (``mottrack export``; YAML through ``mottrack_sdk.config``)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mottrack_sdk import config
from mottrack_sdk.postprocessing import PostprocessOptions
from mottrack_sdk.preprocessing import DEFAULT_PAD_VALUE

__all__ = ["DEFAULT_OPSET", "MAX_TOPK", "SUPPORTED_OPSETS", "ExportOptions", "TailOptions", "check_tracker_defaults",
           "parse_size"]

DEFAULT_OPSET = 17
# NonMaxSuppression needs >= 10 and TopK with a K input >= 11; TensorRT 8.5 / 8.6 (JetPack 5 / 6.0)
# parse at most opset 17, so later opsets would build engines on some targets only.
SUPPORTED_OPSETS = (13, 14, 15, 16, 17)
SIZE_MULTIPLE = 32
EMBEDDING_HEADS = ("sparse", "dense")  # see mottrack_export.tail.EndToEndModel
MAX_TOPK = 3839  # TensorRT 10.x: TopK K < 3840 (and its NMS layer takes at most 5000 boxes)


@dataclass(frozen=True)
class TailOptions(PostprocessOptions):
    """Thresholds and sizes of the in-graph tail: the runtime's host-side NMS settings
    (:class:`mottrack_sdk.postprocessing.PostprocessOptions`, same fields and meaning) plus TensorRT's
    TopK limit, because here the tail becomes graph nodes (``top_k`` in 1..3839, K < 3840 on TensorRT 10).
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.top_k <= MAX_TOPK:
            raise ValueError(f"top_k must be in 1..{MAX_TOPK} (TensorRT 10 TopK limit K < 3840), got {self.top_k}")


def check_embedding_head(value: str) -> None:
    """ValueError unless ``value`` is one of :data:`EMBEDDING_HEADS`."""
    if value not in EMBEDDING_HEADS:
        raise ValueError(f"embedding_head must be one of {list(EMBEDDING_HEADS)}, got {value!r}")


def parse_size(text: str | tuple[int, int]) -> tuple[int, int]:
    """``"1088x608"`` or ``(1088, 608)`` -> ``(width, height)``; ValueError unless multiples of 32."""
    return config.parse_size(text, "size", multiple=SIZE_MULTIPLE)


@dataclass(frozen=True)
class ExportOptions:
    """How one ONNX file is produced.

    Attributes:
        size: static input ``(width, height)`` in pixels, multiples of 32.
        opset: ONNX opset, one of :data:`SUPPORTED_OPSETS` (17: TensorRT 8.5+ parses it).
        raw_heads: export decoded predictions + embedding map (host-side NMS) instead of the tail.
        embedding_head: ``sparse`` (SAAN's last convolutions at the kept boxes only) or ``dense`` (the
            whole embedding map, then the gather); the same embeddings. Ignored with ``raw_heads``.
        tail: the in-graph tail's thresholds (ignored with ``raw_heads``).
        resize_mode, pad_value: the preprocessing the runtime must apply, written to the metadata.
        tracker_defaults: :class:`~mottrack_sdk.tracking.TrackerOptions` changes written into the file's
            ``tracker_defaults`` over those the weights were validated with (e.g. thresholds re-chosen
            for another input size); None keeps the weights' own. ``frame_rate`` belongs to each video.
        fuse_batch_norm: fold BatchNorms into convolutions first (what TensorRT would do anyway).
        verify_onnxruntime: run the exported file once in ONNX Runtime (random input) and check its
            output names and shapes against the metadata (numerical parity is in tests/export).
    """

    size: tuple[int, int] = (1088, 608)
    opset: int = DEFAULT_OPSET
    raw_heads: bool = False
    embedding_head: str = "sparse"
    tail: TailOptions = field(default_factory=TailOptions)
    resize_mode: str = "letterbox"
    pad_value: float = DEFAULT_PAD_VALUE
    tracker_defaults: Mapping[str, Any] | None = None
    fuse_batch_norm: bool = True
    verify_onnxruntime: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", parse_size(self.size))
        if self.opset not in SUPPORTED_OPSETS:
            raise ValueError(f"opset {self.opset} is not supported: use one of {list(SUPPORTED_OPSETS)} "
                             f"(TensorRT 8.5/8.6 on JetPack 5/6.0 parse at most opset 17)")
        check_embedding_head(self.embedding_head)
        if self.resize_mode not in ("letterbox", "stretch"):
            raise ValueError(f"resize_mode must be letterbox or stretch, got {self.resize_mode!r}")
        if not 0.0 <= self.pad_value <= 255.0:
            raise ValueError(f"pad_value must be in [0, 255], got {self.pad_value}")
        if self.tracker_defaults is not None:
            object.__setattr__(self, "tracker_defaults", check_tracker_defaults(self.tracker_defaults))


def check_tracker_defaults(changes: Mapping[str, Any], where: str = "tracker_defaults") -> dict[str, Any]:
    """``changes`` as a plain dict once ``TrackerOptions.for_model(**changes)`` accepts them (numbers or
    None, as model metadata stores them); ValueError starting with ``where`` and naming the field otherwise."""
    from mottrack_sdk.tracking import TrackerOptions

    if not isinstance(changes, Mapping):
        raise ValueError(f"{where} must be a mapping of TrackerOptions fields, got {type(changes).__name__}")
    out = dict(changes)
    for key, value in out.items():
        if key == "frame_rate":
            raise ValueError(f"{where}: frame_rate belongs to each video, not to a model file")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"{where}: {key} must be a number (or None), got {value!r}")
    try:
        TrackerOptions.for_model(**out)
    except (TypeError, ValueError) as exc:  # an unknown field, a value out of its range
        raise ValueError(f"{where}: {exc}") from None
    return out
