"""Procedural backgrounds: a textured ground plane in perspective, a backdrop and static structures.

One background is drawn per sequence (static camera). Four styles, picked by the seed:

- ``plaza``: light stone tiles, building facades with windows;
- ``street``: asphalt with lane / kerb lines converging to the vanishing point, facades;
- ``park``: grass with a paved path, tree crowns against the sky;
- ``hall``: indoor floor tiles, a wall with panels and doors.

All styles add low-frequency colour variation, fine grain, a few cast-shadow regions and ground
objects (lamp posts, benches, planters) drawn with the same perspective as the people.
"""
from __future__ import annotations

import cv2
import numpy as np

from mottrack_sdk.scenes.motion import GroundCamera

__all__ = ["BACKGROUND_STYLES", "render_background"]

BACKGROUND_STYLES = ("plaza", "street", "park", "hall")
_AA = cv2.LINE_AA

_GROUND = {"plaza": (165, 172, 180), "street": (88, 88, 92), "park": (70, 125, 80), "hall": (150, 160, 170)}
_FACADES = [(140, 160, 185), (110, 120, 150), (170, 170, 165), (90, 100, 120), (150, 140, 120), (120, 140, 160)]


def render_background(camera: GroundCamera, rng: np.random.Generator, style: str | None = None) -> np.ndarray:
    """Draw a background for ``camera``; returns BGR uint8 ``(height, width, 3)``.

    ``style`` is one of :data:`BACKGROUND_STYLES` or ``None`` to draw one from ``rng``.
    """
    if style is None:
        style = BACKGROUND_STYLES[int(rng.integers(len(BACKGROUND_STYLES)))]
    if style not in BACKGROUND_STYLES:
        raise ValueError(f"style must be one of {BACKGROUND_STYLES} or None, got {style!r}")
    h, w = camera.height, camera.width
    img = np.empty((h, w, 3), np.uint8)
    base_y = int(camera.horizon_y + 0.015 * h)  # where the backdrop meets the ground
    ground = _vary(_GROUND[style], rng, 14)
    img[base_y:] = ground
    _backdrop(img, base_y, style, rng)
    _ground_pattern(img, camera, style, ground, rng)
    _cast_shadows(img, base_y, rng)
    _ground_objects(img, camera, rng)
    return _texture(img, rng)


