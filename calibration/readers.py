"""Calibration frames from video files, image folders and MOTChallenge sequences.

Frames are sampled evenly over the whole source (all sequences together), decoded as BGR ``uint8``
and preprocessed with ``mottrack_sdk.preprocessing.to_network_input`` using the model's own metadata
(size, resize mode, pad value), i.e. exactly what the runtime feeds the network.

:class:`FrameCalibrationReader` implements ONNX Runtime's ``CalibrationDataReader`` protocol
(``get_next() -> {input_name: [1, 3, H, W] float32} | None``, plus ``rewind`` and ``len``); its
:meth:`~FrameCalibrationReader.frames` gives the same arrays for TensorRT's calibrator.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.io.frame_sources import declared_frame_problem, read_image
from mottrack_sdk.io.path_components import special_file_kind
from mottrack_sdk.model_metadata import ModelMetadata

__all__ = ["DEFAULT_CALIBRATION_FRAMES", "FrameCalibrationReader", "FrameSource", "ImageFolderSource",
           "MotSequenceSource", "PreprocessingSpec", "VideoFileSource", "evenly_spaced", "open_frame_source"]

DEFAULT_CALIBRATION_FRAMES = 500
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")


@dataclass(frozen=True)
class PreprocessingSpec:
    """What the runtime does to a frame before the network (from the model metadata)."""

    input_name: str
    size: tuple[int, int]  # (width, height)
    resize_mode: str
    pad_value: float

    @classmethod
    def from_metadata(cls, metadata: ModelMetadata) -> PreprocessingSpec:
        return cls(metadata.input_name, tuple(metadata.input_size), metadata.resize_mode, metadata.pad_value)

    def key(self) -> dict[str, Any]:
        """Plain values for cache keys."""
        return {"input_name": self.input_name, "size": f"{self.size[0]}x{self.size[1]}",
                "resize_mode": self.resize_mode, "pad_value": float(self.pad_value)}

    def apply(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Any]:
        """BGR uint8 frame -> ``([1, 3, H, W] float32, ResizeTransform)``."""
        from mottrack_sdk.preprocessing import to_network_input

        mode = self.resize_mode
        batch, transforms = to_network_input(frame_bgr, self.size, mode, self.pad_value)  # type: ignore[arg-type]
        return batch, transforms[0]


def evenly_spaced(total: int, count: int) -> np.ndarray:
    """``count`` distinct indices spread evenly over ``range(total)`` (all of them when count >= total)."""
    if total <= 0 or count <= 0:
        return np.zeros(0, dtype=np.int64)
    if count >= total:
        return np.arange(total, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, total - 1, count)).astype(np.int64))


class FrameSource:
    """Numbered frames of one source: ``len(source)`` and ``read(indices)`` yielding BGR uint8 frames."""

    description = "frames"

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, indices: np.ndarray) -> Iterator[np.ndarray]:
        raise NotImplementedError


class ImageFolderSource(FrameSource):
    """Images (``.jpg``, ``.png``, ...) in a folder and its sub-folders, in sorted path order."""

    def __init__(self, folder: str | Path, paths: list[Path] | None = None) -> None:
        self.folder = Path(folder)
        self.paths = paths if paths is not None else sorted(
            p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not self.paths:
            raise FileNotFoundError(f"{self.folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
        self.description = f"image folder {self.folder} ({len(self.paths)} images)"

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, indices: np.ndarray) -> Iterator[np.ndarray]:
        for i in indices:
            image, problem = read_image(self.paths[int(i)])
            if image is None:
                raise ValueError(f"{self.paths[int(i)]}: {problem}")
            yield image


class MotSequenceSource(ImageFolderSource):
    """The ``img1`` frames of one MOTChallenge sequence folder or of every sequence under a root."""

    def __init__(self, root: str | Path) -> None:
        from mottrack_sdk.io import find_sequences, read_seqinfo

        self.root = Path(root)
        self.sequences = find_sequences(self.root, require="seqinfo.ini")
        paths: list[Path] = []
        for seq in self.sequences:
            info = read_seqinfo(seq)
            paths += sorted(p for p in (seq / info.im_dir).glob(f"*{info.im_ext}") if p.is_file())
        super().__init__(self.root, paths)
        self.description = f"MOTChallenge {self.root} ({len(self.sequences)} sequences, {len(self.paths)} frames)"

    @property
    def has_ground_truth(self) -> bool:
        return all((seq / "gt" / "gt.txt").is_file() for seq in self.sequences)


class VideoFileSource(FrameSource):
    """Frames of a video file (OpenCV); the frame count is found by decoding once when the container lies."""

    def __init__(self, path: str | Path) -> None:
        import cv2

        self.path = Path(path)
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise ValueError(f"{self.path}: cannot open video")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        problem = declared_frame_problem(capture)
        capture.release()
        if problem:
            raise ValueError(f"{self.path}: its frames are {problem}")
        self._count = count if count > 0 else self._count_by_decoding()
        if self._count == 0:
            raise ValueError(f"{self.path}: video has no frames")
        self.description = f"video {self.path} ({self._count} frames)"

    def _count_by_decoding(self) -> int:
        import cv2

        capture, count = cv2.VideoCapture(str(self.path)), 0
        while capture.grab():
            count += 1
        capture.release()
        return count

    def __len__(self) -> int:
        return self._count

    def read(self, indices: np.ndarray) -> Iterator[np.ndarray]:
        import cv2

        wanted = set(int(i) for i in indices)
        capture = cv2.VideoCapture(str(self.path))
        try:
            for index in range(max(wanted, default=-1) + 1):  # sequential: seeking is unreliable in many codecs
                if not capture.grab():
                    break
                if index in wanted:
                    ok, frame = capture.retrieve()
                    if ok:
                        yield frame
        finally:
            capture.release()


def open_frame_source(path: str | Path) -> FrameSource:
    """A video file, a MOTChallenge sequence (or root of sequences), or a folder of images."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"calibration data {path} not found")
    if path.is_file():
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            return VideoFileSource(path)
        raise ValueError(f"{path}: not a video file ({', '.join(VIDEO_EXTENSIONS)}); give a video, an image "
                         "folder or a MOTChallenge folder")
    if not path.is_dir():  # a FIFO, a socket or a device
        raise ValueError(f"{path}: is {special_file_kind(path) or 'not a file or folder'}; give a video, an image "
                         "folder or a MOTChallenge folder")
    if (path / "seqinfo.ini").is_file() or any((p / "seqinfo.ini").is_file() for p in path.iterdir()):
        return MotSequenceSource(path)
    return ImageFolderSource(path)


