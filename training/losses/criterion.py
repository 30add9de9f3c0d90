"""The complete CSTrack training loss and the model + loss module that training (and DDP) wraps.

    total = box + obj + cls + id_weight · id          (spec: box + obj + 0.02·id; cls only if nc > 1)
            + distill_weight · distill                (only with a frozen reference network, see
                                                       :mod:`.distillation`)
            + feature_distill_weight · feature        (the same reference's feature maps and
            + embedding_distill_weight · embedding     embeddings, :mod:`.feature_distillation`)

Every term is a mean over this batch (positives, cells or GT rows): a batch of B images yields the
loss of an "average image". The trainer multiplies by the images of a micro-batch before
``backward`` (YOLOv5's convention), so a nominal-batch step sums the gradients of its 64 images:
the scale the reference learning rate (5e-3) was tuned for.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from mottrack_training.losses.assignment import LevelTargets, assign_targets
from mottrack_training.losses.detection import detection_loss
from mottrack_training.losses.distillation import reference_distillation
from mottrack_training.losses.feature_distillation import (StageTaps, embedding_distillation, feature_distillation,
                                                           foreground_weights)
from mottrack_training.losses.identity import JdeIdentityLoss, target_embeddings
from mottrack_training.losses.ihoim import IHoimLoss
from mottrack_training.losses.options import LossOptions

__all__ = ["CSTrackCriterion", "FeaturePair", "LossOutput", "ModelWithLoss", "ignore_cells", "sample_background"]

TERMS = ("box", "obj", "cls", "id", "distill", "feature", "embedding")


@dataclass
class LossOutput:
    """``total``: the scalar to optimise; ``terms``: detached unweighted-by-batch parts (:data:`TERMS`)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


