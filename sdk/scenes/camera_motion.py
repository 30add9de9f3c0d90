"""A moving camera for the synthetic scenes: pan, zoom and shake as per-frame similarity warps.

With any of ``camera_pan_px``, ``camera_zoom``, ``camera_shake_px`` non-zero, the generator draws the
scene (background and people) on a *canvas* larger than the frame by a margin on each side, and the
frame is the canvas seen through the moving camera::

    frame_k = cv2.warpAffine(canvas_k, pose_k, (W, H))      # bilinear; sensor noise is added after

``pose_k`` (2, 3) maps canvas pixel positions to frame pixel positions (OpenCV's convention: pixel
(0, 0)'s centre at (0, 0)). The margins are computed from the options so that the view never leaves
the canvas (no reflected or invented border pixels), and the people walk across the whole canvas:
they are simulated and drawn outside the view too, and come into it as the camera turns.
The true frame-to-frame camera motion, ``warp_k = pose_k ∘ pose_{k-1}⁻¹`` (previous frame's pixel ->
current frame's pixel, identity for the first frame), is :attr:`SceneFrame.camera_warp`.

The path (rates in frame pixels at 1080 rows, scaled by ``height / 1080``; ``dt = 1 / fps``):

- pan: the view centre moves at ``camera_pan_px`` px/s; its heading starts within 30° of horizontal
  and random-walks (0.35 rad/√s); it bounces off a range of ±25 % of the width and ±10 % of the height.
- zoom: ``1 + camera_zoom · sin(2π t / T + φ)``, T drawn in [6, 12] s per sequence.
- shake: every frame an independent offset of the view centre (Gaussian, ``camera_shake_px`` std per
  axis) and roll (Gaussian, ``0.5 · camera_shake_px / 1080`` rad std), both clipped at 3 std.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mottrack_sdk.scenes.options import SceneOptions

__all__ = ["CameraPath", "CanvasLayout", "box_through_camera", "visible_through_camera"]

PAN_RANGE = (0.25, 0.10)     # |view centre offset| limits, fractions of (width, height)
PAN_TURN_RAD_PER_SQRT_S = 0.35
PAN_START_MAX_DEG = 30.0
ZOOM_PERIOD_S = (6.0, 12.0)
ROLL_PER_SHAKE_PX = 0.5 / 1080.0  # roll std (rad) per px of shake std (at 1080 rows)
CLIP_STD = 3.0


@dataclass(frozen=True)
class CanvasLayout:
    """Where the frame sits on the canvas at rest, and the moving camera's limits (frame pixels).

    width, height: canvas size; margin_x, margin_y: canvas columns / rows left and right (above and
    below) of the frame at rest; pan_x, pan_y: largest pan offset; shake_std, roll_std: per-frame
    jitter (pixels, radians); density: people simulated on the canvas (about ``options.density``
    within the view at a time).
    """

    width: int
    height: int
    margin_x: int
    margin_y: int
    pan_x: float
    pan_y: float
    shake_std: float
    roll_std: float
    density: int

    @classmethod
    def for_options(cls, options: SceneOptions) -> "CanvasLayout | None":
        """The canvas for ``options``, or None when the camera does not move."""
        if not options.camera_moves:
            return None
        w, h = options.width, options.height
        pan = options.camera_pan_px > 0
        pan_x, pan_y = (PAN_RANGE[0] * w, PAN_RANGE[1] * h) if pan else (0.0, 0.0)
        shake = options.camera_shake_px * options.pixel_scale
        roll = options.camera_shake_px * ROLL_PER_SHAKE_PX
        zoom_min = 1.0 - options.camera_zoom
        c, s = math.cos(CLIP_STD * roll), math.sin(CLIP_STD * roll)
        # Half-extent of the frame's preimage around the view centre (worst roll and zoom-out),
        # plus the largest view-centre offset and 2 px for bilinear sampling and rounding.
        reach_x = (w / 2 * c + h / 2 * s) / zoom_min + pan_x + CLIP_STD * shake + 2.0
        reach_y = (h / 2 * c + w / 2 * s) / zoom_min + pan_y + CLIP_STD * shake + 2.0
        mx, my = math.ceil(reach_x - w / 2), math.ceil(reach_y - h / 2)
        canvas_w = w + 2 * mx
        density = min(500, round(options.density * canvas_w / w))
        return cls(canvas_w, h + 2 * my, mx, my, pan_x, pan_y, shake, roll, density)


class CameraPath:
    """The camera's poses, one :meth:`next` per frame in order (a new path restarts the sequence)."""

    def __init__(self, options: SceneOptions, layout: CanvasLayout, rng: np.random.Generator) -> None:
        self._options, self._layout, self._rng = options, layout, rng
        self._speed = options.camera_pan_px * options.pixel_scale
        side = rng.choice([0.0, math.pi])
        self._heading = float(side + np.deg2rad(rng.uniform(-PAN_START_MAX_DEG, PAN_START_MAX_DEG)))
        self._zoom_period = float(rng.uniform(*ZOOM_PERIOD_S))
        self._zoom_phase = float(rng.uniform(0.0, 2 * math.pi))
        self._offset = np.zeros(2)
        self._frame = 0
        self._previous: np.ndarray | None = None  # 3x3 pose of the previous frame

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        """This frame's pose (canvas -> frame) and camera warp (previous frame -> this frame), (2, 3) each."""
        opt, lay, rng = self._options, self._layout, self._rng
        dt = 1.0 / opt.fps
        if self._frame > 0 and self._speed > 0:
            self._heading += PAN_TURN_RAD_PER_SQRT_S * math.sqrt(dt) * float(rng.standard_normal())
            self._offset += self._speed * dt * np.array([math.cos(self._heading), math.sin(self._heading)])
            for axis, limit in enumerate((lay.pan_x, lay.pan_y)):
                if abs(self._offset[axis]) > limit:  # bounce: reflect the position and the heading
                    self._offset[axis] = math.copysign(2 * limit - abs(self._offset[axis]), self._offset[axis])
                    self._heading = (math.pi - self._heading) if axis == 0 else -self._heading
            self._offset = np.clip(self._offset, [-lay.pan_x, -lay.pan_y], [lay.pan_x, lay.pan_y])  # huge steps
        t = self._frame * dt
        zoom = 1.0 + opt.camera_zoom * math.sin(2 * math.pi * t / self._zoom_period + self._zoom_phase)
        shake, roll = np.zeros(2), 0.0
        if lay.shake_std > 0:
            shake = np.clip(rng.standard_normal(2), -CLIP_STD, CLIP_STD) * lay.shake_std
            roll = float(np.clip(rng.standard_normal(), -CLIP_STD, CLIP_STD)) * lay.roll_std
        centre = np.array([(lay.width - 1) / 2, (lay.height - 1) / 2]) + self._offset + shake
        frame_centre = np.array([(opt.width - 1) / 2, (opt.height - 1) / 2])
        a = zoom * np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
        pose = np.eye(3)
        pose[:2, :2], pose[:2, 2] = a, frame_centre - a @ centre  # p = a (q - centre) + frame_centre
        warp = np.eye(3) if self._previous is None else pose @ np.linalg.inv(self._previous)
        self._previous = pose
        self._frame += 1
        return pose[:2].copy(), warp[:2].copy()


