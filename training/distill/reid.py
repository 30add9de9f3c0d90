"""Appearance embeddings from a re-ID teacher, for linking pseudo-label tracklets (``--reid``).

Intel person-reidentification-retail-0277 (OpenVINO IR): a person crop resized to 128x256 (W x H),
BGR 0..255 NCHW -> a 256-d embedding (compare by cosine). The tracker L2-normalises them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_REID", "ReidEmbedder"]

DEFAULT_REID = Path("person-reidentification-retail-0277") / "person-reidentification-retail-0277.xml"


class ReidEmbedder:
    """``embed(frame_bgr, xyxy (N, 4) frame px) -> (N, D) float32``; the model opens on first use."""

    CROP_SIZE = (128, 256)  # (width, height)

    def __init__(self, path: str | Path, threads: int = 2) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"--reid: re-ID model {self.path} not found (--reid-model)")
        self.threads = int(threads)
        self._request = None

    def _load(self) -> None:
        from mottrack_training.distill.teachers import openvino_infer_request

        self._request = openvino_infer_request(self.path, self.CROP_SIZE, self.threads)

    def embed(self, frame_bgr: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """One embedding per box (crops are clipped to the frame, at least 1 px)."""
        import cv2

        if self._request is None:
            self._load()
        frame_h, frame_w = frame_bgr.shape[:2]
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        out = []
        for x1, y1, x2, y2 in boxes.tolist():
            left, top = min(max(int(x1), 0), frame_w - 1), min(max(int(y1), 0), frame_h - 1)
            right, bottom = max(min(int(np.ceil(x2)), frame_w), left + 1), max(min(int(np.ceil(y2)), frame_h), top + 1)
            crop = cv2.resize(frame_bgr[top:bottom, left:right], self.CROP_SIZE, interpolation=cv2.INTER_LINEAR)
            self._request.infer({0: crop.transpose(2, 0, 1)[None].astype(np.float32)})
            out.append(np.asarray(self._request.get_output_tensor(0).data, np.float32).reshape(-1).copy())
        return np.stack(out) if out else np.zeros((0, 256), np.float32)