class FrameCalibrationReader:
    """``CalibrationDataReader`` over ``count`` evenly sampled frames of ``source``, preprocessed by ``spec``.

    Frames are decoded lazily on each pass; :meth:`rewind` starts another pass (ONNX Runtime's
    calibrators read once; TensorRT may read again).
    """

    def __init__(self, source: FrameSource, spec: PreprocessingSpec, count: int = DEFAULT_CALIBRATION_FRAMES) -> None:
        if count < 1:
            raise ValueError(f"calibration frame count must be >= 1, got {count}")
        self.source, self.spec = source, spec
        self.indices = evenly_spaced(len(source), count)
        if len(self.indices) < count:
            import logging

            logging.getLogger(__name__).warning("%s has %d frames, fewer than the %d asked for calibration",
                                                source.description, len(self.indices), count)
        self._iterator: Iterator[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def frames(self) -> Iterator[np.ndarray]:
        """Preprocessed ``[1, 3, H, W]`` float32 arrays, one per sampled frame."""
        for frame in self.source.read(self.indices):
            yield self.spec.apply(frame)[0]

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._iterator is None:
            self._iterator = self.frames()
        batch = next(self._iterator, None)
        return None if batch is None else {self.spec.input_name: batch}

    def rewind(self) -> None:
        self._iterator = None

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item

    def fingerprint(self) -> dict[str, Any]:
        """Which frames were read (for cache keys): source description and sampled indices digest."""
        import hashlib

        digest = hashlib.sha256(self.indices.tobytes() + self.source.description.encode()).hexdigest()[:16]
        return {"source": self.source.description, "frames": len(self.indices), "frames_digest": digest}
