"""Detection loss of CSTrack (YOLOv5 v3): CIoU box loss, objectness BCE with an IoU target, class BCE.

For the positives of :func:`~mottrack_training.losses.assignment.assign_targets` on level l, with raw
logits ``t`` at (image, anchor, cell):

    box     = (2σ(t_xy) - 0.5, (2σ(t_wh))² · anchor)   in grid units, relative to the cell
    L_box   = Σ_l mean_positives(1 - CIoU(box, target))                       · box_weight
    L_obj   = Σ_l level_weight_l · BCE(t_obj, target_obj), mean over all cells · obj_weight
    L_cls   = Σ_l mean_positives BCE(t_cls, one-hot)    (only if nc > 1)      · cls_weight

With ``box_coding="yolox"`` (anchor-free head, :mod:`mottrack_training.model.yolox_blocks`) the
decoded box is ``(t_xy, exp(t_wh))`` in grid units instead. ``ignore`` masks (one [B, A, H, W] bool
per level, e.g. cells inside a pseudo-label's uncertain box) drop those cells from the objectness
loss unless they are positives: neither positive nor negative.

``target_obj`` is 0 everywhere except at positives, where it is the CIoU of that prediction,
detached and clamped at 0 (when several GTs claim one prediction the highest CIoU wins, which
makes the target independent of scatter order). With ``score_targets="yolox"`` (fine-tuning an
imported YOLOX head, score σ(obj)·σ(cls)) the objectness target of a positive is 1 and the class
logit learns the positive's detached, clamped CIoU (also with one class), as YOLOX trains them. All means are over this batch: see
:class:`~mottrack_training.losses.criterion.CSTrackCriterion` for how batch size enters.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mottrack_training.losses.assignment import LevelTargets
from mottrack_training.losses.box import box_ciou

__all__ = ["detection_loss", "objectness_target", "predicted_boxes"]


# exp(8) = 2981 grid cells: far beyond any image, keeps the yolox box loss finite early in training
MAX_LOG_SIZE = 8.0
BOX_CODINGS = ("yolov5", "yolox")
SCORE_TARGETS = ("yolov5", "yolox")


def predicted_boxes(raw: torch.Tensor, positives: LevelTargets, box_coding: str = "yolov5") -> torch.Tensor:
    """Decoded boxes of the positives: raw [B, A, H, W, 5 + nc] -> (P, 4) ``(dx, dy, w, h)`` grid units."""
    picked = raw[positives.image, positives.anchor, positives.grid_y, positives.grid_x].float()
    if box_coding == "yolox":
        return torch.cat((picked[:, :2], picked[:, 2:4].clamp(max=MAX_LOG_SIZE).exp()), dim=1)
    xy = picked[:, :2].sigmoid() * 2.0 - 0.5
    wh = (picked[:, 2:4].sigmoid() * 2.0) ** 2 * positives.anchor_wh
    return torch.cat((xy, wh), dim=1)


def objectness_target(shape: Sequence[int], positives: LevelTargets, ciou: torch.Tensor) -> torch.Tensor:
    """Objectness targets [B, A, H, W]: detached CIoU clamped at 0 at positives (max over duplicates), else 0."""
    target = torch.zeros(tuple(shape), device=ciou.device, dtype=torch.float32)
    if len(positives):
        _, num_anchors, height, width = shape
        flat = ((positives.image * num_anchors + positives.anchor) * height + positives.grid_y) * width \
            + positives.grid_x
        target.view(-1).scatter_reduce_(0, flat, ciou.detach().float().clamp(min=0.0), reduce="amax")
    return target


def detection_loss(raw_levels: Sequence[torch.Tensor], positives: Sequence[LevelTargets], classes: torch.Tensor,
                   level_weights: Sequence[float], box_weight: float, obj_weight: float,
                   cls_weight: float, box_coding: str = "yolov5",
                   ignore: Sequence[torch.Tensor | None] | None = None,
                   score_targets: str = "yolov5") -> dict[str, torch.Tensor]:
    """Weighted box, objectness and class losses (scalars, each already multiplied by its weight).

    Args:
        raw_levels: L raw head outputs [B, A, H_l, W_l, 5 + nc] (logits).
        positives: L :class:`LevelTargets` from the same batch.
        classes: (T,) int64 class of every target row (indexed by ``target_index``).
        level_weights: objectness weight per level (spec: 4.0, 1.0, 0.4).
        box_coding: ``yolov5`` (anchor boxes) or ``yolox`` (anchor-free), see the module docstring.
        ignore: optional per level [B, A, H_l, W_l] bool: cells left out of the objectness loss.
        score_targets: ``yolov5`` or ``yolox`` targets of objectness and class (module docstring).

    Returns:
        ``{"box", "obj", "cls"}`` (zero tensors where nothing contributes).
    """
    if box_coding not in BOX_CODINGS:
        raise ValueError(f"box_coding must be one of {BOX_CODINGS}, got {box_coding!r}")
    if score_targets not in SCORE_TARGETS:
        raise ValueError(f"score_targets must be one of {SCORE_TARGETS}, got {score_targets!r}")
    yolox = score_targets == "yolox"
    if len(level_weights) < len(raw_levels):
        raise ValueError(f"{len(raw_levels)} levels but {len(level_weights)} objectness level weights")
    device = raw_levels[0].device
    box = torch.zeros((), device=device)
    obj = torch.zeros((), device=device)
    cls = torch.zeros((), device=device)
    ignore = list(ignore) if ignore is not None else [None] * len(raw_levels)
    for raw, pos, weight, skip in zip(raw_levels, positives, level_weights, ignore):
        num_classes = raw.shape[-1] - 5
        if len(pos):
            ciou = box_ciou(predicted_boxes(raw, pos, box_coding), pos.box)
            box = box + (1.0 - ciou).mean()
            if num_classes > 1 or yolox:
                logits = raw[pos.image, pos.anchor, pos.grid_y, pos.grid_x, 5:].float()
                onehot = F.one_hot(classes[pos.target_index], num_classes).float()
                if yolox:
                    onehot = onehot * ciou.detach().float().clamp(min=0.0)[:, None]
                cls = cls + F.binary_cross_entropy_with_logits(logits, onehot)
        else:
            ciou = raw.new_zeros(0, dtype=torch.float32)
        target = objectness_target(raw.shape[:4], pos, torch.ones_like(ciou) if yolox else ciou)
        if skip is None:
            obj = obj + weight * F.binary_cross_entropy_with_logits(raw[..., 4].float(), target)
        else:  # ignored cells weigh 0 (positives never do); the mean stays over all cells
            keep = (~skip.to(target.device)) | (target > 0)
            losses = F.binary_cross_entropy_with_logits(raw[..., 4].float(), target, reduction="none")
            obj = obj + weight * (losses * keep).sum() / target.numel()
    return {"box": box * box_weight, "obj": obj * obj_weight, "cls": cls * cls_weight}
