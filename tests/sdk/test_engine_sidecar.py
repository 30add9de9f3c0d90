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


@pytest.mark.parametrize("field, value, message", [
    ("gpu_name", 5, "gpu_name must be a string"),
    ("model_sha256", 123, "model_sha256 must be a string"),
    ("created", "9" * 5000, "created must be a string of at most 1000"),
    ("input_size", [1e999, 64], "input_size must be [width, height], integers in 1..8192"),
    ("input_size", "64", "input_size must be [width, height]"),
    ("input_size", [-5, 0], "input_size must be [width, height]"),
    ("input_size", [10**30, 10**30], "input_size must be [width, height]"),
    ("input_size", [True, 64], "input_size must be [width, height]"),
    ("precision", {"a": 1}, "precision must be a string"),
    ("precision", "int4", "precision must be one of"),
    ("dla_core", "x", "dla_core must be null or an integer"),
    ("int8_mode", "int4", "int8_mode must be null or one of"),
    ("model_metadata", [1, 2], "model_metadata must be null or an object of strings"),
    ("model_metadata", {"mottrack.format_version": 1}, "model_metadata must be null or an object of strings"),
])
def test_sidecar_fields_of_the_wrong_type_are_named(tmp_path, field, value, message):
    """A hostile sidecar used to raise AttributeError / TypeError / OverflowError from deep inside."""
    engine = _engine(tmp_path)
    data = json.loads(sidecar_path(engine).read_text())
    data[field] = value
    sidecar_path(engine).write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"m\.engine\.json: {message.replace('[', '.').replace(']', '.')}"):
        read_engine_sidecar(engine)


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"[" * 100_000, b'{"created": ' + b"9" * 5000 + b"}",
                                     b" " * ((1 << 20) + 1)])
def test_unreadable_sidecars_name_the_file(tmp_path, content):
    engine = _engine(tmp_path)
    sidecar_path(engine).write_bytes(content)
    with pytest.raises(ValueError, match=r"m\.engine\.json: unreadable sidecar"):
        read_engine_sidecar(engine)
