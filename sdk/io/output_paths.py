"""Checking paths before any work starts: outputs of the right kind (file or folder), with the right
suffix, writable and replacing no input; input folders that are folders.

Commands that run for minutes (``track``, ``bench``, ``calibrate``, ``export``) call these on every
``--out`` / ``--json`` / ``--report`` / ``--plot`` argument first, so a typo or a read-only folder is
one clear ``ValueError`` naming the argument, never a traceback after the slow part::

    check_output_folder(args.out, "--out")                       # may exist as a folder, or not yet
    check_output_file(args.json, "--json", suffixes=(".json",))  # may exist as a file, or not yet

Writability is probed where the output will be created: the nearest folder that already exists
gets a temporary file (removed at once), which also catches read-only mounts and, unlike
``os.access``, gives the real answer when running as root. Nothing else is created.

A command that checks many outputs against many inputs (``track-dets`` over thousands of sequences)
resolves its inputs once, as :class:`InputPaths`, and passes that as ``inputs``: each check then
costs a few dictionary look-ups instead of resolving every input again::

    inputs = InputPaths(seqs)
    for name in names:
        check_output_file(out / f"{name}.txt", "--out", inputs=inputs)
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from mottrack_sdk.io.path_components import special_file_kind

__all__ = ["InputPaths", "check_input_folder", "check_not_input", "check_output_file", "check_output_folder",
           "removed_if_left_empty"]


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


def check_input_folder(path: str | os.PathLike[str], label: str) -> Path:
    """``path`` is an existing folder (links followed); ``label`` starts every error (``"--det data/"``).

    Raises:
        FileNotFoundError: nothing is there.
        ValueError: it is a file, a named pipe, a socket or a device.
    """
    path = Path(path)
    if path.is_dir():
        return path
    kind = special_file_kind(path)
    if kind:
        raise ValueError(f"{label}: is {kind}, expected a folder")
    if path.exists():
        raise ValueError(f"{label}: is a file, expected a folder")
    raise FileNotFoundError(f"{label}: folder not found")


class InputPaths:
    """The inputs of a command that exist, resolved once (links and ``..``), for :func:`check_not_input`.

    Inputs that do not exist (a camera index, a URL) are passed over. Checking an output costs one
    ``resolve()`` of the output and a look-up per folder above it, whatever the number of inputs.
    """

    def __init__(self, inputs: Iterable[str | os.PathLike[str]]):
        self._inputs: dict[Path, tuple[int, Path]] = {}  # resolved -> (position, as given); the first one wins
        self._folders: dict[Path, tuple[int, Path]] = {}
        for position, given in enumerate(inputs):
            source = Path(given)
            if not source.exists():
                continue
            base = source.resolve()
            self._inputs.setdefault(base, (position, source))
            if base.is_dir():
                self._folders.setdefault(base, (position, source))

    def replaced_by(self, path: Path) -> str | None:
        """Why writing ``path`` would replace an input (naming the first input given that it hits), else None."""
        target = path.resolve()
        hits = []
        if target in self._inputs:
            position, source = self._inputs[target]
            hits.append((position, f"is the input {source}, which would be overwritten"))
        if self._folders and path.is_file():
            for parent in target.parents:
                if parent in self._folders:
                    position, source = self._folders[parent]
                    hits.append((position, f"would overwrite a file inside the input {source}"))
        return min(hits)[1] if hits else None


def check_output_file(path: str | os.PathLike[str], flag: str, suffixes: tuple[str, ...] = (),
                      inputs: "InputPaths | Iterable[str | os.PathLike[str]]" = ()) -> Path:
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
                    inputs: "InputPaths | Iterable[str | os.PathLike[str]]") -> Path:
    """``path`` (an output file about to be written) is none of the ``inputs`` and no existing file inside
    an input folder, so an output never replaces what it is made from (links and ``..`` resolved).

    Inputs that do not exist (a camera index, a URL) are passed over; a new file inside an input
    folder is allowed. ``inputs``: paths, or an :class:`InputPaths` made once for many checks.

    Raises:
        ValueError: naming ``flag``, the output and the input it would overwrite.
    """
    path = Path(path)
    problem = (inputs if isinstance(inputs, InputPaths) else InputPaths(inputs)).replaced_by(path)
    if problem:
        raise ValueError(f"{flag} {path}: {problem}; write elsewhere")
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
