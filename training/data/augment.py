"""Training augmentation (numpy + OpenCV, seeded): the spec's HSV jitter and horizontal flip, and what
is not in the spec, each off by default: a zoom-out (more small people; ``DataOptions.zoom_out_prob``),
Gaussian blur and pixel noise (``DataOptions.blur_prob`` / ``noise_prob``).

Applied to the already resized ``uint8`` BGR network image (cheaper than at frame resolution, and
the flip is then exact in normalised network coordinates, letterbox padding included).
"""
from __future__ import annotations

import cv2
import numpy as np

from mottrack_sdk.preprocessing import ResizeTransform, pad_in_dtype

__all__ = ["add_noise", "augment_hsv", "blur", "flip_horizontal", "zoom_out"]


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


def zoom_out(image: np.ndarray, transform: ResizeTransform, scale: float, position: tuple[float, float],
             pad_value: float) -> tuple[np.ndarray, ResizeTransform]:
    """Shrink the frame inside a resized network image by ``scale`` and move it to ``position``.

    The frame's content (``transform.content_xyxy``) is resized by ``scale`` (0 < scale <= 1) and placed
    at ``position`` = (fx, fy) in [0, 1]² of the free room (0: left / top, 1: right / bottom); the rest
    is ``pad_value``. Returns the new image and the exact transform from frame to the new image, so
    labels map through it as through any resize (people come out ``scale`` times smaller).
    """
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"zoom_out: scale must be in (0, 1], got {scale!r}")
    net_w, net_h = transform.network_size
    x0, y0, x1, y1 = (int(round(v)) for v in transform.content_xyxy)
    content_w, content_h = x1 - x0, y1 - y0
    new_w, new_h = max(1, int(round(content_w * scale))), max(1, int(round(content_h * scale)))
    left = int(round(float(position[0]) * (net_w - new_w)))
    top = int(round(float(position[1]) * (net_h - new_h)))
    out = np.full_like(image, pad_in_dtype(pad_value, image.dtype))
    small = cv2.resize(image[y0:y1, x0:x1], (new_w, new_h), interpolation=cv2.INTER_AREA)
    out[top:top + new_h, left:left + new_w] = small.reshape((new_h, new_w) + image.shape[2:])
    frame_w, frame_h = transform.frame_size
    return out, ResizeTransform(mode=transform.mode, frame_size=transform.frame_size, network_size=(net_w, net_h),
                                scale_xy=(new_w / frame_w, new_h / frame_h), pad_xy=(left, top))


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of standard deviation ``sigma`` pixels (kernel from the sigma); a new image."""
    return cv2.GaussianBlur(image, (0, 0), float(sigma))


def add_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` (uint8) plus zero-mean Gaussian noise of ``std`` grey levels from ``rng``, clipped to
    0..255 and rounded; a new image."""
    noisy = image.astype(np.float32) + rng.normal(0.0, float(std), image.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
