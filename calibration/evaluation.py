"""Running exported models on frames and scoring them: AP50, embedding cosine, tracking, latency.

Everything goes through ONNX Runtime CPU and the runtime's own preprocessing, so FP32, INT8 and FP16
files are compared exactly as a deployment would run them. Boxes are mapped back to frame pixels
with the letterbox/stretch transform.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.model_metadata import ModelMetadata

__all__ = ["FrameDetections", "OnnxDetector", "average_precision_50", "box_iou", "embedding_cosines",
           "greedy_nms", "measure_latency"]

IGNORED_CLASSES = (2, 7, 8, 12)  # MOTChallenge distractors: matching them is neither TP nor FP


@dataclass(frozen=True)
class FrameDetections:
    """Detections of one frame: xyxy (N, 4) float64 frame pixels, scores (N,), embeddings (N, E) unit rows."""

    xyxy: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of ``xyxy`` boxes: (N, 4), (M, 4) -> (N, M)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def greedy_nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, max_det: int) -> np.ndarray:
    """Host-side NMS, the runtime's (:func:`mottrack_sdk.postprocessing.nms_xyxy`): kept indices by
    descending score (IoU > threshold suppresses), no score floor."""
    from mottrack_sdk.postprocessing import nms_xyxy

    return nms_xyxy(np.asarray(xyxy, np.float64), np.asarray(scores), iou_threshold, -np.inf, max_det)


class OnnxDetector:
    """An exported model on ONNX Runtime CPU: ``detect(frame_bgr) -> FrameDetections`` in frame pixels.

    A thin view of the runtime's own :class:`~mottrack_sdk.detector.FrameDetector` over
    :class:`~mottrack_sdk.backends.OnnxRuntimeBackend`, so FP32 / INT8 / FP16 files are scored exactly
    as deployed: same preprocessing, same decoding (in-graph tail, or host NMS with
    ``score_threshold`` / ``iou_threshold`` / ``max_det`` for ``raw_heads``), INT8 adapted for this CPU
    (``cpu_int8``, see :mod:`mottrack_sdk.backends.qdq_cpu`). Threads spin between runs (back-to-back
    inference, as the latency is measured).
    """

    def __init__(self, path: str | Path, threads: int = 2, score_threshold: float = 0.1,
                 iou_threshold: float = 0.6, max_det: int = 300, cpu_int8: str = "auto") -> None:
        from mottrack_sdk.backends import OnnxRuntimeBackend, OnnxRuntimeOptions
        from mottrack_sdk.detector import FrameDetector
        from mottrack_sdk.postprocessing import PostprocessOptions

        self.path = Path(path)
        options = OnnxRuntimeOptions(providers=("CPUExecutionProvider",), intra_op_threads=threads,
                                     spinning="on", cpu_int8=cpu_int8)  # back-to-back runs: keep spinning
        postprocess = PostprocessOptions(score_threshold, iou_threshold, top_k=max(1000, max_det), max_det=max_det)
        self.detector = FrameDetector(OnnxRuntimeBackend(self.path, options), postprocess)
        self.metadata: ModelMetadata = self.detector.metadata
        self.cpu_int8_rewrite = self.detector.backend.cpu_int8_rewrite

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs by name for one preprocessed ``[1, 3, H, W]`` batch."""
        return self.detector.backend.infer({self.metadata.input_name: batch})

    def detect(self, frame_bgr: np.ndarray) -> FrameDetections:
        dets = self.detector.detect(frame_bgr)
        return FrameDetections(np.asarray(dets.xyxy, np.float64), np.asarray(dets.scores, np.float64),
                               np.asarray(dets.embeddings, np.float32))


def average_precision_50(detections: list[FrameDetections], gt_boxes: list[np.ndarray],
                         ignore_boxes: list[np.ndarray] | None = None) -> float:
    """Detection AP at IoU 0.5 (all-point interpolation) over frames; NaN without ground truth.

    ``gt_boxes[i]`` (G, 4) xyxy are the frame's pedestrians; a detection unmatched to them but
    overlapping an ``ignore_boxes[i]`` box (distractors, ignored rows) by IoU >= 0.5 is not counted.
    """
    scored, total = [], 0
    for i, dets in enumerate(detections):
        gts = np.asarray(gt_boxes[i], np.float64).reshape(-1, 4)
        ignore = np.asarray(ignore_boxes[i] if ignore_boxes else np.zeros((0, 4)), np.float64).reshape(-1, 4)
        total += len(gts)
        order = np.argsort(-dets.scores, kind="stable")
        iou = box_iou(dets.xyxy[order], gts)
        iou_ignore = box_iou(dets.xyxy[order], ignore)
        taken = np.zeros(len(gts), bool)
        for row, k in enumerate(order):
            candidates = np.where(~taken, iou[row], -1.0) if len(gts) else np.zeros(0)
            if len(candidates) and candidates.max() >= 0.5:
                taken[int(candidates.argmax())] = True
                scored.append((dets.scores[k], 1))
            elif len(ignore) and iou_ignore[row].max() >= 0.5:
                continue
            else:
                scored.append((dets.scores[k], 0))
    if total == 0:
        return float("nan")
    if not scored:
        return 0.0
    scored.sort(key=lambda t: -t[0])
    tp = np.cumsum([t for _, t in scored])
    fp = np.cumsum([1 - t for _, t in scored])
    recall, precision = tp / total, tp / np.maximum(tp + fp, 1e-12)
    recall = np.concatenate(([0.0], recall, [1.0]))
    precision = np.concatenate(([1.0], precision, [0.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


def embedding_cosines(reference: list[FrameDetections], other: list[FrameDetections],
                      min_iou: float = 0.5) -> np.ndarray:
    """Cosine similarity of the embeddings of boxes matched (greedy by IoU >= ``min_iou``) between runs."""
    values = []
    for ref, oth in zip(reference, other):
        if not len(ref.xyxy) or not len(oth.xyxy):
            continue
        iou = box_iou(ref.xyxy, oth.xyxy)
        while True:
            r, o = np.unravel_index(int(iou.argmax()), iou.shape)
            if iou[r, o] < min_iou:
                break
            values.append(float(np.dot(ref.embeddings[r], oth.embeddings[o])))
            iou[r, :], iou[:, o] = -1.0, -1.0
    return np.asarray(values, np.float64)


def measure_latency(path: str | Path, threads: int = 2, warmup: int = 3, runs: int = 10) -> dict[str, Any]:
    """ONNX Runtime CPU latency of one model on a random input: median / min / all runs in ms."""
    detector = OnnxDetector(path, threads=threads)
    width, height = detector.metadata.input_size
    batch = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    for _ in range(warmup):
        detector.run(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.run(batch)
        times.append((time.perf_counter() - start) * 1000.0)
    return {"median_ms": float(np.median(times)), "min_ms": float(np.min(times)),
            "runs_ms": [round(t, 3) for t in times],
            "threads": threads, "warmup": warmup}
