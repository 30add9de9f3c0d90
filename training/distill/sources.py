"""What to label: SOURCE arguments -> named sources, each read as a video or as unrelated stills.

A source is a video file (anything OpenCV reads: .mp4, .avi, raw .264, .gif), a folder of images,
or a MOTChallenge sequence folder (``seqinfo.ini`` + ``img1/``). Frames are read with the runtime's
readers (``mottrack_sdk.io.frame_sources``).

Mode (``stills=None``: automatic): videos and MOTChallenge sequences are ``video``; an image folder is
``video`` when its images are numbered consecutively (``0001.jpg, 0002.jpg`` or ``cam_17.jpg,
cam_18.jpg``), else ``stills`` (unrelated images: no temporal linking). ``stills=True`` / ``False``
forces the mode of image folders (a video file is always a video).

Names: the output sequence is named after the source (its file stem, or the folder; a folder called
``img1`` / ``img`` / ``images`` / ``frames`` takes its parent's name), reduced to ``[A-Za-z0-9._-]``
with no leading dot, so no name reaches outside the output folder. A source already labelled in the
output folder keeps its sequence's name (resume). Clashes, with other arguments or with sequences of
other sources already in the output folder, get ``-<ext>`` (a video's extension) and then ``-2``,
``-3`` ... in argument order. Two arguments naming the same file or folder (``cam``, ``./cam/``, its
absolute path, a symbolic link to it) are refused: one source is one sequence, and a rerun of the
same command must find every sequence it wrote.

Before any labelling, :meth:`LabelSource.check_readable` opens each source that is still to be
labelled and reads its first frame, so an unreadable source fails the run before minutes of work.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

__all__ = ["LabelSource", "resolve_sources", "sanitize_name"]

GENERIC_FOLDERS = {"img1", "img", "imgs", "image", "images", "frames"}
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True)
class LabelSource:
    """One source: ``path``, output sequence ``name``, ``mode`` ("video" | "stills"), ``is_folder``."""

    path: Path
    name: str
    mode: str
    is_folder: bool

    def frames(self, stride: int = 1, max_frames: int | None = None) -> tuple[Iterator[np.ndarray], float | None,
                                                                              int | None]:
        """``(images, fps, count)``: every ``stride``-th frame (the 1st, 1+stride, ...), at most
        ``max_frames``, as BGR uint8 images; the source's fps (None if unknown) and the number of frames
        that will come (None if unknown)."""
        from mottrack_sdk.io.frame_sources import open_frame_source

        reader = open_frame_source(self.path)
        count = None if reader.frame_count is None else -(-reader.frame_count // stride)
        if count is not None and max_frames is not None:
            count = min(count, max_frames)

        def images() -> Iterator[np.ndarray]:
            # by position, not frame id: image folders may number their frames with gaps
            taken = 0
            with reader:
                for position, (_, image) in enumerate(reader):
                    if position % stride:
                        continue
                    if max_frames is not None and taken >= max_frames:
                        return
                    taken += 1
                    yield image

        return images(), reader.fps, count

    def check_readable(self) -> None:
        """Open the source, read its first readable frame and close it again (a video's container and first
        frame, an image folder's first image that decodes): the cheap check done on every source before
        labelling starts. For an image folder, every image's header must declare the first frame's size
        (a sequence has one; all images are checked, whatever ``--stride`` / ``--max-frames`` take).

        Raises:
            ValueError: naming ``SOURCE``: a FIFO, socket or device, a video OpenCV cannot open or whose
                header declares frames too large, no frame that can be read, or an image of another size.
        """
        from mottrack_sdk.io.frame_sources import open_frame_source

        try:
            reader = open_frame_source(self.path)
        except (OSError, ValueError) as exc:
            reason = str(exc).removeprefix(f"{self.path}: ")  # the reader's message names the path too
            raise ValueError(f"SOURCE {self.path}: {reason}") from None
        reader.warn = lambda _message: None  # what the probe skips is warned about when the source is labelled
        with reader:
            first = next(iter(reader), None)
        if first is None:
            why = (reader.problems.examples or [reader.problems.ended_early or "no frame decoded"])[0]
            raise ValueError(f"SOURCE {self.path}: not a single frame can be read ({why})")
        paths = getattr(reader, "paths", None)  # an image folder (or a MOTChallenge sequence's img1/)
        if paths:
            _check_one_size(self.path, paths, first[1].shape[1], first[1].shape[0])


def _check_one_size(source: Path, paths: Sequence[Path], width: int, height: int) -> None:
    """ValueError naming the first of ``paths`` whose header declares a size other than the first frame's
    (sides compared: OpenCV may turn an image by its EXIF orientation). Headers that cannot be read, and
    images the reader will skip (too small, or declaring more pixels than a frame may have), are left to
    the labelling run, which skips them with a warning."""
    try:
        from PIL.Image import DecompressionBombError
    except ImportError:  # no Pillow, no headers: the labelling run checks each frame as it comes
        return
    from mottrack_sdk.io.frame_sources import MAX_IMAGE_PIXELS, header_size
    from mottrack_sdk.types import MIN_FRAME_SIDE

    expected = sorted((width, height))
    for path in paths:
        try:
            size = header_size(path)
        except DecompressionBombError:  # the reader skips it with its own warning
            continue
        if size is None or min(size) < MIN_FRAME_SIDE or size[0] * size[1] > MAX_IMAGE_PIXELS or \
                sorted(size) == expected:
            continue
        raise ValueError(f"SOURCE {source}: image {path.name} is {size[0]}x{size[1]} but the first frame is "
                         f"{width}x{height}; a sequence has one image size (put images of other sizes in "
                         "another folder)")


def sanitize_name(text: str) -> str:
    """``text`` with every character outside ``[A-Za-z0-9._-]`` replaced by ``_``, no leading dots, at most
    200 characters (stricter than ``mottrack_sdk.io.safe_path_component``: portable folder names)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".")[:200]
    return name or "sequence"


