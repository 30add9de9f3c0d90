"""Where frames come from: video files, image folders, MOTChallenge sequences, cameras, stream URLs.

:func:`open_frame_source` picks the reader from the ``SOURCE`` text the CLI gets::

    3                      camera index 3 (OpenCV VideoCapture)
    rtsp://host/stream     any URL (``scheme://...``): a network stream through OpenCV / FFmpeg
    MOT17-04-SDP/          a MOTChallenge sequence (has seqinfo.ini): img1/ frames, its frame rate
    frames/                a folder of images (.jpg .png .bmp .tif .webp), see "Frame order" below
    clip.mp4               anything else that is a file: a video

Every reader yields ``(frame_id, image)`` with 1-based frame ids and BGR uint8 images, and knows its
``name`` (for output files), ``fps`` and ``frame_count`` (None when unknown: cameras, streams).
OpenCV is imported when a source is opened.

Frame order of image folders: when every file name holds exactly one integer and no two share it
(MOTChallenge ``img1/000001.jpg``, ``frame_17.png``), frames are ordered **and numbered** by that
integer, gaps kept (frame ids are 1-based: when the smallest number is 0, e.g. KITTI ``000000.png``,
every id is the number + 1); otherwise (no number, several numbers, duplicates, numbers above 9,999,999 such as
timestamps) they are ordered naturally (``2.jpg`` before ``10.jpg``, case-insensitive) and numbered
1, 2, 3, ...

Unreadable frames (``on_error``): ``"skip"`` (default) skips a corrupt image, or an undecodable frame in
the middle of a video, with a warning on stderr and counts it in :attr:`FrameReader.problems`;
``"stop"`` raises :class:`FrameReadError` naming the file and frame instead. A video that ends before
the frame count its header declares says so (a warning and ``problems.ended_early``) in both modes.
"""
from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from mottrack_sdk.io.path_components import special_file_kind
from mottrack_sdk.types import MIN_FRAME_SIDE

__all__ = ["IMAGE_EXTENSIONS", "MAX_IMAGE_PIXELS", "ON_ERROR_MODES", "FrameProblems", "FrameReadError", "FrameReader",
           "ImageFolderReader", "VideoFrameReader", "declared_frame_problem", "frame_size_problem",
           "header_size", "open_frame_source", "order_image_files", "read_image"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
ON_ERROR_MODES = ("skip", "stop")
MAX_WARNINGS = 10                 # printed per source; every problem is counted
MAX_CONSECUTIVE_FAILURES = 30     # failed video reads in a row before the video counts as ended
MAX_FRAME_NUMBER = 9_999_999      # larger integers in file names are not frame numbers (timestamps)
MAX_IMAGE_PIXELS = 8192 * 8192    # larger images are skipped unread (8K video is 7680x4320: 33 MP)
_TOO_MANY_PIXELS = f"more than a frame may have ({MAX_IMAGE_PIXELS:,}, 8192x8192)"
_DIGITS = re.compile(r"\d+")


class FrameReadError(ValueError):
    """A frame that cannot be read while ``on_error="stop"`` (the message names the file and frame)."""


@dataclass
class FrameProblems:
    """What a reader could not read: skipped frames (count and the first messages) and an early end."""

    skipped: int = 0
    examples: list[str] = field(default_factory=list)
    ended_early: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"skipped_frames": self.skipped, "skipped_examples": list(self.examples),
                "ended_early": self.ended_early}


