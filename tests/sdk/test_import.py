"""The runtime imports without torch / tensorrt, and never imports training, export or calibration."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import mottrack_sdk

FORBIDDEN = ("torch", "tensorrt", "mottrack_training", "mottrack_export", "mottrack_calibration")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_import_package_loads_neither_torch_nor_tensorrt():
    assert _loaded_after("import mottrack_sdk; mottrack_sdk.Tracker") == []


def test_every_runtime_module_imports_without_heavy_dependencies():
    names = [m.name for m in pkgutil.walk_packages(mottrack_sdk.__path__, "mottrack_sdk.")
             if not m.name.startswith("mottrack_sdk._native")]
    assert "mottrack_sdk.tracking.core" in names
    code = "\n".join(f"import {n}" for n in names)
    assert _loaded_after(code) == []


def test_probe_detects_a_forbidden_import():
    # the check above must be able to fail
    assert _loaded_after("import json as torch; sys.modules['torch'] = torch") == ["torch"]


def test_the_native_core_is_built_where_it_can_be():
    """With a C++ compiler and pybind11 present, `pip install` (and so `make test`) must have built
    mottrack_sdk._native: a failed build only warns (pip -q hides it) and the native tests would
    then skip, so a compile error in bindings/ would pass unseen."""
    import importlib.util
    import shutil

    from mottrack_sdk.tracking import native

    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        pytest.skip("no C++ compiler: the pure-Python core is expected")
    if importlib.util.find_spec("pybind11") is None:
        pytest.skip("pybind11 is not installed: the pure-Python core is expected")
    assert native.native_available(), (
        f"mottrack_sdk._native did not build or import ({native._import_error}); "
        "run `.venv/bin/python setup.py build_ext --inplace` to see the compiler's error")
