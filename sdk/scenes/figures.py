"""Pedestrian figures: per-identity appearance and a cv2 drawing of one walking person.

Appearance is persistent per identity but deliberately not unique: identities are drawn from a small
palette of clothing groups (shared shirt / trousers colours); height, build, skin, hair, hat, sleeves,
shorts, stripes and bags vary per person, so telling two people of a group apart needs those details.

A figure is drawn into its own premultiplied BGRA patch (colour already multiplied by coverage,
alpha = coverage), anti-aliased, with a soft ground shadow of alpha < 128. The renderer composites
patches far to near; pixels with alpha >= 128 belong to the person (box and visibility).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

__all__ = ["Appearance", "ClothingPalette", "FigurePatch", "draw_figure"]

BGR = tuple[int, int, int]
BGRA = tuple[int, int, int, int]
Point = tuple[float, float]
Limb = tuple[Point, Point, Point]  # (hip, knee, foot) or (shoulder, elbow, hand), patch pixels
Shade = Callable[[BGR, float], BGRA]  # colour, brightness factor -> lit opaque drawing colour
_SHIFT = 3  # sub-pixel bits for cv2 drawing coordinates
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA

_SHIRTS: list[BGR] = [(90, 45, 25), (35, 35, 35), (222, 222, 218), (128, 128, 128), (45, 45, 180),
                      (45, 95, 45), (150, 185, 210), (210, 160, 110), (45, 75, 115), (55, 35, 115),
                      (60, 185, 220), (60, 115, 115), (175, 145, 225), (120, 55, 105), (35, 110, 225),
                      (125, 125, 35), (180, 110, 60), (95, 95, 160)]
_TROUSERS: list[BGR] = [(125, 85, 50), (28, 28, 28), (72, 72, 72), (120, 160, 180), (75, 40, 25),
                        (45, 65, 95), (160, 160, 160), (200, 200, 200), (90, 60, 40), (60, 80, 70)]
_SKIN: list[BGR] = [(175, 200, 235), (150, 180, 225), (120, 155, 205), (95, 125, 175), (65, 90, 135),
                    (45, 65, 100)]
_HAIR: list[BGR] = [(20, 20, 25), (30, 45, 70), (45, 75, 115), (90, 140, 190), (150, 150, 150),
                    (40, 40, 110)]
_SHOES: list[BGR] = [(20, 20, 20), (60, 60, 60), (230, 230, 230), (40, 60, 90), (90, 50, 30)]


@dataclass(frozen=True)
class Appearance:
    """What one identity looks like. Colours are BGR uint8 triples; ``build`` scales widths."""

    group: int
    shirt: BGR
    trousers: BGR
    shoes: BGR
    skin: BGR
    hair: BGR
    hair_style: str          # "short" | "long" | "bald"
    hat: BGR | None
    build: float             # 0.85 (slim) .. 1.2 (broad)
    long_sleeves: bool
    shorts: bool
    stripes: BGR | None      # horizontal stripes on the shirt
    stripe_count: int
    bag: str | None          # None | "backpack" | "shoulder"
    bag_colour: BGR
    bag_side: int            # -1 left, +1 right (shoulder bag)


class ClothingPalette:
    """``size`` clothing groups (shirt + trousers colours), drawn once per sequence from ``rng``."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        pairs = [(s, t) for s in range(len(_SHIRTS)) for t in range(len(_TROUSERS))]
        order = rng.permutation(len(pairs))
        chosen = [pairs[i] for i in order[:size]] if size <= len(pairs) else \
            [pairs[i] for i in rng.integers(0, len(pairs), size)]
        self.groups: list[tuple[BGR, BGR]] = [
            (_jitter(_SHIRTS[s], rng, 12), _jitter(_TROUSERS[t], rng, 12)) for s, t in chosen]

    def sample(self, rng: np.random.Generator) -> Appearance:
        """A new identity: a random group's colours (jittered by a few levels) plus random details."""
        group = int(rng.integers(len(self.groups)))
        shirt, trousers = self.groups[group]
        return Appearance(
            group=group, shirt=_jitter(shirt, rng, 5), trousers=_jitter(trousers, rng, 5),
            shoes=_pick(_SHOES, rng), skin=_jitter(_pick(_SKIN, rng), rng, 6),
            hair=_pick(_HAIR, rng), hair_style=str(rng.choice(["short", "short", "long", "bald"])),
            hat=_pick(_SHIRTS, rng) if rng.random() < 0.18 else None,
            build=float(rng.uniform(0.85, 1.2)), long_sleeves=bool(rng.random() < 0.6),
            shorts=bool(rng.random() < 0.2),
            stripes=_pick(_SHIRTS, rng) if rng.random() < 0.3 else None,
            stripe_count=int(rng.integers(2, 5)),
            bag=[None, None, "backpack", "shoulder"][int(rng.integers(4))],
            bag_colour=_pick(_TROUSERS + _SHIRTS, rng), bag_side=int(rng.choice([-1, 1])))


