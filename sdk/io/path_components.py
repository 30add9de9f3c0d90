"""Names read from input data (``name=`` of a ``seqinfo.ini``, a source's name) that become output paths.

Every such name goes through :func:`safe_path_component` before it is joined to an output folder, so
that a crafted ``seqinfo.ini`` (``name=../../etc/x``, ``name=/abs/path``) cannot make a command
write outside the folder the user chose::

    out = report_dir / safe_path_component(info.name, f"name= in {seq_dir / 'seqinfo.ini'}")

A name is one plain path component: not empty, not ``.`` or ``..``, no ``/`` or ``\\`` (so no
absolute path, on any OS), no NUL or other control character, at most 255 bytes in UTF-8. By
default a name that breaks a rule is refused (``ValueError`` naming where it came from); with
``replace="_"`` each offending character is replaced instead (for names made up from free text such
as a stream URL, where refusing would help nobody).
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

__all__ = ["UnsafePathComponentError", "check_model_file", "safe_path_component", "special_file_kind"]

MAX_COMPONENT_BYTES = 255  # NAME_MAX of Linux / ext4 and most file systems
# separators of POSIX and Windows, NUL, C0 / DEL / C1 control characters
_BAD_CHARS = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")


class UnsafePathComponentError(ValueError):
    """A name from input data cannot be used as a file or folder name."""


def safe_path_component(name: object, what: str, replace: str | None = None) -> str:
    """``name`` as a single file or folder name that stays inside the folder it is joined to.

    Args:
        name: the name from the input (a ``str``; anything else is refused).
        what: where it came from, for the error (``"name= in data/S1/seqinfo.ini"``).
        replace: None to refuse a bad name; a string (e.g. ``"_"``) to replace each separator or
            control character with it, turn ``.`` / ``..`` / an empty name into ``replace`` and cut
            the result to 255 bytes.

    Returns:
        The name, unchanged when it was already safe.

    Raises:
        UnsafePathComponentError (a ValueError): naming ``what`` and the rule broken (only when
            ``replace`` is None, or when ``replace`` itself is not a safe name).
    """
    if not isinstance(name, str):
        raise UnsafePathComponentError(f"{what}: expected a name (text), got {type(name).__name__}")
    if replace is not None:
        if replace in ("", ".", "..") or _BAD_CHARS.search(replace):
            raise UnsafePathComponentError(f"replace={replace!r}: not a safe replacement for {what}")
        fixed = _BAD_CHARS.sub(replace, name)
        if fixed in ("", ".", ".."):
            fixed = replace + fixed  # no longer a reference to this or the parent folder
        return fixed.encode("utf-8", "ignore")[:MAX_COMPONENT_BYTES].decode("utf-8", "ignore")
    problem = _problem(name)
    if problem:
        raise UnsafePathComponentError(f"{what}: {name[:80]!r} is not one plain file or folder name ({problem}); "
                                       "expected a name such as 'MOT17-02' that stays inside its folder")
    return name


def _problem(name: str) -> str | None:
    if name == "":
        return "it is empty"
    if name in (".", ".."):
        return "it refers to a folder itself or its parent"
    if "/" in name or "\\" in name:
        return "it contains a path separator" + (" (an absolute path)" if name[0] in "/\\" else "")
    found = _BAD_CHARS.search(name)
    if found:
        return f"it contains the control character {found.group()!r}"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
        return f"it is longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def special_file_kind(path: os.PathLike[str] | str, devices: bool = False) -> str | None:
    """What ``path`` is when it exists but is neither a regular file nor a folder, as words for an
    error message ("a named pipe (FIFO)", "a socket", "a device"), else None. Reading a FIFO blocks
    until some other process writes to it, so an input named by the user must never be one;
    ``devices=True`` lets character devices through (a camera such as /dev/video0 is a video source)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, or an unusable name: the caller's own checks say so
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if (stat.S_ISCHR(mode) and not devices) or stat.S_ISBLK(mode):
        return "a device"
    return None


def check_model_file(path: os.PathLike[str] | str, label: str) -> None:
    """FileNotFoundError / ValueError starting with ``label`` (``"--model m.onnx"``) unless ``path`` can be
    a model file: missing, a folder, a FIFO, a socket or a device are refused (the one check of
    ``Tracker(model=...)``, ``--model`` and ``Backend.load``)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{label}: file not found")
    if Path(path).is_dir():
        raise ValueError(f"{label}: is a folder (expected a model file: .onnx, .engine / .plan, .pt ...)")
    kind = special_file_kind(path)
    if kind:  # opening a FIFO blocks for ever
        raise ValueError(f"{label}: is {kind} (expected a model file)")
