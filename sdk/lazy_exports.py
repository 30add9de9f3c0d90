"""PEP 562 lazy package attributes: ``name -> submodule``, imported on first access.

Packages whose submodules pull heavy libraries (OpenCV, onnxruntime, torch, TensorRT) list their
public names in a mapping and call :func:`lazy_exports`, so ``import package`` stays cheap::

    __getattr__, __dir__ = lazy_exports(__name__, globals(), {"SceneOptions": "options"})
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, namespace: dict[str, Any],
                 exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__`` for ``exports`` (public name -> submodule)."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        namespace[name] = value  # cache: later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
