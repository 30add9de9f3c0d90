"""Ground-plane camera and pedestrian motion of the synthetic scenes (numpy, vectorised over people).

World: a flat ground plane, ``x`` metres to the right, ``z`` metres away from a pinhole camera at
height ``camera_height_m`` looking parallel to the ground. A ground point projects to
``u = W/2 + f*x/z``, ``v = horizon_y + f*camera_height_m/z`` and a person of ``h`` metres is
``f*h/z`` pixels tall, so size grows linearly as feet come down the image (perspective).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mottrack_sdk.scenes.options import SceneOptions

__all__ = ["GroundCamera", "WalkerState", "WalkerSimulation"]

PERSON_HEIGHT_M = 1.7
HEIGHT_FACTOR_RANGE = (0.9, 1.1)  # per-identity height relative to PERSON_HEIGHT_M
_FEET_AT_NEAREST = 1.02  # feet of the nearest people sit 2 % of H below the frame: partial bottom exits
_MAX_TURN_RAD_S = np.deg2rad(150.0)


@dataclass(frozen=True)
class GroundCamera:
    """Pinhole camera over a flat ground plane; all image quantities in pixels of the frame."""

    width: int
    height: int
    focal_px: float
    horizon_y: float
    camera_height_m: float
    z_near: float
    z_far: float

    @classmethod
    def from_options(cls, options: SceneOptions, horizon_fraction: float) -> "GroundCamera":
        """Camera whose walkable depth band gives person heights within the options' pixel range."""
        focal = float(options.height)
        scale = options.pixel_scale
        z_near = focal * PERSON_HEIGHT_M * HEIGHT_FACTOR_RANGE[1] / (options.max_height_px * scale)
        z_far = focal * PERSON_HEIGHT_M * HEIGHT_FACTOR_RANGE[0] / (options.min_height_px * scale)
        horizon_y = horizon_fraction * options.height
        cam_h = (_FEET_AT_NEAREST * options.height - horizon_y) * z_near / focal
        return cls(options.width, options.height, focal, horizon_y, cam_h, z_near, z_far)

    def on_canvas(self, margin_x: int, margin_y: int) -> "GroundCamera":
        """The same camera imaging a larger canvas: ``margin_x`` / ``margin_y`` more pixels on each side."""
        return replace(self, width=self.width + 2 * margin_x, height=self.height + 2 * margin_y,
                       horizon_y=self.horizon_y + margin_y)

    def project_feet(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ground points (metres) -> image points ``(u, v)`` in pixels, arrays of the same shape."""
        return self.width / 2 + self.focal_px * x / z, self.horizon_y + self.focal_px * self.camera_height_m / z

    def person_height_px(self, height_m: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Pixel height of people ``height_m`` metres tall at depth ``z`` metres."""
        return self.focal_px * height_m / z

    def depth_of_row(self, v: np.ndarray) -> np.ndarray:
        """Depth (metres) of the ground seen at image row ``v`` (must lie below the horizon)."""
        return self.focal_px * self.camera_height_m / np.maximum(v - self.horizon_y, 1e-6)

    def half_width_m(self, z: np.ndarray) -> np.ndarray:
        """Half the ground width (metres) that the frame shows at depth ``z``."""
        return z * (self.width / 2) / self.focal_px


@dataclass
class WalkerState:
    """Per-person simulation state, one array entry per slot (``N = density`` slots).

    A slot holds one identity until it walks out of view; then a new identity enters in its place.
    Units: metres, seconds, radians; ``heading`` 0 = walking right, pi/2 = walking away from camera.
    """

    ids: np.ndarray          # (N,) int64, MOT identity (1-based, never reused)
    x: np.ndarray            # (N,) float64 lateral position
    z: np.ndarray            # (N,) float64 depth
    heading: np.ndarray      # (N,) float64
    speed: np.ndarray        # (N,) float64 current speed
    pref_speed: np.ndarray   # (N,) float64 preferred speed
    wander: np.ndarray       # (N,) float64 random turn rate (rad/s), Ornstein-Uhlenbeck
    turn_left: np.ndarray    # (N,) float64 remaining angle of a deliberate turn
    pause_left: np.ndarray   # (N,) float64 seconds of pause remaining
    phase: np.ndarray        # (N,) float64 walking-cycle phase (radians)
    height_m: np.ndarray     # (N,) float64 body height
    outside_s: np.ndarray    # (N,) float64 seconds spent out of view
    leader: np.ndarray       # (N,) int64 slot this person walks beside, -1 = walking alone
    leader_id: np.ndarray    # (N,) int64 identity of that leader (a recycled slot releases the follower)
    together_s: np.ndarray   # (N,) float64 seconds left walking together
    side: np.ndarray         # (N,) float64 -1 / +1: which side of the leader


class WalkerSimulation:
    """People walking on the ground plane: smooth turns, speed changes, pauses, enter and exit.

    ``step(dt)`` advances every person, replaces those who left the view with newcomers entering
    from the left or right border, and keeps everyone inside the walkable depth band. There are
    ``count`` people (default ``options.density``); the view is the camera's whole image.
    """

    def __init__(self, options: SceneOptions, camera: GroundCamera, rng: np.random.Generator,
                 count: int | None = None) -> None:
        self.options = options
        self.camera = camera
        self._rng = rng
        self._next_id = 1  # per instance: two simulations never share an identity counter
        self._time = 0.0
        self.new_identities: list[int] = []  # identities created by the latest reset/step, in order
        n = options.density if count is None else count  # count: people on a moving camera's canvas
        z = self._sample_depth(n)
        margin = 0.9 * camera.half_width_m(z)
        self.state = WalkerState(
            ids=self._take_ids(n), x=rng.uniform(-margin, margin), z=z,
            heading=rng.uniform(-np.pi, np.pi, n), speed=np.zeros(n), pref_speed=self._sample_speed(n),
            wander=np.zeros(n), turn_left=np.zeros(n), pause_left=np.zeros(n),
            phase=rng.uniform(0, 2 * np.pi, n), height_m=self._sample_height(n), outside_s=np.zeros(n),
            leader=np.full(n, -1, np.int64), leader_id=np.zeros(n, np.int64), together_s=np.zeros(n),
            side=rng.choice([-1.0, 1.0], n))
        self.state.speed[:] = self.state.pref_speed
        # About a quarter of the people start out walking beside someone (pairs, small groups).
        for i in np.flatnonzero(rng.random(n) < 0.25):
            j = int(rng.integers(n))
            if j != i and self.state.leader[j] < 0 and not (self.state.leader == i).any():
                self._join(i, j, place=True)
        # A few people start the sequence standing still.
        standing = rng.random(n) < 0.1
        self.state.pause_left[standing] = rng.uniform(0.5, 4.0, int(standing.sum()))
        self.state.speed[standing] = 0.0

    def step(self, dt: float) -> None:
        """Advance all people by ``dt`` seconds."""
        s, rng, opt = self.state, self._rng, self.options
        n = s.x.size
        self.new_identities = []
        if n == 0:
            return
        # Pauses: a Poisson process per person; speed relaxes towards the target in ~0.4 s.
        starts = (s.pause_left <= 0) & (rng.random(n) < opt.pause_rate / 60.0 * dt)
        s.pause_left[starts] = rng.uniform(1.0, 5.0, int(starts.sum()))
        s.pause_left = np.maximum(s.pause_left - dt, 0.0)
        # Speed drifts +-10 % with a per-person period of 6-16 s, and drops by up to 30 % in turns.
        self._time += dt
        drift = 1.0 + 0.1 * np.sin(2 * np.pi * self._time / (6.0 + (s.ids * 7919) % 11) + s.ids)
        turning = np.minimum(1.0, (np.abs(s.wander) + np.abs(s.turn_left)) / 1.5)
        target = np.where(s.pause_left > 0, 0.0, s.pref_speed * drift * (1.0 - 0.3 * turning))
        s.speed += (target - s.speed) * min(1.0, dt / 0.4)
        # Heading: random wander (OU process) plus occasional deliberate turns over ~1 s.
        s.wander += -s.wander * dt + 0.45 * np.sqrt(dt) * rng.standard_normal(n)
        turns = (s.turn_left == 0) & (rng.random(n) < opt.turn_rate / 60.0 * dt)
        k = int(turns.sum())
        s.turn_left[turns] = rng.choice([-1.0, 1.0], k) * np.deg2rad(rng.uniform(30, 150, k))
        delib = np.clip(s.turn_left, -np.deg2rad(110) * dt, np.deg2rad(110) * dt)
        s.turn_left -= delib
        s.turn_left[np.abs(s.turn_left) < 1e-3] = 0.0
        moving = np.minimum(1.0, s.speed / 0.3)  # people standing still do not spin
        s.heading += (s.wander * dt + delib) * moving
        self._steer(dt, moving)
        self._walk_together(dt)
        s.x += s.speed * np.cos(s.heading) * dt
        s.z = np.clip(s.z + s.speed * np.sin(s.heading) * dt, self.camera.z_near, self.camera.z_far)
        s.phase = (s.phase + 2 * np.pi * s.speed * dt / (0.85 * s.height_m)) % (2 * np.pi)
        self._replace_leavers(dt)

    def _steer(self, dt: float, moving: np.ndarray) -> None:
        """Turn away from the depth limits and from people closer than 0.6 m."""
        s, cam = self.state, self.camera
        fz = np.clip((cam.z_near * 1.25 - s.z) / (0.25 * cam.z_near), 0, None) \
            - np.clip((s.z - cam.z_far * 0.85) / (0.15 * cam.z_far), 0, None)
        dx = s.x[:, None] - s.x[None, :]
        dz = s.z[:, None] - s.z[None, :]
        dist = np.hypot(dx, dz) + np.eye(s.x.size) * 1e9
        push = np.clip(1.0 - dist / 0.6, 0, None) / np.maximum(dist, 1e-3)
        fx = (push * dx).sum(1) * 0.8
        fz = fz * 2.0 + (push * dz).sum(1) * 0.8
        strength = np.hypot(fx, fz)
        desired = np.arctan2(np.sin(s.heading) + fz, np.cos(s.heading) + fx)
        delta = (desired - s.heading + np.pi) % (2 * np.pi) - np.pi
        limit = _MAX_TURN_RAD_S * dt * np.minimum(1.0, strength) * np.maximum(moving, 0.2)
        s.heading = (s.heading + np.clip(delta, -limit, limit) + np.pi) % (2 * np.pi) - np.pi

    def _join(self, i: int, j: int, place: bool = False) -> None:
        """Person ``i`` walks beside person ``j`` for 10-40 s (``place``: put it there right away)."""
        s = self.state
        s.leader[i], s.leader_id[i] = j, s.ids[j]
        s.together_s[i] = self._rng.uniform(10.0, 40.0)
        if place:
            s.heading[i], s.pause_left[i], s.speed[i] = s.heading[j], s.pause_left[j], s.speed[j]
            s.x[i] = s.x[j] - np.sin(s.heading[j]) * 0.75 * s.side[i]
            s.z[i] = np.clip(s.z[j] + np.cos(s.heading[j]) * 0.75 * s.side[i], self.camera.z_near, self.camera.z_far)

    def _walk_together(self, dt: float) -> None:
        """Followers steer to a spot 0.75 m beside their leader and match its speed and pauses.

        People walking side by side overlap on screen whenever they cross the view: the main source
        of long occlusions. Two walkers who meet heading the same way may pair up (rate 0.1/s).
        """
        s, rng = self.state, self._rng
        s.together_s = np.maximum(s.together_s - dt, 0.0)
        follows = s.leader >= 0
        lead = np.where(follows, s.leader, 0)
        done = follows & ((s.together_s <= 0) | (s.ids[lead] != s.leader_id) | (s.leader[lead] >= 0))
        s.leader[done] = -1
        for i in np.flatnonzero(s.leader >= 0):
            j = int(s.leader[i])
            tx = s.x[j] - np.sin(s.heading[j]) * 0.75 * s.side[i] - s.x[i]
            tz = s.z[j] + np.cos(s.heading[j]) * 0.75 * s.side[i] - s.z[i]
            ahead = tx * np.cos(s.heading[j]) + tz * np.sin(s.heading[j])
            s.pause_left[i] = s.pause_left[j]
            s.speed[i] = max(0.0, s.speed[j] + float(np.clip(ahead, -0.4, 0.4)))
            desired = np.arctan2(np.sin(s.heading[j]) + tz, np.cos(s.heading[j]) + tx)
            delta = (desired - s.heading[i] + np.pi) % (2 * np.pi) - np.pi
            s.heading[i] += float(np.clip(delta, -_MAX_TURN_RAD_S * dt, _MAX_TURN_RAD_S * dt))
            s.turn_left[i] = 0.0
        alone = np.flatnonzero((s.leader < 0) & ~np.isin(np.arange(s.x.size), s.leader))
        if alone.size >= 2 and rng.random() < 0.1 * dt * alone.size:
            i, j = (int(v) for v in rng.choice(alone, 2, replace=False))
            close = np.hypot(s.x[i] - s.x[j], s.z[i] - s.z[j]) < 2.5
            aligned = np.cos(s.heading[i] - s.heading[j]) > 0.5
            if close and aligned:
                self._join(i, j)

    def _replace_leavers(self, dt: float) -> None:
        s, cam = self.state, self.camera
        half_w = cam.half_width_m(s.z) + 0.35 * s.height_m  # body fully outside beyond this
        outside = np.abs(s.x) > half_w
        s.outside_s = np.where(outside, s.outside_s + dt, 0.0)
        leaving = outside & (np.sign(s.x) * np.cos(s.heading) > 0)
        gone = np.flatnonzero((leaving & (s.outside_s > 0.2)) | (s.outside_s > 3.0))
        if gone.size:
            self._spawn_at_border(gone)

    def _spawn_at_border(self, slots: np.ndarray) -> None:
        s, rng, cam = self.state, self._rng, self.camera
        k = slots.size
        side = rng.choice([-1.0, 1.0], k)
        height = self._sample_height(k)
        z = self._sample_depth(k)
        s.ids[slots] = self._take_ids(k)
        s.z[slots] = z
        s.x[slots] = side * (cam.half_width_m(z) + 0.3 * height)
        s.heading[slots] = np.where(side > 0, np.pi, 0.0) + np.deg2rad(rng.uniform(-45, 45, k))
        s.pref_speed[slots] = self._sample_speed(k)
        s.speed[slots] = s.pref_speed[slots]
        s.height_m[slots] = height
        s.phase[slots] = rng.uniform(0, 2 * np.pi, k)
        for arr in (s.wander, s.turn_left, s.pause_left, s.outside_s, s.together_s):
            arr[slots] = 0.0
        s.leader[slots] = -1

    def _take_ids(self, k: int) -> np.ndarray:
        ids = np.arange(self._next_id, self._next_id + k, dtype=np.int64)
        self._next_id += k
        self.new_identities.extend(int(i) for i in ids)
        return ids

    def _sample_depth(self, k: int) -> np.ndarray:
        """Half uniform in image rows (many near people), half uniform in metres (many far ones)."""
        cam, rng = self.camera, self._rng
        lo, hi = cam.z_near * 1.05, cam.z_far * 0.95
        v_near, v_far = cam.project_feet(np.zeros(1), np.array([lo, hi]))[1]
        by_row = cam.depth_of_row(rng.uniform(v_far, v_near, k))
        by_metre = rng.uniform(lo, hi, k)
        return np.where(rng.random(k) < 0.5, by_row, by_metre)

    def _sample_speed(self, k: int) -> np.ndarray:
        return self.options.speed_mps * self._rng.uniform(0.7, 1.3, k)

    def _sample_height(self, k: int) -> np.ndarray:
        return PERSON_HEIGHT_M * self._rng.uniform(*HEIGHT_FACTOR_RANGE, k)
