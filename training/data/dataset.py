"""The training sample type, the frame dataset base class that both layouts share, and ``collate``.

A :class:`FrameDataset` holds :class:`FrameRecord` entries (image path + labels already parsed and
given global identities). ``__getitem__`` decodes the image, resizes it with the shared
:mod:`mottrack_sdk.preprocessing` (mode explicit), maps the boxes through the same transform,
augments (seeded per sample) and returns a :class:`Sample`. Layout-specific indexing lives in
:mod:`.jde` and :mod:`.mot`; they only build records.
"""
from __future__ import annotations

import bisect
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mottrack_sdk.io.frame_sources import read_image
from mottrack_sdk.preprocessing import ResizeTransform, normalize_chw, pad_in_dtype, resize_image
from mottrack_training.data.augment import add_noise, augment_hsv, blur, flip_horizontal, zoom_out
from mottrack_training.data.options import DataOptions

__all__ = ["Batch", "ConcatFrameDataset", "DataFileError", "FrameDataset", "FrameRecord", "IdentityMap",
           "Sample", "SkippedFile", "collate"]


class DataFileError(ValueError):
    """A missing or corrupt dataset file; ``path`` names it and ``reason`` says what was wrong."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class SkippedFile:
    """A file left out because ``skip_bad=True``: its path and why."""

    path: str
    reason: str


# Labelled boxes one frame may hold. The identity loss gives every box a logits row over all identities,
# so a frame of N boxes that are each their own identity costs N x N floats (30,000 rows of a 769 KB
# gt.txt asked for 3.6 GB). The densest MOTChallenge frames hold a few hundred people.
MAX_LABELS_PER_FRAME = 2000


def check_label_count(count: int, path: str | Path, where: str) -> None:
    """DataFileError naming ``path`` and ``where`` (a frame) when ``count`` exceeds MAX_LABELS_PER_FRAME."""
    if count > MAX_LABELS_PER_FRAME:
        raise DataFileError(path, f"{where} has {count} labelled boxes, more than a frame may have "
                                  f"({MAX_LABELS_PER_FRAME})")


@dataclass(frozen=True)
class FrameRecord:
    """One training frame before loading.

    Attributes:
        image_path: the image file.
        labels: (K, 6) float32 rows (class, identity, cx, cy, w, h); class 0 = pedestrian, identity
            global (>= 0) or -1 (unlabelled), boxes normalised by the frame size.
        expected_size: (width, height) the labels were normalised with, if the layout states it
            (seqinfo.ini); a decoded image of another size is a corrupt input.
    """

    image_path: Path
    labels: np.ndarray
    expected_size: tuple[int, int] | None = None


@dataclass
class Sample:
    """One training sample.

    Attributes:
        image: (3, H, W) float32 RGB in [0, 1] at the network size ``DataOptions.img_size``.
        targets: (K, 6) float32 rows (class, identity, cx, cy, w, h), boxes normalised by the
            network input size (letterbox padding included); K may be 0.
        path: the image file. transform: how the frame was mapped into the network input.
        detection_from_reference: the frame's detection is learnt from a frozen reference network
            (``detection: reference`` of its data source), its boxes only give identities.
    """

    image: torch.Tensor
    targets: torch.Tensor
    path: str
    transform: ResizeTransform
    detection_from_reference: bool = False


@dataclass
class Batch:
    """A collated batch: ``images`` (B, 3, H, W); ``targets`` (T, 7) rows
    (image index in batch, class, identity, cx, cy, w, h) normalised; per-image paths and transforms;
    ``from_reference`` (B,) bool: images whose detection follows the reference network (None: none)."""

    images: torch.Tensor
    targets: torch.Tensor
    paths: list[str] = field(default_factory=list)
    transforms: list[ResizeTransform] = field(default_factory=list)
    from_reference: torch.Tensor | None = None

    def pin_memory(self) -> "Batch":
        """Called by ``DataLoader(pin_memory=True)``."""
        return replace(self, images=self.images.pin_memory(), targets=self.targets.pin_memory())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        flags = None if self.from_reference is None else self.from_reference.to(device, non_blocking=non_blocking)
        return replace(self, images=self.images.to(device, non_blocking=non_blocking),
                       targets=self.targets.to(device, non_blocking=non_blocking), from_reference=flags)


def collate(samples: Sequence[Sample]) -> Batch:
    """Stack images and concatenate targets with a leading image-index column (YOLO style)."""
    if not samples:
        raise ValueError("collate: expected at least one sample, got an empty batch")
    rows = [torch.cat([torch.full((len(s.targets), 1), float(i)), s.targets], dim=1) for i, s in enumerate(samples)]
    flags = [s.detection_from_reference for s in samples]
    return Batch(images=torch.stack([s.image for s in samples]), targets=torch.cat(rows, dim=0),
                 paths=[s.path for s in samples], transforms=[s.transform for s in samples],
                 from_reference=torch.tensor(flags, dtype=torch.bool) if any(flags) else None)


class IdentityMap:
    """Global identity numbers 0..N-1 for (source, local id) pairs, in first-registered order.

    Local ids < 0 mean "unlabelled" and map to -1. Combining sources therefore never merges two
    people who happen to share a number in different datasets or sequences.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[str, int], int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def map(self, source: str, local_ids: np.ndarray) -> np.ndarray:
        """Global ids (int64) for ``local_ids`` of ``source``, registering new pairs in sorted order."""
        local = np.asarray(local_ids, np.int64)
        for value in np.unique(local[local >= 0]).tolist():
            self._ids.setdefault((source, value), len(self._ids))
        return np.array([self._ids[(source, v)] if v >= 0 else -1 for v in local.tolist()], np.int64)


