"""Typed options of the training data pipeline (loaders, resizing, augmentation, bad-file policy)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from mottrack_sdk.config import MAX_SIDE
from mottrack_sdk.preprocessing import DEFAULT_PAD_VALUE, RESIZE_MODES, ResizeMode

__all__ = ["DataOptions", "check_number"]


@dataclass(frozen=True)
class DataOptions:
    """How frames and labels become training samples. Defaults follow the spec's reference training.

    Attributes:
        img_size: network input ``(width, height)`` in pixels (spec: 1088x608).
        resize_mode: ``"stretch"`` (the reference's training) or ``"letterbox"`` (the runtime's
            inference). Always explicit; resizing goes through :mod:`mottrack_sdk.preprocessing`.
        pad_value: letterbox padding in 0..255 pixel units (spec 127.5; 128 in the uint8 image).
        augment: apply HSV jitter and horizontal flips (switch off for validation).
        hsv_gains: maximum relative change of hue, saturation and value (spec 0.015, 0.5, 0.4); each
            sample draws one factor per channel uniformly in ``1 +- gain`` (YOLOv5's LUT method).
        flip_prob: probability of a horizontal flip (spec 0.5).
        seed: augmentation seed. A sample's randomness depends only on (seed, epoch, index), so it is
            the same whatever DataLoader worker draws it; call ``dataset.set_epoch(e)`` each epoch.
        zoom_out_prob: probability that a sample's frame is shrunk by a factor drawn uniformly in
            ``[zoom_out_min, 1]`` and placed at a random spot of the network input, the rest padded
            (:func:`~mottrack_training.data.augment.zoom_out`): more small people. 0 (the spec) is off.
        zoom_out_min: the smallest zoom-out factor, in (0, 1].
        mosaic_prob: probability that a sample is a mosaic instead: an n x n grid (n drawn uniformly in
            ``2..mosaic_max_grid``) of letterboxed frames, the sample's own first and the others drawn
            from the same source, each frame's boxes mapped into its cell (YOLO's mosaic: more, and
            smaller, people per image). Zoom-out does not apply to a mosaic. 0 (the spec) is off.
        mosaic_max_grid: the largest grid of a mosaic, 2 to 6 (6x6 in a 672x384 input: 112x64 cells,
            where a 370-px person of a 768x432 frame is 54 px high).
        blur_prob, blur_sigma: probability of a Gaussian blur of the network image, its sigma drawn
            uniformly in ``blur_sigma`` (low, high) pixels. 0 (the spec) is off.
        noise_prob, noise_std: probability of additive Gaussian pixel noise, its standard deviation
            drawn uniformly in ``noise_std`` (low, high) grey levels. 0 (the spec) is off. Blur and
            noise make up for the sensor and compression of cameras the training footage lacks.
        min_visibility: MOTChallenge rows whose visibility is below this are dropped (0 keeps all).
            Boxes that are almost fully hidden teach the ID head the occluder's appearance.
        min_box_px: boxes narrower or shorter than this in network pixels, after clipping to the
            frame, are dropped.
        skip_bad: ``False``: a missing or corrupt image / label file raises :class:`DataFileError`
            naming it. ``True``: skip it, count it in ``dataset.skipped`` and warn.
        ignore_regions: MOTChallenge rows that are not trained as pedestrians (conf 0: ignored
            regions, e.g. a pseudo-label of uncertain score; non-pedestrian classes; too hidden) become
            ignore regions (class -1): neither positives nor objectness negatives. ``False`` drops them.
    """

    img_size: tuple[int, int] = (1088, 608)
    resize_mode: ResizeMode = "stretch"
    pad_value: float = DEFAULT_PAD_VALUE
    augment: bool = True
    hsv_gains: tuple[float, float, float] = (0.015, 0.5, 0.4)
    flip_prob: float = 0.5
    zoom_out_prob: float = 0.0
    zoom_out_min: float = 0.5
    mosaic_prob: float = 0.0
    mosaic_max_grid: int = 2
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 1.2)
    noise_prob: float = 0.0
    noise_std: tuple[float, float] = (2.0, 8.0)
    seed: int = 0
    min_visibility: float = 0.1
    min_box_px: float = 2.0
    skip_bad: bool = False
    ignore_regions: bool = False

    def __post_init__(self) -> None:
        size = tuple(self.img_size)
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIDE
                                     for v in size):
            raise ValueError(f"DataOptions.img_size must be (width, height) ints in [1, {MAX_SIDE}], "
                             f"got {self.img_size!r}")
        object.__setattr__(self, "img_size", size)
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"DataOptions.resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}")
        gains = tuple(float(g) for g in self.hsv_gains)
        if len(gains) != 3 or not all(0.0 <= g < 1.0 for g in gains):
            raise ValueError(f"DataOptions.hsv_gains must be three numbers in [0, 1), got {self.hsv_gains!r}")
        object.__setattr__(self, "hsv_gains", gains)
        check_number("DataOptions.pad_value", self.pad_value, 0.0, 255.0)
        check_number("DataOptions.flip_prob", self.flip_prob, 0.0, 1.0)
        check_number("DataOptions.zoom_out_prob", self.zoom_out_prob, 0.0, 1.0)
        check_number("DataOptions.zoom_out_min", self.zoom_out_min, 0.0, 1.0, open_low=True)
        check_number("DataOptions.mosaic_prob", self.mosaic_prob, 0.0, 1.0)
        if type(self.mosaic_max_grid) is not int or self.mosaic_max_grid not in range(2, 7):
            raise ValueError(f"DataOptions.mosaic_max_grid must be an int from 2 to 6, got {self.mosaic_max_grid!r}")
        for prob, strength, low, high in (("blur_prob", "blur_sigma", 0.1, 10.0),
                                          ("noise_prob", "noise_std", 0.0, 64.0)):
            check_number(f"DataOptions.{prob}", getattr(self, prob), 0.0, 1.0)
            object.__setattr__(self, strength, _range(f"DataOptions.{strength}", getattr(self, strength), low, high))
        check_number("DataOptions.min_visibility", self.min_visibility, 0.0, 1.0)
        check_number("DataOptions.min_box_px", self.min_box_px, 0.0, 1e4)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"DataOptions.seed must be an int >= 0, got {self.seed!r}")


def _range(label: str, value: object, low: float, high: float) -> tuple[float, float]:
    """``value`` as a (lo, hi) pair with low <= lo <= hi <= high; ValueError naming ``label`` otherwise."""
    try:
        lo, hi = value  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be a pair (low, high), got {value!r}") from None
    check_number(f"{label}[0]", lo, low, high)
    check_number(f"{label}[1]", hi, low, high)
    if lo > hi:
        raise ValueError(f"{label} must be (low, high) with low <= high, got {value!r}")
    return float(lo), float(hi)


def check_number(label: str, value: float, low: float, high: float, open_low: bool = False,
                 open_high: bool = False) -> None:
    """``label`` (e.g. ``DataOptions.flip_prob``, ``optim.lr``) is a finite number in [low, high]
    (``open_*``: that end excluded); ValueError naming it and the range otherwise."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (low < value if open_low else low <= value) and (value < high if open_high else value <= high)
    if not ok:
        bounds = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high or high == math.inf else ']'}"
        raise ValueError(f"{label} must be a finite number in {bounds}, got {value!r}")
