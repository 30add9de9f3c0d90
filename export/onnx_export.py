"""PyTorch CSTrack -> ONNX (opset 17, static size) with the tail in the graph and metadata inside.

>>> from mottrack_export import OnnxFromTorch, TorchModelFromWeights, ExportOptions
>>> OnnxFromTorch(TorchModelFromWeights("best.pt"), ExportOptions(size=(1088, 608)))("cstrack_s.onnx")

The TorchScript exporter (``torch.onnx.export(dynamo=False)``) is used because the tail's
``NonMaxSuppression`` is an autograd Function with a ``symbolic`` (see :mod:`.tail`). Output layouts:

- ``nms`` (default): ``images [1, 3, H, W]`` -> ``boxes [max_det, 4]``, ``scores [max_det]``,
  ``embeddings [max_det, E]``, ``count [1]`` int64;
- ``raw_heads``: ``images [1, 3, H, W]`` -> ``predictions [1, N, 4 + nc]``, ``embedding_map [1, E, H/8, W/8]``.

The file is written atomically and checked with ``onnx.checker``; with ``verify_onnxruntime`` it is
also run once in ONNX Runtime and its output shapes compared with the metadata.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mottrack_export.options import ExportOptions
from mottrack_export.weights import LoadedModel
from mottrack_sdk.model_metadata import METADATA_PREFIX, ModelMetadata

__all__ = ["ExportResult", "OnnxFromTorch", "build_metadata", "export_onnx", "set_model_metadata"]

INPUT_NAME = "images"


@dataclass(frozen=True)
class ExportResult:
    """An exported file and what it holds."""

    path: Path
    metadata: ModelMetadata


@dataclass
class OnnxFromTorch:
    """Deferred export: ``OnnxFromTorch(loader, options)(out_path) -> ExportResult``."""

    loader: Callable[[], LoadedModel]
    options: ExportOptions

    def __call__(self, out_path: str | Path) -> ExportResult:
        return export_onnx(self.loader(), out_path, self.options)


def build_metadata(loaded: LoadedModel, options: ExportOptions, output_names: tuple[str, ...],
                   precision: str = "fp32") -> ModelMetadata:
    """The ``mottrack.*`` metadata of an export of ``loaded`` with ``options``."""
    from mottrack_sdk import __version__

    model = loaded.model
    tail = None if options.raw_heads else options.tail
    return ModelMetadata(
        model_name=loaded.model_name, project_version=__version__, precision=precision, input_name=INPUT_NAME,
        input_size=options.size, input_format="NCHW RGB float32 0..1", resize_mode=options.resize_mode,
        pad_value=float(options.pad_value), strides=tuple(int(s) for s in model.strides),
        anchors=tuple(tuple((float(w), float(h)) for w, h in level) for level in model.anchors.tolist()),
        num_classes=int(model.num_classes), embedding_dim=int(model.embedding_dim),
        embedding_stride=int(model.embedding_strides[0]), output_layout="raw_heads" if options.raw_heads else "nms",
        outputs=output_names, opset=options.opset, weights_sha256=loaded.weights_sha256,
        score_threshold=tail.score_threshold if tail else None, iou_threshold=tail.iou_threshold if tail else None,
        top_k=tail.top_k if tail else None, max_det=tail.max_det if tail else None,
        tracker_defaults={**loaded.tracker_defaults, **(options.tracker_defaults or {})} or None,
        box_coding=getattr(model.detect, "box_coding", "yolov5"))


def set_model_metadata(model_proto: Any, metadata: ModelMetadata) -> None:
    """Replace the ``mottrack.*`` entries of an ``onnx.ModelProto``'s ``metadata_props`` in place."""
    keep = [(p.key, p.value) for p in model_proto.metadata_props if not p.key.startswith(METADATA_PREFIX)]
    del model_proto.metadata_props[:]
    for key, value in keep + sorted(metadata.to_props().items()):
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value


def export_onnx(loaded: LoadedModel, out_path: str | Path, options: ExportOptions) -> ExportResult:
    """Export ``loaded.model`` to ``out_path`` (atomic). Raises ValueError on an unexportable model."""
    import onnx
    import torch

    from mottrack_export.tail import EndToEndModel, RawHeadsModel
    from mottrack_sdk.io import atomic_path

    network = loaded.model
    if options.fuse_batch_norm:
        network.fuse()
    network.eval()
    wrapper = (RawHeadsModel(network) if options.raw_heads
               else EndToEndModel(network, options.tail, options.embedding_head))
    wrapper.eval()
    width, height = options.size
    example = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    metadata = build_metadata(loaded, options, tuple(wrapper.output_names))
    out_path = Path(out_path)
    with atomic_path(out_path, suffix=".onnx") as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings about the static shapes we want
            torch.onnx.export(wrapper, (example,), str(tmp), dynamo=False, opset_version=options.opset,
                              input_names=[INPUT_NAME], output_names=list(wrapper.output_names),
                              do_constant_folding=True)
        proto = onnx.load(str(tmp))
        proto.producer_name, proto.producer_version = "mottrack-export", metadata.project_version
        proto.doc_string = (f"{metadata.model_name} {width}x{height} {metadata.output_layout} "
                            "(mottrack metadata in metadata_props)")
        set_model_metadata(proto, metadata)
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))
        if options.verify_onnxruntime:
            verify_onnxruntime(tmp, metadata)
    return ExportResult(out_path, metadata)


def verify_onnxruntime(path: str | Path, metadata: ModelMetadata) -> None:
    """Run ``path`` once in ONNX Runtime CPU on a random input; check output names and shapes."""
    import numpy as np
    import onnxruntime as ort

    width, height = metadata.input_size
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    outputs = session.run(None, {metadata.input_name: image})
    names = tuple(o.name for o in session.get_outputs())
    if names != metadata.outputs:
        raise ValueError(f"{path}: outputs {names} differ from the metadata {metadata.outputs}")
    expected = expected_output_shapes(metadata)
    for name, array in zip(names, outputs):
        if tuple(array.shape) != expected[name]:
            raise ValueError(f"{path}: output {name} has shape {array.shape}, expected {expected[name]}")


def expected_output_shapes(metadata: ModelMetadata) -> dict[str, tuple[int, ...]]:
    """Output name -> static shape, from the metadata alone."""
    width, height = metadata.input_size
    dim = metadata.embedding_dim
    if metadata.output_layout == "nms":
        assert metadata.max_det is not None
        return {"boxes": (metadata.max_det, 4), "scores": (metadata.max_det,), "embeddings": (metadata.max_det, dim),
                "count": (1,)}
    anchors = len(metadata.anchors[0])
    candidates = sum(anchors * (height // s) * (width // s) for s in metadata.strides)
    stride = metadata.embedding_stride
    return {"predictions": (1, candidates, 4 + metadata.num_classes),
            "embedding_map": (1, dim, height // stride, width // stride)}