@dataclass(frozen=True)
class FigurePatch:
    """A drawn person: ``bgra`` (h, w, 4) uint8 premultiplied, feet (ground contact) at ``origin``.

    ``origin`` is the patch's top-left corner in frame pixels (integers); the person's tight box is
    where ``alpha >= 128``.
    """

    bgra: np.ndarray
    origin: tuple[int, int]


def draw_figure(app: Appearance, feet_xy: tuple[float, float], height_px: float, phase: float,
                stride: float, heading_screen: tuple[float, float], light_side: float = 0.0,
                gains: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> FigurePatch:
    """Draw one person whose feet touch ``feet_xy`` (frame pixels) and who is ``height_px`` tall.

    Args:
        phase: walking-cycle phase in radians. ``stride``: leg-swing amplitude in [0, 1] (0 = standing).
        heading_screen: ``(sideways, towards)``: sideways in [-1, 1] (+1 walking right), towards in
            [-1, 1] (+1 walking towards the camera); decides side / front / back view.
        light_side: horizontal light direction in [-1, 1]; the ground shadow falls the other way.
        gains: global illumination (B, G, R) multipliers applied to every colour (scene lighting).
    """
    h = float(height_px)
    m = int(np.ceil(0.03 * h)) + 3
    pw, ph = int(0.7 * h) + 2 * m, int(h) + 2 * m
    ox, oy = int(np.floor(feet_xy[0])) - pw // 2, int(np.floor(feet_xy[1])) - int(h) - m
    cx = feet_xy[0] - ox
    top = feet_xy[1] - oy - h
    img = np.zeros((ph, pw, 4), np.uint8)
    side, towards = heading_screen
    s = min(1.0, abs(side) * 1.3)  # how much of a side view
    d = 1.0 if side >= 0 else -1.0
    back_view = towards < 0 and s < 0.6
    b = app.build

    def y(t: float) -> float:
        return top + t * h

    gb, gg, gr = gains

    def col(c: BGR, k: float = 1.0) -> BGRA:
        return (int(min(255, c[0] * k * gb)), int(min(255, c[1] * k * gg)), int(min(255, c[2] * k * gr)), 255)

    # Ground shadow: translucent (alpha < 128), so it darkens the floor but is not part of the person.
    _ellipse(img, (cx - 0.05 * h * light_side, y(1.0)), (0.2 * h, 0.028 * h), (0, 0, 0, 80))
    shoulder_w = 0.25 * h * b * (1 - 0.35 * s)
    waist_w = 0.19 * h * b * (1 - 0.3 * s)
    hip_half = 0.045 * h * b * (1 - s)
    leg_t = max(1.0, 0.07 * h * b)
    arm_t = max(1.0, 0.055 * h * b)
    legs: list[Limb] = []
    arms: list[Limb] = []
    for k in (0, 1):
        psi = phase + k * np.pi
        hip = (cx + (k - 0.5) * 2 * hip_half, y(0.52))
        lift = max(0.0, np.cos(psi)) * 0.035 * h * stride
        foot = (hip[0] + d * np.sin(psi) * 0.16 * h * stride * s + (k - 0.5) * 0.02 * h * (1 - s),
                y(0.982) - lift)
        knee = ((hip[0] + foot[0]) / 2 + d * 0.035 * h * stride * s * max(0.0, np.cos(psi)),
                (hip[1] + foot[1]) / 2)
        legs.append((hip, knee, foot))
        sh = (cx + (k - 0.5) * (shoulder_w + arm_t * 0.8) * (1 - s), y(0.2))
        swing = -np.sin(psi) * 0.11 * h * stride
        hand = (sh[0] + d * swing * s, y(0.5) - abs(swing) * 0.15 * (1 - s))
        elbow = ((sh[0] + hand[0]) / 2 + d * 0.01 * h * s, (sh[1] + hand[1]) / 2)
        arms.append((sh, elbow, hand))
    # In a side view leg / arm 1 is the far one: darker and drawn first.
    far_k = 1 if s > 0.3 else -1
    for k in (0, 1):
        kk = 0.78 if k == far_k else 1.0
        _draw_leg(img, legs[k], leg_t, col(app.trousers, kk), col(app.skin, kk) if app.shorts else None,
                  col(app.shoes, kk), d * s, h)
    if far_k == 1:
        _draw_arm(img, arms[1], arm_t, app, col, 0.78, h)
    _rect(img, cx - waist_w / 2, y(0.47), cx + waist_w / 2, y(0.58), col(app.trousers))
    if app.hair_style == "long" and not back_view:
        _rect(img, cx - 0.06 * h - d * s * 0.03 * h, y(0.06), cx + 0.06 * h - d * s * 0.03 * h, y(0.24),
              col(app.hair, 0.9))
    if app.bag == "backpack" and s >= 0.3:
        _rect(img, cx - d * (waist_w / 2 + 0.085 * h), y(0.21), cx - d * waist_w / 2, y(0.43),
              col(app.bag_colour))
    torso = [(cx - shoulder_w / 2, y(0.185)), (cx + shoulder_w / 2, y(0.185)),
             (cx + waist_w / 2, y(0.5)), (cx - waist_w / 2, y(0.5))]
    _poly(img, torso, col(app.shirt))
    if app.stripes is not None:
        thick = max(1, int(round(0.022 * h)))
        for i in range(app.stripe_count):
            t = (i + 1) / (app.stripe_count + 1)
            half = (shoulder_w + (waist_w - shoulder_w) * (0.25 + 0.6 * t)) / 2
            yy = y(0.24 + 0.22 * t)
            _line(img, (cx - half + 1, yy), (cx + half - 1, yy), col(app.stripes), thick)
    if app.bag == "backpack" and back_view:
        _rect(img, cx - 0.3 * shoulder_w, y(0.21), cx + 0.3 * shoulder_w, y(0.42), col(app.bag_colour))
    elif app.bag == "backpack" and s < 0.3:  # straps seen from the front
        for sx in (-0.3, 0.3):
            _line(img, (cx + sx * shoulder_w, y(0.19)), (cx + sx * shoulder_w, y(0.36)),
                  col(app.bag_colour), max(1, int(0.02 * h)))
    # Head and hair.
    r = 0.068 * h
    head = (cx + d * s * 0.012 * h, y(0.0) + r)
    _ellipse(img, head, (r * 0.92, r), col(app.hair if back_view and app.hair_style != "bald" else app.skin))
    if app.hair_style != "bald" and not back_view:
        _ellipse(img, (head[0] - d * s * 0.2 * r, head[1] - 0.25 * r), (r * 0.95, r * 0.8), col(app.hair),
                 180, 360)
    if app.hat is not None:
        _ellipse(img, (head[0], head[1] - 0.45 * r), (r * 1.0, r * 0.65), col(app.hat), 180, 360)
        _line(img, (head[0] - r * (1.05 + 0.3 * s * d), head[1] - 0.45 * r),
              (head[0] + r * (1.05 + 0.3 * s * d), head[1] - 0.45 * r), col(app.hat), max(1, int(0.015 * h)))
    _draw_arm(img, arms[0], arm_t, app, col, 1.0, h)
    if far_k != 1:
        _draw_arm(img, arms[1], arm_t, app, col, 1.0, h)
    if app.bag == "shoulder":
        bx = cx + app.bag_side * (waist_w / 2 + 0.03 * h) * (1 - 0.5 * s)
        _line(img, (cx - app.bag_side * shoulder_w * 0.4, y(0.2)), (bx, y(0.44)), col(app.bag_colour, 0.8),
              max(1, int(0.012 * h)))
        _rect(img, bx - 0.05 * h, y(0.43), bx + 0.05 * h, y(0.54), col(app.bag_colour))
    return FigurePatch(img, (ox, oy))


def _draw_leg(img: np.ndarray, leg: Limb, thick: float, trousers: BGRA, skin: BGRA | None,
              shoes: BGRA, dir_side: float, h: float) -> None:
    hip, knee, foot = leg
    t = max(1, int(round(thick)))
    _line(img, hip, knee, trousers, t)
    _line(img, knee, foot, skin if skin is not None else trousers, t)
    _ellipse(img, (foot[0] + dir_side * 0.025 * h, foot[1]),
             (0.035 * h * (1 + 0.6 * abs(dir_side)), max(0.6, 0.018 * h)), shoes)


def _draw_arm(img: np.ndarray, arm: Limb, thick: float, app: Appearance, col: Shade, k: float, h: float) -> None:
    sh, elbow, hand = arm
    t = max(1, int(round(thick)))
    _line(img, sh, elbow, col(app.shirt, k), t)
    _line(img, elbow, hand, col(app.shirt if app.long_sleeves else app.skin, k), t)
    _ellipse(img, hand, (0.022 * h, 0.022 * h), col(app.skin, k))


def _pt(p: Point) -> tuple[int, int]:
    return int(round(p[0] * _ONE)), int(round(p[1] * _ONE))


def _line(img: np.ndarray, a: Point, b: Point, c: BGRA, thick: int) -> None:
    cv2.line(img, _pt(a), _pt(b), c, thick, _AA, _SHIFT)


def _ellipse(img: np.ndarray, center: Point, axes: Point, c: BGRA, start: float = 0, end: float = 360) -> None:
    ax = (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE))))
    cv2.ellipse(img, _pt(center), ax, 0, start, end, c, -1, _AA, _SHIFT)


def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, c: BGRA) -> None:
    _poly(img, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], c)


def _poly(img: np.ndarray, pts: list[Point], c: BGRA) -> None:
    cv2.fillConvexPoly(img, np.array([_pt(p) for p in pts], np.int32), c, _AA, _SHIFT)


def _pick(options: list[BGR], rng: np.random.Generator) -> BGR:
    return options[int(rng.integers(len(options)))]


def _jitter(colour: BGR, rng: np.random.Generator, amount: int) -> BGR:
    c = np.clip(np.asarray(colour) + rng.integers(-amount, amount + 1, 3), 0, 255)
    return int(c[0]), int(c[1]), int(c[2])
