"""Identity (ReID) loss of JDE / CSTrack and the embedding look-up at ground-truth centres.

Embeddings of a GT (spec "ID loss"): the embedding map's vector at the cell holding the GT centre,
``(floor(cx · W_e), floor(cy · H_e))`` clamped to the map. With SAAN that map is the stride-8 one;
with the JDE ablation (``saan: false``, one map per level) a GT is looked up on every level where it
has a positive (the levels whose anchors it matches), as JDE trains each level's embedding head.

JDE's classifier loss: ``x = s · normalize(e)`` with ``s = √2 · ln(nID - 1)`` (JDE's scale; nID < 3
uses ln 2), logits = bias-free ``Linear(E, nID)(x)``, cross-entropy over rows with identity >= 0;
rows with identity -1 (unlabelled people) are ignored.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mottrack_training.losses.assignment import LevelTargets

__all__ = ["JdeIdentityLoss", "embeddings_at", "target_embeddings"]


def embeddings_at(embedding_map: torch.Tensor, image: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """Vectors of ``embedding_map`` [B, E, H, W] at normalised centres -> (K, E).

    ``image`` (K,) int64 batch index; ``cx, cy`` (K,) in [0, 1] of the network input. The cell is
    ``floor(c · size)`` clamped to the map, so any input size (and a centre on the border) works.
    """
    _, _, height, width = embedding_map.shape
    gx = (cx.float() * width).floor().long().clamp_(0, width - 1)
    gy = (cy.float() * height).floor().long().clamp_(0, height - 1)
    return embedding_map[image.long(), :, gy, gx]


def target_embeddings(embeddings: torch.Tensor | Sequence[torch.Tensor], targets: torch.Tensor,
                      positives: Sequence[LevelTargets]) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings and identities of the GT boxes: -> ((K, E) float, (K,) int64 identity, -1 = unlabelled).

    ``embeddings`` is one map [B, E, H/8, W/8] (SAAN; K = T, one row per target) or L per-level
    maps (JDE ablation; one row per (target, level with a positive)). ``targets`` (T, 7).
    """
    ids = targets[:, 2].long()
    if isinstance(embeddings, torch.Tensor):
        rows = embeddings_at(embeddings, targets[:, 0], targets[:, 3], targets[:, 4])
        return rows.float(), ids
    if len(embeddings) != len(positives):
        raise ValueError(f"{len(embeddings)} embedding maps but {len(positives)} levels of positives")
    parts, part_ids = [], []
    for level_map, pos in zip(embeddings, positives):
        idx = torch.unique(pos.target_index)
        parts.append(embeddings_at(level_map, targets[idx, 0], targets[idx, 3], targets[idx, 4]).float())
        part_ids.append(ids[idx])
    return torch.cat(parts), torch.cat(part_ids)


def jde_scale(num_identities: int) -> float:
    """JDE's embedding scale √2 · ln(nID - 1), with ln 2 for fewer than 3 identities."""
    return math.sqrt(2.0) * math.log(max(num_identities - 1, 2))


class JdeIdentityLoss(nn.Module):
    """Cross-entropy identity classification of scaled, normalised embeddings (JDE).

    Args:
        embedding_dim: E. num_identities: nID (>= 1), the global identities of the training data.
    """

    def __init__(self, embedding_dim: int, num_identities: int) -> None:
        super().__init__()
        if num_identities < 1:
            raise ValueError(f"JdeIdentityLoss needs at least one identity, got {num_identities}")
        self.num_identities = int(num_identities)
        self.scale = jde_scale(num_identities)
        self.classifier = nn.Linear(embedding_dim, num_identities, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.01)

    def forward(self, embeddings: torch.Tensor, identities: torch.Tensor) -> torch.Tensor:
        """(K, E) embeddings and (K,) identities (-1 ignored) -> mean cross-entropy over labelled rows.

        No labelled row gives 0 (still connected to the classifier, so DDP sees every parameter used).
        """
        labelled = identities >= 0
        if not bool(labelled.any()):
            return self.classifier.weight.sum() * 0.0 + embeddings.sum() * 0.0
        logits = self.classifier(self.scale * F.normalize(embeddings[labelled], dim=1))
        return F.cross_entropy(logits, identities[labelled])
