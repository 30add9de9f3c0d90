"""Fixtures of the training-engine tests: the shipped tiny run config pointed at temporary folders."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "configs" / "tiny_test.yaml"


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture()
def tiny_config(tmp_path_factory) -> Callable[..., dict[str, Any]]:
    """``make(**sections)`` -> the dict of ``configs/tiny_test.yaml`` with its synthetic caches under a
    shared temporary folder, no progress bar, and ``sections`` merged in (nested dicts merge)."""
    cache = tmp_path_factory.getbasetemp() / "tiny-synthetic-cache"

    def make(**changes: Any) -> dict[str, Any]:
        raw = yaml.safe_load(TINY_CONFIG.read_text())
        for source in [*raw["data"]["train"], raw["data"]["val"]]:
            source["synthetic"]["root"] = str(cache)
        raw["log"]["progress"] = False
        return _merge(raw, changes)

    return make


@pytest.fixture()
def one_thread():
    """Run the test with one intra-op thread (the 2-core CI machine is shared), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def teacher_file(tmp_path) -> Path:
    """A file for a fake pseudo-label teacher to be built on (``pseudo_label_fakes.BlockTeacher``)."""
    path = tmp_path / "fake.onnx"
    path.write_bytes(b"not a model")
    return path
