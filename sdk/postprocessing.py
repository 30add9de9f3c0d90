"""Model outputs -> detections in frame pixels (numpy only).

Two output layouts (``ModelMetadata.output_layout``):

- ``nms``: the graph already ran score threshold, TopK, NMS and the embedding gather; the host
  takes the first ``count`` rows.
- ``raw_heads``: the graph stops at the decoded predictions ``[1, N, 4 + nc]`` (xyxy network px,
  scores) and the stride-8 embedding map ``[1, E, h, w]``; the host runs :func:`nms_xyxy` (the same
  rules as the in-graph tail and ONNX ``NonMaxSuppression``) and :func:`gather_embeddings`.

Then, for both: boxes are mapped back to the frame with the frame's
:class:`~mottrack_sdk.preprocessing.ResizeTransform` (clipped to the frame; boxes that end up with no
width or height, i.e. predicted inside the letterbox padding, are dropped) and embeddings are
L2-normalised (rows that are all zero or not finite are dropped with their box).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import numpy as np

from mottrack_sdk.model_metadata import ModelMetadata
from mottrack_sdk.types import Detections

if TYPE_CHECKING:  # the preprocessing module imports OpenCV
    from mottrack_sdk.preprocessing import ResizeTransform

__all__ = ["DetectionDecoder", "PostprocessOptions", "gather_embeddings", "l2_normalize", "nms_xyxy"]


@dataclass(frozen=True)
class PostprocessOptions:
    """Host-side NMS settings, used for ``raw_heads`` models (``nms`` models carry theirs in the graph).

    Attributes:
        score_threshold: candidates need score > this (ONNX NMS semantics).
        iou_threshold: a box is suppressed when its IoU with a kept, higher-scoring box exceeds this.
        top_k: at most this many highest-scoring candidates enter NMS.
        max_det: at most this many detections per frame.
    """

    score_threshold: float = 0.1  # = TrackerOptions.low_score_thresh: the low-score rescue gets its input
    iou_threshold: float = 0.6
    top_k: int = 1000
    max_det: int = 300

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {self.score_threshold}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.top_k < 1 or not 1 <= self.max_det <= self.top_k:
            raise ValueError(f"need top_k >= 1 and 1 <= max_det <= top_k, got top_k {self.top_k}, "
                             f"max_det {self.max_det}")


def nms_xyxy(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, score_threshold: float,
             max_output: int, top_k: int | None = None) -> np.ndarray:
    """Greedy NMS, ONNX ``NonMaxSuppression`` rules: indices (int64) of kept boxes, highest score first.

    Args:
        boxes: (N, 4) corners (any diagonal pair; here xyxy).
        scores: (N,) scores; only those > ``score_threshold`` are candidates.
        iou_threshold: drop a box whose IoU with a kept box exceeds this (zero-area boxes suppress nothing).
        max_output: keep at most this many.
        top_k: consider only the ``top_k`` highest-scoring candidates (the tail's TopK).

    Ties in score are broken by the lower index, as ONNX Runtime does.
    """
    candidates = np.flatnonzero(scores > score_threshold)
    if candidates.size == 0 or max_output <= 0:
        return np.zeros(0, np.int64)
    if top_k is not None and candidates.size > top_k:
        candidates = np.sort(candidates[np.argpartition(-scores[candidates], top_k - 1)[:top_k]])
    order = candidates[np.lexsort((candidates, -scores[candidates]))]
    b = boxes[order].astype(np.float32, copy=False)
    x1, x2 = np.minimum(b[:, 0], b[:, 2]), np.maximum(b[:, 0], b[:, 2])
    y1, y2 = np.minimum(b[:, 1], b[:, 3]), np.maximum(b[:, 1], b[:, 3])
    area = (x2 - x1) * (y2 - y1)
    n = order.size
    suppressed = np.zeros(n, bool)
    keep: list[int] = []
    thr = np.float32(iou_threshold)
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) >= max_output:
            break
        if area[i] <= 0 or i + 1 == n:
            continue  # a zero-area box overlaps nothing
        inter = (np.clip(np.minimum(x2[i], x2[i + 1:]) - np.maximum(x1[i], x1[i + 1:]), 0, None)
                 * np.clip(np.minimum(y2[i], y2[i + 1:]) - np.maximum(y1[i], y1[i + 1:]), 0, None))
        union = area[i] + area[i + 1:] - inter
        suppressed[i + 1:] |= (area[i + 1:] > 0) & (union > 0) & (inter > thr * union)
    return order[np.asarray(keep, np.int64)]


def gather_embeddings(embedding_map: np.ndarray, boxes_net_xyxy: np.ndarray, stride: int) -> np.ndarray:
    """The embedding at each box centre's cell: map (E, h, w), boxes (M, 4) network px -> (M, E) float32.

    The cell is ``floor(centre / stride)`` clamped to the map, as the in-graph tail does. Not normalised.
    """
    _, height, width = embedding_map.shape
    cx = (boxes_net_xyxy[:, 0] + boxes_net_xyxy[:, 2]) * 0.5
    cy = (boxes_net_xyxy[:, 1] + boxes_net_xyxy[:, 3]) * 0.5
    gx = np.clip(np.floor(cx / stride), 0, width - 1).astype(np.intp)
    gy = np.clip(np.floor(cy / stride), 0, height - 1).astype(np.intp)
    return np.ascontiguousarray(embedding_map[:, gy, gx].T, dtype=np.float32)


def l2_normalize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit length (float32) and a mask of the rows that could be (finite, non-zero)."""
    vectors = vectors.astype(np.float32, copy=False)
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    ok = np.isfinite(norms) & (norms > 0)
    return vectors / np.where(ok, norms, 1.0)[:, None], ok


class DetectionDecoder:
    """Turns one frame's model outputs into :class:`Detections` in frame pixels.

    Args:
        metadata: the model's metadata (layout, output names, embedding stride, classes).
        options: host NMS settings (``raw_heads`` only).
    """

    def __init__(self, metadata: ModelMetadata, options: PostprocessOptions | None = None) -> None:
        self.metadata = metadata
        self.options = options or PostprocessOptions()
        self.layout = metadata.output_layout
        if self.layout == "nms":
            self._names = dict(zip(("boxes", "scores", "embeddings", "count"), metadata.outputs))
        else:
            self._names = dict(zip(("predictions", "embedding_map"), metadata.outputs))

    def __call__(self, outputs: Mapping[str, np.ndarray], transform: ResizeTransform) -> Detections:
        """Outputs of one frame (batch 1) -> detections in the frame that ``transform`` describes."""
        if self.layout == "nms":
            boxes, scores, embeddings, classes = self._from_nms(outputs)
        else:
            boxes, scores, embeddings, classes = self._from_raw_heads(outputs)
        frame_boxes = transform.network_to_frame_xyxy(boxes, clip=True)
        embeddings, emb_ok = l2_normalize(embeddings)
        keep = emb_ok & (frame_boxes[:, 2] > frame_boxes[:, 0]) & (frame_boxes[:, 3] > frame_boxes[:, 1])
        if not keep.all():
            frame_boxes, scores, embeddings = frame_boxes[keep], scores[keep], embeddings[keep]
            classes = None if classes is None else classes[keep]
        return Detections(frame_boxes.astype(np.float32), scores.astype(np.float32, copy=False), embeddings, classes)

    def _from_nms(self, outputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
        names = self._names
        count = int(np.asarray(outputs[names["count"]]).reshape(-1)[0])
        boxes = np.asarray(outputs[names["boxes"]]).reshape(-1, 4)
        count = max(0, min(count, len(boxes)))
        scores = np.asarray(outputs[names["scores"]]).reshape(-1)[:count].astype(np.float32)
        embeddings = np.asarray(outputs[names["embeddings"]])
        embeddings = embeddings.reshape(embeddings.shape[-2], embeddings.shape[-1])[:count]
        return boxes[:count].astype(np.float64), scores, embeddings, None

    def _from_raw_heads(self, outputs: Mapping[str, np.ndarray]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        opt = self.options
        predictions = np.asarray(outputs[self._names["predictions"]])[0]
        embedding_map = np.asarray(outputs[self._names["embedding_map"]])[0]
        nc = predictions.shape[1] - 4
        scores_all = predictions[:, 4] if nc == 1 else predictions[:, 4:].max(axis=1)
        keep = nms_xyxy(predictions[:, :4], scores_all, opt.iou_threshold, opt.score_threshold, opt.max_det,
                        opt.top_k)
        boxes = predictions[keep, :4].astype(np.float64)
        embeddings = gather_embeddings(embedding_map, boxes, self.metadata.embedding_stride)
        classes = None if nc == 1 else predictions[keep, 4:].argmax(axis=1).astype(np.int64)
        return boxes, scores_all[keep].astype(np.float32), embeddings, classes
