"""Backends registered by name, and the choice of backend for a model (``backend="auto"``).

Entries name a module and a class, imported only when used, so listing backends imports neither
onnxruntime, torch nor tensorrt. ``available_backends()`` asks ``importlib.util.find_spec`` whether a
backend's libraries are installed (cheap; it does not import them).

=============  =====================  ============================================  ===================
name           aliases                model                                         needs
=============  =====================  ============================================  ===================
onnxruntime    ort                    ``.onnx``                                     onnxruntime
tensorrt       trt                    ``.engine`` / ``.plan`` (+ ``.json`` sidecar)  tensorrt, CUDA
torch          pytorch                TorchScript file or a ``torch.nn.Module``     torch
=============  =====================  ============================================  ===================
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mottrack_sdk.backends.base import Backend

__all__ = ["BackendEntry", "available_backends", "backend_class", "backend_names", "backend_suffixes", "open_backend",
           "register_backend", "resolve_backend_name"]


@dataclass(frozen=True)
class BackendEntry:
    """How to find one backend: ``module:cls``, its aliases, file suffixes and required modules."""

    name: str
    module: str
    cls: str
    aliases: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    options_cls: str = ""
    description: str = field(default="", compare=False)


_REGISTRY: dict[str, BackendEntry] = {}


def register_backend(entry: BackendEntry) -> None:
    """Add (or replace) a backend; third-party backends register here before use."""
    _REGISTRY[entry.name] = entry


register_backend(BackendEntry("onnxruntime", "mottrack_sdk.backends.onnxruntime_backend", "OnnxRuntimeBackend",
                              aliases=("ort",), suffixes=(".onnx",), requires=("onnxruntime",),
                              options_cls="OnnxRuntimeOptions", description="ONNX Runtime (CPU; CUDA/TensorRT EPs)"))
register_backend(BackendEntry("tensorrt", "mottrack_sdk.backends.tensorrt_backend", "TensorRTBackend",
                              aliases=("trt",), suffixes=(".engine", ".plan", ".trt"), requires=("tensorrt",),
                              options_cls="TensorRTOptions", description="TensorRT engine + CUDA"))
register_backend(BackendEntry("torch", "mottrack_sdk.backends.torch_backend", "TorchBackend",
                              aliases=("pytorch",), suffixes=(".torchscript", ".ts", ".pt", ".pth", ".jit"),
                              requires=("torch",), options_cls="TorchOptions",
                              description="PyTorch (TorchScript file or nn.Module)"))


def backend_names() -> list[str]:
    """Every registered backend name, installed or not."""
    return list(_REGISTRY)


def resolve_backend_name(name: str) -> str:
    """Canonical name of ``name`` or an alias; ValueError listing the known names otherwise."""
    key = str(name).lower()
    for entry in _REGISTRY.values():
        if key == entry.name or key in entry.aliases:
            return entry.name
    raise ValueError(f"backend {name!r} is unknown; known backends: {', '.join(backend_names())} "
                     "(or 'auto' to choose by model)")


def backend_suffixes(name: str) -> tuple[str, ...]:
    """The model file suffixes that make ``backend="auto"`` choose backend ``name`` (or an alias)."""
    return _REGISTRY[resolve_backend_name(name)].suffixes


def available_backends() -> list[str]:
    """Registered backends whose Python libraries are installed here (no import, no device check)."""
    return [e.name for e in _REGISTRY.values() if all(_installed(m) for m in e.requires)]


def _installed(module: str) -> bool:
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def backend_class(name: str) -> type[Backend]:
    """The class of backend ``name`` (imports its module, which itself imports no heavy library)."""
    entry = _REGISTRY[resolve_backend_name(name)]
    return getattr(importlib.import_module(entry.module), entry.cls)


def options_class(name: str) -> type:
    entry = _REGISTRY[resolve_backend_name(name)]
    return getattr(importlib.import_module(entry.module), entry.options_cls)


def _is_torch_module(model: Any) -> bool:
    torch = sys.modules.get("torch")  # a module object exists only if the user imported torch
    return torch is not None and isinstance(model, torch.nn.Module)


def backend_for_model(model: Any) -> str:
    """The backend a model needs: by file suffix, or ``torch`` for an ``nn.Module``.

    Raises:
        ValueError: a suffix no backend reads (names the suffixes that work).
    """
    if _is_torch_module(model):
        return "torch"
    if not isinstance(model, (str, Path)):
        raise ValueError(f"model: expected a path (.onnx, .engine, TorchScript) or a torch.nn.Module, "
                         f"got {type(model).__name__}")
    suffix = Path(model).suffix.lower()
    for entry in _REGISTRY.values():
        if suffix in entry.suffixes:
            return entry.name
    known = ", ".join(f"{s} ({e.name})" for e in _REGISTRY.values() for s in e.suffixes)
    raise ValueError(f"{model}: cannot tell which backend runs a '{suffix or 'suffix-less'}' file; "
                     f"known: {known}; or pass backend=")


def open_backend(model: Any, backend: str = "auto", options: Any = None) -> Backend:
    """A backend (not yet loaded) for ``model``.

    Args:
        model: a model path, a ``torch.nn.Module``, or a :class:`Backend` (returned as is).
        backend: ``"auto"`` (by model, :func:`backend_for_model`) or a registered name / alias.
        options: the backend's typed options (``OnnxRuntimeOptions``, ``TensorRTOptions``,
            ``TorchOptions``), or None for its defaults.

    Raises:
        ValueError: unknown backend, options of another backend, or a model that backend cannot read
            (the message names both the model's kind and the backend asked for).
    """
    if isinstance(model, Backend):
        if options is not None:
            raise ValueError("options: a ready Backend was given as model; configure it when creating it")
        return model
    wanted = backend_for_model(model) if backend == "auto" else resolve_backend_name(backend)
    if backend != "auto" and isinstance(model, (str, Path)):
        natural = None
        try:
            natural = backend_for_model(model)
        except ValueError:
            pass  # an unusual suffix: let the chosen backend try it
        if natural is not None and natural != wanted:
            raise ValueError(f"{model}: a {Path(model).suffix} model runs on the {natural} backend, "
                             f"but backend={backend!r} was asked for")
    if wanted == "torch" and not isinstance(model, (str, Path)) and not _is_torch_module(model):
        raise ValueError(f"the torch backend takes a TorchScript path or a torch.nn.Module, got {type(model).__name__}")
    cls = backend_class(wanted)
    if options is None:
        return cls(model)  # type: ignore[call-arg]
    expected = options_class(wanted)
    if not isinstance(options, expected):
        raise ValueError(f"backend_options: the {wanted} backend takes {expected.__name__}, "
                         f"got {type(options).__name__}")
    return cls(model, options)  # type: ignore[call-arg]
