"""TensorRT's implicit INT8 calibration (8.5-10.x, and DLA): batches, the calibrator, its cache file.

- :class:`CalibrationBatcher`: host frames (``[3, H, W]`` or ``[N, 3, H, W]`` float32, preprocessed by
  ``mottrack_calibration``'s readers exactly as the runtime does) -> contiguous batches.
- :func:`make_entropy_calibrator`: the ``trt.IInt8EntropyCalibrator2`` subclass, *defined inside the
  function* so this module imports without TensorRT.
- :class:`TensorRTCalibrationCache`: the cache file in TensorRT's text format::

      TRT-8601-EntropyCalibration2
      images: 3c010a14
      <tensor name>: <hex of the big-endian float32 scale>

  A cache written by another TensorRT version is not used (not portable); a cache made for another
  model or preprocessing (recorded in ``<cache>.key.json``) is refused with an error.
- :func:`calibration_cache_from_ranges`: the same text from ONNX Runtime calibration ranges
  (scale = max(|min|, |max|) / 127), so ranges computed on a CPU can seed a DLA build.
"""
from __future__ import annotations

import json
import logging
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mottrack_export.cuda_memory import DeviceAllocator
from mottrack_export.tensorrt_version import calibration_cache_header

__all__ = ["CalibrationBatcher", "CalibrationCacheMismatchError", "TensorRTCalibrationCache",
           "calibration_cache_from_ranges", "format_calibration_cache", "make_entropy_calibrator",
           "parse_calibration_cache"]

log = logging.getLogger(__name__)
ALGORITHM = "EntropyCalibration2"


class CalibrationCacheMismatchError(ValueError):
    """The cache was made for another model or preprocessing."""


def format_calibration_cache(version: tuple[int, int, int], scales: Mapping[str, float],
                             algorithm: str = ALGORITHM) -> bytes:
    """TensorRT cache text for ``scales`` (tensor name -> float32 scale)."""
    lines = [calibration_cache_header(version, algorithm)]
    for name, scale in scales.items():
        if ":" in name or "\n" in name:
            raise ValueError(f"tensor name {name!r} cannot be written to a calibration cache")
        lines.append(f"{name}: {struct.pack('>f', float(scale)).hex()}")
    return ("\n".join(lines) + "\n").encode()


def parse_calibration_cache(data: bytes) -> tuple[str, dict[str, float]]:
    """``(header, {tensor name: scale})`` of a TensorRT cache; ValueError on malformed text."""
    lines = data.decode("ascii", errors="strict").splitlines()
    if not lines or not lines[0].startswith("TRT-"):
        raise ValueError("not a TensorRT calibration cache (first line must start with 'TRT-')")
    scales: dict[str, float] = {}
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        name, sep, value = line.rpartition(":")
        try:
            if not sep:
                raise ValueError
            scales[name.strip()] = struct.unpack(">f", bytes.fromhex(value.strip().zfill(8)))[0]
        except ValueError:
            raise ValueError(f"calibration cache line {lineno}: expected 'name: <8 hex digits>', got {line!r}") from None
    return lines[0].strip(), scales


def calibration_cache_from_ranges(version: tuple[int, int, int], ranges: Mapping[str, tuple[float, float]]) -> bytes:
    """TensorRT cache text from per-tensor ``(min, max)`` ranges (symmetric int8: amax / 127)."""
    scales = {name: max(abs(float(lo)), abs(float(hi))) / 127.0 for name, (lo, hi) in ranges.items()}
    return format_calibration_cache(version, scales)


@dataclass
class TensorRTCalibrationCache:
    """The calibrator's cache file; ``key`` (model hash, preprocessing, ...) is kept in ``<path>.key.json``."""

    path: Path
    version: tuple[int, int, int]
    key: Mapping[str, Any]

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @property
    def key_path(self) -> Path:
        return self.path.with_name(self.path.name + ".key.json")

    def read(self) -> bytes | None:
        """The cache bytes when usable, None to make TensorRT calibrate (absent or other version)."""
        if not self.path.is_file():
            return None
        self._check_key()
        data = self.path.read_bytes()
        try:
            header, _ = parse_calibration_cache(data)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("%s: unreadable calibration cache (%s); calibrating again", self.path, exc)
            return None
        expected = calibration_cache_header(self.version)
        if header != expected:
            log.warning("%s: cache header %s, this TensorRT writes %s; calibrating again", self.path, header, expected)
            return None
        return data

    def write(self, data: bytes) -> None:
        """Write the cache and its key, each atomically."""
        from mottrack_sdk.io import atomic_write, write_json

        with atomic_write(self.path, "wb") as fh:
            fh.write(bytes(data))
        write_json(self.key_path, dict(self.key))

    def _check_key(self) -> None:
        if not self.key_path.is_file():
            raise CalibrationCacheMismatchError(f"{self.path}: no key file {self.key_path.name}; cannot tell which "
                                                "model it calibrates: delete it or choose another cache path")
        stored = json.loads(self.key_path.read_text())
        diffs = sorted(k for k in set(stored) | set(self.key) if stored.get(k) != self.key.get(k))
        if diffs:
            detail = ", ".join(f"{k}: cache {stored.get(k)!r} vs now {self.key.get(k)!r}" for k in diffs)
            raise CalibrationCacheMismatchError(f"{self.path} was made with other settings ({detail}); delete it "
                                                "or choose another cache path")