def resolve_sources(sources: Sequence[str | Path], stills: bool | None = None,
                    existing: dict[str, str] | None = None) -> list[LabelSource]:
    """Check the SOURCE arguments and name them (see the module docstring).

    ``existing`` maps the sequence names already in the output folder to their sources' resolved paths.

    Raises:
        ValueError: no sources, a path that does not exist, a folder without images, or two arguments
            naming the same file or folder.
    """
    from mottrack_sdk.io.frame_sources import IMAGE_EXTENSIONS

    if not sources:
        raise ValueError("SOURCE: give at least one video file or image folder")
    existing = existing or {}
    claimed: dict[str, list[str]] = {}  # resolved source -> the names its finished sequences have
    for name, src in sorted(existing.items()):
        claimed.setdefault(src, []).append(name)
    seen: dict[tuple[int, int], str] = {}  # (device, inode) -> the argument that named it first
    out: list[LabelSource] = []
    used: set[str] = set(existing)
    for text in sources:
        path = Path(text)
        if not path.exists():
            raise ValueError(f"SOURCE {text}: no such video file or image folder")
        _check_given_once(path, text, seen)
        if path.is_dir():
            is_sequence = (path / "seqinfo.ini").is_file()
            folder = path / "img1" if (path / "img1").is_dir() else path
            images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()) \
                if folder.is_dir() else []
            if not images:
                raise ValueError(f"SOURCE {text}: no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
            if stills is None:
                mode = "video" if is_sequence or _numbered_consecutively(images) else "stills"
            else:
                mode = "stills" if stills else "video"
            base = path.resolve().parent.name if path.resolve().name.lower() in GENERIC_FOLDERS else path.resolve().name
            name, alt = sanitize_name(base), None
        else:
            mode = "video"
            name = sanitize_name(path.stem)
            alt = sanitize_name(f"{path.stem}-{path.suffix.lstrip('.')}") if path.suffix else None
        unique = _earlier_name(claimed.get(str(path.resolve()), []), name, alt)
        if unique is None:
            if name in used and alt is not None:
                name = alt
            unique, k = name, 2
            while unique in used:
                unique, k = f"{name}-{k}", k + 1
        used.add(unique)
        out.append(LabelSource(path, unique, mode, path.is_dir()))
    return out


def _check_given_once(path: Path, text: str, seen: dict[tuple[int, int], str]) -> None:
    """ValueError naming both arguments when ``path`` is a file or folder an earlier argument named too
    (compared by device and inode: ``./cam/``, an absolute path and symbolic links are all the same)."""
    info = os.stat(path)
    key = (info.st_dev, info.st_ino)
    if key in seen:
        resolved = str(path.resolve())
        where = "" if resolved in (str(text), str(seen[key])) else f" ({resolved})"
        raise ValueError(f"SOURCE {text}: names the same {'folder' if path.is_dir() else 'file'} as SOURCE "
                         f"{seen[key]}{where}; give each source once")
    seen[key] = text


def _earlier_name(names: list[str], name: str, alt: str | None) -> str | None:
    """The sequence name a source already labelled in the output folder keeps: its own name or ``alt`` when
    one of its finished sequences has it, else the first of them (sorted); None when it has none."""
    for wanted in (name, alt):
        if wanted in names:
            return wanted
    return names[0] if names else None


def _numbered_consecutively(images: list[Path]) -> bool:
    """True when the names are one prefix + consecutive numbers (a video's frames)."""
    if len(images) < 2:
        return False
    matches = [_NUMBERED.match(p.stem) for p in images]
    if not all(matches) or len({m.group(1) for m in matches}) != 1:  # type: ignore[union-attr]
        return False
    numbers = sorted(int(m.group(2)) for m in matches)  # type: ignore[union-attr]
    return all(b - a == 1 for a, b in zip(numbers, numbers[1:]))
