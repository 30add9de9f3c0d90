"""Checking output paths before any work starts: the right kind (file or folder), the right suffix, writable.

Commands that run for minutes (``track``, ``bench``, ``calibrate``, ``export``) call these on every
``--out`` / ``--json`` / ``--report`` / ``--plot`` argument first, so a typo or a read-only folder is
one clear ``ValueError`` naming the argument, never a traceback after the slow part::

    check_output_folder(args.out, "--out")                       # may exist as a folder, or not yet
    check_output_file(args.json, "--json", suffixes=(".json",))  # may exist as a file, or not yet

Writability is probed where the output will be created: the nearest folder that already exists
gets a temporary file (removed at once), which also catches read-only mounts and, unlike
``os.access``, gives the real answer when running as root. Nothing else is created.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["check_not_input", "check_output_file", "check_output_folder", "removed_if_left_empty"]


@contextlib.contextmanager
def removed_if_left_empty(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block; when it fails (an exception, Ctrl-C) and ``folder`` did not exist before it and holds
    no file now (empty sub-folders aside), remove it: a command that fails leaves no empty output behind."""
    folder = Path(folder)
    created = not folder.exists()
    try:
        yield
    except BaseException:
        if created and folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
            shutil.rmtree(folder, ignore_errors=True)
        raise


def check_output_folder(path: str | os.PathLike[str], flag: str) -> Path:
    """``path`` is an existing folder or can be created as one, and files can be written in it.

    Raises:
        ValueError: naming ``flag``, when ``path`` is an existing file, sits below a file, or its
            nearest existing folder is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path}: exists and is not a folder (expected an output folder)")
    _check_writable(path, flag)
    return path


def check_output_file(path: str | os.PathLike[str], flag: str, suffixes: tuple[str, ...] = (),
                      inputs: "list[str | os.PathLike[str]] | tuple[str | os.PathLike[str], ...]" = ()) -> Path:
    """``path`` is an existing file or can be created as one (its folder may not exist yet), its
    name ends in one of ``suffixes`` (any suffix when empty, compared case-insensitively), and it
    replaces none of the ``inputs`` (:func:`check_not_input`).

    Raises:
        ValueError: naming ``flag``, when ``path`` is an existing folder, has another suffix, sits
            below a file, its nearest existing folder is not writable, or it would replace an input.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a folder (expected a file name"
                         + (f" ending in {' or '.join(suffixes)})" if suffixes else ")"))
    if suffixes and path.suffix.lower() not in tuple(s.lower() for s in suffixes):
        raise ValueError(f"{flag} {path}: expected a file name ending in {' or '.join(suffixes)}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path}: exists and is not writable")
    _check_writable(path.parent, flag, path)
    return check_not_input(path, flag, inputs)


def check_not_input(path: str | os.PathLike[str], flag: str,
                    inputs: "list[str | os.PathLike[str]] | tuple[str | os.PathLike[str], ...]") -> Path:
    """``path`` (an output file about to be written) is none of the ``inputs`` and no existing file inside
    an input folder, so an output never replaces what it is made from (links and ``..`` resolved).

    Inputs that do not exist (a camera index, a URL) are passed over; a new file inside an input
    folder is allowed.

    Raises:
        ValueError: naming ``flag``, the output and the input it would overwrite.
    """
    path = Path(path)
    target = path.resolve()
    for given in inputs:
        source = Path(given)
        if not source.exists():
            continue
        base = source.resolve()
        if target == base:
            raise ValueError(f"{flag} {path}: is the input {source}, which would be overwritten; write elsewhere")
        if base.is_dir() and path.is_file() and base in target.parents:
            raise ValueError(f"{flag} {path}: would overwrite a file inside the input {source}; write elsewhere")
    return path


def _check_writable(folder: Path, flag: str, named: Path | None = None) -> None:
    """The nearest existing ancestor of ``folder`` (itself included) is a folder that takes new files."""
    shown = named if named is not None else folder
    existing = folder.absolute()
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{flag} {shown}: {existing} is a file, so no folder can be created below it")
    try:
        with tempfile.TemporaryFile(prefix=".mottrack-write-check.", dir=existing):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"{flag} {shown}: cannot write in {existing} ({reason})") from None
