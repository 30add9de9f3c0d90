"""Camera effects of the synthetic scenes: lighting change, motion blur, defocus and sensor noise.

Each effect is built once per sequence and kept off full-frame passes where it can: the static
background is defocused once and relit through a cached LUT, people are blurred patch by patch, and
sensor noise is a view into a pre-drawn field added with saturating cv2 arithmetic.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["Lighting", "SensorNoise", "blur_patch", "defocus"]

_GAIN_STEPS = 96.0  # lighting gains are quantised to 1/96 so the relit background can be cached


class Lighting:
    """Global illumination over time: gain ``1 + amplitude * g(t)`` with ``g`` in [-1, 1], plus a tint.

    ``g`` is a sum of three slow sinusoids (periods 4-40 s) with random phases: clouds passing,
    auto-exposure hunting. The per-channel tint drifts within +- ``amplitude / 4``.
    The static background is relit through a LUT only when the gains move by a step (1/96: one
    or two grey levels); people take the gains into their drawing colours, so relighting costs no full-frame pass.
    """

    def __init__(self, amplitude: float, rng: np.random.Generator) -> None:
        self.amplitude = float(amplitude)
        self._periods = rng.uniform(4.0, 40.0, 3)
        self._phases = rng.uniform(0.0, 2 * np.pi, 3)
        self._weights = rng.dirichlet(np.ones(3))
        self._tint_periods = rng.uniform(10.0, 60.0, 3)
        self._tint_phases = rng.uniform(0.0, 2 * np.pi, 3)
        self._levels = np.arange(256, dtype=np.float32)
        self._cache_key: tuple[int, int, int] | None = None
        self._cache: np.ndarray | None = None

    def gains(self, t: float) -> np.ndarray:
        """Per-channel (B, G, R) gains at time ``t`` seconds, shape (3,), in steps of 1/96 (~1 %)."""
        g = float(np.sum(self._weights * np.sin(2 * np.pi * t / self._periods + self._phases)))
        tint = 0.25 * np.sin(2 * np.pi * t / self._tint_periods + self._tint_phases)
        return np.round((1.0 + self.amplitude * g) * (1.0 + self.amplitude * tint) * _GAIN_STEPS) / _GAIN_STEPS

    def lit_copy(self, image: np.ndarray, t: float) -> np.ndarray:
        """A copy of the static ``image`` (H, W, 3) uint8 lit for time ``t`` (LUT cached per gain step)."""
        gains = self.gains(t)
        key = tuple(int(v) for v in np.rint(gains * _GAIN_STEPS))
        if self._cache is None or key != self._cache_key or self._cache.shape != image.shape:
            lut = np.clip(self._levels[:, None] * gains[None, :] + 0.5, 0, 255).astype(np.uint8)
            self._cache = cv2.LUT(image, lut.reshape(256, 1, 3))
            self._cache_key = key
        return self._cache.copy()


class SensorNoise:
    """Additive Gaussian noise, ``sigma`` in intensity levels, independent per channel.

    A field of ``(H + 64, W + 64, 3)`` noise is drawn once; each frame reads it at a random offset
    and adds it with saturating arithmetic (positive and negative parts as two uint8 images).
    """

    _PAD = 64

    def __init__(self, sigma: float, size: tuple[int, int], rng: np.random.Generator) -> None:
        self.sigma = float(sigma)
        self._rng = rng
        if self.sigma == 0:
            return
        w, h = size
        field = rng.standard_normal((h + self._PAD, w + self._PAD, 3), dtype=np.float32) * np.float32(self.sigma)
        self._pos = np.clip(np.rint(field), 0, 255).astype(np.uint8)
        self._neg = np.clip(np.rint(-field), 0, 255).astype(np.uint8)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Add noise to ``image`` (H, W, 3) uint8 in place and return it."""
        if self.sigma == 0:
            return image
        h, w = image.shape[:2]
        oy, ox = (int(v) for v in self._rng.integers(0, self._PAD, 2))
        cv2.add(image, self._pos[oy:oy + h, ox:ox + w], dst=image)
        cv2.subtract(image, self._neg[oy:oy + h, ox:ox + w], dst=image)
        return image


def defocus(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Whole-image Gaussian lens blur with ``sigma_px`` pixels (no-op below 0.3 px)."""
    if sigma_px < 0.3:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigma_px)


def blur_patch(bgra: np.ndarray, velocity_px: tuple[float, float], exposure: float,
               defocus_px: float) -> np.ndarray:
    """Motion blur over ``velocity_px`` (pixels per frame) times ``exposure``, plus lens defocus.

    ``bgra`` is a premultiplied BGRA patch: colour and alpha blur together, so edges become
    correctly translucent. The streak is separable (a horizontal box times a vertical box, each
    convolved with the defocus Gaussian): exact for horizontal or vertical motion, a thin rectangle
    for diagonal motion, and about ten times cheaper than a 2-D line kernel.
    Streaks shorter than 1.5 px fall back to defocus only.
    """
    lx, ly = abs(float(velocity_px[0])) * exposure, abs(float(velocity_px[1])) * exposure
    if max(lx, ly) < 1.5:
        return defocus(bgra, defocus_px)
    kx, ky = _streak_kernel(lx, defocus_px), _streak_kernel(ly, defocus_px)
    return cv2.sepFilter2D(bgra, -1, kx, ky, borderType=cv2.BORDER_CONSTANT)


def _streak_kernel(length: float, sigma: float) -> np.ndarray:
    """1-D kernel: a box ``length`` pixels long (fractional ends) convolved with a Gaussian ``sigma``."""
    half = length / 2.0
    radius = int(np.ceil(half + (2.0 * sigma if sigma >= 0.3 else 0.0)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    box = np.clip(half + 0.5 - np.abs(x), 0.0, 1.0) if length >= 1.0 else (x == 0).astype(np.float64)
    if sigma >= 0.3:
        gauss = np.exp(-0.5 * (x / sigma) ** 2)
        box = np.convolve(box, gauss / gauss.sum(), mode="same")
    return (box / box.sum()).astype(np.float32)
