"""Calibration ranges cached on disk, keyed by model hash, method and preprocessing.

Computing ranges over 500 frames is the slow part of quantization; the ranges depend only on the
FP32 model, the calibration method (and its percentile), the preprocessing and the frames. The cache
is one JSON file::

    {"format": "mottrack-calibration-cache", "version": 1,
     "key": {"model_sha256": ..., "method": "entropy", "percentile": null,
             "activation_type": "int8", "preprocessing": {"input_name", "size", "resize_mode", "pad_value"}},
     "info": {"data": <which frames were read>},
     "tensors_data": <onnxruntime TensorsData.to_dict()>}

written atomically. Loading it with a different key raises :class:`CalibrationCacheMismatchError`
naming each differing entry: a cache is never silently reused for other settings.

The file is checked before ONNX Runtime builds arrays from it (``TensorData.from_dict`` takes the numpy
dtype from the file, so ``"(20000,20000)f4"`` would allocate 1.6 GB): at most :data:`MAX_CACHE_BYTES`,
:data:`MAX_TENSORS` tensors of ``lowest`` / ``highest`` (``avg`` / ``std``) ranges only, each a finite
float32 / float16 number or a flat list of at most :data:`MAX_VALUES`, and one of the calibration
methods quantization uses. Anything else is a ValueError naming the file and the key: like a cache for
other settings, a malformed one is refused, never silently recomputed.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NoReturn

import numpy as np

from mottrack_sdk.config import short_repr

__all__ = ["CACHE_FORMAT", "MAX_CACHE_BYTES", "MAX_TENSORS", "MAX_VALUES", "CalibrationCacheMismatchError",
           "CalibrationRangeCache"]

CACHE_FORMAT = "mottrack-calibration-cache"
CACHE_VERSION = 1
MAX_CACHE_BYTES = 8 << 20  # the writer takes ~220 bytes a tensor: room for some 35,000
MAX_TENSORS = 50_000
MAX_VALUES = 4096  # numbers in one range value (the writer stores one per tensor)
RANGE_KEYS = ("lowest", "highest", "avg", "std")  # what quantize._strip_tensors_data keeps
RANGE_DTYPES = ("float32", "float16")  # what ONNX Runtime's TensorData takes for them
METHODS = tuple(f"CalibrationMethod.{m}" for m in ("MinMax", "Entropy", "Percentile"))  # quantize._ort_method's
_MISSING = object()


class CalibrationCacheMismatchError(ValueError):
    """The cache file was computed with other settings (listed in the message)."""


@dataclass
class CalibrationRangeCache:
    """One cache file and the key this run expects in it."""

    path: Path
    key: Mapping[str, Any]

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.key = json.loads(json.dumps(dict(self.key)))  # plain JSON values, as stored

    def load(self) -> dict[str, Any] | None:
        """The cached ``TensorsData`` dict (checked, see the module doc), None when the file does not exist.

        Raises CalibrationCacheMismatchError (other key) or ValueError (not a cache file, malformed).
        """
        if not self.path.is_file():
            return None
        try:
            with self.path.open("rb") as fh:
                raw = fh.read(MAX_CACHE_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"{self.path}: unreadable calibration cache ({exc.strerror or exc})") from None
        if len(raw) > MAX_CACHE_BYTES:  # the writer stays far below: someone else's file, never "delete it"
            _not_a_cache(self.path, f"larger than {MAX_CACHE_BYTES >> 20} MiB")
        try:
            payload = json.loads(raw.decode("utf-8"))
        # binary bytes (a model): UnicodeDecodeError; '{"a":' * 100000: RecursionError; 5000 digits: ValueError
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            _not_a_cache(self.path, f"not JSON: {' '.join(str(exc).split())[:120]}")
        if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
            _not_a_cache(self.path, f"no \"format\": \"{CACHE_FORMAT}\"")
        if payload.get("version") != CACHE_VERSION:
            raise ValueError(f"{self.path}: calibration cache version {_short(payload.get('version'))} is not "
                             "supported")
        try:
            stored = _checked(payload.get("key", {}), "key", isinstance(payload.get("key", {}), dict), "an object")
            diffs = _differences(stored, self.key)
            if diffs:
                more = f"; and {len(diffs) - 5} more" if len(diffs) > 5 else ""
                raise CalibrationCacheMismatchError(
                    f"{self.path} holds ranges for other settings ({'; '.join(diffs[:5])}{more}): delete it or "
                    "choose another cache path")
            info = _checked_info(payload.get("info", {}))
            tensors_data = _checked_tensors_data(payload.get("tensors_data", _MISSING))
        except _Malformed as exc:
            raise ValueError(f"{self.path}: malformed calibration cache: {exc.where}: expected {exc.expected}, got "
                             f"{_short(exc.got)}; delete it to recompute the ranges") from None
        self.info = info
        return tensors_data

    def save(self, tensors_data: Any, info: Mapping[str, Any] | None = None) -> None:
        """Write the ranges (``TensorsData`` or its dict) with this key and ``info``, atomically."""
        from mottrack_sdk.io import atomic_write

        payload = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "key": dict(self.key), "info": dict(info or {}),
                   "tensors_data": tensors_data}
        with atomic_write(self.path) as fh:
            json.dump(payload, fh, cls=_NumpyEncoder)
            fh.write("\n")

    def ranges(self) -> dict[str, tuple[float, float]]:
        """``{tensor: (min, max)}`` of the stored ranges (e.g. for a TensorRT calibration cache)."""
        data = self.load()
        if data is None:
            raise FileNotFoundError(f"{self.path}: calibration cache not found")
        out = {}
        for name, entry in data["data"].items():
            lo, hi = entry["lowest"], entry["highest"]
            out[name] = (float(_scalar(lo)), float(_scalar(hi)))
        return out


def _not_a_cache(path: Path, why: str) -> NoReturn:
    """A file this module never writes (the writer's JSON is atomic and marked): refused, and left alone."""
    raise ValueError(f"{path}: not a calibration cache written by mottrack ({why}); give another cache path")


class _Malformed(Exception):
    """``where`` in the cache is not ``expected`` (load adds the file)."""

    def __init__(self, where: str, expected: str, got: Any) -> None:
        super().__init__(where)
        self.where, self.expected, self.got = where, expected, got


def _checked(value: Any, where: str, ok: bool, expected: str) -> Any:
    if not ok:
        raise _Malformed(where, expected, value)
    return value


def _checked_info(info: Any) -> dict[str, Any]:
    _checked(info, "info", isinstance(info, dict), "an object")
    data = _checked(info.get("data", {}), "info.data", isinstance(info.get("data", {}), dict), "an object")
    frames = data.get("frames", 0)
    _checked(frames, "info.data.frames", type(frames) is int and 0 <= frames < 2**31, "a count of frames")
    return info


def _checked_tensors_data(td: Any) -> dict[str, Any]:
    """A fresh ``TensorsData`` dict of the checked values: only dtypes from RANGE_DTYPES reach ONNX Runtime."""
    _checked(td, "tensors_data", isinstance(td, dict), "an object (ONNX Runtime's TensorsData)")
    _known_keys(td, "tensors_data", ("CLS", "calibration_method", "data"), "TensorsData")
    method = td.get("calibration_method", _MISSING)
    _checked(method, "tensors_data.calibration_method",
             isinstance(method, dict) and method.get("CLS") == "CalibrationMethod" and len(method) == 2
             and method.get("value") in METHODS, f'{{"CLS": "CalibrationMethod", "value": one of {METHODS}}}')
    data = td.get("data", _MISSING)
    _checked(data, "tensors_data.data", isinstance(data, dict), "an object of tensor ranges")
    _checked(f"{len(data)} tensors", "tensors_data.data", len(data) <= MAX_TENSORS, f"at most {MAX_TENSORS} tensors")
    out = {}
    for name, entry in data.items():
        where = f"tensors_data.data[{_short(name)}]"
        _checked(entry, where, isinstance(entry, dict), "an object (ONNX Runtime's TensorData)")
        _known_keys(entry, where, ("CLS",) + RANGE_KEYS, "TensorData")
        _checked(sorted(entry), where, "lowest" in entry and "highest" in entry, "lowest and highest")
        out[name] = {k: _checked_range(v, f"{where}.{k}") for k, v in entry.items() if k != "CLS"}
        out[name]["CLS"] = "TensorData"
    return {"CLS": "TensorsData", "data": out, "calibration_method": dict(method)}


def _known_keys(obj: dict, where: str, known: tuple[str, ...], cls: str) -> None:
    unknown = sorted(set(obj) - set(known))
    _checked(unknown, where, not unknown, f"only the keys {', '.join(known)} (histograms are not cached)"
             if cls == "TensorData" else f"only the keys {', '.join(known)}")
    _checked(obj.get("CLS", cls), f"{where}.CLS", obj.get("CLS", cls) == cls, repr(cls))


def _checked_range(value: Any, where: str) -> Any:
    """A finite number (float32 for ONNX Runtime) or ``{"data", "dtype", "CLS": "numpy.array"}``, as encoded."""
    if not isinstance(value, dict):
        _checked(value, where, _finite([value], "float32"), "a finite float32 number or an encoded numpy array")
        return value
    _known_keys(value, where, ("data", "dtype", "CLS"), "numpy.array")
    dtype = _checked(value.get("dtype", _MISSING), f"{where}.dtype", value.get("dtype") in RANGE_DTYPES,
                     f"one of {', '.join(RANGE_DTYPES)}")
    data = value.get("data", _MISSING)
    numbers = data if isinstance(data, list) else [data]
    _checked(data, f"{where}.data", 1 <= len(numbers) <= MAX_VALUES and _finite(numbers, dtype),
             f"a finite {dtype} number or a flat list of 1 to {MAX_VALUES}")
    return {"data": data, "dtype": dtype, "CLS": "numpy.array"}


def _finite(values: list[Any], dtype: str) -> bool:
    """Plain JSON numbers (no bool, string or list), each finite in ``dtype``."""
    if not all(type(v) in (int, float) for v in values):
        return False
    try:
        floats = [float(v) for v in values]
    except OverflowError:  # an integer beyond float64
        return False
    with np.errstate(over="ignore"):
        return all(math.isfinite(f) for f in floats) and bool(np.isfinite(np.asarray(floats, dtype=dtype)).all())


def _differences(stored: Mapping[str, Any], expected: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(stored) | set(expected)):
        a, b = stored.get(k), expected.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: cache {_short(a)} vs now {_short(b)}")
    return out


def _short(value: Any) -> str:
    text = "nothing" if value is _MISSING else short_repr(value)  # bounded: no deep or huge repr
    return text if len(text) <= 40 else text[:37] + "..."


def _scalar(value: Any) -> float:
    # ORT's encoder writes numpy arrays as {"data": [...], "dtype": ..., "CLS": "numpy.array"}
    if isinstance(value, Mapping):
        value = value.get("data", value)
    while isinstance(value, list):
        value = value[0]
    return float(value)


class _NumpyEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        from onnxruntime.quantization.calibrate import CalibrationCacheEncoder

        return CalibrationCacheEncoder().default(o)