def _backdrop(img: np.ndarray, base_y: int, style: str, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    top, bottom = np.array(_vary((215, 185, 150), rng, 20)), np.array(_vary((235, 225, 210), rng, 15))
    t = np.linspace(0.0, 1.0, max(base_y, 1), dtype=np.float32)[:, None, None]
    img[:base_y] = (top * (1 - t) + bottom * t).astype(np.uint8)
    if style == "hall":
        wall = _vary((180, 195, 205), rng, 20)
        img[:base_y] = wall
        x = 0
        while x < w:
            pw = int(rng.uniform(0.08, 0.2) * w)
            shade = _vary(wall, rng, 18)
            cv2.rectangle(img, (x + 3, int(base_y * 0.15)), (x + pw - 3, base_y - 4), shade, -1)
            if rng.random() < 0.3:  # a door
                dw = int(pw * 0.5)
                cv2.rectangle(img, (x + pw // 4, int(base_y * 0.35)), (x + pw // 4 + dw, base_y), _vary((70, 80, 90), rng, 20), -1)
            x += pw
        cv2.line(img, (0, base_y - 2), (w, base_y - 2), (60, 60, 60), max(1, h // 300))
        return
    if style == "park":
        for _ in range(int(rng.integers(8, 16))):
            cx, r = int(rng.uniform(0, w)), int(rng.uniform(0.04, 0.12) * h)
            trunk = (int(cx - r * 0.08), base_y - r), (int(cx + r * 0.08), base_y)
            cv2.rectangle(img, trunk[0], trunk[1], (40, 60, 80), -1)
            cv2.circle(img, (cx, base_y - r - int(r * 0.6)), r, _vary((50, 100, 60), rng, 25), -1, _AA)
        return
    x = int(-rng.uniform(0, 0.1) * w)
    while x < w:
        bw = int(rng.uniform(0.08, 0.25) * w)
        top_y = int(base_y - rng.uniform(0.4, 1.3) * base_y)
        facade = _vary(_FACADES[int(rng.integers(len(_FACADES)))], rng, 15)
        cv2.rectangle(img, (x, top_y), (x + bw, base_y), facade, -1)
        win = max(3, int(rng.uniform(0.015, 0.03) * h))
        win_col = _vary((90, 80, 70) if rng.random() < 0.6 else (200, 220, 230), rng, 20)
        for wy in range(max(top_y, 0) + win, base_y - win, int(win * 2.2)):
            for wx in range(x + win, x + bw - win, int(win * 1.8)):
                cv2.rectangle(img, (wx, wy), (wx + win, wy + int(win * 1.3)), win_col, -1)
        x += bw + int(rng.uniform(0, 0.03) * w)


def _ground_pattern(img: np.ndarray, cam: GroundCamera, style: str, ground: tuple, rng: np.random.Generator) -> None:
    """Lines on the ground plane: tile grids (plaza, hall), lanes (street), a path (park)."""
    h = img.shape[0]
    z_lo, z_hi = cam.z_near * 0.6, cam.z_far * 3.0
    dark = tuple(int(c * 0.78) for c in ground)
    thick = max(1, int(round(h / 700)))
    if style == "park":
        path = _vary((150, 160, 170), rng, 15)
        x0, width = rng.uniform(-0.5, 0.5) * cam.half_width_m(cam.z_far), rng.uniform(2.5, 5.0)
        pts = [_ground_pt(cam, x0 - width / 2, z_lo), _ground_pt(cam, x0 + width / 2, z_lo),
               _ground_pt(cam, x0 + width / 2, z_hi), _ground_pt(cam, x0 - width / 2, z_hi)]
        cv2.fillConvexPoly(img, np.array(pts, np.int32), path, _AA)
        return
    step = {"plaza": rng.uniform(0.8, 1.5), "hall": rng.uniform(0.5, 0.9), "street": rng.uniform(2.5, 3.5)}[style]
    if style != "street":  # lines across the view at constant depth
        z = np.ceil(z_lo / step) * step
        while z < z_hi:
            v = int(round(cam.project_feet(np.zeros(1), np.array([z]))[1][0]))
            cv2.line(img, (0, v), (img.shape[1], v), dark, thick, _AA)
            z += step * (1 if style == "hall" else 1.0 + 0.02 * z)
    half = cam.half_width_m(z_hi)
    for x in np.arange(-np.ceil(half / step) * step, half, step):  # lines along the depth axis
        colour = (215, 215, 215) if style == "street" and rng.random() < 0.35 else dark
        cv2.line(img, _ground_pt(cam, x, z_lo), _ground_pt(cam, x, z_hi), colour, thick, _AA)


def _cast_shadows(img: np.ndarray, base_y: int, rng: np.random.Generator) -> None:
    """Darken one or two large quadrilaterals: shade cast by unseen buildings or trees."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(0, 3))):
        pts = np.array([(rng.uniform(-0.2, 1.2) * w, rng.uniform(base_y, h)) for _ in range(4)], np.float32)
        hull = cv2.convexHull(pts).astype(np.int32)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, hull, 1, _AA)
        factor = rng.uniform(0.72, 0.88)
        sel = mask.astype(bool)
        img[sel] = (img[sel] * factor).astype(np.uint8)


def _ground_objects(img: np.ndarray, cam: GroundCamera, rng: np.random.Generator) -> None:
    """Lamp posts, benches and planters standing on the ground, drawn far to near."""
    count = int(rng.integers(2, 7))
    z = np.sort(rng.uniform(cam.z_near * 1.2, cam.z_far * 0.9, count))[::-1]
    for zi in z:
        x = rng.uniform(-0.95, 0.95) * cam.half_width_m(zi)
        u, v = (float(a[0]) for a in cam.project_feet(np.array([x]), np.array([zi])))
        px_per_m = cam.focal_px / zi
        kind = int(rng.integers(3))
        if kind == 0:  # lamp post
            half = max(1.0, 0.06 * px_per_m)
            cv2.rectangle(img, (int(u - half), int(v - 4.0 * px_per_m)), (int(u + half), int(v)), (50, 55, 60), -1)
            cv2.circle(img, (int(u), int(v - 4.0 * px_per_m)), max(1, int(0.18 * px_per_m)), (200, 230, 240), -1, _AA)
        elif kind == 1:  # bench
            bw, bh = 0.8 * px_per_m, 0.45 * px_per_m
            cv2.rectangle(img, (int(u - bw), int(v - bh)), (int(u + bw), int(v - bh * 0.6)), _vary((40, 70, 110), rng, 15), -1)
            for sx in (-0.85, 0.85):
                cv2.line(img, (int(u + sx * bw), int(v - bh * 0.6)), (int(u + sx * bw), int(v)), (40, 40, 40), max(1, int(0.05 * px_per_m)))
        else:  # planter with a shrub
            pw, phh = 0.5 * px_per_m, 0.5 * px_per_m
            cv2.rectangle(img, (int(u - pw), int(v - phh)), (int(u + pw), int(v)), _vary((120, 130, 140), rng, 20), -1)
            cv2.ellipse(img, (int(u), int(v - phh)), (max(1, int(pw * 1.1)), max(1, int(phh * 0.8))), 0, 180, 360,
                        _vary((50, 110, 60), rng, 20), -1, _AA)


def _texture(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency brightness variation (~6 %) with a faint tint (~1 %) and fine grain (~4 levels)."""
    h, w = img.shape[:2]
    coarse = rng.normal(0.0, 1.0, (h // 48 + 2, w // 48 + 2, 4)).astype(np.float32)
    coarse = coarse[:, :, :1] * 0.06 + coarse[:, :, 1:] * 0.01  # luminance + a little chroma
    low = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) + 1.0
    fine = rng.normal(0.0, 4.0, (h // 2 + 1, w // 2 + 1)).astype(np.float32)
    grain = cv2.resize(fine, (w, h), interpolation=cv2.INTER_LINEAR)[:, :, None]
    out = img.astype(np.float32) * low + grain
    return np.clip(out, 0, 255).astype(np.uint8)


def _ground_pt(cam: GroundCamera, x: float, z: float) -> tuple[int, int]:
    u, v = cam.project_feet(np.array([x]), np.array([z]))
    return int(round(float(u[0]))), int(round(float(v[0])))


def _vary(colour: tuple, rng: np.random.Generator, amount: int) -> tuple[int, int, int]:
    c = np.clip(np.asarray(colour) + rng.integers(-amount, amount + 1, 3), 0, 255)
    return int(c[0]), int(c[1]), int(c[2])
