"""The runtime imports without torch / tensorrt, and never imports training, export or calibration."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

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