class FrameDataset(Dataset):
    """Frames + labels -> :class:`Sample`. Subclasses build ``records`` and call ``__init__``.

    Attributes:
        records: the frames, in index order. num_identities: global identities (ID classifier size).
        skipped: files left out (``skip_bad=True``): found while indexing, and any image that failed
            to decode in this process (DataLoader workers keep their own lists; their warnings
            still reach the console). :meth:`verify_images` decodes everything up front instead.
    """

    def __init__(self, records: list[FrameRecord], num_identities: int, options: DataOptions,
                 skipped: list[SkippedFile] | None = None, source: str = "") -> None:
        self.records = records
        self.num_identities = int(num_identities)
        self.options = options
        self.skipped: list[SkippedFile] = list(skipped or [])
        self.detection_from_reference = False  # set by the data source (``detection: reference``)
        self._epoch = 0
        if self.skipped:
            warnings.warn(self.report(), stacklevel=3)
        if not self.records:
            where = f" in {source}" if source else ""
            raise ValueError(f"{type(self).__name__}: no usable frames{where} ({len(self.skipped)} bad file(s) "
                             "skipped)")

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws (each epoch sees new flips / colours, still reproducible)."""
        self._epoch = int(epoch)

    def report(self) -> str:
        """One line: how many files were skipped and the first few of them."""
        first = "; ".join(f"{s.path} ({s.reason})" for s in self.skipped[:3])
        more = f"; ... {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
        return f"{type(self).__name__}: skipped {len(self.skipped)} bad file(s): {first}{more}"

    def verify_images(self) -> int:
        """Decode every image now; drop (skip_bad) or raise on bad ones. Returns the number dropped."""
        good, dropped = [], 0
        for record in self.records:
            try:
                self._read_image(record)
                good.append(record)
            except DataFileError as exc:
                if not self.options.skip_bad:
                    raise
                self.skipped.append(SkippedFile(exc.path, exc.reason))
                dropped += 1
        self.records = good
        if dropped:
            warnings.warn(self.report(), stacklevel=2)
        return dropped

    def __getitem__(self, index: int) -> Sample:
        n = len(self.records)
        for attempt in range(n):
            record = self.records[(index + attempt) % n]
            image = self._read_or_skip(record)
            if image is not None:
                return self._make_sample(image, record, (index + attempt) % n)
        raise DataFileError(self.records[index % n].image_path, "no readable image left in the dataset")

    def _read_or_skip(self, record: FrameRecord) -> np.ndarray | None:
        """The record's image; None for a bad one under ``skip_bad`` (counted and warned about), which
        raises :class:`DataFileError` otherwise."""
        try:
            return self._read_image(record)
        except DataFileError as exc:
            if not self.options.skip_bad:
                raise
            self.skipped.append(SkippedFile(exc.path, exc.reason))
            warnings.warn(f"skipping bad image {exc.path} ({exc.reason}); skipped so far in this "
                          f"process: {len(self.skipped)}", stacklevel=3)
            return None

    def _read_image(self, record: FrameRecord) -> np.ndarray:
        path = record.image_path
        if not path.is_file():
            raise DataFileError(path, "image file not found")
        image, problem = read_image(path)  # header-checked: a tiny file may declare gigabytes of pixels
        if image is None or image.size == 0:
            raise DataFileError(path, problem or "cannot decode image (corrupt or not an image)")
        size = (image.shape[1], image.shape[0])
        if record.expected_size is not None and size != record.expected_size:
            raise DataFileError(path, f"image is {size[0]}x{size[1]}, expected "
                                      f"{record.expected_size[0]}x{record.expected_size[1]} (seqinfo.ini)")
        return image

    def _make_sample(self, image: np.ndarray, record: FrameRecord, index: int) -> Sample:
        opt = self.options
        rng = np.random.default_rng([opt.seed, self._epoch, index]) if opt.augment else None
        # no draws without mosaic / zoom-out, so the spec's augmentation stays exactly as it was
        if rng is not None and opt.mosaic_prob > 0 and rng.random() < opt.mosaic_prob:
            resized, transform, targets = self._mosaic(image, record, rng)
        else:
            resized, transform = resize_image(image, opt.img_size, opt.resize_mode, opt.pad_value)
            if rng is not None and opt.zoom_out_prob > 0 and rng.random() < opt.zoom_out_prob:
                scale, position = rng.uniform(opt.zoom_out_min, 1.0), rng.random(2)
                resized, transform = zoom_out(resized, transform, scale, (position[0], position[1]), opt.pad_value)
            targets = _to_network_targets(record.labels, transform, opt.min_box_px)
        if rng is not None:
            augment_hsv(resized, opt.hsv_gains, rng)
            if rng.random() < opt.flip_prob:
                resized, targets = flip_horizontal(resized, targets)
            # last in the chain: the draws above, and so every earlier recipe's samples, are unchanged
            if rng.random() < opt.blur_prob:
                resized = blur(resized, rng.uniform(*opt.blur_sigma))
            if rng.random() < opt.noise_prob:
                resized = add_noise(resized, rng.uniform(*opt.noise_std), rng)
        return Sample(image=torch.from_numpy(normalize_chw(resized)), targets=torch.from_numpy(targets),
                      path=str(record.image_path), transform=transform,
                      detection_from_reference=self.detection_from_reference)

    def _mosaic(self, image: np.ndarray, record: FrameRecord,
                rng: np.random.Generator) -> tuple[np.ndarray, ResizeTransform, np.ndarray]:
        """An n x n mosaic (``DataOptions.mosaic_prob``): this frame in the first cell, frames drawn from
        this dataset in the others, each letterboxed into its cell with its boxes. Returns the image,
        the first cell's transform and the targets of all cells. An unreadable drawn frame leaves its
        cell padded under ``skip_bad`` (warned about; it raises otherwise)."""
        opt = self.options
        grid = int(rng.integers(2, opt.mosaic_max_grid + 1))
        (width, height), cells = opt.img_size, []
        cell_w, cell_h = width // grid, height // grid
        canvas = np.full((height, width) + image.shape[2:], pad_in_dtype(opt.pad_value, image.dtype), image.dtype)
        first = None
        for cell in range(grid * grid):
            if cell:
                record = self.records[int(rng.integers(len(self.records)))]
                image = self._read_or_skip(record)
                if image is None:
                    continue
            tile, fit = resize_image(image, (cell_w, cell_h), "letterbox", opt.pad_value)
            left, top = (cell % grid) * cell_w, (cell // grid) * cell_h
            canvas[top:top + cell_h, left:left + cell_w] = tile
            transform = ResizeTransform(mode="letterbox", frame_size=fit.frame_size, network_size=(width, height),
                                        scale_xy=fit.scale_xy, pad_xy=(fit.pad_xy[0] + left, fit.pad_xy[1] + top))
            if cell == 0:
                first = transform
            cells.append(_to_network_targets(record.labels, transform, opt.min_box_px))
        return canvas, first, np.concatenate(cells)  # the first cell is always there


def _to_network_targets(labels: np.ndarray, transform: ResizeTransform, min_box_px: float) -> np.ndarray:
    """Frame-normalised (class, id, cx, cy, w, h) -> network-normalised, clipped to the frame content."""
    if len(labels) == 0:
        return np.zeros((0, 6), np.float32)
    fw, fh = transform.frame_size
    cx, cy, w, h = (labels[:, k].astype(np.float64) for k in (2, 3, 4, 5))
    xyxy = np.stack([(cx - w / 2) * fw, (cy - h / 2) * fh, (cx + w / 2) * fw, (cy + h / 2) * fh], axis=1)
    net = transform.frame_to_network_xyxy(xyxy)
    c = transform.content_xyxy
    net = np.clip(net, c[[0, 1, 0, 1]], c[[2, 3, 2, 3]])
    bw, bh = net[:, 2] - net[:, 0], net[:, 3] - net[:, 1]
    keep = (bw >= max(min_box_px, 1e-6)) & (bh >= max(min_box_px, 1e-6))
    nw, nh = transform.network_size
    out = np.empty((int(keep.sum()), 6), np.float32)
    out[:, :2] = labels[keep, :2]
    out[:, 2] = (net[keep, 0] + net[keep, 2]) / 2 / nw
    out[:, 3] = (net[keep, 1] + net[keep, 3]) / 2 / nh
    out[:, 4] = bw[keep] / nw
    out[:, 5] = bh[keep] / nh
    return out


class ConcatFrameDataset(Dataset):
    """Several frame datasets as one; identities of dataset k are offset by those of datasets < k."""

    def __init__(self, datasets: Sequence[FrameDataset]) -> None:
        if not datasets:
            raise ValueError("ConcatFrameDataset: expected at least one dataset")
        self.datasets = list(datasets)
        self._ends = np.cumsum([len(d) for d in self.datasets]).tolist()
        self._id_offsets = np.cumsum([0] + [d.num_identities for d in self.datasets[:-1]]).tolist()
        self.num_identities = int(sum(d.num_identities for d in self.datasets))

    def __len__(self) -> int:
        return self._ends[-1]

    @property
    def skipped(self) -> list[SkippedFile]:
        return [s for d in self.datasets for s in d.skipped]

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            d.set_epoch(epoch)

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        k = bisect.bisect_right(self._ends, index)
        sample = self.datasets[k][index - (self._ends[k - 1] if k else 0)]
        if self._id_offsets[k]:
            ids = sample.targets[:, 1]
            sample.targets[:, 1] = torch.where(ids >= 0, ids + self._id_offsets[k], ids)
        return sample
