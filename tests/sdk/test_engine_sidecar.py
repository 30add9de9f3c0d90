"""Engine sidecars: atomic JSON beside the engine, and the check the runtime runs before loading it."""
from __future__ import annotations

import json

import pytest

from mottrack_sdk.engine_sidecar import (EngineMismatchError, EngineSidecar, check_engine_sidecar, file_sha256,
                                         read_engine_sidecar, sidecar_path, write_engine_sidecar)


def _engine(tmp_path, **changes):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized engine")
    fields = dict(tensorrt_version="8.6.2", gpu_name="Orin", compute_capability="8.7", input_name="images",
                  input_size=(1088, 608), precision="int8", model_sha256="f" * 64, engine_sha256=file_sha256(engine),
                  project_version="0.1.0", created="2026-11-21T00:00:00+00:00", dla_core=None, int8_mode="qdq")
    fields.update(changes)
    write_engine_sidecar(engine, EngineSidecar(**fields))
    return engine


def test_written_beside_the_engine_and_read_back(tmp_path):
    engine = _engine(tmp_path)
    assert sidecar_path(engine).name == "m.engine.json"
    data = json.loads(sidecar_path(engine).read_text())
    assert data["format"] == "mottrack-engine-sidecar" and data["input_size"] == [1088, 608]
    assert read_engine_sidecar(engine).input_size == (1088, 608)


def test_matching_device_passes(tmp_path):
    engine = _engine(tmp_path)
    sidecar = check_engine_sidecar(engine, tensorrt_version="8.6.2", gpu_name="  ORIN ", input_size=(1088, 608),
                                   precision="int8", model_sha256="f" * 64)
    assert sidecar.gpu_name == "Orin"


def test_every_difference_is_listed(tmp_path):
    engine = _engine(tmp_path)
    with pytest.raises(EngineMismatchError) as info:
        check_engine_sidecar(engine, tensorrt_version="10.3.0", gpu_name="Xavier", input_size=(576, 320),
                             precision="fp16", model_sha256="0" * 64)
    text = str(info.value)
    for part in ("TensorRT 8.6.2", "GPU 'Orin'", "input size 1088x608", "precision int8", "model ffffffffffff",
                 "rebuild it on this device"):
        assert part in text


def test_missing_or_foreign_sidecars(tmp_path):
    engine = tmp_path / "e.engine"
    engine.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="sidecar not found"):
        check_engine_sidecar(engine, tensorrt_version="8.6.2", gpu_name="Orin")
    sidecar_path(engine).write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a mottrack engine sidecar"):
        read_engine_sidecar(engine)
    with pytest.raises(FileNotFoundError, match="engine not found"):
        check_engine_sidecar(tmp_path / "none.engine", tensorrt_version="8.6.2", gpu_name="Orin")
