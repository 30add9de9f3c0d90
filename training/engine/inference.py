"""Detector post-processing for validation: score threshold, NMS and per-box embeddings.

Mirrors the runtime's steps on the decoded network output (spec "Inference"): keep boxes above a
score threshold, greedy NMS (IoU 0.6, at most 300 boxes; plain NMS here, the reference's
cluster-DIoU NMS differs only in crowded overlaps), then take each kept box's embedding at the
stride-s cell of its centre, ``floor(c / s)`` clamped to the map for any input size, and
L2-normalise it. With one embedding map (SAAN) s = 8; with per-level maps (``saan: false``) the
map of the level that predicted the box.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["FrameDetections", "box_iou_matrix", "detect", "nms"]


@dataclass
class FrameDetections:
    """Detections of one image in network-input pixels.

    Attributes: xyxy (K, 4) float64; scores (K,) float64; embeddings (K, E) float32 L2-normalised;
    levels (K,) int64 output level of each box.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray
    levels: np.ndarray


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair: (N, 4) and (M, 4) ``xyxy`` -> (N, M) float64 (0 for empty boxes)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_thresh: float, max_det: int) -> np.ndarray:
    """Greedy NMS: indices (int64, by descending score) of kept boxes.

    A box is dropped when its IoU with a higher-scoring kept box exceeds ``iou_thresh``; ties in
    score keep the lower index first (stable sort).
    """
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    if order.size == 0:
        return order.astype(np.int64)
    iou = box_iou_matrix(xyxy[order], xyxy[order])
    suppressed = np.zeros(order.size, dtype=bool)
    keep = []
    for i in range(order.size):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) >= max_det:
            break
        suppressed |= iou[i] > iou_thresh
    return order[np.asarray(keep, np.int64)]


def _level_of(indices: np.ndarray, level_sizes: Sequence[int]) -> np.ndarray:
    return np.searchsorted(np.cumsum(level_sizes), indices, side="right").astype(np.int64)


@torch.no_grad()
def detect(model: torch.nn.Module, images: torch.Tensor, score_thresh: float, nms_iou: float, max_det: int,
           max_candidates: int = 3000, amp: bool = False) -> list[FrameDetections]:
    """Run ``model`` (any mode; decoding forced) on images [B, 3, H, W] and post-process each image."""
    with torch.autocast(device_type=images.device.type, dtype=torch.float16, enabled=amp):
        decoded, embeddings = model(images, decode=True)
    decoded = decoded.float()
    maps = [embeddings] if isinstance(embeddings, torch.Tensor) else list(embeddings)
    height, width = images.shape[-2:]
    map_strides = [height // m.shape[-2] for m in maps]
    level_sizes = [model.num_anchors * (height // s) * (width // s) for s in model.strides]
    results = []
    for b in range(decoded.shape[0]):
        scores = decoded[b, :, 4:].amax(dim=1)  # class-agnostic: the best class score
        candidates = torch.nonzero(scores >= score_thresh).flatten()
        if candidates.numel() > max_candidates:
            candidates = candidates[scores[candidates].topk(max_candidates).indices]
        boxes = decoded[b, candidates, :4].cpu().double().numpy()
        cand_scores = scores[candidates].cpu().double().numpy()
        keep = nms(boxes, cand_scores, nms_iou, max_det)
        index = candidates.cpu().numpy()[keep]
        xyxy, kept_scores = boxes[keep], cand_scores[keep]
        levels = _level_of(index, level_sizes)
        emb = _box_embeddings(maps, b, xyxy, levels if len(maps) > 1 else np.zeros_like(levels), map_strides)
        results.append(FrameDetections(xyxy, kept_scores, emb, levels))
    return results


def _box_embeddings(maps: list[torch.Tensor], b: int, xyxy: np.ndarray, map_index: np.ndarray,
                    map_strides: list[int]) -> np.ndarray:
    dim = maps[0].shape[1]
    out = np.zeros((len(xyxy), dim), np.float32)
    for k, (emb_map, stride) in enumerate(zip(maps, map_strides)):
        rows = np.nonzero(map_index == k)[0]
        if rows.size == 0:
            continue
        h, w = emb_map.shape[-2:]
        cx = (xyxy[rows, 0] + xyxy[rows, 2]) / 2.0
        cy = (xyxy[rows, 1] + xyxy[rows, 3]) / 2.0
        gx = torch.as_tensor(np.clip(np.floor(cx / stride), 0, w - 1).astype(np.int64), device=emb_map.device)
        gy = torch.as_tensor(np.clip(np.floor(cy / stride), 0, h - 1).astype(np.int64), device=emb_map.device)
        vectors = emb_map[b, :, gy, gx].t().float()  # (K_k, E)
        out[rows] = F.normalize(vectors, dim=1).cpu().numpy()
    return out