class CalibrationBatcher:
    """Host frames -> contiguous float32 batches of ``input_shape = (batch, 3, H, W)``.

    ``frames`` yields ``[3, H, W]`` or ``[n, 3, H, W]`` arrays; they are concatenated and cut into batches
    of ``input_shape[0]``; an incomplete last batch is dropped (TensorRT needs full batches).
    ``max_batches`` caps the count. A frame of another shape raises ValueError.
    """

    def __init__(self, frames: Iterable[np.ndarray], input_shape: tuple[int, ...], max_batches: int | None = None):
        if len(input_shape) != 4 or min(input_shape) < 1:
            raise ValueError(f"input_shape must be (batch, channels, height, width), got {input_shape}")
        self.input_shape = tuple(int(v) for v in input_shape)
        self.batch_size = self.input_shape[0]
        self.max_batches = max_batches
        self.batches_served = 0
        self._frames = iter(frames)
        self._pending: list[np.ndarray] = []

    def _next_frame(self) -> np.ndarray | None:
        while not self._pending:
            array = next(self._frames, None)
            if array is None:
                return None
            array = np.asarray(array, dtype=np.float32)
            if array.ndim == 3:
                array = array[None]
            if array.shape[1:] != self.input_shape[1:]:
                raise ValueError(f"calibration frame of shape {array.shape[1:]}, the network takes "
                                 f"{self.input_shape[1:]} (preprocess with the model's metadata)")
            self._pending.extend(array)
        return self._pending.pop(0)

    def next_batch(self) -> np.ndarray | None:
        """The next ``[batch, 3, H, W]`` float32 C-contiguous batch, or None when done."""
        if self.max_batches is not None and self.batches_served >= self.max_batches:
            return None
        frames = []
        for _ in range(self.batch_size):
            frame = self._next_frame()
            if frame is None:
                return None
            frames.append(frame)
        self.batches_served += 1
        return np.ascontiguousarray(np.stack(frames), dtype=np.float32)

    def __iter__(self) -> Iterator[np.ndarray]:
        while (batch := self.next_batch()) is not None:
            yield batch


def make_entropy_calibrator(trt: ModuleType, batcher: CalibrationBatcher, cache: TensorRTCalibrationCache | None,
                            allocator: DeviceAllocator) -> Any:
    """An ``IInt8EntropyCalibrator2`` feeding ``batcher``'s batches through ``allocator``'s device buffer.

    Raises ValueError when this TensorRT has no implicit calibration (11.x: use the QDQ ONNX).
    """
    base = getattr(trt, "IInt8EntropyCalibrator2", None)
    if base is None:
        raise ValueError(f"TensorRT {getattr(trt, '__version__', '?')} has no IInt8EntropyCalibrator2 (removed in 11): "
                         "build INT8 from the QDQ ONNX (mottrack export --precision int8 --calib SOURCE)")

    class EntropyCalibrator(base):  # type: ignore[misc, valid-type]
        """Defined here so that importing the module never needs TensorRT."""

        def __init__(self) -> None:
            base.__init__(self)  # pybind11 classes need the base initialiser called explicitly
            self.batcher, self.cache, self.allocator = batcher, cache, allocator
            self.device_ptr: int | None = None

        def get_batch_size(self) -> int:
            return self.batcher.batch_size

        def get_batch(self, names: list[str], *_: Any) -> list[int] | None:
            if len(names) != 1:
                raise ValueError(f"the calibrator feeds one input, the network asks for {names}")
            batch = self.batcher.next_batch()
            if batch is None:
                return None
            if self.device_ptr is None:
                self.device_ptr = self.allocator.malloc(batch.nbytes)
            self.allocator.memcpy_htod(self.device_ptr, batch)
            return [self.device_ptr]

        def read_calibration_cache(self) -> bytes | None:
            return self.cache.read() if self.cache is not None else None

        def write_calibration_cache(self, data: Any) -> None:
            if self.cache is not None:
                self.cache.write(bytes(data))

        def release(self) -> None:
            if self.device_ptr is not None:
                self.allocator.free(self.device_ptr)
                self.device_ptr = None

    return EntropyCalibrator()
