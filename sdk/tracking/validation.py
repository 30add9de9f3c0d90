"""Checks on what users hand to ``Tracker.update_detections``; every error names the argument.

Each check starts with a fast path for the common case (an ndarray already of the right dtype and
shape): a few whole-array reductions prove the input valid, and anything they cannot prove goes to
the full checks below, which find and name the problem. The fast paths accept exactly what the
full checks accept and return the same arrays; they only skip per-element work whose answer is
implied (a finite sum of finite-or-not values means every value is finite, and so on).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from mottrack_sdk.model_metadata import MAX_EMBEDDING_DIM  # also the C++ core's kMaxEmbeddingDim

_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)
# Box coordinates must fit float32 (what detectors produce): the Kalman filter squares heights and
# sums squared distances in float64, which then cannot overflow. The C API checks the same bound.
F32_MAX = float(np.finfo(np.float32).max)


def _as_real_array(value: Any, name: str, expected: str) -> np.ndarray:
    if value is None:
        raise ValueError(f"{name}: expected {expected}, got None")
    if isinstance(value, np.ma.MaskedArray):  # np.asarray would drop the mask and use the masked values
        raise ValueError(f"{name}: expected {expected}, got a masked array: fill or drop the masked rows first")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise ValueError(f"{name}: expected {expected}, got an object that is not an array ({exc})") from exc
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name}: expected {expected} with a real numeric dtype, got dtype {arr.dtype}")
    return arr


def check_boxes(boxes_xyxy: Any) -> np.ndarray:
    """(N, 4) finite xyxy within ±F32_MAX with x2 > x1 and y2 > y1 -> float64 array. An empty input
    gives (0, 4)."""
    if type(boxes_xyxy) is np.ndarray and boxes_xyxy.dtype is _F64 and boxes_xyxy.ndim == 2 \
            and boxes_xyxy.shape[1] == 4 and len(boxes_xyxy):
        # widths/heights all > 0 (NaN fails) with a finite sum: then every coordinate is finite too
        # (an infinite coordinate makes its width or height inf or NaN); x1 < x2 and y1 < y2, so the
        # smallest x1/y1 and the largest x2/y2 bound all of them. Transposed, so each operation loops
        # over N rather than N times over 2.
        t = boxes_xyxy.T
        wh = t[2:] - t[:2]
        if np.minimum.reduce(wh, axis=None) > 0 and math.isfinite(np.add.reduce(wh, axis=None)) \
                and np.minimum.reduce(t[:2], axis=None) >= -F32_MAX and np.maximum.reduce(t[2:], axis=None) <= F32_MAX:
            return boxes_xyxy
    arr = _as_real_array(boxes_xyxy, "boxes_xyxy", "an (N, 4) array of [x1, y1, x2, y2]")
    if arr.shape in ((0,), (0, 4)):  # no boxes: [] or np.empty((0, 4))
        return np.zeros((0, 4))
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes_xyxy: expected shape (N, 4) of [x1, y1, x2, y2], got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        bad = int(np.nonzero(~np.isfinite(arr).all(axis=1))[0][0])
        raise ValueError(f"boxes_xyxy: expected finite values, row {bad} is {arr[bad].tolist()}")
    huge = np.nonzero((np.abs(arr) > F32_MAX).any(axis=1))[0]
    if len(huge):
        b = int(huge[0])
        raise ValueError(f"boxes_xyxy: expected coordinates within ±{F32_MAX:.7g} (the float32 range; larger ones "
                         f"overflow the tracker's arithmetic), row {b} is {arr[b].tolist()}")
    bad_rows = np.nonzero((arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1]))[0]
    if len(bad_rows):
        b = int(bad_rows[0])
        raise ValueError(f"boxes_xyxy: expected x2 > x1 and y2 > y1 (positive width and height), "
                         f"row {b} is {arr[b].tolist()} ({len(bad_rows)} such rows)")
    return arr


def check_column(value: Any, name: str, n: int, integer: bool = False) -> np.ndarray:
    """A (N,) column matching the number of boxes."""
    if not integer and type(value) is np.ndarray and value.dtype is _F64 and value.ndim == 1 \
            and len(value) == n and n and math.isfinite(np.add.reduce(value)):
        return value  # a finite sum: no NaN or inf
    kind = "integers" if integer else "numbers"
    arr = _as_real_array(value, name, f"an ({n},) array of {kind}")
    if arr.shape == (0,) and n == 0:
        return arr.astype(np.int64 if integer else np.float64)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{name}: expected shape ({n},) (one value per box), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite values, got NaN or inf at index "
                         f"{int(np.nonzero(~np.isfinite(arr))[0][0])}")
    if integer:
        if np.issubdtype(arr.dtype, np.floating) and not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"{name}: expected integer class ids, got non-integral values")
        # int64's range (other integer dtypes fit); a float compares exactly against ±2**63
        out = None
        if arr.dtype == np.uint64:
            out = arr > np.uint64(np.iinfo(np.int64).max)
        elif np.issubdtype(arr.dtype, np.floating):
            out = (arr >= 2.0**63) | (arr < -(2.0**63))
        if out is not None and out.any():
            i = int(np.nonzero(out)[0][0])
            raise ValueError(f"{name}: expected integers within int64 (±2**63), got {arr[i].item()!r} at index {i}")
        return arr.astype(np.int64, copy=False)
    return arr.astype(np.float64, copy=False)


def check_embeddings(value: Any, n: int, dim: int | None) -> np.ndarray:
    """(N, D) finite, non-zero rows -> L2-normalised float32 (D must match earlier frames)."""
    if type(value) is np.ndarray and value.dtype is _F32 and value.ndim == 2 and value.shape[0] == n \
            and n and 0 < value.shape[1] <= MAX_EMBEDDING_DIM and (dim is None or value.shape[1] == dim):
        # the row norms of np.linalg.norm(value, axis=1, keepdims=True), bit for bit; all finite and
        # positive means every entry is finite (NaN or inf would make its row's norm NaN or inf)
        norms = np.sqrt(np.add.reduce(value * value, axis=1, keepdims=True))
        if np.minimum.reduce(norms, axis=None) > 0 and math.isfinite(np.add.reduce(norms, axis=None)):
            return value / norms
    arr = _as_real_array(value, "embeddings", f"an ({n}, D) array")
    if arr.ndim != 2 or arr.shape[0] != n or (n > 0 and arr.shape[1] == 0):
        raise ValueError(f"embeddings: expected shape ({n}, D) (one row per box), got shape {arr.shape}")
    if n > 0 and arr.shape[1] > MAX_EMBEDDING_DIM:  # the native core's bound (frame_input.hpp)
        raise ValueError(f"embeddings: expected dimension D in [1, {MAX_EMBEDDING_DIM}], got {arr.shape[1]}")
    if dim is not None and arr.shape[1] != dim and n > 0:
        raise ValueError(f"embeddings: expected dimension D={dim} (as in earlier frames), got {arr.shape[1]}")
    if not np.isfinite(arr).all():
        raise ValueError("embeddings: expected finite values, got NaN or inf")
    if arr.dtype.itemsize > 4 and arr.size and float(np.abs(arr).max()) > F32_MAX:  # float16 etc. always fit
        row = int(np.nonzero((np.abs(arr) > F32_MAX).any(axis=1))[0][0])
        raise ValueError(f"embeddings: expected values within ±{F32_MAX:.7g} (float32), row {row} has "
                         f"{float(np.abs(arr[row]).max()):.7g}")
    arr = arr.astype(np.float32, copy=False)
    with np.errstate(over="ignore", under="ignore"):  # named below instead
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
    bad = np.nonzero(~((norms[:, 0] > 0) & np.isfinite(norms[:, 0])))[0] if n else []
    if len(bad):
        raise ValueError(embedding_row_problem(int(bad[0]), arr[bad[0]], float(norms[bad[0], 0])))
    return arr / norms if n else arr


def embedding_row_problem(row: int, values: np.ndarray, norm: float) -> str:
    """Why embedding row ``row`` cannot be normalised in float32 (its norm is 0 or inf); the C API
    (``frame_input.cpp``) words it the same way."""
    if norm > 0:
        return (f"embeddings: row {row} overflows float32 (the sum of its squares exceeds 3.4e38); "
                "scale the embeddings down")
    if np.count_nonzero(values):
        return (f"embeddings: row {row} underflows float32 (its squares round to 0 although it has non-zero "
                "values); scale the embeddings up")
    return f"embeddings: expected non-zero rows, row {row} is all zeros"
