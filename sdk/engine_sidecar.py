"""The JSON sidecar written beside every TensorRT engine, and the check the runtime runs before loading.

TensorRT engines are not portable across TensorRT versions or GPUs (deployment facts), and an engine
built for one input size or precision must not be fed another. ``mottrack export --format engine``
writes ``<engine>.json`` (atomically) next to ``<engine>``; the runtime calls
:func:`check_engine_sidecar` with what it sees on the device and refuses a mismatch with one error
that lists every difference. Pure Python: no torch, no tensorrt.

Sidecar fields: ``format`` (``mottrack-engine-sidecar``), ``format_version``, ``tensorrt_version``,
``gpu_name``, ``compute_capability`` (``"8.7"``), ``dla_core`` (int or null), ``input_name``,
``input_size`` ([width, height]), ``precision`` (``fp32|fp16|int8``), ``int8_mode`` (``qdq`` |
``calibrator`` | null), ``model_sha256`` (of the ONNX built from), ``engine_sha256``,
``project_version``, ``created`` (UTC ISO time), ``model_metadata`` (the ONNX's ``mottrack.*`` metadata
strings, precision set to the engine's, so an engine describes itself; may be absent).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mottrack_sdk.config import MAX_SIDE, short_repr

__all__ = ["SIDECAR_FORMAT", "EngineMismatchError", "EngineSidecar", "check_engine_sidecar", "file_sha256",
           "read_engine_sidecar", "sidecar_path", "write_engine_sidecar"]

SIDECAR_FORMAT = "mottrack-engine-sidecar"
SIDECAR_VERSION = 1
MAX_SIDECAR_BYTES = 1 << 20  # a sidecar is a few KB; its model_metadata a few hundred bytes more
_TEXT_FIELDS = ("tensorrt_version", "gpu_name", "compute_capability", "input_name", "precision", "model_sha256",
                "engine_sha256", "project_version", "created")
_MAX_TEXT = 1000
_PRECISIONS = ("fp32", "fp16", "int8")
_INT8_MODES = ("qdq", "calibrator")


class EngineMismatchError(ValueError):
    """The engine was built for another TensorRT, GPU, input size, precision or model."""


@dataclass(frozen=True)
class EngineSidecar:
    """What an engine was built for (see the module docstring for the fields)."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    input_name: str
    input_size: tuple[int, int]
    precision: str
    model_sha256: str
    engine_sha256: str
    project_version: str
    created: str
    dla_core: int | None = None
    int8_mode: str | None = None
    model_metadata: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        return {"format": SIDECAR_FORMAT, "format_version": SIDECAR_VERSION, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "sidecar") -> EngineSidecar:
        if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
            raise ValueError(f"{where}: not a mottrack engine sidecar")
        if data.get("format_version") != SIDECAR_VERSION:
            raise ValueError(f"{where}: sidecar version {data.get('format_version')} is not supported "
                             f"(expected {SIDECAR_VERSION})")
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is not None}  # None-default fields may be absent
        missing = sorted(required - set(data))
        if missing:
            raise ValueError(f"{where}: sidecar fields missing: {missing}")
        values = {k: v for k, v in data.items() if k in names}
        for name in _TEXT_FIELDS:
            if name in values and not (isinstance(values[name], str) and len(values[name]) <= _MAX_TEXT):
                raise ValueError(f"{where}: {name} must be a string of at most {_MAX_TEXT} characters, "
                                 f"got {short_repr(values[name])}")
        size = values["input_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in size)):
            raise ValueError(f"{where}: input_size must be [width, height], integers in 1..{MAX_SIDE}, "
                             f"got {short_repr(size)}")
        values["input_size"] = (size[0], size[1])
        checks = [("precision", values["precision"] in _PRECISIONS, f"one of {list(_PRECISIONS)}"),
                  ("int8_mode", values.get("int8_mode") in (None, *_INT8_MODES), f"null or one of {list(_INT8_MODES)}"),
                  ("dla_core", values.get("dla_core") is None or (isinstance(values["dla_core"], int) and not isinstance(
                      values["dla_core"], bool) and 0 <= values["dla_core"] <= 64), "null or an integer in 0..64"),
                  ("model_metadata", values.get("model_metadata") is None or (isinstance(values["model_metadata"], dict)
                   and all(isinstance(k, str) and isinstance(v, str) for k, v in values["model_metadata"].items())),
                   "null or an object of strings")]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{where}: {name} must be {expected}, got {short_repr(values.get(name))}")
        return cls(**values)


def sidecar_path(engine_path: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_engine_sidecar(engine_path: str | Path, sidecar: EngineSidecar) -> Path:
    """Write ``<engine>.json`` atomically; returns its path."""
    from mottrack_sdk.io import write_json

    path = sidecar_path(engine_path)
    write_json(path, sidecar.to_json())
    return path


def read_engine_sidecar(engine_path: str | Path) -> EngineSidecar:
    """Read the sidecar of ``engine_path``; FileNotFoundError / ValueError name the file."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: engine sidecar not found (rebuild the engine with mottrack export "
                                "--format engine on this device)")
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ValueError(f"larger than {MAX_SIDECAR_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path}: unreadable sidecar ({str(exc)[:200]})") from None
    return EngineSidecar.from_json(data, where=str(path))


def check_engine_sidecar(engine_path: str | Path, *, tensorrt_version: str, gpu_name: str,
                         input_size: tuple[int, int] | None = None, precision: str | None = None,
                         model_sha256: str | None = None, verify_engine_hash: bool = True) -> EngineSidecar:
    """Check that ``engine_path`` was built for this TensorRT and GPU (and size/precision/model if given).

    ``tensorrt_version`` must equal the build's exactly (engines are not portable across versions);
    ``gpu_name`` is compared case- and space-insensitively. With ``verify_engine_hash`` the engine
    file's SHA-256 must match the sidecar's (catches an engine replaced without its sidecar).

    Returns the sidecar. Raises FileNotFoundError (engine or sidecar missing) or
    :class:`EngineMismatchError` listing every difference and saying how to fix it.
    """
    engine_path = Path(engine_path)
    if not engine_path.is_file():
        raise FileNotFoundError(f"{engine_path}: TensorRT engine not found")
    sidecar = read_engine_sidecar(engine_path)
    problems = []
    if sidecar.tensorrt_version != tensorrt_version:
        problems.append(f"TensorRT {sidecar.tensorrt_version} (this device runs {tensorrt_version})")
    if _norm(sidecar.gpu_name) != _norm(gpu_name):
        problems.append(f"GPU {sidecar.gpu_name!r} (this device has {gpu_name!r})")
    if input_size is not None and tuple(sidecar.input_size) != tuple(input_size):
        problems.append(f"input size {sidecar.input_size[0]}x{sidecar.input_size[1]} "
                        f"(expected {input_size[0]}x{input_size[1]})")
    if precision is not None and sidecar.precision != precision:
        problems.append(f"precision {sidecar.precision} (expected {precision})")
    if model_sha256 is not None and sidecar.model_sha256 != model_sha256:
        problems.append(f"model {sidecar.model_sha256[:12]} (expected {model_sha256[:12]})")
    if verify_engine_hash and not problems and file_sha256(engine_path) != sidecar.engine_sha256:
        problems.append("engine file does not match its sidecar (replaced or corrupt)")
    if problems:
        raise EngineMismatchError(f"{engine_path} was built for " + "; ".join(problems)
                                  + ": rebuild it on this device (mottrack export --format engine)")
    return sidecar


def _norm(name: str) -> str:
    return " ".join(name.lower().split())
