"""mottrack_export: CSTrack -> ONNX (tail in the graph, metadata inside) and TensorRT engines.

- :class:`TorchModelFromWeights` / :class:`TorchModelFromConfig`: load the network to export;
- :class:`OnnxFromTorch` / :func:`export_onnx`: ONNX export with :class:`ExportOptions`;
- :class:`EngineFromOnnx` (:mod:`.tensorrt_builder`): TensorRT 8.5-11 engines with a sidecar;
- ``mottrack export`` (:mod:`.cli`).

Names are imported on first use (PEP 562): ``import mottrack_export`` loads neither torch, onnx nor
tensorrt, so the CLI can register its command cheaply.
"""
from __future__ import annotations

from mottrack_sdk.lazy_exports import lazy_exports

_EXPORTS = {
    "DetectionTail": "tail",
    "EndToEndModel": "tail",
    "RawHeadsModel": "tail",
    "TailOptions": "options",
    "ExportOptions": "options",
    "parse_size": "options",
    "LoadedModel": "weights",
    "TorchModelFromConfig": "weights",
    "TorchModelFromWeights": "weights",
    "ExportResult": "onnx_export",
    "OnnxFromTorch": "onnx_export",
    "export_onnx": "onnx_export",
    "EngineBuildOptions": "tensorrt_builder",
    "EngineFromOnnx": "tensorrt_builder",
    "tensorrt_features": "tensorrt_version",
    "export_model": "pipeline",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
