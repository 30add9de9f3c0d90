"""Fixtures of the export tests: tiny CSTrack-S networks whose random detect heads produce varied scores
(``tests/detecting_model.py``), exported once per session."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="export tests need PyTorch")

from detecting_model import make_detecting_model  # noqa: E402  (tests/ is on sys.path via its conftest)


@pytest.fixture(scope="session")
def detecting_model() -> Callable[..., object]:
    return make_detecting_model


@pytest.fixture(scope="session")
def exported_e2e(tmp_path_factory) -> tuple[Path, object]:
    """(path, LoadedModel) of an end-to-end export at 128x96, score threshold 0.3."""
    from mottrack_export import ExportOptions, TailOptions, export_onnx

    loaded = make_detecting_model((128, 96))
    path = tmp_path_factory.mktemp("e2e") / "tiny.onnx"
    export_onnx(loaded, path, ExportOptions(size=(128, 96), tail=TailOptions(score_threshold=0.3)))
    return path, loaded


@pytest.fixture(scope="session")
def exported_raw(tmp_path_factory) -> tuple[Path, object]:
    """(path, LoadedModel) of a raw-heads export at 128x96."""
    from mottrack_export import ExportOptions, export_onnx

    loaded = make_detecting_model((128, 96))
    path = tmp_path_factory.mktemp("raw") / "tiny_raw.onnx"
    export_onnx(loaded, path, ExportOptions(size=(128, 96), raw_heads=True))
    return path, loaded


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread: the 2-core CI machine is shared, and tiny models gain nothing from two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
