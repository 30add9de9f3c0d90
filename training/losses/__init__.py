"""CSTrack training losses (PyTorch): YOLOv5 assignment, CIoU box + objectness, JDE ID and iHOIM.

>>> criterion = CSTrackCriterion.for_model(model, num_identities, LossOptions(id_loss="ce"))
>>> out = criterion(raw_levels, embeddings, batch.targets)   # out.total, out.terms
"""
from mottrack_training.losses.assignment import LevelTargets, assign_targets
from mottrack_training.losses.box import box_ciou, xywh_to_xyxy
from mottrack_training.losses.criterion import CSTrackCriterion, LossOutput, ModelWithLoss, sample_background
from mottrack_training.losses.detection import detection_loss, objectness_target, predicted_boxes
from mottrack_training.losses.identity import JdeIdentityLoss, embeddings_at, jde_scale, target_embeddings
from mottrack_training.losses.ihoim import IHoimLoss, all_gather_rows
from mottrack_training.losses.options import IdLossKind, LossOptions

__all__ = [
    "CSTrackCriterion",
    "IHoimLoss",
    "IdLossKind",
    "JdeIdentityLoss",
    "LevelTargets",
    "LossOptions",
    "LossOutput",
    "ModelWithLoss",
    "all_gather_rows",
    "assign_targets",
    "box_ciou",
    "detection_loss",
    "embeddings_at",
    "jde_scale",
    "objectness_target",
    "predicted_boxes",
    "sample_background",
    "target_embeddings",
    "xywh_to_xyxy",
]
