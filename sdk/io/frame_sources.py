"""Where frames come from: video files, image folders, MOTChallenge sequences, cameras, stream URLs.

:func:`open_frame_source` picks the reader from the ``SOURCE`` text the CLI gets::

    3                      camera index 3 (OpenCV VideoCapture)
    rtsp://host/stream     any URL (``scheme://...``): a network stream through OpenCV / FFmpeg
    MOT17-04-SDP/          a MOTChallenge sequence (has seqinfo.ini): img1/ frames, its frame rate
    frames/                a folder of images (.jpg .png .bmp .tif .webp), in sorted name order
    clip.mp4               anything else that is a file: a video

Every reader yields ``(frame_id, image)`` with 1-based frame ids and BGR uint8 images, and knows its
``name`` (for output files), ``fps`` and ``frame_count`` (None when unknown: cameras, streams).
OpenCV is imported when a source is opened.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "FrameReader", "ImageFolderReader", "VideoFrameReader", "open_frame_source"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class FrameReader:
    """Iterate ``(frame_id, bgr_uint8)``; ``name``, ``fps`` (None if unknown), ``frame_count`` (None if unknown)."""

    name: str = "frames"
    fps: float | None = None
    frame_count: int | None = None
    description: str = ""

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file (idempotent)."""

    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageFolderReader(FrameReader):
    """Images of one folder (not recursive) in sorted name order; unreadable images raise ValueError naming them."""

    def __init__(self, folder: str | Path, name: str | None = None, fps: float | None = None,
                 limit: int | None = None) -> None:
        self.folder = Path(folder)
        self.paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if limit is not None:
            self.paths = self.paths[:limit]
        if not self.paths:
            raise FileNotFoundError(f"{self.folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
        self.name = name or self.folder.name
        self.fps = fps
        self.frame_count = len(self.paths)
        self.description = f"image folder {self.folder} ({len(self.paths)} images)"

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        import cv2

        for i, path in enumerate(self.paths, 1):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{path}: cannot read this image (corrupt or unsupported format)")
            yield i, image


class VideoFrameReader(FrameReader):
    """A video file, camera index or stream URL through ``cv2.VideoCapture``."""

    def __init__(self, source: str | int, name: str | None = None) -> None:
        import cv2

        self.source = source
        self._capture: Any = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            kind = "camera" if isinstance(source, int) else "stream" if "://" in str(source) else "video"
            raise ValueError(f"cannot open {kind} {source!r} with OpenCV (missing device, unreachable URL, or a codec "
                             "this OpenCV build lacks)")
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
        frame_id = 0
        while self._capture is not None:
            ok, image = self._capture.read()
            if not ok or image is None:
                return
            frame_id += 1
            yield frame_id, image

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class _Limited(FrameReader):
    """At most ``limit`` frames of another reader."""

    def __init__(self, inner: FrameReader, limit: int) -> None:
        self.inner, self.limit = inner, limit
        self.name, self.fps, self.description = inner.name, inner.fps, inner.description
        self.frame_count = limit if inner.frame_count is None else min(limit, inner.frame_count)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for frame_id, image in self.inner:
            if frame_id > self.limit:
                return
            yield frame_id, image

    def close(self) -> None:
        self.inner.close()


def open_frame_source(source: str | int | Path, max_frames: int | None = None) -> FrameReader:
    """The reader for ``source`` (see the module docstring).

    Raises:
        FileNotFoundError: a path that does not exist, or a folder without images.
        ValueError: a video / camera / stream OpenCV cannot open, or a malformed seqinfo.ini.
    """
    text = str(source)
    if isinstance(source, int) or text.isdigit():
        reader: FrameReader = VideoFrameReader(int(text))
    elif "://" in text:
        reader = VideoFrameReader(text)
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such video, image folder or sequence")
        if path.is_dir() and (path / "seqinfo.ini").is_file():
            from mottrack_sdk.io.motchallenge import read_seqinfo

            info = read_seqinfo(path)
            reader = ImageFolderReader(path / info.im_dir, name=path.name, fps=info.frame_rate)
        elif path.is_dir():
            folder = path / "img1" if (path / "img1").is_dir() else path
            reader = ImageFolderReader(folder, name=path.name)
        else:
            reader = VideoFrameReader(str(path))
    if max_frames is not None:
        if isinstance(reader, ImageFolderReader):
            reader.paths = reader.paths[:max_frames]
            reader.frame_count = len(reader.paths)
            reader.description = f"{reader.description.rsplit(' (', 1)[0]} (first {len(reader.paths)} images)"
        else:
            reader = _Limited(reader, max_frames)
    return reader
