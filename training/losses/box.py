"""Complete-IoU (CIoU, Zheng et al. 2020) between paired boxes, as YOLOv5 computes it.

    CIoU = IoU - ρ²/c² - α·v
    v = 4/π² · (atan(w_gt/h_gt) - atan(w/h))²,   α = v / (v - IoU + 1)   (α carries no gradient)

ρ is the distance between the box centres, c the diagonal of the smallest box enclosing both.
CIoU lies in [-1, 1]: 1 for identical boxes, negative for distant disjoint ones.
"""
from __future__ import annotations

import math

import torch

__all__ = ["box_ciou", "xywh_to_xyxy"]


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) ``(cx, cy, w, h)`` -> (..., 4) ``(x1, y1, x2, y2)``."""
    xy, wh = boxes[..., :2], boxes[..., 2:4]
    return torch.cat((xy - wh / 2, xy + wh / 2), dim=-1)


def box_ciou(pred_xywh: torch.Tensor, target_xywh: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """CIoU of each pair: (N, 4) and (N, 4) ``(cx, cy, w, h)`` in the same units -> (N,).

    Differentiable in ``pred_xywh`` (and ``target_xywh``); ``eps`` guards empty boxes.
    """
    if pred_xywh.shape != target_xywh.shape or pred_xywh.shape[-1] != 4:
        raise ValueError(f"box_ciou: expected two (N, 4) tensors, got {tuple(pred_xywh.shape)} and "
                         f"{tuple(target_xywh.shape)}")
    p1, p2 = xywh_to_xyxy(pred_xywh).split(2, dim=-1)
    t1, t2 = xywh_to_xyxy(target_xywh).split(2, dim=-1)
    pw, ph = pred_xywh[..., 2], pred_xywh[..., 3] + eps
    tw, th = target_xywh[..., 2], target_xywh[..., 3] + eps

    inter_wh = (torch.minimum(p2, t2) - torch.maximum(p1, t1)).clamp(min=0)
    inter = inter_wh[..., 0] * inter_wh[..., 1]
    union = pw * ph + tw * th - inter + eps
    iou = inter / union

    enclose_wh = torch.maximum(p2, t2) - torch.minimum(p1, t1)
    c2 = enclose_wh[..., 0] ** 2 + enclose_wh[..., 1] ** 2 + eps  # enclosing diagonal²
    rho2 = ((pred_xywh[..., :2] - target_xywh[..., :2]) ** 2).sum(dim=-1)  # centre distance²
    v = (4.0 / math.pi ** 2) * (torch.atan(tw / th) - torch.atan(pw / ph)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1.0 + eps))
    return iou - (rho2 / c2 + alpha * v)
