"""JDE "labels_with_ids" datasets (Caltech, CityPersons, CUHK-SYSU, PRW, ETH, MOT17 as JDE ships them).

Layout: an image list file per dataset, one image path per line (relative to the dataset's
``root``, or absolute); each image has a label file found by replacing the last ``images`` folder of
its path with ``labels_with_ids`` and the extension with ``.txt``::

    <root>/MOT17/images/train/MOT17-02-SDP/img1/000001.jpg
    <root>/MOT17/labels_with_ids/train/MOT17-02-SDP/img1/000001.txt

Label rows are ``class id cx cy w h`` with the box normalised to [0, 1] by the image size;
``id = -1`` is a person without an identity (detection-only data). An empty label file is a frame
with no people (a valid sample); a missing one is an error (the reference silently treated it as
empty, which hides broken dataset copies).

Identities are local to each list file; :class:`JdeDataset` numbers them globally so that several
datasets combine without collisions (``num_identities`` is the ID classifier's size).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mottrack_training.data.dataset import (DataFileError, FrameDataset, FrameRecord, IdentityMap, SkippedFile,
                                            check_label_count)
from mottrack_training.data.options import DataOptions

__all__ = ["JdeDataset", "JdeSource", "MAX_IDENTITY", "label_path_for", "read_jde_labels"]

MAX_IDENTITY = 2**31 - 1  # the largest id a label file may give (ids are counted per dataset, never near this)


@dataclass(frozen=True)
class JdeSource:
    """One JDE dataset: its image list file and the root its lines are relative to.

    ``root`` defaults to the list file's folder. ``name`` keys the dataset's identities (default:
    the list file's resolved path, so two ``train.txt`` files in different folders stay apart).
    """

    list_file: Path
    root: Path | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        return self.name or str(Path(self.list_file).resolve())


def label_path_for(image_path: str | os.PathLike[str]) -> Path:
    """The label file of an image: last ``images`` folder -> ``labels_with_ids``, extension -> ``.txt``.

    Raises ``ValueError`` if the path has no ``images`` folder.
    """
    parts = list(Path(image_path).parts)
    folders = [i for i, p in enumerate(parts[:-1]) if p == "images"]
    if not folders:
        raise ValueError(f"{image_path}: expected an 'images' folder in the path (JDE layout)")
    parts[folders[-1]] = "labels_with_ids"
    return Path(*parts).with_suffix(".txt")


def read_jde_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a label file -> (K, 6) float64 rows (class, id, cx, cy, w, h); empty file -> (0, 6).

    Raises :class:`DataFileError` naming the file when it is missing, unreadable or malformed
    (not 6 numbers per row, non-integer class / id, id < -1 or > :data:`MAX_IDENTITY` (naming the line),
    non-finite values, negative sizes).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "label file not found")
    rows: list[list[float]] = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(path, f"cannot read label file ({exc})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            raise DataFileError(path, f"line {lineno}: expected numbers 'class id cx cy w h', got {line[:60]!r}") from None
        if len(values) != 6:
            raise DataFileError(path, f"line {lineno}: expected 6 values 'class id cx cy w h', got {len(values)}")
        if values[1] > MAX_IDENTITY:  # int64 would wrap 1e300 to a negative id: an unlabelled person
            raise DataFileError(path, f"line {lineno}: id {line.split()[1]} is larger than an id may be "
                                      f"({MAX_IDENTITY} = 2**31 - 1)")
        rows.append(values)
    labels = np.asarray(rows, np.float64).reshape(-1, 6)
    if not np.isfinite(labels).all():
        raise DataFileError(path, "contains NaN or inf")
    cls_id = labels[:, :2]
    if (cls_id != np.round(cls_id)).any() or (labels[:, 0] < 0).any() or (labels[:, 1] < -1).any():
        raise DataFileError(path, "class must be an integer >= 0 and id an integer >= -1")
    if (labels[:, 4:] < 0).any():
        raise DataFileError(path, "box width and height must be >= 0")
    return labels


class JdeDataset(FrameDataset):
    """Frames of one or more JDE datasets as :class:`~mottrack_training.data.dataset.Sample` objects.

    Label files are read while indexing (needed to number identities); images load lazily.
    A missing list file is always an error; missing or corrupt images / labels raise
    :class:`DataFileError`, or are skipped and counted with ``options.skip_bad``.
    """

    def __init__(self, sources: Sequence[JdeSource | str | os.PathLike[str]], options: DataOptions | None = None) -> None:
        options = options or DataOptions()
        if not sources:
            raise ValueError("JdeDataset: expected at least one source (image list file)")
        identities = IdentityMap()
        records: list[FrameRecord] = []
        skipped: list[SkippedFile] = []
        for src in sources:
            source = src if isinstance(src, JdeSource) else JdeSource(Path(src))
            for image_path in _read_list(source):
                try:
                    if not image_path.is_file():
                        raise DataFileError(image_path, "image file not found")
                    try:
                        label_path = label_path_for(image_path)
                    except ValueError:
                        raise DataFileError(image_path, "expected an 'images' folder in the path (JDE layout)") from None
                    labels = read_jde_labels(label_path)
                    check_label_count(len(labels), label_path, "the image")
                except DataFileError as exc:
                    if not options.skip_bad:
                        raise
                    skipped.append(SkippedFile(exc.path, exc.reason))
                    continue
                out = labels.astype(np.float32)
                out[:, 1] = identities.map(source.key, labels[:, 1].astype(np.int64))
                records.append(FrameRecord(image_path, out))
        super().__init__(records, len(identities), options, skipped,
                         source=", ".join(str(s.list_file if isinstance(s, JdeSource) else s) for s in sources))


def _read_list(source: JdeSource) -> list[Path]:
    list_file = Path(source.list_file)
    if not list_file.is_file():
        raise FileNotFoundError(f"{list_file}: image list file not found")
    root = Path(source.root) if source.root is not None else list_file.parent
    lines = [ln.strip() for ln in list_file.read_text().splitlines()]
    return [Path(ln) if os.path.isabs(ln) else root / ln for ln in lines if ln and not ln.startswith("#")]
