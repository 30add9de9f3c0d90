"""Image preprocessing shared by training, export calibration and the runtime (numpy + OpenCV only).

Every stage that feeds the network goes through this module, so a box predicted at inference maps
back to the frame exactly as training mapped ground truth into the network input.

Conventions
-----------
- Input images are OpenCV BGR ``uint8`` arrays of shape ``(H, W, 3)``.
- Sizes are ``(width, height)`` in pixels, as OpenCV writes them (the spec's "1088x608" is
  ``(1088, 608)``).
- Boxes are ``xyxy`` float arrays ``(N, 4)`` in continuous pixel coordinates: the left edge of
  pixel column 0 is ``x = 0`` and the right edge of the last column is ``x = W``. ``cv2.resize``
  follows this convention, so a box scales by exactly ``new_size / old_size``.
- Two resize modes, always chosen explicitly (:data:`ResizeMode`):

  ``"stretch"``   resize to the network size, aspect ratio not kept (the reference's training).
  ``"letterbox"`` keep the aspect ratio, scale to fit, centre, pad the rest with ``pad_value``
                  (the reference's inference, pad 127.5).

- Padding is written in the image's dtype. For ``uint8`` images the pad value is rounded half to
  even, as OpenCV does: 127.5 becomes 128, which is what the reference implementation fed its network
  (its letterbox calls ``cv2.copyMakeBorder`` on a ``uint8`` image). :func:`to_network_input` is
  exactly ``normalize_chw(letterbox(image)[0])``, so every caller sees the same pad value.
- Interpolation ``"auto"``: ``cv2.INTER_AREA`` when the image shrinks on both axes (the reference's
  choice, anti-aliased), ``cv2.INTER_LINEAR`` otherwise (INTER_AREA degrades to nearest-neighbour when
  enlarging). Shrinking by 2x or more is done in steps: exact 2x2 block averages (OpenCV's fast
  exact-2x INTER_AREA path) while the image still shrinks by 2x or more and has even sides, then
  INTER_LINEAR for the remaining factor (< 2). Anti-aliasing close to one-step INTER_AREA (about one
  grey level of mean difference on MOT17 frames) at a fraction of its cost: 1920x1080 -> 626x352 takes
  ~1.3 ms against ~2.9 ms with the 3x3 block average used before (OpenCV's integer path is only fast
  for 2x; one-step INTER_AREA took ~9 ms to 576x324), with the same MOT17-mini AP50 (53.4 vs 53.3). The
  preprocessing is most of the runtime's time outside the network. Frames that shrink by less than 2x
  (the 960x540 synthetic training frames into 640x352, TUD-Campus's 640x480) are unaffected.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, Sequence, Union

import cv2
import numpy as np

from mottrack_sdk.config import parse_size

ResizeMode = Literal["letterbox", "stretch"]
RESIZE_MODES: tuple[str, ...] = ("letterbox", "stretch")
Interpolation = Union[Literal["auto"], int]
DEFAULT_PAD_VALUE = 127.5

__all__ = [
    "DEFAULT_PAD_VALUE",
    "NetworkInput",
    "RESIZE_MODES",
    "ResizeMode",
    "ResizeTransform",
    "halve_area",
    "letterbox",
    "network_input",
    "normalize_chw",
    "pad_in_dtype",
    "resize_image",
    "stretch",
    "to_network_input",
]


@dataclass(frozen=True)
class ResizeTransform:
    """How a frame was mapped into the network input: ``net = frame * scale + pad``.

    Attributes:
        mode: ``"letterbox"`` or ``"stretch"``.
        frame_size: ``(width, height)`` of the original frame, pixels.
        network_size: ``(width, height)`` of the network input, pixels.
        scale_xy: ``(sx, sy)``: network pixels per frame pixel. Equal up to rounding for letterbox
            (``sx = new_w / frame_w`` with the rounded ``new_w`` actually written, so the mapping is
            exact), different for stretch.
        pad_xy: ``(left, top)`` padding in network pixels (integers; ``(0, 0)`` for stretch).
    """

    mode: ResizeMode
    frame_size: tuple[int, int]
    network_size: tuple[int, int]
    scale_xy: tuple[float, float]
    pad_xy: tuple[int, int]

    @property
    def content_xyxy(self) -> np.ndarray:
        """The part of the network input covered by the frame, ``xyxy`` (4,) float64, network px."""
        sx, sy = self.scale_xy
        px, py = self.pad_xy
        fw, fh = self.frame_size
        return np.array([px, py, px + fw * sx, py + fh * sy], dtype=np.float64)

    def frame_to_network_xyxy(self, xyxy: np.ndarray) -> np.ndarray:
        """Map boxes ``(N, 4)`` ``xyxy`` from frame pixels to network-input pixels (float64)."""
        boxes = _check_boxes(xyxy)
        scale = np.array(self.scale_xy * 2, dtype=np.float64)
        pad = np.array(self.pad_xy * 2, dtype=np.float64)
        return boxes * scale + pad

    def network_to_frame_xyxy(self, xyxy: np.ndarray, clip: bool = False) -> np.ndarray:
        """Map boxes ``(N, 4)`` ``xyxy`` from network-input pixels back to frame pixels (float64).

        ``clip=True`` clips the result to the frame ``[0, W] x [0, H]`` (boxes predicted in the
        letterbox padding end up on the frame border).
        """
        boxes = _check_boxes(xyxy)
        scale = np.array(self.scale_xy * 2, dtype=np.float64)
        pad = np.array(self.pad_xy * 2, dtype=np.float64)
        out = (boxes - pad) / scale
        if clip:
            fw, fh = self.frame_size
            np.clip(out, 0.0, np.array([fw, fh, fw, fh], dtype=np.float64), out=out)
        return out


def resize_image(
    image: np.ndarray,
    size: tuple[int, int],
    mode: ResizeMode,
    pad_value: float = DEFAULT_PAD_VALUE,
    interpolation: Interpolation = "auto",
) -> tuple[np.ndarray, ResizeTransform]:
    """Resize ``image`` (H, W, C) to ``size = (width, height)`` with an explicit ``mode``.

    Returns the resized image (same dtype and channel count, shape ``(height, width, C)``) and the
    :class:`ResizeTransform` that maps boxes between frame and network coordinates.

    Raises:
        ValueError: unknown ``mode``, a non-positive ``size`` or an empty / non-image array.
    """
    out, transform, _halved = _resize_image(image, size, mode, pad_value, interpolation)
    return out, transform


def _resize_image(image: np.ndarray, size: tuple[int, int], mode: ResizeMode, pad_value: float,
                  interpolation: Interpolation) -> tuple[np.ndarray, ResizeTransform, np.ndarray | None]:
    """:func:`resize_image`, plus the first exact 2x halving it made of ``image`` (None if none)."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"mode must be one of {RESIZE_MODES}, got {mode!r}")
    net_w, net_h = parse_size(size, "size")
    frame_h, frame_w = _check_image(image)
    pad = pad_in_dtype(pad_value, image.dtype)
    if mode == "stretch":
        new_w, new_h, pad_x, pad_y = net_w, net_h, 0, 0
    else:
        ratio = min(net_w / frame_w, net_h / frame_h)
        new_w = min(net_w, max(1, int(round(frame_w * ratio))))
        new_h = min(net_h, max(1, int(round(frame_h * ratio))))
        pad_x, pad_y = (net_w - new_w) // 2, (net_h - new_h) // 2
    halved = None
    if (new_w, new_h) == (frame_w, frame_h):
        resized = image
    else:
        resized, halved = _resize(image, new_w, new_h, interpolation)
    if resized.ndim == 2 and image.ndim == 3:  # cv2 drops a singleton channel axis
        resized = resized[:, :, None]
    if (pad_x, pad_y) != (0, 0) or (new_w, new_h) != (net_w, net_h):
        out = np.full((net_h, net_w) + image.shape[2:], pad, dtype=image.dtype)
        out[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized
    else:
        out = np.array(resized, copy=resized is image)
    transform = ResizeTransform(mode=mode, frame_size=(frame_w, frame_h), network_size=(net_w, net_h),
                                scale_xy=(new_w / frame_w, new_h / frame_h), pad_xy=(pad_x, pad_y))
    return out, transform, halved


def letterbox(
    image: np.ndarray,
    size: tuple[int, int],
    pad_value: float = DEFAULT_PAD_VALUE,
    interpolation: Interpolation = "auto",
) -> tuple[np.ndarray, ResizeTransform]:
    """Aspect-preserving resize into ``size = (width, height)``, centred, padded with ``pad_value``.

    Odd padding puts the extra pixel on the right / bottom. See :func:`resize_image`.
    """
    return resize_image(image, size, "letterbox", pad_value, interpolation)


def stretch(
    image: np.ndarray, size: tuple[int, int], interpolation: Interpolation = "auto",
) -> tuple[np.ndarray, ResizeTransform]:
    """Resize to exactly ``size = (width, height)`` ignoring the aspect ratio. See :func:`resize_image`."""
    return resize_image(image, size, "stretch", interpolation=interpolation)


def normalize_chw(image_bgr: np.ndarray) -> np.ndarray:
    """BGR ``uint8`` (H, W, 3) -> RGB float32 (3, H, W) in ``[0, 1]`` (pixels / 255, no mean/std)."""
    _check_image(image_bgr)
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3) BGR, got {image_bgr.dtype} {image_bgr.shape}")
    chw = np.ascontiguousarray(image_bgr[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)
    chw /= np.float32(255.0)
    return chw


def to_network_input(
    images: np.ndarray | Sequence[np.ndarray],
    size: tuple[int, int],
    mode: ResizeMode,
    pad_value: float = DEFAULT_PAD_VALUE,
    interpolation: Interpolation = "auto",
) -> tuple[np.ndarray, list[ResizeTransform]]:
    """Frames -> network input batch ``(N, 3, height, width)`` float32 RGB in ``[0, 1]``.

    Args:
        images: one BGR ``uint8`` image ``(H, W, 3)`` or a sequence of them (sizes may differ).
        size: network input ``(width, height)``, e.g. ``(1088, 608)``.
        mode: ``"letterbox"`` (inference) or ``"stretch"`` (the reference's training).
        pad_value: letterbox padding in 0..255 pixel units (rounded to ``uint8``, see module doc).
        interpolation: ``"auto"`` or an OpenCV ``INTER_*`` flag.

    Returns:
        ``(batch, transforms)``: one :class:`ResizeTransform` per image, to map predicted boxes
        back with :meth:`ResizeTransform.network_to_frame_xyxy`.
    """
    single = isinstance(images, np.ndarray) and images.ndim == 3
    frames = [images] if single else list(images)
    if not frames:
        raise ValueError("images must hold at least one image, got an empty sequence")
    net_w, net_h = parse_size(size, "size")
    batch = np.empty((len(frames), 3, net_h, net_w), dtype=np.float32)
    transforms: list[ResizeTransform] = []
    for i, frame in enumerate(frames):
        resized, transform = resize_image(frame, size, mode, pad_value, interpolation)
        batch[i] = normalize_chw(resized)
        transforms.append(transform)
    return batch, transforms


class NetworkInput(NamedTuple):
    """One frame made ready for the network (:func:`network_input`)."""

    batch: np.ndarray               # (1, 3, height, width) float32 RGB in [0, 1], as to_network_input
    transform: ResizeTransform      # frame <-> network coordinates
    halved: np.ndarray | None       # halve_area(image) when the resize began with it, else None


def network_input(image: np.ndarray, size: tuple[int, int], mode: ResizeMode,
                  pad_value: float = DEFAULT_PAD_VALUE, interpolation: Interpolation = "auto") -> NetworkInput:
    """One BGR ``uint8`` frame -> :class:`NetworkInput`: the same batch and transform as
    ``to_network_input(image, ...)``, plus the frame's exact 2x halving when the resize began with one
    (a 1080p frame into 640x352 does), so that later stages of the same frame (camera-motion
    estimation) need not read the full frame again."""
    resized, transform, halved = _resize_image(image, size, mode, pad_value, interpolation)
    return NetworkInput(normalize_chw(resized)[None], transform, halved)


def halve_area(image: np.ndarray) -> np.ndarray:
    """Exact 2x area downscale, OpenCV's fast 2x INTER_AREA path (pixel p maps to (p + 0.5) / 2 − 0.5;
    for even sides each output pixel is the mean of a 2x2 block)."""
    return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def _resize(image: np.ndarray, new_w: int, new_h: int,
            interpolation: Interpolation) -> tuple[np.ndarray, np.ndarray | None]:
    """``cv2.resize`` to ``(new_w, new_h)``; ``"auto"`` shrinking by >= 2x goes through exact 2x2 block
    averages first while the image has even sides (see the module docstring). Also returns the first
    of those halvings (None if there was none)."""
    frame_h, frame_w = image.shape[:2]
    shrinking = new_w < frame_w and new_h < frame_h
    flag = _interpolation(interpolation, shrinking)
    first = None
    if interpolation == "auto" and shrinking:
        while image.shape[1] >= 2 * new_w and image.shape[0] >= 2 * new_h \
                and image.shape[1] % 2 == 0 and image.shape[0] % 2 == 0:
            image = halve_area(image)
            first = image if first is None else first
        if first is not None:
            if image.shape[:2] == (new_h, new_w):
                return image, first
            flag = cv2.INTER_LINEAR
    return cv2.resize(image, (new_w, new_h), interpolation=flag), first


def _interpolation(interpolation: Interpolation, shrinking: bool) -> int:
    if interpolation == "auto":
        return cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    if isinstance(interpolation, int) and not isinstance(interpolation, bool):
        return interpolation
    raise ValueError(f"interpolation must be 'auto' or a cv2.INTER_* flag, got {interpolation!r}")


def pad_in_dtype(pad_value: float, dtype: np.dtype) -> float | int:
    """``pad_value`` (0..255 pixel units) as written into an image of ``dtype``; ValueError out of range."""
    if not 0.0 <= float(pad_value) <= 255.0:
        raise ValueError(f"pad_value must be in [0, 255] pixel units, got {pad_value}")
    if np.issubdtype(dtype, np.integer):
        return int(np.rint(pad_value))  # half to even, as cv2.copyMakeBorder: 127.5 -> 128
    return float(pad_value)


def _check_image(image: np.ndarray) -> tuple[int, int]:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"image must be a non-empty (H, W[, C]) numpy array, got {shape}")
    return int(image.shape[0]), int(image.shape[1])


def _check_boxes(xyxy: np.ndarray) -> np.ndarray:
    boxes = np.asarray(xyxy, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be xyxy of shape (N, 4), got {boxes.shape}")
    return boxes