def box_through_camera(pose: np.ndarray, extent: tuple[int, int, int, int],
                       frame_size: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """Canvas box (x0, y0, x1, y1: pixel edges) -> tlwh of its bounding box in the frame, clipped; None if empty.

    Pixel edges are centres + 0.5, so in edge coordinates the pose's offset becomes b + (I − A)·0.5.
    """
    a = pose[:, :2]
    b = pose[:, 2] + 0.5 * (1.0 - a.sum(axis=1))
    x0, y0, x1, y1 = extent
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64) @ a.T + b
    w, h = frame_size
    left, top = max(corners[:, 0].min(), 0.0), max(corners[:, 1].min(), 0.0)
    right, bottom = min(corners[:, 0].max(), float(w)), min(corners[:, 1].max(), float(h))
    if right <= left or bottom <= top:
        return None
    return left, top, right - left, bottom - top


def visible_through_camera(pose: np.ndarray, extent: tuple[int, int, int, int], labels: np.ndarray, label: int,
                           frame_size: tuple[int, int]) -> int:
    """Pixels of ``label`` in the canvas ``labels`` map, within ``extent``, whose centres land in the frame."""
    ch, cw = labels.shape
    x0, y0, x1, y1 = max(extent[0], 0), max(extent[1], 0), min(extent[2], cw), min(extent[3], ch)
    if x1 <= x0 or y1 <= y0:
        return 0
    rows, cols = np.nonzero(labels[y0:y1, x0:x1] == label)
    if rows.size == 0:
        return 0
    px = pose[0, 0] * (cols + x0) + pose[0, 1] * (rows + y0) + pose[0, 2]
    py = pose[1, 0] * (cols + x0) + pose[1, 1] * (rows + y0) + pose[1, 2]
    w, h = frame_size
    return int(np.count_nonzero((px >= -0.5) & (px < w - 0.5) & (py >= -0.5) & (py < h - 0.5)))
