"""Fine-tuning without forgetting: hold a detector's background to a frozen copy of itself.

Fine-tuning the imported YOLOX-nano detector on synthetic figures taught it those figures but cost
it real pedestrians (MOT17-mini AP50 59.5 -> 44.4 after 2 epochs, see
``configs/cstrack_nano_real_cpu.yaml``): nothing in the detection loss says what the network
already got right on real footage. This term does ("learning without forgetting", Li and Hoiem,
ECCV 2016, applied per cell): for every cell whose centre lies outside all target boxes of its
image (ignore regions included; inside them the detection loss decides), the student's detection
score p = σ(obj)·σ(cls) (per class) learns the frozen reference's score q:

    L_distill = Σ_l level_weight_l · Σ_cells keep · Σ_classes BCE(p, q) / (cells of level l)

(a mean over all cells, like the objectness loss, so both have the same scale; with
``loss.distill_foreground`` a weighted mean, a cell weighing 1 + k·q̂, as in :mod:`.feature_distillation`).
Frames of a ``detection: reference`` source (``full`` images) are held everywhere, boxes included: their raw box
outputs (tx, ty, tw, th) follow the reference's with a smooth-L1 weighted by the reference's score,

    L_box = Σ_l level_weight_l · Σ_cells q·smoothL1(box - box_ref) / max(Σ_cells q, 1)   (full images)

so the detector keeps its real-footage behaviour while the other sources' labels teach it more. The score, not
each logit: a YOLOX head never trains its class logit on background, and holding it there fought
the class term at positives through the shared bias until training diverged. Subtracting q's own
entropy would not change a gradient, so it is left in: the term is ≥ 0 and its minimum is not 0.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["reference_distillation", "reference_scores"]


def reference_scores(level: torch.Tensor) -> torch.Tensor:
    """The detection scores q = σ(obj)·σ(cls) [..., nc] of one raw head level [..., 5 + nc] (float32, no
    gradient): what a student learns from a frozen reference."""
    level = level.detach().float()
    return torch.sigmoid(level[..., 4:5]) * torch.sigmoid(level[..., 5:])


def reference_distillation(raw_levels: Sequence[torch.Tensor], reference_levels: Sequence[torch.Tensor],
                           inside: Sequence[torch.Tensor] | None, level_weights: Sequence[float],
                           full: torch.Tensor | None = None,
                           foreground: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """The distillation term (scalar, before its weight; module docstring).

    Args:
        raw_levels: L student raw outputs [B, A, H_l, W_l, 5 + nc] (logits; obj at index 4).
        reference_levels: the frozen reference's raw outputs, same shapes (no gradient needed).
        inside: per level [B, A, H_l, W_l] bool, cells inside a target box (left out), or None.
        level_weights: per-level weights (the objectness level weights).
        full: optional (B,) bool, images held everywhere including their boxes (``inside`` should
            then hold no cell of them).
        foreground: optional per level [B, 1, H_l, W_l] cell weights of the score term
            (:func:`~mottrack_training.losses.feature_distillation.foreground_weights`; None: all 1).
    """
    if len(reference_levels) != len(raw_levels):
        raise ValueError(f"{len(raw_levels)} student levels but {len(reference_levels)} reference levels")
    total = raw_levels[0].new_zeros((), dtype=torch.float32)
    masks = list(inside) if inside is not None else [None] * len(raw_levels)
    cell_weights = list(foreground) if foreground is not None else [None] * len(raw_levels)
    if len(cell_weights) != len(raw_levels):
        raise ValueError(f"{len(raw_levels)} student levels but {len(cell_weights)} foreground weight maps")
    for raw, ref, skip, weight, cells in zip(raw_levels, reference_levels, masks, level_weights, cell_weights):
        if raw.shape != ref.shape:
            raise ValueError(f"student output {tuple(raw.shape)} and reference output {tuple(ref.shape)} differ")
        log_p = F.logsigmoid(raw[..., 4:5].float()) + F.logsigmoid(raw[..., 5:].float())
        ref = ref.detach().float()
        q = reference_scores(ref)
        log_not_p = torch.log1p(-log_p.exp().clamp(max=1.0 - 1e-6))
        losses = -(q * log_p + (1.0 - q) * log_not_p).sum(-1)
        if skip is not None:
            losses = losses * (~skip.to(losses.device))
        if cells is None:
            total = total + weight * losses.sum() / losses.numel()
        else:
            cells = cells.to(losses.device).expand_as(losses)
            total = total + weight * (losses * cells).sum() / cells.sum()
        if full is not None and bool(full.any()):
            q_cell = q.amax(-1) * full.to(q.device).view(-1, *([1] * (q.dim() - 2)))
            box = F.smooth_l1_loss(raw[..., :4].float(), ref[..., :4], reduction="none").sum(-1)
            total = total + weight * (q_cell * box).sum() / q_cell.sum().clamp(min=1.0)
    return total
