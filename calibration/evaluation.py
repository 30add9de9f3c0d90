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

from mottrack_calibration.readers import PreprocessingSpec
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
    """Host-side NMS for raw-heads models: kept indices by descending score (IoU > threshold suppresses)."""
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(xyxy[order], xyxy[order])
    suppressed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        if len(keep) >= max_det:
            break
        suppressed |= iou[i] > iou_threshold
    return np.asarray(keep, np.int64)


class OnnxDetector:
    """An exported model in ONNX Runtime CPU: ``detect(frame_bgr) -> FrameDetections`` in frame pixels.

    ``nms`` layouts use the in-graph tail; ``raw_heads`` layouts get the same steps on the host
    (score threshold, NMS, embedding at the stride-8 cell of the box centre, L2 norm) with
    ``score_threshold`` / ``iou_threshold`` / ``max_det``.
    """

    def __init__(self, path: str | Path, threads: int = 2, score_threshold: float = 0.1,
                 iou_threshold: float = 0.6, max_det: int = 300, cpu_int8: str = "auto") -> None:
        import onnxruntime as ort

        from mottrack_sdk.backends.qdq_cpu import adapt_int8_for_cpu
        from mottrack_sdk.model_metadata import read_model_metadata

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.path = Path(path)
        # INT8 runs as the runtime runs it on this CPU (uint8 activations, 7-bit weights without VNNI)
        source, self.cpu_int8_rewrite = adapt_int8_for_cpu(path, cpu_int8)
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.metadata: ModelMetadata = read_model_metadata(self.session)
        self.spec = PreprocessingSpec.from_metadata(self.metadata)
        self.score_threshold, self.iou_threshold, self.max_det = score_threshold, iou_threshold, max_det

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs by name for one preprocessed ``[1, 3, H, W]`` batch."""
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(None, {self.metadata.input_name: batch})))

    def detect(self, frame_bgr: np.ndarray) -> FrameDetections:
        batch, transform = self.spec.apply(frame_bgr)
        out = self.run(batch)
        if self.metadata.output_layout == "nms":
            n = int(out["count"].reshape(-1)[0])
            xyxy, scores, emb = out["boxes"][:n], out["scores"][:n], out["embeddings"][:n]
        else:
            xyxy, scores, emb = self._host_tail(out["predictions"][0], out["embedding_map"][0])
        frame_xyxy = transform.network_to_frame_xyxy(np.asarray(xyxy, np.float64), clip=True)
        valid = (frame_xyxy[:, 2] - frame_xyxy[:, 0] > 0.5) & (frame_xyxy[:, 3] - frame_xyxy[:, 1] > 0.5)
        return FrameDetections(frame_xyxy[valid], np.asarray(scores, np.float64)[valid],
                               np.asarray(emb, np.float32)[valid])

    def _host_tail(self, predictions: np.ndarray, embedding_map: np.ndarray) -> tuple[np.ndarray, ...]:
        scores = predictions[:, 4:].max(axis=1)
        candidates = np.nonzero(scores > self.score_threshold)[0]
        keep = candidates[greedy_nms(predictions[candidates, :4], scores[candidates], self.iou_threshold,
                                     self.max_det)]
        xyxy = predictions[keep, :4]
        _, height, width = embedding_map.shape
        stride = self.metadata.embedding_stride
        gx = np.clip(np.floor((xyxy[:, 0] + xyxy[:, 2]) / 2 / stride), 0, width - 1).astype(np.int64)
        gy = np.clip(np.floor((xyxy[:, 1] + xyxy[:, 3]) / 2 / stride), 0, height - 1).astype(np.int64)
        emb = embedding_map[:, gy, gx].T
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return xyxy, scores[keep], emb


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
