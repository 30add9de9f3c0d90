"""Reading ``.pt`` files without running code from them.

``torch.load(..., weights_only=False)`` unpickles arbitrary objects, so a crafted weights file runs any
command it likes before the caller sees an error. Every ``.pt`` this project reads (training
checkpoints, packaged ``weights.pt``, bare state dicts given to ``mottrack export``) goes through
:func:`load_weights_file`: ``weights_only=True`` with exactly the extra types our files contain
allow-listed (:data:`WEIGHTS_SAFE_GLOBALS`). Anything else is refused before it is built, with an
:class:`UnsafeWeightsError` naming the file and the refused object.

TorchScript files (``torch.jit.load``) are programs, not data: they are never read here, and the
runtime's torch backend says so where it accepts them.
"""
from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["UnsafeWeightsError", "WEIGHTS_SAFE_GLOBALS", "load_weights_file"]

# Beyond tensors, dicts, lists, tuples and plain scalars (allowed by weights_only itself), a training
# checkpoint holds numpy's RNG state: ("MT19937", uint32 array (624,), pos, has_gauss, cached_gaussian).
WEIGHTS_SAFE_GLOBALS: tuple[Any, ...] = (
    np.ndarray, np.dtype, np.dtypes.UInt32DType, np._core.multiarray._reconstruct,  # noqa: SLF001
)

# what torch's weights-only unpickler says when it meets an object outside the allow-list
# (torch 2.x: "Unsupported global: GLOBAL builtins.eval was not an allowed global by default")
_REFUSED = re.compile(r"(?:[Uu]nsupported global: GLOBAL|unsupported GLOBAL|but got) ([\w.<>' ]+?)"
                      r"(?: whose| was|,|\.?\s*$)", re.MULTILINE)


class UnsafeWeightsError(ValueError):
    """A weights file holds objects other than tensors and plain data (possibly code to run): refused."""


def load_weights_file(path: str | Path, map_location: str | torch.device = "cpu", what: str = "weights file") -> Any:
    """``torch.load`` of ``path`` with ``weights_only=True`` and :data:`WEIGHTS_SAFE_GLOBALS`.

    Args:
        path: a ``torch.save`` file (zip or legacy format).
        map_location: as ``torch.load``.
        what: how errors name the file (``"--weights"``, ``"checkpoint"``...).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UnsafeWeightsError: the pickle refers to a Python object outside the allow-list (nothing of
            it is built or run).
        ValueError: a truncated, empty or non-PyTorch file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path}: file not found" + (" (it is a folder)" if path.is_dir() else ""))
    if path.stat().st_size == 0:
        raise ValueError(f"{what} {path}: not a PyTorch weights file (it is empty)")
    try:
        with torch.serialization.safe_globals(list(WEIGHTS_SAFE_GLOBALS)), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # a plain pickle: refused below
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _REFUSED.search(str(exc))
        if found is None:  # not a pickle torch can read at all (text, a protocol-4 pickle, garbage)
            raise ValueError(f"{what} {path}: not a PyTorch weights file (torch.load: "
                             f"{_last_line(exc)})") from None
        raise UnsafeWeightsError(
            f"{what} {path}: refused: the file contains a Python object ({found.group(1).strip()}) that is "
            "neither a tensor nor plain data, and building it could run code. Only mottrack checkpoints, "
            "packaged weights and state dicts are read (torch.load weights_only=True)") from None
    except Exception as exc:  # truncated zip, unreadable: name the file
        raise ValueError(f"{what} {path}: not a PyTorch weights file ({type(exc).__name__}: {exc})") from exc


def _last_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "documentation" not in line]
    return lines[-1] if lines else type(exc).__name__
