"""Typed options of the synthetic MOT scene generator (every knob documented in ``README.md``)."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["SceneOptions", "require_int", "require_float", "with_flag_names"]


@dataclass(frozen=True)
class SceneOptions:
    """Everything that shapes one synthetic sequence. Same options (seed included) -> same bytes.

    Image and timing:
        width, height: frame size in pixels (default 1920x1080). Person sizes, textures and blur
            scale with ``height`` so that a smaller frame shows the same scene at lower resolution.
        fps: frame rate written to ``seqinfo.ini``; motion is simulated in seconds, so a higher
            ``fps`` means smaller steps between frames, not faster people.
        num_frames: sequence length (frames are numbered from 1, MOTChallenge style).
        seed: the sequence's random seed (any non-negative int). Appearance, motion, background and
            noise draw from independent streams derived from it.

    People:
        density: number of people in the scene at any time (walking in view, entering or leaving).
            About 85-100 % of them are visible in a given frame; the default 20 keeps >= 15 visible.
        palette_size: number of clothing groups. Every identity belongs to one group and shares its
            shirt / trousers colours with the rest of the group; per-identity details (height, build,
            skin, hair, hat, stripes, bag, sleeves) are what tell them apart. Small values (4-8) make
            identity hard, large values (>= 30) make colour nearly unique.
        min_height_px, max_height_px: person height range in pixels at 1080 rows, for the farthest
            and nearest walkable depth (default 30-300, the issue's range). Scaled by ``height/1080``.
        speed_mps: mean preferred walking speed, metres per second (each person draws +-30 %).
        pause_rate: pauses per person per minute (each 1-5 s long; 0 disables pauses).
        turn_rate: deliberate turns (30-150 degrees, taken over ~1 s) per person per minute.

    Camera and rendering:
        horizon: horizon height as a fraction of the frame height, or ``None`` to draw it per
            sequence in [0.18, 0.38]. People's feet never rise above it.
        motion_blur: exposure time as a fraction of the frame interval (0 = no blur, 1 = a blur
            streak as long as the per-frame displacement). Applied per person along its motion.
        defocus: Gaussian sigma in pixels (at 1080 rows) of a whole-frame lens blur; 0 disables.
        noise: standard deviation of additive Gaussian sensor noise in 0-255 intensity units.
        lighting: amplitude of the global illumination change over time: the frame gain follows a
            slow oscillation plus a random drift within ``1 +- lighting`` and a small colour tint
            (0 = constant light).
        jpeg_quality: JPEG quality (1-100) of written frames (ignored by the in-memory API).
        gt_min_visibility: ground-truth rows are written only for people whose visible fraction is at
            least this value (and at least one pixel is visible). 0 writes every visible person.

    Camera motion (all 0 by default: a static camera, and then the frames are exactly those of a
    generator without these knobs; see ``camera_motion.py``):
        camera_pan_px: pan speed in pixels per second at 1080 rows; the direction changes slowly at
            random and the view stays within +-25 % of the width and +-10 % of the height.
        camera_zoom: amplitude of a slow zoom oscillation (0.1 = +-10 %, periods 6-12 s).
        camera_shake_px: standard deviation in pixels at 1080 rows of an independent per-frame jitter
            of the view (plus a roll of ``0.5 * camera_shake_px / 1080`` rad std).
    """

    width: int = 1920
    height: int = 1080
    fps: int = 30
    num_frames: int = 150
    seed: int = 0
    density: int = 20
    palette_size: int = 6
    min_height_px: float = 30.0
    max_height_px: float = 300.0
    speed_mps: float = 1.3
    pause_rate: float = 1.5
    turn_rate: float = 3.0
    horizon: float | None = None
    motion_blur: float = 0.5
    defocus: float = 0.6
    noise: float = 3.0
    lighting: float = 0.15
    jpeg_quality: int = 90
    gt_min_visibility: float = 0.0
    camera_pan_px: float = 0.0
    camera_zoom: float = 0.0
    camera_shake_px: float = 0.0

    def __post_init__(self) -> None:
        require_int(self, "width", 32, 8192)
        require_int(self, "height", 32, 8192)
        require_int(self, "fps", 1, 240)
        require_int(self, "num_frames", 1, 10**6)
        require_int(self, "seed", 0, 2**63 - 1)
        require_int(self, "density", 0, 500)
        require_int(self, "palette_size", 1, 1000)
        require_int(self, "jpeg_quality", 1, 100)
        require_float(self, "min_height_px", 4.0, 2000.0)
        require_float(self, "max_height_px", 4.0, 2000.0)
        if self.max_height_px <= self.min_height_px:
            raise ValueError(f"SceneOptions.max_height_px must exceed min_height_px, got "
                             f"{self.min_height_px}..{self.max_height_px}")
        require_float(self, "speed_mps", 0.05, 10.0)
        require_float(self, "pause_rate", 0.0, 60.0)
        require_float(self, "turn_rate", 0.0, 120.0)
        require_float(self, "motion_blur", 0.0, 1.0)
        require_float(self, "defocus", 0.0, 10.0)
        require_float(self, "noise", 0.0, 64.0)
        require_float(self, "lighting", 0.0, 0.6)
        require_float(self, "gt_min_visibility", 0.0, 1.0)
        if self.horizon is not None:
            require_float(self, "horizon", 0.05, 0.6)
        require_float(self, "camera_pan_px", 0.0, 1000.0)
        require_float(self, "camera_zoom", 0.0, 0.3)
        require_float(self, "camera_shake_px", 0.0, 20.0)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.width, self.height

    @property
    def camera_moves(self) -> bool:
        """Whether any camera-motion knob is on (the scene is then rendered through a moving camera)."""
        return self.camera_pan_px > 0 or self.camera_zoom > 0 or self.camera_shake_px > 0

    @property
    def pixel_scale(self) -> float:
        """Pixels at this frame height per pixel at 1080 rows."""
        return self.height / 1080.0

    def with_changes(self, **changes: Any) -> "SceneOptions":
        """A copy with some fields replaced (validated again). Unknown names raise ``ValueError``."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown SceneOptions field(s) {unknown}; known: {sorted(known)}")
        return replace(self, **changes)


def require_int(options: Any, name: str, low: int, high: int) -> None:
    """``options.name`` is an int (not a bool) in [low, high]; else a ValueError naming ``Class.name``."""
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{type(options).__name__}.{name} must be an int in [{low}, {high}], got {value!r}")


def require_float(options: Any, name: str, low: float, high: float) -> None:
    """``options.name`` is a finite number in [low, high]; else a ValueError naming ``Class.name``."""
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"{type(options).__name__}.{name} must be a number in [{low}, {high}], got {value!r}")


def with_flag_names(exc: ValueError, flags: Mapping[str, str]) -> ValueError:
    """``exc`` from an options class with the field it names (``SceneOptions.density``) replaced by the
    command-line flag that set it (``flags``: field -> flag, e.g. ``{"density": "--objects"}``); other
    messages are returned unchanged. Used as ``raise with_flag_names(exc, FLAGS) from None``."""
    text = str(exc)
    match = re.match(r"(\w+Options)\.(\w+)", text)
    if match and match.group(2) in flags:
        text = flags[match.group(2)] + text[match.end():]
    return ValueError(text)
