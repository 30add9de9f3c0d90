"""Inference backends behind one interface (:class:`Backend`: ``load`` / ``infer(dict) -> dict`` / ``close``).

>>> from mottrack_sdk.backends import open_backend
>>> with open_backend("cstrack_s.onnx") as backend:          # ONNX Runtime, chosen by suffix
...     outputs = backend.infer({"images": batch})          # name -> array, per backend.output_specs

Backends are registered by name (:mod:`.registry`): ``onnxruntime``, ``tensorrt``, ``torch``. Names are
imported on first use (PEP 562) and no backend module imports its library before ``load()``, so
``import mottrack_sdk.backends`` loads neither onnxruntime, torch nor tensorrt.
"""
from __future__ import annotations

from mottrack_sdk.lazy_exports import lazy_exports

_EXPORTS = {
    "Backend": "base",
    "LoadedModelInfo": "base",
    "ModelLoadError": "base",
    "TensorSpec": "base",
    "BackendEntry": "registry",
    "available_backends": "registry",
    "backend_class": "registry",
    "backend_for_model": "registry",
    "backend_names": "registry",
    "open_backend": "registry",
    "register_backend": "registry",
    "resolve_backend_name": "registry",
    "OnnxRuntimeBackend": "onnxruntime_backend",
    "OnnxRuntimeOptions": "onnxruntime_backend",
    "TensorRTBackend": "tensorrt_backend",
    "TensorRTOptions": "tensorrt_backend",
    "TorchBackend": "torch_backend",
    "TorchOptions": "torch_backend",
    "save_torchscript": "torch_backend",
    "metadata_for_network": "torch_backend",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
