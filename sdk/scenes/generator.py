"""The synthetic MOT scene generator: frames and ground truth in memory (no files, no torch).

>>> from mottrack_sdk.scenes import SceneGenerator, SceneOptions
>>> for frame in SceneGenerator(SceneOptions(width=640, height=360, num_frames=3, seed=7)):
...     frame.image_bgr.shape, frame.tlwh.shape  # (360, 640, 3), (N, 4)

Per frame: copy the background, simulate one time step, draw people far to near into premultiplied
patches and composite them while painting an identity label map (which person owns each pixel),
then apply lighting, defocus and sensor noise. Boxes and visibility come from the drawn pixels:
the box is the person's full (amodal) extent clipped to the frame; visibility is the fraction of the
person's pixels that are inside the frame and not covered by a nearer person.

With camera motion (``SceneOptions.camera_*``), all of that happens on a larger canvas that the frame
is warped from (``camera_motion.py``); a box is then the frame's bounding box of the warped amodal
box, clipped, and a pixel is inside the frame when its warped centre is. Noise comes after the warp.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import cv2
import numpy as np

from mottrack_sdk.scenes.background import render_background
from mottrack_sdk.scenes.camera_motion import CameraPath, CanvasLayout, box_through_camera, visible_through_camera
from mottrack_sdk.scenes.effects import Lighting, SensorNoise, blur_patch, defocus
from mottrack_sdk.scenes.figures import Appearance, ClothingPalette, FigurePatch, draw_figure
from mottrack_sdk.scenes.motion import GroundCamera, WalkerSimulation
from mottrack_sdk.scenes.options import SceneOptions

__all__ = ["SceneFrame", "SceneGenerator"]

_OWNED_ALPHA = 128  # a patch pixel belongs to the person from this coverage on


@dataclass(frozen=True)
class SceneFrame:
    """One rendered frame and its ground truth (rows sorted by identity).

    Attributes:
        frame_id: 1-based frame number (MOTChallenge numbering).
        image_bgr: (H, W, 3) uint8 BGR image.
        ids: (N,) int64 identities, persistent over the sequence, never reused.
        tlwh: (N, 4) float32 boxes ``(left, top, width, height)`` in pixels, clipped to the frame.
        visibility: (N,) float32 visible fraction in (0, 1].
        groups: (N,) int64 clothing group of each identity (people of a group share colours).
        camera_warp: (2, 3) float64 true camera motion from the previous frame to this one, mapping
            a scene point's pixel position then to its position now (OpenCV pixel-centre
            coordinates); the identity for the first frame and for a static camera.
    """

    frame_id: int
    image_bgr: np.ndarray
    ids: np.ndarray
    tlwh: np.ndarray
    visibility: np.ndarray
    groups: np.ndarray
    camera_warp: np.ndarray = field(default_factory=lambda: np.eye(2, 3))

    def gt_rows(self) -> np.ndarray:
        """MOTChallenge gt rows ``(N, 9)`` float64: frame, id, left, top, width, height, 1, 1, visibility."""
        n = self.ids.size
        rows = np.empty((n, 9), np.float64)
        rows[:, 0] = self.frame_id
        rows[:, 1] = self.ids
        rows[:, 2:6] = self.tlwh
        rows[:, 6] = 1.0  # conf: evaluate
        rows[:, 7] = 1.0  # class: pedestrian
        rows[:, 8] = self.visibility
        return rows


class SceneGenerator:
    """Renders one synthetic sequence described by :class:`SceneOptions`, deterministic by seed.

    Iterating yields :class:`SceneFrame` objects; every iteration restarts from the seed, so two
    iterations (or two generators with equal options) produce identical frames.
    """

    def __init__(self, options: SceneOptions | None = None) -> None:
        self.options = options or SceneOptions()
        # A sixth stream for the camera path: spawn(6)'s first five children are spawn(5)'s.
        layout, self._app_seed, self._motion_seed, bg, self._fx_seed, self._camera_seed = \
            np.random.SeedSequence(self.options.seed).spawn(6)
        layout_rng = np.random.default_rng(layout)
        horizon = self.options.horizon if self.options.horizon is not None else layout_rng.uniform(0.18, 0.38)
        self.camera = GroundCamera.from_options(self.options, horizon)
        self.canvas = CanvasLayout.for_options(self.options)  # None: static camera, canvas = frame
        if self.canvas is not None:
            self.camera = self.camera.on_canvas(self.canvas.margin_x, self.canvas.margin_y)
        self._light_side = float(layout_rng.uniform(-1.0, 1.0))
        # The scene is static on the canvas: defocus the background once; people are blurred patch by patch.
        self.background = defocus(render_background(self.camera, np.random.default_rng(bg)),
                                  self.options.defocus * self.options.pixel_scale)

    def __len__(self) -> int:
        return self.options.num_frames

    def __iter__(self) -> Iterator[SceneFrame]:
        return self.frames()

    def frames(self) -> Iterator[SceneFrame]:
        """Yield the sequence's frames in order (frame_id 1..num_frames)."""
        opt, cam = self.options, self.camera
        app_rng = np.random.default_rng(self._app_seed)
        fx_rng = np.random.default_rng(self._fx_seed)
        palette = ClothingPalette(opt.palette_size, app_rng)
        moving = self.canvas is not None
        sim = WalkerSimulation(opt, cam, np.random.default_rng(self._motion_seed),
                               self.canvas.density if moving else None)
        lighting = Lighting(opt.lighting, fx_rng)
        noise = SensorNoise(opt.noise, opt.size, fx_rng)
        path = CameraPath(opt, self.canvas, np.random.default_rng(self._camera_seed)) if moving else None
        appearances: dict[int, Appearance] = {}
        labels = np.zeros((cam.height, cam.width), np.uint16)
        dt = 1.0 / opt.fps
        for frame_id in range(1, opt.num_frames + 1):
            if frame_id > 1:
                sim.step(dt)
            for identity in sim.new_identities:
                appearances[identity] = palette.sample(app_rng)
            t = (frame_id - 1) * dt
            image = lighting.lit_copy(self.background, t)
            labels.fill(0)
            drawn = self._draw_people(image, labels, sim, appearances, dt, lighting.gains(t))
            if path is None:
                yield self._annotate(frame_id, noise.apply(image), labels, drawn, appearances)
                continue
            pose, warp = path.next()
            image = cv2.warpAffine(image, pose, opt.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            yield self._annotate(frame_id, noise.apply(image), labels, drawn, appearances, pose, warp)

    def _draw_people(self, image: np.ndarray, labels: np.ndarray, sim: WalkerSimulation,
                     appearances: dict[int, Appearance], dt: float,
                     gains: np.ndarray) -> list[tuple[int, FigurePatch, np.ndarray]]:
        """Draw everyone far to near; returns (identity, patch, owned-pixel mask) per drawn person."""
        opt, cam, s = self.options, self.camera, sim.state
        u, v = cam.project_feet(s.x, s.z)
        height_px = cam.person_height_px(s.height_m, s.z)
        # Screen velocity (px/frame) from the position one frame ago, for the motion-blur streak.
        vx_w, vz_w = s.speed * np.cos(s.heading) * dt, s.speed * np.sin(s.heading) * dt
        pu, pv = cam.project_feet(s.x - vx_w, s.z - vz_w)
        drawn = []
        for slot in np.argsort(-s.z, kind="stable"):
            half_w = 0.4 * height_px[slot]
            if u[slot] + half_w < 0 or u[slot] - half_w > cam.width:
                continue  # entirely outside the frame (the canvas, for a moving camera)
            app = appearances[int(s.ids[slot])]
            patch = draw_figure(app, (float(u[slot]), float(v[slot])), float(height_px[slot]),
                                float(s.phase[slot]), float(min(1.0, s.speed[slot] / 1.1)),
                                (float(np.cos(s.heading[slot])), float(-np.sin(s.heading[slot]))),
                                self._light_side, (float(gains[0]), float(gains[1]), float(gains[2])))
            blurred = blur_patch(patch.bgra, (float(u[slot] - pu[slot]), float(v[slot] - pv[slot])),
                                 opt.motion_blur, opt.defocus * opt.pixel_scale)
            patch = FigurePatch(blurred, patch.origin)
            label = len(drawn) + 1
            owned = _composite(image, labels, patch, label)
            drawn.append((int(s.ids[slot]), patch, owned))
        return drawn

    def _annotate(self, frame_id: int, image: np.ndarray, labels: np.ndarray,
                  drawn: list[tuple[int, FigurePatch, np.ndarray]], appearances: dict[int, Appearance],
                  pose: np.ndarray | None = None, camera_warp: np.ndarray | None = None) -> SceneFrame:
        """Ground truth of the drawn people; ``pose`` (canvas -> frame) for a moving camera."""
        h, w = labels.shape
        ids, boxes, vis = [], [], []
        for label, (identity, patch, owned) in enumerate(drawn, start=1):
            total = int(np.count_nonzero(owned))
            if total == 0:
                continue
            ox, oy = patch.origin
            rows, cols = np.flatnonzero(owned.any(axis=1)), np.flatnonzero(owned.any(axis=0))
            extent = (ox + int(cols[0]), oy + int(rows[0]), ox + int(cols[-1]) + 1, oy + int(rows[-1]) + 1)
            if pose is None:
                x0, y0, x1, y1 = max(extent[0], 0), max(extent[1], 0), min(extent[2], w), min(extent[3], h)
                if x1 <= x0 or y1 <= y0:
                    continue
                box = (x0, y0, x1 - x0, y1 - y0)
                visible = int(np.count_nonzero(labels[y0:y1, x0:x1] == label))
            else:
                box = box_through_camera(pose, extent, self.options.size)
                if box is None:
                    continue
                visible = visible_through_camera(pose, extent, labels, label, self.options.size)
            fraction = visible / total
            if visible == 0 or fraction < self.options.gt_min_visibility:
                continue
            ids.append(identity)
            boxes.append(box)
            vis.append(fraction)
        order = np.argsort(np.asarray(ids, np.int64), kind="stable")
        ids_arr = np.asarray(ids, np.int64)[order]
        return SceneFrame(
            frame_id=frame_id, image_bgr=image, ids=ids_arr,
            tlwh=np.asarray(boxes, np.float32).reshape(-1, 4)[order],
            visibility=np.asarray(vis, np.float32)[order],
            groups=np.asarray([appearances[int(i)].group for i in ids_arr], np.int64),
            camera_warp=np.eye(2, 3) if camera_warp is None else camera_warp)


def _composite(image: np.ndarray, labels: np.ndarray, patch: FigurePatch, label: int) -> np.ndarray:
    """Alpha-composite a premultiplied patch over ``image`` and claim its owned pixels in ``labels``.

    Returns the patch's owned-pixel mask (alpha >= 128) over the whole patch, including any part
    outside the frame (needed for the visible fraction).
    """
    bgra = patch.bgra
    ox, oy = patch.origin
    ph, pw = bgra.shape[:2]
    h, w = labels.shape
    owned = bgra[:, :, 3] >= _OWNED_ALPHA
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + pw, w), min(oy + ph, h)
    if x1 <= x0 or y1 <= y0:
        return owned
    src = bgra[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    roi = image[y0:y1, x0:x1]
    # out = roi * (1 - alpha) + premultiplied colour, in saturating uint8 arithmetic (SIMD in cv2).
    transparency = cv2.cvtColor(255 - src[:, :, 3], cv2.COLOR_GRAY2BGR)
    behind = cv2.multiply(roi, transparency, scale=1.0 / 255.0)
    roi[:] = cv2.add(behind, cv2.cvtColor(src, cv2.COLOR_BGRA2BGR))
    labels[y0:y1, x0:x1][owned[y0 - oy:y1 - oy, x0 - ox:x1 - ox]] = label
    return owned
