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
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

__all__ = ["CACHE_FORMAT", "CalibrationCacheMismatchError", "CalibrationRangeCache"]

CACHE_FORMAT = "mottrack-calibration-cache"
CACHE_VERSION = 1


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
        """The cached ``TensorsData`` dict, None when the file does not exist.

        Raises CalibrationCacheMismatchError (other key) or ValueError (not a cache file).
        """
        if not self.path.is_file():
            return None
        try:
            payload = json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:  # binary bytes: UnicodeDecodeError
            raise ValueError(f"{self.path}: unreadable calibration cache ({exc}); delete it") from None
        if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
            raise ValueError(f"{self.path}: not a mottrack calibration cache")
        if payload.get("version") != CACHE_VERSION:
            raise ValueError(f"{self.path}: calibration cache version {payload.get('version')} is not supported")
        stored = payload.get("key", {})
        diffs = _differences(stored, self.key)
        if diffs:
            raise CalibrationCacheMismatchError(
                f"{self.path} holds ranges for other settings ({'; '.join(diffs)}): delete it or choose another "
                "cache path")
        self.info = payload.get("info", {})
        return payload["tensors_data"]

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
    text = repr(value)
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
