"""Typed options of the CSTrack training loss (defaults: the spec's reference settings)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["IdLossKind", "LossOptions", "ScoreTargets"]

IdLossKind = Literal["ce", "ihoim"]
ScoreTargets = Literal["yolov5", "yolox"]


@dataclass(frozen=True)
class LossOptions:
    """Weights and switches of :class:`~mottrack_training.losses.criterion.CSTrackCriterion`.

    Detection (YOLOv5 v3, spec "Training"):
        anchor_threshold: a GT matches an anchor when max(w/wa, wa/w, h/ha, ha/h) < this (4.0).
        box_weight: weight of the mean (1 - CIoU) over positives (0.05).
        obj_weight: weight of the objectness BCE (1.0); level_weights multiply it per level
            (P3 4.0, P4 1.0, P5 0.4).
        cls_weight: weight of the class BCE over positives, used only when the model has more than
            one class (YOLOv5's rule; with one class the class logit is fixed by its prior bias).
        score_targets: ``"yolov5"`` (above: objectness learns the positive's CIoU) or ``"yolox"``
            (YOLOX's own targets, for fine-tuning an imported YOLOX head whose score is
            σ(obj)·σ(cls): objectness 1 at positives, and the class logit learns the positive's IoU
            at positives, with one class too).
    Keeping a starting detector (fine-tuning without forgetting, :mod:`.distillation`):
        distill_weight: weight of the term that holds the detection score σ(obj)·σ(cls) of every cell
            outside all target boxes (ignore regions included) to that of a frozen copy of the
            network as it started, and everything (boxes too) on frames of ``detection: reference``
            sources (0: off). Learning new scenes (synthetic figures) then cannot move what the
            detector already did on the real footage.
        feature_distill_weight: weight of the term that holds the backbone, neck and REN ReID feature
            maps of every image to the frozen reference's (:mod:`.feature_distillation`; 0: off). For
            rebuilding a network whose layers all changed, e.g. with another activation
            (``model.reference_activation``).
        embedding_distill_weight: weight of the term that holds the SAAN embedding map's direction
            (1 - cosine, every cell) to the reference's (0: off).
        distill_foreground: k >= 0; the three terms above weigh a cell 1 + k·q̂ (q̂: the reference's
            detection score there, 3x3 max-dilated) instead of alike, so the few cells of small
            people are not drowned by background (0: plain means; needs a reference).
    Identity:
        id_loss: ``"ce"`` (JDE: scaled-cosine cross-entropy over a bias-free linear classifier) or
            ``"ihoim"`` (the second paper's improved hierarchical OIM loss, section 3.2).
        id_weight: weight of the identity term in the total (0.02, fixed).
        ihoim_temperature: softmax temperature tau of the cosine logits (1/30).
        ihoim_momentum: look-up-table momentum eta: w <- normalize(eta*w + (1-eta)*x) (0.5).
        ihoim_queue_size: B, background embeddings kept in the circular queue.
        ihoim_background_per_image: background cells (stride-8 cells whose centre lies in no GT box)
            sampled per image and step, the negatives of iHOIM's detection term.
    """

    anchor_threshold: float = 4.0
    box_weight: float = 0.05
    obj_weight: float = 1.0
    cls_weight: float = 0.5
    score_targets: ScoreTargets = "yolov5"
    distill_weight: float = 0.0
    feature_distill_weight: float = 0.0
    embedding_distill_weight: float = 0.0
    distill_foreground: float = 0.0
    level_weights: tuple[float, ...] = (4.0, 1.0, 0.4)
    id_loss: IdLossKind = "ce"
    id_weight: float = 0.02
    ihoim_temperature: float = 1.0 / 30.0
    ihoim_momentum: float = 0.5
    ihoim_queue_size: int = 4096
    ihoim_background_per_image: int = 32

    def __post_init__(self) -> None:
        for name in ("box_weight", "obj_weight", "cls_weight", "id_weight", "distill_weight",
                     "feature_distill_weight", "embedding_distill_weight", "distill_foreground"):
            _check_number(name, getattr(self, name), 0.0, math.inf)
        _check_number("anchor_threshold", self.anchor_threshold, 1.0, math.inf)
        _check_number("ihoim_temperature", self.ihoim_temperature, 1e-4, 10.0)
        _check_number("ihoim_momentum", self.ihoim_momentum, 0.0, 1.0)
        weights = tuple(float(w) for w in self.level_weights)
        if not weights or any(not math.isfinite(w) or w < 0 for w in weights):
            raise ValueError(f"LossOptions.level_weights must be numbers >= 0, got {self.level_weights!r}")
        object.__setattr__(self, "level_weights", weights)
        if self.score_targets not in ("yolov5", "yolox"):
            raise ValueError(f"LossOptions.score_targets must be 'yolov5' or 'yolox', got {self.score_targets!r}")
        if self.id_loss not in ("ce", "ihoim"):
            raise ValueError(f"LossOptions.id_loss must be 'ce' or 'ihoim', got {self.id_loss!r}")
        if self.distill_foreground > 0 and not self.needs_reference:
            raise ValueError("LossOptions.distill_foreground weighs the distillation terms' cells: it needs "
                             "distill_weight, feature_distill_weight or embedding_distill_weight > 0")
        for name in ("ihoim_queue_size", "ihoim_background_per_image"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LossOptions.{name} must be an integer >= 1, got {value!r}")

    @property
    def needs_reference(self) -> bool:
        """Whether a term compares the network with a frozen reference network."""
        return self.distill_weight > 0 or self.feature_distill_weight > 0 or self.embedding_distill_weight > 0


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"LossOptions.{name} must be a number in [{low}, {high}], got {value!r}")
