"""MOTChallenge sequences as training data (``img1/`` + ``gt/gt.txt`` + ``seqinfo.ini``).

Which ground-truth rows become targets (the columns are ``frame,id,left,top,width,height,conf,
class,visibility``):

- ``conf`` must be 1: conf 0 marks regions the benchmark ignores;
- ``class`` must be 1 (pedestrian): 2 person on vehicle, 7 static person, 8 distractor, 12 reflection
  and the vehicle classes are not trained as pedestrians; files without a class column (MOT15
  style, read as -1) count as pedestrians;
- ``visibility >= DataOptions.min_visibility`` (a missing column, read as -1, counts as visible).

With ``DataOptions.ignore_regions`` every other row becomes an ignore region (class -1, identity -1,
see :class:`~mottrack_training.data.options.DataOptions`) instead of being dropped.

Frames are the image files present in ``imDir`` (``<frame>.<imExt>``, frame = the 1-based number
in the name) up to ``seqLength``; gt rows of frames without an image are ignored, so cut-down copies
such as MOT17-mini work, and frames without rows are valid empty samples. Boxes that extend past
the frame are clipped when the sample is made. Identities are numbered globally per
(sequence, gt id), so several sequences combine without collisions.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from mottrack_sdk.io import read_mot_txt, read_seqinfo
from mottrack_training.data.dataset import (DataFileError, FrameDataset, FrameRecord, IdentityMap, SkippedFile,
                                            check_label_count)
from mottrack_training.data.options import DataOptions

__all__ = ["MotSequenceDataset"]

PEDESTRIAN = 1


class MotSequenceDataset(FrameDataset):
    """Frames of MOTChallenge sequences as :class:`~mottrack_training.data.dataset.Sample` objects.

    Args:
        sequences: sequence folders, or roots holding them (e.g. ``MOT17-mini/train``).
        options: :class:`DataOptions`; ``min_visibility`` filters rows, ``skip_bad`` decides whether a
            sequence with a missing / corrupt ``seqinfo.ini`` or ``gt.txt``, or a bad image, raises
            :class:`DataFileError` or is skipped and counted.
    """

    def __init__(self, sequences: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
                 options: DataOptions | None = None) -> None:
        options = options or DataOptions()
        roots = [sequences] if isinstance(sequences, (str, os.PathLike)) else list(sequences)
        if not roots:
            raise ValueError("MotSequenceDataset: expected at least one sequence folder")
        seq_dirs: list[Path] = []
        for root in roots:
            seq_dirs.extend(_sequence_dirs(Path(root)))
        identities = IdentityMap()
        records: list[FrameRecord] = []
        skipped: list[SkippedFile] = []
        for seq_dir in seq_dirs:
            try:
                records.extend(_index_sequence(seq_dir, options, identities))
            except DataFileError as exc:
                if not options.skip_bad:
                    raise
                skipped.append(SkippedFile(exc.path, exc.reason))
        super().__init__(records, len(identities), options, skipped, source=", ".join(str(r) for r in roots))


def _sequence_dirs(root: Path) -> list[Path]:
    """``root`` itself if it is a sequence, else its sequence sub-folders (seqinfo.ini or gt/ inside).

    A folder with ``gt/`` but no ``seqinfo.ini`` counts, so that the missing file is reported.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: sequence folder not found")
    if (root / "seqinfo.ini").exists() or (root / "gt").is_dir():
        return [root]  # a sequence (its seqinfo.ini may be the broken part)
    seqs = sorted(p for p in root.iterdir() if p.is_dir() and ((p / "seqinfo.ini").exists() or (p / "gt").is_dir()))
    if not seqs:
        raise FileNotFoundError(f"{root}: no MOTChallenge sequence folders (with seqinfo.ini) found")
    return seqs


def _index_sequence(seq_dir: Path, options: DataOptions, identities: IdentityMap) -> list[FrameRecord]:
    ini = seq_dir / "seqinfo.ini"
    try:
        info = read_seqinfo(ini)
    except FileNotFoundError:
        raise DataFileError(ini, "seqinfo.ini not found") from None
    except ValueError as exc:
        raise DataFileError(ini, f"corrupt seqinfo.ini ({exc})") from None
    gt_path = seq_dir / "gt" / "gt.txt"
    try:
        gt = read_mot_txt(gt_path)
    except FileNotFoundError:
        raise DataFileError(gt_path, "gt.txt not found (training needs ground truth)") from None
    except ValueError as exc:
        raise DataFileError(gt_path, f"corrupt gt.txt ({exc})") from None
    keep = (gt.conf == 1) & ((gt.class_id == PEDESTRIAN) | (gt.class_id == -1)) \
        & ((gt.visibility >= options.min_visibility) | (gt.visibility == -1))
    if (gt.tlwh[slice(None) if options.ignore_regions else keep, 2:] < 0).any():
        raise DataFileError(gt_path, "negative box width or height")
    if options.ignore_regions:
        rows = gt
        global_ids = np.full(len(gt.frame), -1, np.int64)
        global_ids[keep] = identities.map(str(seq_dir.resolve()), gt.track_id[keep])
        classes = np.where(keep, 0.0, -1.0).astype(np.float32)
    else:
        rows = gt.select(keep)
        global_ids = identities.map(str(seq_dir.resolve()), rows.track_id)
        classes = np.zeros(len(rows.frame), np.float32)
    frames = _frame_images(seq_dir / info.im_dir, info.im_ext, info.seq_length)
    w, h = info.im_width, info.im_height
    order = np.argsort(rows.frame, kind="stable")
    sorted_frames = rows.frame[order]
    records = []
    for frame, image_path in frames:
        lo, hi = np.searchsorted(sorted_frames, [frame, frame + 1])
        sel = order[lo:hi]
        check_label_count(len(sel), gt_path, f"frame {frame}")
        tlwh = rows.tlwh[sel]
        labels = np.zeros((len(sel), 6), np.float32)
        labels[:, 0] = classes[sel]
        labels[:, 1] = global_ids[sel]
        labels[:, 2] = (tlwh[:, 0] + tlwh[:, 2] / 2) / w
        labels[:, 3] = (tlwh[:, 1] + tlwh[:, 3] / 2) / h
        labels[:, 4] = tlwh[:, 2] / w
        labels[:, 5] = tlwh[:, 3] / h
        records.append(FrameRecord(image_path, labels, expected_size=(w, h)))
    return records


def _frame_images(img_dir: Path, ext: str, seq_length: int) -> list[tuple[int, Path]]:
    if not img_dir.is_dir():
        raise DataFileError(img_dir, "image folder not found (imDir in seqinfo.ini)")
    frames = []
    for path in img_dir.iterdir():
        if path.suffix.lower() != ext.lower():
            continue
        if not path.stem.isdigit():
            raise DataFileError(path, f"expected a frame number as file name, e.g. 000001{ext}")
        frame = int(path.stem)
        if 1 <= frame <= seq_length:
            frames.append((frame, path))
    return sorted(frames)
