"""Detection AP at IoU 0.5 (PASCAL VOC style), on numpy.

Per image, detections are taken by descending score and greedily matched to the unmatched GT box
of highest IoU; IoU >= 0.5 is a true positive, otherwise a false positive, unless the detection
overlaps an *ignore* box (IoU >= 0.5; e.g. a distractor or a GT below a visibility threshold) in
which case it is not counted at all. Over all images, detections are sorted by score, precision
and recall are accumulated, and AP is the area under the precision-recall curve with precision
made monotonically decreasing (VOC 2010+ "all points" interpolation).

``DetectionAP(height_range=(lo, hi))`` scores one size of people, COCO's area-range rule with box
height: GT boxes outside the range become ignore boxes, and a detection outside it that matches
nothing is not counted either (so finding a person of another size is neither right nor wrong).
"""
from __future__ import annotations

import numpy as np

from mottrack_training.engine.inference import box_iou_matrix

__all__ = ["DetectionAP", "average_precision", "match_detections"]

IOU_THRESHOLD = 0.5


def match_detections(det_xyxy: np.ndarray, det_scores: np.ndarray, gt_xyxy: np.ndarray,
                     ignore_xyxy: np.ndarray | None = None, iou_threshold: float = IOU_THRESHOLD) -> np.ndarray:
    """Label one image's detections: (K,) int8, 1 = true positive, 0 = false positive, -1 = ignored."""
    det_xyxy = np.asarray(det_xyxy, np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(det_scores, np.float64), kind="stable")
    labels = np.zeros(len(det_xyxy), np.int8)
    iou = box_iou_matrix(det_xyxy, gt_xyxy)
    ignore_iou = box_iou_matrix(det_xyxy, ignore_xyxy) if ignore_xyxy is not None and len(ignore_xyxy) else None
    taken = np.zeros(iou.shape[1], dtype=bool)
    for i in order:
        candidates = np.where(taken, -1.0, iou[i])
        j = int(np.argmax(candidates)) if candidates.size else -1
        if j >= 0 and candidates[j] >= iou_threshold:
            labels[i], taken[j] = 1, True
        elif ignore_iou is not None and ignore_iou[i].max() >= iou_threshold:
            labels[i] = -1
    return labels


def average_precision(scores: np.ndarray, true_positive: np.ndarray, num_gt: int) -> float:
    """VOC area under the PR curve of scored detections (``true_positive`` bool) against ``num_gt`` GT.

    Returns 0.0 when there is no GT (nothing to find) or no detection.
    """
    if num_gt <= 0 or len(scores) == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    tp = np.asarray(true_positive, bool)[order]
    cum_tp = np.cumsum(tp)
    cum_fp = np.cumsum(~tp)
    recall = cum_tp / float(num_gt)
    precision = cum_tp / np.maximum(cum_tp + cum_fp, 1)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


class DetectionAP:
    """Accumulates images, then :meth:`ap50` gives AP at IoU 0.5 in [0, 1]. ``height_range``
    ``(lo, hi)``: only people of box height in ``[lo, hi)`` count (module docstring), heights measured
    after multiplying by each image's ``scale`` (e.g. the letterbox scale, for heights as the network
    sees them)."""

    def __init__(self, height_range: tuple[float, float] | None = None) -> None:
        if height_range is not None:
            lo, hi = (float(v) for v in height_range)
            if not (0.0 <= lo < hi):
                raise ValueError(f"height_range: expected 0 <= lo < hi, got {height_range!r}")
            height_range = (lo, hi)
        self.height_range = height_range
        self._scores: list[np.ndarray] = []
        self._tp: list[np.ndarray] = []
        self.num_gt = 0

    def add(self, det_xyxy: np.ndarray, det_scores: np.ndarray, gt_xyxy: np.ndarray,
            ignore_xyxy: np.ndarray | None = None, scale: float = 1.0) -> None:
        """One image: detections (K, 4) + (K,), GT (G, 4), optional ignore boxes (I, 4), all ``xyxy``;
        ``scale``: what box heights are multiplied by before ``height_range`` is applied."""
        det_xyxy = np.asarray(det_xyxy, np.float64).reshape(-1, 4)
        gt_xyxy = np.asarray(gt_xyxy, np.float64).reshape(-1, 4)
        det_outside = None
        if self.height_range is not None:
            gt_in, det_in = self._in_range(gt_xyxy, scale), self._in_range(det_xyxy, scale)
            extra = gt_xyxy[~gt_in]
            ignore_xyxy = extra if ignore_xyxy is None else np.concatenate(
                [np.asarray(ignore_xyxy, np.float64).reshape(-1, 4), extra])
            gt_xyxy, det_outside = gt_xyxy[gt_in], ~det_in
        labels = match_detections(det_xyxy, det_scores, gt_xyxy, ignore_xyxy)
        if det_outside is not None:
            labels[(labels == 0) & det_outside] = -1
        counted = labels >= 0
        self._scores.append(np.asarray(det_scores, np.float64).reshape(-1)[counted])
        self._tp.append(labels[counted] == 1)
        self.num_gt += len(gt_xyxy)

    def _in_range(self, xyxy: np.ndarray, scale: float) -> np.ndarray:
        lo, hi = self.height_range  # type: ignore[misc]
        height = (xyxy[:, 3] - xyxy[:, 1]) * float(scale)
        return (height >= lo) & (height < hi)

    def ap50(self) -> float:
        scores = np.concatenate(self._scores) if self._scores else np.zeros(0)
        tp = np.concatenate(self._tp) if self._tp else np.zeros(0, bool)
        return average_precision(scores, tp, self.num_gt)