def _print_warning(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _checked_on_error(on_error: str) -> str:
    """``on_error`` when it is one of :data:`ON_ERROR_MODES`; ValueError naming ``--on-error`` otherwise."""
    if on_error not in ON_ERROR_MODES:
        raise ValueError(f"--on-error: expected one of {', '.join(ON_ERROR_MODES)}, got {on_error!r}")
    return on_error


class FrameReader:
    """Iterate ``(frame_id, bgr_uint8)``; ``name``, ``fps`` (None if unknown), ``frame_count`` (None if unknown).

    ``problems`` collects what was skipped; ``warn`` prints the warnings (stderr by default)."""

    name: str = "frames"
    fps: float | None = None
    frame_count: int | None = None
    description: str = ""

    def __init__(self, on_error: str = "skip", warn: Callable[[str], None] | None = None) -> None:
        self.on_error = _checked_on_error(on_error)
        self.warn: Callable[[str], None] = warn or _print_warning
        self.problems = FrameProblems()

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file (idempotent)."""

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _skip(self, message: str) -> None:
        """One unreadable frame: FrameReadError under ``stop``, else counted and (the first few) warned about."""
        if self.on_error == "stop":
            raise FrameReadError(f"{message} (--on-error skip would skip it)")
        self.problems.skipped += 1
        if len(self.problems.examples) < MAX_WARNINGS:
            self.problems.examples.append(message)
            self.warn(f"warning: {message}: skipped")
        elif self.problems.skipped == MAX_WARNINGS + 1:
            self.warn("warning: more unreadable frames: skipped without a warning, counted in the summary")

    def _ended_early(self, message: str) -> None:
        self.problems.ended_early = message
        self.warn(f"warning: {message}")


def order_image_files(paths: list[Path]) -> tuple[list[Path], list[int]]:
    """``(paths in frame order, their 1-based frame ids)``: see "Frame order" in the module docstring."""
    numbers = [_DIGITS.findall(p.stem) for p in paths]
    if paths and all(len(n) == 1 for n in numbers):
        values = [int(n[0]) for n in numbers]
        if len(set(values)) == len(values) and max(values) <= MAX_FRAME_NUMBER:
            offset = 1 if min(values) == 0 else 0
            order = sorted(range(len(paths)), key=values.__getitem__)
            return [paths[i] for i in order], [values[i] + offset for i in order]
    ordered = sorted(paths, key=lambda p: (_natural_key(p.name), p.name))
    return ordered, list(range(1, len(ordered) + 1))


def _natural_key(name: str) -> list[Any]:
    """``"img10b.png"`` -> ``["img", 10, "b.png"]``: re.split with a group alternates text and digits (text
    first), so keys compare position by position with equal types."""
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(re.split(r"(\d+)", name))]


def _image_subfolders(folder: Path, most: int = 3, look: int = 50) -> list[str]:
    """Names of (at most ``most``) sub-folders of ``folder`` that hold images, among its first ``look``
    sub-folders (for the message of a folder without images, e.g. a dataset's ``seq/img``); unreadable ones
    are passed over."""
    found: list[str] = []
    try:
        subfolders = sorted(sub for sub in folder.iterdir() if sub.is_dir())[:look]
    except OSError:
        return found
    for sub in subfolders:
        try:
            if any(q.suffix.lower() in IMAGE_EXTENSIONS and q.is_file() for q in sub.iterdir()):
                found.append(sub.name)
        except OSError:
            continue
        if len(found) == most:
            break
    return found


class ImageFolderReader(FrameReader):
    """Images of one folder (not recursive), in frame order (module docstring); unreadable ones per ``on_error``."""

    def __init__(self, folder: str | Path, name: str | None = None, fps: float | None = None,
                 limit: int | None = None, on_error: str = "skip") -> None:
        super().__init__(on_error)
        self.folder = Path(folder)
        found = [p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
        self.paths, self.frame_ids = order_image_files(found)
        if not self.paths:
            inside = _image_subfolders(self.folder)
            hint = f"; its sub-folder(s) {', '.join(inside)} hold images: pass one of them" if inside else ""
            raise FileNotFoundError(f"{self.folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) found{hint}")
        self.name = name or self.folder.name
        self.fps = fps
        self.description = f"image folder {self.folder} ({len(self.paths)} images)"
        self.limit(limit)

    def limit(self, count: int | None) -> None:
        """Keep the first ``count`` images (all when None)."""
        if count is not None and count < len(self.paths):
            self.paths, self.frame_ids = self.paths[:count], self.frame_ids[:count]
            self.description = f"{self.description.rsplit(' (', 1)[0]} (first {len(self.paths)} images)"
        self.frame_count = len(self.paths)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for frame_id, path in zip(self.frame_ids, self.paths):
            image, problem = read_image(path)
            if image is None:
                self._skip(f"{path}: {problem}")
                continue
            if min(image.shape[:2]) < MIN_FRAME_SIDE:
                self._skip(f"{path}: {image.shape[1]}x{image.shape[0]} pixels, smaller than a frame can be "
                           f"({MIN_FRAME_SIDE}x{MIN_FRAME_SIDE})")
                continue
            yield frame_id, image


def frame_size_problem(width: int, height: int) -> str | None:
    """Why a frame of ``width`` x ``height`` pixels is refused (more than :data:`MAX_IMAGE_PIXELS`), or None."""
    if width * height > MAX_IMAGE_PIXELS:
        return f"{width}x{height} pixels ({width * height:,}), {_TOO_MANY_PIXELS}"
    return None


def declared_frame_problem(capture: Any) -> str | None:
    """:func:`frame_size_problem` of the frame size an open ``cv2.VideoCapture`` declares (its container's
    word, read before any frame is decoded: a 43-byte GIF can declare 16000x16000 frames)."""
    import cv2

    return frame_size_problem(int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
                              int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0))


def read_image(path: str | Path) -> tuple[np.ndarray | None, str | None]:
    """``(BGR image, None)``, or ``(None, why)`` for a file that cannot be a frame: its header declares more
    than :data:`MAX_IMAGE_PIXELS` (checked before decoding: a 600-byte file can declare 20000x20000),
    OpenCV fails (its own pixel cap, out of memory) or cannot decode it. The one image reader of the
    runtime, training and calibration."""
    import cv2

    pixels = _header_pixels(Path(path))
    if pixels is not None and pixels > MAX_IMAGE_PIXELS:
        return None, f"its header declares {pixels:,} pixels, {_TOO_MANY_PIXELS}"
    try:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        return None, f"cannot read this image ({' '.join(str(exc).split())[-120:]})"
    if image is None:
        return None, "cannot read this image (cannot decode it: corrupt, unsupported format or gone)"
    return image, None


def _header_pixels(path: Path) -> int | None:
    """Width x height that ``path``'s image header declares, read without decoding the pixels (Pillow),
    or None when Pillow is not installed or cannot tell (OpenCV then decides, within its own cap)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        size = header_size(path)
    except Image.DecompressionBombError as exc:  # more than twice Pillow's own limit (~179 MP)
        said = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow names the size it refused
        return int(said.group(1)) if said else 2 * (Image.MAX_IMAGE_PIXELS or MAX_IMAGE_PIXELS) + 1
    return None if size is None else size[0] * size[1]


def header_size(path: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` that ``path``'s image header declares (Pillow, no pixels decoded), or None when
    Pillow is not installed or cannot tell. Before any EXIF orientation: :func:`read_image` (OpenCV) may
    return the frame turned, so compare sides, not width and height. Raises Pillow's
    ``DecompressionBombError`` for a header beyond twice Pillow's own limit."""
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: judged by the caller
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        raise
    except Exception:  # noqa: BLE001 - any unreadable header: OpenCV decides when the image is read
        return None
    return int(width), int(height)


class VideoFrameReader(FrameReader):
    """A video file, camera index or stream URL through ``cv2.VideoCapture``.

    Frame ids count positions in the video, so a skipped frame leaves a gap. For files with a declared
    frame count, a failed read before that count is a skipped frame when a good frame follows, and an
    early end otherwise (after :data:`MAX_CONSECUTIVE_FAILURES` failures, or at the declared count).
    For cameras and streams a failed read ends the source."""

    def __init__(self, source: str | int, name: str | None = None, on_error: str = "skip") -> None:
        import cv2

        super().__init__(on_error)
        self.source = source
        self._capture: Any = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            kind = "camera" if isinstance(source, int) else "stream" if "://" in str(source) else "video"
            raise ValueError(f"cannot open {kind} {source!r} with OpenCV (missing device, unreachable URL, or a codec "
                             "this OpenCV build lacks)")
        problem = declared_frame_problem(self._capture)
        if problem:
            self.close()
            raise ValueError(f"{source}: its frames are {problem}")
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else None
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        live = isinstance(source, int) or "://" in str(source)
        self.frame_count = count if count > 0 and not live else None
        self.name = name or (f"camera{source}" if isinstance(source, int) else
                             "stream" if "://" in str(source) else Path(str(source)).stem)
        self.description = f"{'camera' if isinstance(source, int) else 'video'} {source}" + (
            f" ({self.frame_count} frames" + (f", {self.fps:g} fps)" if self.fps else ")") if self.frame_count else "")

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        position = 0
        failed: list[int] = []  # positions that failed, not yet followed by a good frame
        while self._capture is not None:
            ok, image = self._capture.read()
            position += 1
            if ok and image is not None:
                for bad in failed:
                    self._skip(f"{self.source}: frame {bad} of {self.frame_count} cannot be decoded")
                failed.clear()
                yield position, image
                continue
            if self.frame_count is None or position > self.frame_count or len(failed) >= MAX_CONSECUTIVE_FAILURES:
                break
            failed.append(position)
        if failed and self.frame_count is not None:
            self._ended_early(f"{self.source}: the video ends after frame {failed[0] - 1}, before the "
                              f"{self.frame_count} frames its header declares (truncated or damaged file)")

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class _Limited(FrameReader):
    """At most ``limit`` frames of another reader (its ``problems`` and ``warn`` are the inner reader's)."""

    def __init__(self, inner: FrameReader, limit: int) -> None:
        self.inner, self.limit = inner, limit
        self.on_error, self.problems = inner.on_error, inner.problems
        self.name, self.fps, self.description = inner.name, inner.fps, inner.description
        self.frame_count = limit if inner.frame_count is None else min(limit, inner.frame_count)

    @property  # type: ignore[override]
    def warn(self) -> Callable[[str], None]:
        return self.inner.warn

    @warn.setter
    def warn(self, value: Callable[[str], None]) -> None:
        self.inner.warn = value

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for frame_id, image in self.inner:
            if frame_id > self.limit:
                return
            yield frame_id, image

    def close(self) -> None:
        self.inner.close()


def open_frame_source(source: str | int | Path, max_frames: int | None = None, on_error: str = "skip") -> FrameReader:
    """The reader for ``source`` (see the module docstring).

    Raises:
        FileNotFoundError: a path that does not exist, or a folder without images.
        ValueError: a video / camera / stream OpenCV cannot open, a malformed seqinfo.ini, or an unknown
            ``on_error``.
    """
    _checked_on_error(on_error)  # before the source is looked at
    text = str(source)
    if isinstance(source, int) or text.isdigit():
        reader: FrameReader = VideoFrameReader(int(text), on_error=on_error)
    elif "://" in text:
        reader = VideoFrameReader(text, on_error=on_error)
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such video, image folder or sequence")
        kind = special_file_kind(path, devices=True)
        if kind:  # a FIFO would block for ever in the video decoder
            raise ValueError(f"{path}: is {kind} (expected a video file, image folder, sequence or camera)")
        if path.is_dir() and (path / "seqinfo.ini").is_file():
            from mottrack_sdk.io.motchallenge import read_seqinfo

            info = read_seqinfo(path)
            if not (path / info.im_dir).is_dir():
                raise FileNotFoundError(f"{path / 'seqinfo.ini'}: imDir={info.im_dir} names no folder of {path}")
            reader = ImageFolderReader(path / info.im_dir, name=path.resolve().name, fps=info.frame_rate,
                                       on_error=on_error)
            if reader.frame_count != info.seq_length:  # read_seqinfo: seq_length >= 1
                reader.warn(f"warning: {path / 'seqinfo.ini'}: seqLength={info.seq_length}, but {path / info.im_dir} "
                            f"holds {reader.frame_count} images; all are read (results past frame "
                            f"{info.seq_length} will not evaluate against this sequence)")
        elif path.is_dir():
            folder = path / "img1" if (path / "img1").is_dir() else path
            reader = ImageFolderReader(folder, name=path.resolve().name or "frames", on_error=on_error)
        else:
            reader = VideoFrameReader(str(path), on_error=on_error)
    if max_frames is not None:
        if isinstance(reader, ImageFolderReader):
            reader.limit(max_frames)
        else:
            reader = _Limited(reader, max_frames)
    return reader