def sample_background(embedding_map: torch.Tensor, targets: torch.Tensor, per_image: int) -> torch.Tensor:
    """Embeddings of up to ``per_image`` random cells per image that overlap no GT box -> (Q, E).

    ``embedding_map`` [B, E, H, W]; ``targets`` (T, 7) normalised. Draws from the global RNG of the
    map's device (its state is part of a training checkpoint).
    """
    batch, _, height, width = embedding_map.shape
    device = embedding_map.device
    cover = torch.zeros(batch, height + 1, width + 1, device=device)
    if len(targets):
        img = targets[:, 0].long()
        cx, cy, w, h = (targets[:, k].float() for k in (3, 4, 5, 6))
        x0 = ((cx - w / 2) * width).floor().long().clamp(0, width)
        x1 = ((cx + w / 2) * width).ceil().long().clamp(0, width)
        y0 = ((cy - h / 2) * height).floor().long().clamp(0, height)
        y1 = ((cy + h / 2) * height).ceil().long().clamp(0, height)
        ones = torch.ones_like(cx)
        for ys, xs, sign in ((y0, x0, 1.0), (y0, x1, -1.0), (y1, x0, -1.0), (y1, x1, 1.0)):
            cover.index_put_((img, ys, xs), ones * sign, accumulate=True)  # 2-D difference array
    covered = cover.cumsum(1).cumsum(2)[:, :height, :width] > 0.5
    scores = torch.rand(batch, height * width, device=device)
    scores = scores.masked_fill(covered.view(batch, -1), -1.0)
    k = min(per_image, height * width)
    best, cells = scores.topk(k, dim=1)
    image, slot = torch.nonzero(best >= 0.0, as_tuple=True)
    cell = cells[image, slot]
    return embedding_map[image, :, cell // width, cell % width].float()


def ignore_cells(raw_levels: Sequence[torch.Tensor], regions: torch.Tensor) -> list[torch.Tensor]:
    """Per level [B, A, H_l, W_l] bool: cells whose centre lies inside one of ``regions`` (R, 7) of its image."""
    masks = []
    for raw in raw_levels:
        batch, anchors, height, width = raw.shape[:4]
        mask = torch.zeros(batch, height, width, dtype=torch.bool, device=raw.device)
        ys = (torch.arange(height, device=raw.device) + 0.5) / height
        xs = (torch.arange(width, device=raw.device) + 0.5) / width
        for image, _, _, cx, cy, w, h in regions.tolist():
            inside_y = (ys >= cy - h / 2) & (ys <= cy + h / 2)
            inside_x = (xs >= cx - w / 2) & (xs <= cx + w / 2)
            mask[int(image)] |= inside_y[:, None] & inside_x[None, :]
        masks.append(mask[:, None].expand(batch, anchors, height, width))
    return masks


class CSTrackCriterion(nn.Module):
    """Detection + identity loss for a CSTrack model.

    Args:
        anchors: (L, A, 2) anchors in input pixels. strides: L level strides.
        embedding_dim: E. num_identities: identities of the training data (0 disables the ID term).
        options: :class:`LossOptions`.
    """

    def __init__(self, anchors: torch.Tensor, strides: Sequence[int], embedding_dim: int, num_identities: int,
                 options: LossOptions | None = None, box_coding: str = "yolov5") -> None:
        super().__init__()
        self.options = options or LossOptions()
        self.box_coding = box_coding
        self.strides = tuple(int(s) for s in strides)
        if len(self.options.level_weights) != len(self.strides):
            raise ValueError(f"LossOptions.level_weights has {len(self.options.level_weights)} entries, the model "
                             f"has {len(self.strides)} levels")
        self.register_buffer("anchors", anchors.detach().clone().float(), persistent=False)
        self.num_identities = int(num_identities)
        self.identity: nn.Module | None = None
        if self.num_identities > 0:
            if self.options.id_loss == "ce":
                self.identity = JdeIdentityLoss(embedding_dim, self.num_identities)
            else:
                self.identity = IHoimLoss(embedding_dim, self.num_identities, self.options.ihoim_queue_size,
                                          self.options.ihoim_temperature, self.options.ihoim_momentum)

    @classmethod
    def for_model(cls, model: nn.Module, num_identities: int, options: LossOptions | None = None) -> "CSTrackCriterion":
        """A criterion matching ``model``'s anchors, strides and embedding size."""
        return cls(model.anchors, model.strides, model.embedding_dim, num_identities, options,
                   getattr(model.detect, "box_coding", "yolov5"))

    def assign(self, raw_levels: Sequence[torch.Tensor], targets: torch.Tensor) -> list[LevelTargets]:
        """Positives of every level for ``targets`` (T, 7) on the grids of ``raw_levels``."""
        shapes = [(int(r.shape[2]), int(r.shape[3])) for r in raw_levels]
        return assign_targets(targets, self.anchors, self.strides, shapes, self.options.anchor_threshold)

    def forward(self, raw_levels: Sequence[torch.Tensor], embeddings: torch.Tensor | Sequence[torch.Tensor],
                targets: torch.Tensor, reference: Sequence[torch.Tensor] | None = None,
                from_reference: torch.Tensor | None = None, features: FeaturePair | None = None) -> LossOutput:
        """Raw head outputs (train mode), embeddings and targets (T, 7) -> :class:`LossOutput`.

        Target rows with class < 0 are ignore regions: no positive, no ID, and the cells whose centre
        lies inside one are left out of the objectness loss. ``reference``: the raw outputs of the
        frozen starting network on the same images, for the distillation term (``distill_weight``).
        ``from_reference`` (B,) bool: images whose detection follows ``reference`` alone (no
        detection loss on them; their boxes still train identities). ``features``: the stage outputs
        of this network and of the reference on the same images, and the reference's embeddings
        (``feature_distill_weight`` / ``embedding_distill_weight``).
        """
        opt = self.options
        device = raw_levels[0].device
        targets = targets.to(device).float()
        ignored = targets[:, 1] < 0
        labelled = torch.ones_like(ignored)
        if from_reference is not None:
            from_reference = from_reference.to(device)
            labelled = ~from_reference[targets[:, 0].long()]
        distill = raw_levels[0].new_zeros((), dtype=torch.float32)
        foreground = foreground_weights(reference, opt.distill_foreground) \
            if reference is not None and opt.distill_foreground > 0 else None
        if reference is not None and opt.distill_weight > 0:
            boxes = targets[labelled]
            inside = ignore_cells(raw_levels, boxes) if len(boxes) else None
            distill = reference_distillation(raw_levels, reference, inside, opt.level_weights, from_reference,
                                             foreground)
        ignore_masks = ignore_cells(raw_levels, targets[ignored]) if bool(ignored.any()) else None
        if from_reference is not None:  # no objectness loss at all on reference-taught images
            flags = [from_reference.view(-1, 1, 1, 1).expand(r.shape[:4]) for r in raw_levels]
            ignore_masks = flags if ignore_masks is None else [m | f for m, f in zip(ignore_masks, flags)]
        detection_targets = targets[~ignored & labelled]
        positives = self.assign(raw_levels, detection_targets)
        terms = detection_loss(raw_levels, positives, detection_targets[:, 1].long(), opt.level_weights,
                               opt.box_weight, opt.obj_weight, opt.cls_weight, self.box_coding, ignore_masks,
                               opt.score_targets)
        id_targets = targets[~ignored]
        id_positives = positives if from_reference is None else self.assign(raw_levels, id_targets)
        terms["id"] = self._identity_loss(embeddings, id_targets, id_positives)
        terms["distill"] = distill
        terms["feature"] = terms["embedding"] = distill.new_zeros(())
        if features is not None and opt.feature_distill_weight > 0:
            terms["feature"] = feature_distillation(features.student, features.reference, foreground)
        if features is not None and opt.embedding_distill_weight > 0:
            terms["embedding"] = embedding_distillation(embeddings, features.reference_embeddings, foreground)
        total = terms["box"] + terms["obj"] + terms["cls"] + opt.id_weight * terms["id"] \
            + opt.distill_weight * distill + opt.feature_distill_weight * terms["feature"] \
            + opt.embedding_distill_weight * terms["embedding"]
        return LossOutput(total, {k: terms[k].detach() for k in TERMS})

    def _identity_loss(self, embeddings: torch.Tensor | Sequence[torch.Tensor], targets: torch.Tensor,
                       positives: list[LevelTargets]) -> torch.Tensor:
        maps = [embeddings] if isinstance(embeddings, torch.Tensor) else list(embeddings)
        if self.identity is None:  # detection-only data: keep the embedding branch in the graph (DDP)
            return sum(m.float().sum() for m in maps) * 0.0
        rows, ids = target_embeddings(embeddings, targets, positives)
        if isinstance(self.identity, JdeIdentityLoss):
            return self.identity(rows, ids)
        background = sample_background(maps[0], targets, self.options.ihoim_background_per_image)
        return self.identity(rows, ids, background)


@dataclass
class FeaturePair:
    """What feature distillation compares: this network's and the reference's stage outputs
    (:class:`~mottrack_training.losses.feature_distillation.StageTaps`) and the reference's embeddings."""

    student: dict[str, list[torch.Tensor]]
    reference: dict[str, list[torch.Tensor]]
    reference_embeddings: torch.Tensor | Sequence[torch.Tensor]


class ModelWithLoss(nn.Module):
    """``model`` and ``criterion`` as one module: ``forward(images, targets) -> LossOutput``.

    This is what the trainer optimises and what DDP wraps, so the ID classifier's gradients are
    averaged with the network's. ``amp=True`` runs the network under CUDA float16 autocast; the
    loss is always computed in float32.
    """

    def __init__(self, model: nn.Module, criterion: CSTrackCriterion, amp: bool = False,
                 reference: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.criterion = criterion
        self.amp = amp
        self.reference = reference
        if reference is not None:
            reference.requires_grad_(False)
            reference.eval()
        opt = criterion.options
        self.with_features = reference is not None and (opt.feature_distill_weight > 0
                                                        or opt.embedding_distill_weight > 0)

    def train(self, mode: bool = True) -> "ModelWithLoss":
        super().train(mode)
        if self.reference is not None:
            self.reference.eval()
        return self

    def forward(self, images: torch.Tensor, targets: torch.Tensor,
                from_reference: torch.Tensor | None = None) -> LossOutput:
        device_type = images.device.type
        with_features, features = self.with_features, None
        with torch.autocast(device_type=device_type, dtype=torch.float16, enabled=self.amp):
            with StageTaps(self.model) if with_features else contextlib.nullcontext() as taps:
                raw, embeddings = self.model(images, decode=False)
            reference = None
            if self.reference is not None:
                reference_taps = StageTaps(self.reference) if with_features else contextlib.nullcontext()
                with torch.no_grad(), reference_taps:
                    reference, reference_embeddings = self.reference(images, decode=False)
                if with_features:
                    features = FeaturePair(taps.outputs, reference_taps.outputs, reference_embeddings)
        with torch.autocast(device_type=device_type, enabled=False):
            return self.criterion(raw, embeddings, targets, reference, from_reference, features)
