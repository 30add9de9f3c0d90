"""Weighted box fusion (WBF) of several detectors' boxes for one frame (numpy only).

Solovyev et al., "Weighted boxes fusion" (2021), one class, with the score rule of
``../shared/models/README.md`` (AP50 0.750 for the three teachers vs 0.66-0.68 alone):

1. all boxes of all models, highest score first (ties: lower model index, then lower box index);
2. each box joins the first cluster whose current fused box overlaps it with IoU > ``iou_threshold``,
   else it starts a new cluster;
3. a cluster's fused box is the score-weighted mean of its boxes' corners (recomputed as it grows);
4. its fused score is ``sum over models of (weight_m x that model's best score in the cluster) /
   sum of weights``: a person every model finds keeps its score, one that a single model of three
   finds keeps a third of it. A model's second box in a cluster moves the box, not the score.

Boxes are ``xyxy`` in pixels. Why not the ``ensemble-boxes`` package: its fused score is a different
rule (mean of all boxes' scores rescaled by the number of models), and this is 60 lines.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mottrack_sdk.tracking.matching import iou_matrix
from mottrack_sdk.types import Detections

__all__ = ["FusedBoxes", "weighted_box_fusion"]


@dataclass(frozen=True)
class FusedBoxes:
    """Fused clusters of one frame (K rows), highest fused score first.

    xyxy: (K, 4) float32 pixels; scores: (K,) float32 in 0..1; support: (K,) int64, how many models
    have a box in the cluster.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    support: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def as_detections(self) -> Detections:
        return Detections(self.xyxy, self.scores)


def weighted_box_fusion(per_model: Sequence[Detections], iou_threshold: float = 0.55,
                        weights: Sequence[float] | None = None) -> FusedBoxes:
    """Fuse the detections of ``len(per_model)`` models of one frame (see the module docstring).

    Args:
        per_model: one :class:`Detections` per model (``xyxy (N_m, 4)``, ``scores (N_m,)``); a model
            that found nothing still counts in the score's denominator.
        iou_threshold: a box joins a cluster when its IoU with the fused box is above this.
        weights: one non-negative weight per model (default: all 1).

    Raises:
        ValueError: no models, a weight list of the wrong length or with no positive weight, or an
            ``iou_threshold`` outside [0, 1).
    """
    n_models = len(per_model)
    if n_models == 0:
        raise ValueError("weighted_box_fusion: per_model must hold at least one model's detections")
    w = np.ones(n_models) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if len(w) != n_models or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weighted_box_fusion: weights must be {n_models} non-negative numbers with a positive "
                         f"sum, got {weights!r}")
    if not 0.0 <= iou_threshold < 1.0:
        raise ValueError(f"weighted_box_fusion: iou_threshold must be in [0, 1), got {iou_threshold}")
    boxes = np.concatenate([np.asarray(d.xyxy, np.float64).reshape(-1, 4) for d in per_model])
    scores = np.concatenate([np.asarray(d.scores, np.float64).reshape(-1) for d in per_model])
    model = np.concatenate([np.full(len(d.scores), m, np.int64) for m, d in enumerate(per_model)])
    if len(scores) == 0:
        return FusedBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    order = np.lexsort((np.arange(len(scores)), model, -scores))

    weighted_sum = np.zeros((len(scores), 4))  # per cluster: sum of score * corners
    score_sum = np.zeros(len(scores))          # per cluster: sum of scores (the mean's denominator)
    best = np.zeros((len(scores), n_models))   # per cluster and model: the model's best score
    fused = np.zeros((len(scores), 4))         # per cluster: the current fused box
    k = 0
    for i in order.tolist():
        c = -1
        if k:
            iou = iou_matrix(boxes[i:i + 1], fused[:k])[0]
            hit = np.flatnonzero(iou > iou_threshold)
            c = int(hit[0]) if hit.size else -1
        if c < 0:
            c, k = k, k + 1
        weighted_sum[c] += scores[i] * boxes[i]
        score_sum[c] += scores[i]
        best[c, model[i]] = max(best[c, model[i]], scores[i])
        fused[c] = weighted_sum[c] / score_sum[c] if score_sum[c] > 0 else boxes[i]
    fused_scores = best[:k] @ w / w.sum()
    rank = np.lexsort((np.arange(k), -fused_scores))
    return FusedBoxes(fused[:k][rank].astype(np.float32), fused_scores[rank].astype(np.float32),
                      (best[:k][rank] > 0).sum(1).astype(np.int64))
