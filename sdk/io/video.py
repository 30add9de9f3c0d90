"""Writing videos atomically: frames go to a temporary file renamed over the target on success."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.io.atomic import temporary_path_beside

__all__ = ["VIDEO_SUFFIXES", "VideoWriter"]

_FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
VIDEO_SUFFIXES = tuple(sorted(_FOURCC))


class VideoWriter:
    """``with VideoWriter(path, fps) as w: w.write(bgr)``; the file appears only when the block ends cleanly.

    The frame size is taken from the first frame; later frames of another size are resized to it.
    Codec by suffix: ``.mp4`` / ``.mkv`` MPEG-4 part 2 (``mp4v``), ``.avi`` Motion-JPEG. The file has
    ordinary permissions (``0666 & ~umask``, like every file of :mod:`mottrack_sdk.io.atomic`); an error
    inside the block, or no frame at all, leaves no file (and no temporary file) behind.
    """

    def __init__(self, path: str | Path, fps: float = 30.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in _FOURCC:
            raise ValueError(f"{self.path}: video suffix must be one of {list(VIDEO_SUFFIXES)}")
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self._tmp: Path | None = None
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def __enter__(self) -> "VideoWriter":
        # the temporary name ends in the real suffix: OpenCV chooses the container from it
        self._tmp = temporary_path_beside(self.path, self.path.suffix)
        return self

    def write(self, image: np.ndarray) -> None:
        import cv2

        if self._tmp is None:
            raise RuntimeError("VideoWriter: use it as a context manager (with VideoWriter(...) as w)")
        height, width = image.shape[:2]
        if self._writer is None:
            self._size = (width, height)
            fourcc = cv2.VideoWriter_fourcc(*_FOURCC[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot write this video format here")
        elif (width, height) != self._size:
            image = cv2.resize(image, self._size)
        self._writer.write(image)
        self.frames += 1

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        tmp, self._tmp = self._tmp, None
        try:
            if self._writer is not None:
                self._writer.release()  # writes the container's index: the file becomes playable
                self._writer = None
            if exc_type is None and self.frames and tmp is not None:
                os.replace(tmp, self.path)
                tmp = None
        finally:
            if tmp is not None:  # an error, or nothing written: leave no file behind
                tmp.unlink(missing_ok=True)
