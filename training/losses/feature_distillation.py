"""Distilling a frozen reference network into a student of the same shape, stage by stage.

:mod:`.distillation` holds a detector's *outputs* (score, boxes) to a frozen reference. That is enough
to keep a detector while it learns new scenes, not to rebuild one whose every layer changed, e.g. the
default network with ReLU instead of SiLU (``model.overrides: {activation: relu}``,
``model.reference_activation: silu``): there the outputs alone were learnt back on the training
frames and lost elsewhere (benchmarks/README.md, "Session 18"). This term also holds the
intermediate features, on every cell of every image:

    L_feature = mean over stages s (backbone, neck, REN ReID) of mean over levels l of
                mean((F_s,l - R_s,l)²) / (var(R_s,l) + 1e-6)
    L_embedding = mean over cells of (1 - cos(e, e_ref))       (the SAAN embedding map, channel-wise)

Each feature level's error is divided by the variance of the reference's map, so levels and stages of
different scales weigh alike (0: the student computes the reference's features; 1: no better than
their mean).

With ``loss.distill_foreground`` = k > 0 the means over cells become weighted means, a cell weighing
1 + k·q̂ (:func:`foreground_weights`: q̂ the reference's detection score at that cell, 3x3 max-dilated):
a small person is a few cells of a map that is mostly background, so a plain mean hardly sees whether
the student rebuilt them (benchmarks/README.md, "Session 21": on a ReLU student, k = 20 gave MOT17-mini
AP50 +1.5 over four checkpoints and cost TUD-Campus MOTA; no recipe uses it).

:class:`StageTaps` collects the stage outputs of one forward pass through forward hooks, so the
network's own ``forward`` runs unchanged.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mottrack_training.losses.distillation import reference_scores

__all__ = ["FEATURE_STAGES", "StageTaps", "embedding_distillation", "feature_distillation", "foreground_weights"]

FEATURE_STAGES = ("backbone", "neck", "ren")  # ``ren``: its ReID half (the detection half feeds the head)


def _levels(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    return [t for t in output if isinstance(t, torch.Tensor)]  # type: ignore[union-attr]


class StageTaps:
    """``with StageTaps(model) as taps: model(images)`` -> ``taps.outputs[stage]``: that stage's output
    maps (a list, one per level) of the last forward pass, for the stages in :data:`FEATURE_STAGES` the
    model has (``model.ren`` may be None)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.outputs: dict[str, list[torch.Tensor]] = {}
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> "StageTaps":
        for stage in FEATURE_STAGES:
            module = getattr(self.model, stage, None)
            if module is not None:
                self._hooks.append(module.register_forward_hook(self._keep(stage)))
        return self

    def _keep(self, stage: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            # REN returns (detection features, ReID features): the ReID half is what SAAN reads
            self.outputs[stage] = _levels(output[1] if stage == "ren" else output)  # type: ignore[index]
        return hook

    def __exit__(self, *exc: object) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()


def foreground_weights(reference_levels: Sequence[torch.Tensor], strength: float) -> list[torch.Tensor]:
    """Per-cell weights [B, 1, H_l, W_l] = 1 + ``strength``·q̂ of each raw head level [B, A, H_l, W_l, 5 + nc]
    of the reference: q̂ = max over anchors and classes of σ(obj)·σ(cls), max-pooled 3x3 so the cells
    around a person count too. No gradient."""
    if not math.isfinite(strength) or strength < 0:
        raise ValueError(f"foreground weight strength must be a finite number >= 0, got {strength!r}")
    weights = []
    for level in reference_levels:
        if level.dim() != 5 or level.shape[-1] < 6:
            raise ValueError("foreground weights: a raw head level must be [B, A, H, W, 5 + classes], "
                             f"got {tuple(level.shape)}")
        score = reference_scores(level).amax(-1).amax(1, keepdim=True)
        weights.append(1.0 + strength * F.max_pool2d(score, 3, stride=1, padding=1))
    return weights


def _weight_for(weights: Sequence[torch.Tensor] | None, feature: torch.Tensor) -> torch.Tensor | None:
    """The weight map of ``feature``'s grid: the level of the same size, else the finest one resized (nearest)."""
    if not weights:
        return None
    size = tuple(feature.shape[-2:])
    for w in weights:
        if tuple(w.shape[-2:]) == size:
            return w
    return F.interpolate(weights[0], size=size, mode="nearest")


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` [B, 1, H, W], each cell counted ``weight`` [B, 1, H, W] times."""
    weight = weight.to(values.device).expand_as(values)
    return (values * weight).sum() / weight.sum()


def feature_distillation(student: dict[str, Sequence[torch.Tensor]],
                         reference: dict[str, Sequence[torch.Tensor]],
                         weights: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """``L_feature`` (module docstring) over the stages both dicts hold (scalar, float32); ``weights``:
    :func:`foreground_weights` (None: every cell alike)."""
    stages = [s for s in FEATURE_STAGES if s in student and s in reference]
    if not stages:
        raise ValueError(f"feature distillation: no stage output to compare (student {sorted(student)}, "
                         f"reference {sorted(reference)})")
    total = next(iter(student[stages[0]])).new_zeros((), dtype=torch.float32)
    for stage in stages:
        mine, theirs = list(student[stage]), list(reference[stage])
        if len(mine) != len(theirs) or any(a.shape != b.shape for a, b in zip(mine, theirs)):
            raise ValueError(f"feature distillation: the {stage} outputs differ in shape (student "
                             f"{[tuple(a.shape) for a in mine]}, reference {[tuple(b.shape) for b in theirs]}): "
                             "the reference must be the same network but for its activation")
        level_sum = total.new_zeros(())
        for a, b in zip(mine, theirs):
            b = b.detach().float()
            error = (a.float() - b) ** 2
            weight = _weight_for(weights, a) if a.dim() == 4 else None
            error = error.mean() if weight is None else _weighted_mean(error.mean(1, keepdim=True), weight)
            level_sum = level_sum + error / (b.var() + 1e-6)
        total = total + level_sum / len(mine)
    return total / len(stages)


def embedding_distillation(student: torch.Tensor | Sequence[torch.Tensor],
                           reference: torch.Tensor | Sequence[torch.Tensor],
                           weights: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """``L_embedding``: mean over all cells (of all maps) of 1 - cosine similarity along channels;
    weighted by ``weights`` (:func:`foreground_weights`) where given."""
    mine, theirs = _levels(student), _levels(reference)
    if len(mine) != len(theirs) or any(a.shape != b.shape for a, b in zip(mine, theirs)):
        raise ValueError("embedding distillation: the student's and the reference's embedding maps differ in shape")
    distances = [1.0 - F.cosine_similarity(a.float(), b.detach().float(), dim=1) for a, b in zip(mine, theirs)]
    if not weights:
        return torch.cat([d.flatten() for d in distances]).mean()
    cell_weights = [_weight_for(weights, d.unsqueeze(1))[:, 0].to(d.device).expand_as(d) for d in distances]
    return sum((d * w).sum() for d, w in zip(distances, cell_weights)) / sum(w.sum() for w in cell_weights)
