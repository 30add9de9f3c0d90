"""Training augmentation of the spec (numpy + OpenCV, seeded): HSV jitter and horizontal flip.

Applied to the already resized ``uint8`` BGR network image (cheaper than at frame resolution, and
the flip is then exact in normalised network coordinates, letterbox padding included).
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["augment_hsv", "flip_horizontal"]


def augment_hsv(image_bgr: np.ndarray, gains: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """Scale hue, saturation and value by random factors in ``1 +- gains`` (YOLOv5's LUT method).

    Args:
        image_bgr: (H, W, 3) uint8 BGR image; modified in place and returned.
        gains: (hue, saturation, value) maximum relative change, e.g. the spec's (0.015, 0.5, 0.4).
        rng: the sample's generator (three uniform draws are consumed even when gains are zero, so
            the flip decision that follows does not depend on the gains).
    """
    factors = rng.uniform(-1.0, 1.0, 3) * np.asarray(gains, np.float64) + 1.0
    if not any(gains):
        return image_bgr
    hue, sat, val = cv2.split(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float64)
    lut_hue = ((x * factors[0]) % 180).astype(np.uint8)  # OpenCV hue is 0..179
    lut_sat = np.clip(x * factors[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * factors[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR, dst=image_bgr)
    return image_bgr


def flip_horizontal(image: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror an (H, W, C) image and its targets ``(K, 6)`` = (class, id, cx, cy, w, h) normalised.

    Returns new arrays: the flipped image (contiguous) and targets with ``cx -> 1 - cx``.
    """
    flipped = np.ascontiguousarray(image[:, ::-1])
    out = targets.copy()
    out[:, 2] = 1.0 - out[:, 2]
    return flipped, out
