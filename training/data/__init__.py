"""Training data: JDE "labels_with_ids" datasets and MOTChallenge sequences as one sample type.

>>> from mottrack_training.data import DataOptions, MotSequenceDataset, collate
>>> ds = MotSequenceDataset("data/synth", DataOptions(img_size=(1088, 608), resize_mode="stretch"))
>>> loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, collate_fn=collate)

Every sample is a :class:`Sample`: ``image`` (3, H, W) float32 RGB / 255 at the network size and
``targets`` (K, 6) = (class, identity, cx, cy, w, h) normalised; :func:`collate` makes a
:class:`Batch` with targets (T, 7) prefixed by the image index. Resizing is
:mod:`mottrack_sdk.preprocessing` (the runtime's own), augmentation the spec's HSV + flip.
"""
from mottrack_training.data.augment import augment_hsv, flip_horizontal
from mottrack_training.data.dataset import (Batch, ConcatFrameDataset, DataFileError, FrameDataset, FrameRecord,
                                            IdentityMap, Sample, SkippedFile, collate)
from mottrack_training.data.jde import JdeDataset, JdeSource, label_path_for, read_jde_labels
from mottrack_training.data.mot import MotSequenceDataset
from mottrack_training.data.options import DataOptions

__all__ = [
    "Batch",
    "ConcatFrameDataset",
    "DataFileError",
    "DataOptions",
    "FrameDataset",
    "FrameRecord",
    "IdentityMap",
    "JdeDataset",
    "JdeSource",
    "MotSequenceDataset",
    "Sample",
    "SkippedFile",
    "augment_hsv",
    "collate",
    "flip_horizontal",
    "label_path_for",
    "read_jde_labels",
]
