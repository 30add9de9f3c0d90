"""Atomic file writing: readers never see a half-written file.

Everything the project writes (results, checkpoints, JSON reports, caches, models) goes through
:func:`atomic_write` or :func:`atomic_path`: the data lands in a temporary file in the same folder,
is flushed and fsync'ed, then renamed over the target in one step. On any error the temporary file
is removed and the target is left as it was.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


def temporary_path_beside(target: str | os.PathLike[str], suffix: str = "") -> Path:
    """A new empty file ``.<name>.<random>.tmp<suffix>`` in ``target``'s folder (created if needed), with the
    ordinary permissions of a new file (``0666 & ~umask``; ``mkstemp`` alone makes ``0600``).

    ``suffix`` ends the name, for libraries that choose a format from it (``cv2.VideoWriter``).
    The caller renames it over ``target`` (:func:`os.replace`) or removes it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + suffix, dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it is renamed to ``target`` on success.

    Use this when another library insists on writing to a path itself (``torch.save``,
    ``onnx.save``, ``cv2.VideoWriter``). ``suffix`` ends the temporary name (an extension such
    libraries look at); see :func:`temporary_path_beside`.
    """
    tmp_path = temporary_path_beside(target, suffix)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(target: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success it is fsync'ed and renamed to ``target``."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(target) as tmp:
        with open(tmp, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_json(target: str | os.PathLike[str], payload: Any, indent: int = 2) -> None:
    """Write ``payload`` as JSON atomically."""
    with atomic_write(target) as fh:
        json.dump(payload, fh, indent=indent, sort_keys=False)
        fh.write("\n")
