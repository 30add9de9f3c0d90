"""YOLOv5 positive assignment: which (level, anchor, cell) predictions learn which ground-truth box.

Rule (spec "Training"; YOLOv5 v3+ ``build_targets``), applied on every level independently, so a GT
may be positive on several levels:

1. Shape match: GT (w, h) and anchor (wa, ha), both in the level's grid units, match when
   ``max(w/wa, wa/w, h/ha, ha/h) < anchor_threshold`` (4.0).
2. Cells: the cell holding the GT centre, plus the two nearest neighbouring cells: the left or
   right neighbour (whichever side of the cell centre the GT centre lies on) and the upper or lower
   one. A neighbour is used only when the centre is more than one cell away from that border of the
   grid (YOLOv5's ``gxy > 1`` test), and when the centre sits exactly on a cell's middle line
   neither neighbour on that axis is taken.
3. The regression target of a positive is ``(cx - gx, cy - gy, w, h)`` in grid units, relative to
   the positive's own cell (gx, gy), so it lies in [-0.5, 1.5): the range the decoder
   ``2·σ(t) - 0.5`` can reach.

Cell indices are clamped to the grid (a centre exactly on the right / bottom edge).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["LevelTargets", "assign_targets"]

# (dx, dy) cell offsets of the candidates: own cell, left, up, right, down.
_OFFSETS = ((0, 0), (-1, 0), (0, -1), (1, 0), (0, 1))


@dataclass
class LevelTargets:
    """The positives of one output level (P of them).

    Attributes:
        image: (P,) int64 image index in the batch.
        anchor: (P,) int64 anchor index on this level (0..A-1).
        grid_y, grid_x: (P,) int64 cell row / column (clamped to the grid).
        box: (P, 4) float32 target ``(cx - gx, cy - gy, w, h)`` in grid units.
        anchor_wh: (P, 2) float32 the matched anchor's (w, h) in grid units.
        target_index: (P,) int64 row of the GT in ``targets`` (identity, class lookups).
        own_cell: (P,) bool, True for the positive in the GT centre's own cell.
    """

    image: torch.Tensor
    anchor: torch.Tensor
    grid_y: torch.Tensor
    grid_x: torch.Tensor
    box: torch.Tensor
    anchor_wh: torch.Tensor
    target_index: torch.Tensor
    own_cell: torch.Tensor

    def __len__(self) -> int:
        return int(self.image.numel())


def assign_targets(targets: torch.Tensor, anchors: torch.Tensor, strides: Sequence[int],
                   grid_shapes: Sequence[tuple[int, int]], anchor_threshold: float = 4.0) -> list[LevelTargets]:
    """Positives per level for a batch of ground truth.

    Args:
        targets: (T, 7) rows ``(image, class, identity, cx, cy, w, h)``, boxes normalised by the
            network input size (as :func:`mottrack_training.data.collate` makes them).
        anchors: (L, A, 2) anchor (w, h) in input pixels.
        strides: L level strides in pixels.
        grid_shapes: L ``(H_l, W_l)`` grid sizes of the raw head outputs.
        anchor_threshold: the shape-match limit (spec: 4.0).

    Returns:
        L :class:`LevelTargets`, on the device of ``targets``.
    """
    if targets.ndim != 2 or targets.shape[1] != 7:
        raise ValueError(f"targets must be (T, 7) (image, class, id, cx, cy, w, h), got {tuple(targets.shape)}")
    device = targets.device
    targets = targets.float()
    offsets = torch.tensor(_OFFSETS, device=device, dtype=torch.float32)
    levels = []
    for level, (stride, (height, width)) in enumerate(zip(strides, grid_shapes)):
        grid_wh = torch.tensor([width, height], device=device, dtype=torch.float32)
        xy = targets[:, 3:5] * grid_wh  # (T, 2) grid units
        wh = targets[:, 5:7] * grid_wh
        anchor_wh = anchors[level].to(device=device, dtype=torch.float32) / float(stride)  # (A, 2)
        ratio = wh[None, :, :] / anchor_wh[:, None, :]  # (A, T, 2)
        matched = torch.maximum(ratio, 1.0 / ratio).amax(dim=2) < anchor_threshold
        anchor_idx, target_idx = matched.nonzero(as_tuple=True)  # anchor-major order
        gxy = xy[target_idx]
        far = grid_wh - gxy  # distance to the right / bottom border
        frac, far_frac = gxy % 1.0, far % 1.0
        use = torch.stack((
            torch.ones_like(target_idx, dtype=torch.bool),
            (frac[:, 0] < 0.5) & (gxy[:, 0] > 1.0),     # left neighbour
            (frac[:, 1] < 0.5) & (gxy[:, 1] > 1.0),     # upper neighbour
            (far_frac[:, 0] < 0.5) & (far[:, 0] > 1.0),  # right neighbour
            (far_frac[:, 1] < 0.5) & (far[:, 1] > 1.0),  # lower neighbour
        ))  # (5, M)
        candidate, pair = use.nonzero(as_tuple=True)  # candidate-major: own cells first
        cell = (gxy[pair].floor() + offsets[candidate]).long()
        cell[:, 0].clamp_(0, width - 1)
        cell[:, 1].clamp_(0, height - 1)
        t = target_idx[pair]
        a = anchor_idx[pair]
        levels.append(LevelTargets(
            image=targets[t, 0].long(), anchor=a, grid_y=cell[:, 1], grid_x=cell[:, 0],
            box=torch.cat((gxy[pair] - cell.float(), wh[t]), dim=1), anchor_wh=anchor_wh[a],
            target_index=t, own_cell=candidate == 0))
    return levels
