"""Synthetic scenes seen through a moving camera: static scenes unchanged, ground truth follows the warp."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from mottrack_sdk.cli.main import main as cli_main
from mottrack_sdk.scenes import SceneGenerator, SceneOptions, write_sequence
from mottrack_sdk.scenes.camera_motion import CameraPath, CanvasLayout
from mottrack_sdk.tracking.cmc import CameraMotionEstimator

MOVING = dict(camera_pan_px=200.0, camera_zoom=0.1, camera_shake_px=3.0)
# gt rows (as gt.txt writes them) of SceneOptions(width=320, height=192, num_frames=4, seed=5), recorded
# with the generator before the camera knobs existed (commit d5615f5).
STATIC_GT_SHA256 = "3bb6a0b0ffbc1b611a79b2cf36137d7309d90eaec8bfe84ec4c89c7d39593254"


@pytest.fixture(scope="module")
def moving_frames() -> list:
    """20 frames at 960x540 with pan, zoom and shake."""
    return list(SceneGenerator(SceneOptions(width=960, height=540, num_frames=20, seed=4, **MOVING)))


def frame_digest(frames) -> str:
    h = hashlib.sha256()
    for f in frames:
        for a in (f.image_bgr, f.ids, f.tlwh, f.visibility, f.groups, f.camera_warp):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def gt_digest(frames) -> str:
    rows = np.concatenate([f.gt_rows() for f in frames])
    text = "".join("{:.0f},{:.0f},{:.2f},{:.2f},{:.2f},{:.2f},{:.4f}\n".format(*r[[0, 1, 2, 3, 4, 5, 8]]) for r in rows)
    return hashlib.sha256(text.encode()).hexdigest()


def centres(tlwh: np.ndarray) -> np.ndarray:
    return tlwh[:, :2] + tlwh[:, 2:] / 2


def apply(warp: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ warp[:, :2].T + warp[:, 2]


def test_static_camera_is_unchanged():
    base = dict(width=320, height=192, num_frames=4, seed=5)
    default = SceneGenerator(SceneOptions(**base))
    zeros = SceneGenerator(SceneOptions(**base, camera_pan_px=0.0, camera_zoom=0, camera_shake_px=0.0))
    assert default.canvas is None and (default.camera.width, default.camera.height) == (320, 192)
    frames = list(default)
    assert frame_digest(frames) == frame_digest(zeros)
    assert all(np.array_equal(f.camera_warp, np.eye(2, 3)) for f in frames)
    assert gt_digest(frames) == STATIC_GT_SHA256


def test_moving_scenes_are_deterministic(moving_frames):
    again = list(SceneGenerator(SceneOptions(width=960, height=540, num_frames=20, seed=4, **MOVING)))
    assert frame_digest(again) == frame_digest(moving_frames)
    assert np.array_equal(moving_frames[0].camera_warp, np.eye(2, 3))
    moved = [np.abs(apply(f.camera_warp, np.array([[0.0, 0.0], [959.0, 539.0]])) - [[0, 0], [959, 539]]).max()
             for f in moving_frames[1:]]
    assert min(moved) > 0.1 and np.median(moved) > 1.0  # the camera really moves every frame


def test_ground_truth_stays_consistent(moving_frames):
    for f in moving_frames:
        assert f.image_bgr.shape == (540, 960, 3) and f.camera_warp.shape == (2, 3)
        x, y, w, h = f.tlwh.T
        assert (x >= 0).all() and (y >= 0).all() and (x + w <= 960 + 1e-3).all() and (y + h <= 540 + 1e-3).all()
        assert (w > 0).all() and (h > 0).all() and ((f.visibility > 0) & (f.visibility <= 1)).all()
    assert min(len(f.ids) for f in moving_frames) >= 12  # the canvas density keeps people in view


def test_boxes_follow_the_camera():
    """Near-still people (slow walkers): a box centre moves with the camera warp, not by itself."""
    frames = list(SceneGenerator(SceneOptions(width=960, height=540, num_frames=12, seed=8, speed_mps=0.05,
                                              camera_pan_px=300.0, camera_zoom=0.15, camera_shake_px=4.0)))
    raw, compensated = [], []
    for prev, cur in zip(frames, frames[1:]):
        _, ip, ic = np.intersect1d(prev.ids, cur.ids, return_indices=True)
        inside = (prev.visibility[ip] > 0.95) & (cur.visibility[ic] > 0.95)  # not clipped by the border
        a, b = centres(prev.tlwh[ip][inside]), centres(cur.tlwh[ic][inside])
        raw.append(np.linalg.norm(b - a, axis=1))
        compensated.append(np.linalg.norm(b - apply(cur.camera_warp, a), axis=1))
    raw, compensated = np.concatenate(raw), np.concatenate(compensated)
    assert np.median(raw) > 3.0
    assert np.median(compensated) < 0.5 and np.percentile(compensated, 90) < 1.5


def test_boxes_cover_the_drawn_people():
    """Frames minus the same moving scene without people change only at gt boxes (same camera path)."""
    base = dict(width=480, height=270, num_frames=4, seed=21, **MOVING)
    people = list(SceneGenerator(SceneOptions(**base)))
    empty = list(SceneGenerator(SceneOptions(**base, density=0)))
    for f, e in zip(people, empty):
        assert np.array_equal(f.camera_warp, e.camera_warp)
        changed = np.abs(f.image_bgr.astype(int) - e.image_bgr.astype(int)).max(axis=2) > 40
        covered = np.zeros_like(changed)
        for x, y, bw, bh in np.rint(f.tlwh).astype(int):
            pad_x, pad_y = int(0.3 * bh) + 3, int(0.06 * bh) + 3  # shadow and blur spill over
            covered[max(y - 3, 0):y + bh + pad_y, max(x - pad_x, 0):x + bw + pad_x] = True
        assert changed.sum() > 0 and (changed & ~covered).sum() <= 0.01 * changed.sum()


def test_estimator_recovers_the_true_camera_warp(moving_frames):
    est = CameraMotionEstimator()
    corners = np.array([[0, 0], [959, 0], [0, 539], [959, 539]], np.float64)
    errors, motion = [], []
    for k, f in enumerate(moving_frames):
        warp = est.estimate(f.image_bgr)
        if k:
            errors.append(np.linalg.norm(apply(warp, corners) - apply(f.camera_warp, corners), axis=1).mean())
            motion.append(np.linalg.norm(apply(f.camera_warp, corners) - corners, axis=1).mean())
    assert np.median(motion) > 2.0  # doing nothing would be this far off
    assert np.median(errors) < 0.3 and max(errors) < 1.0


def test_canvas_contains_every_view():
    """The margins hold the frame's preimage for any path, even at the knobs' limits and large steps."""
    options = SceneOptions(width=320, height=180, fps=5, camera_pan_px=1000.0, camera_zoom=0.3, camera_shake_px=20.0)
    layout = CanvasLayout.for_options(options)
    path = CameraPath(options, layout, np.random.default_rng(0))
    frame = np.array([[-0.5, -0.5], [319.5, -0.5], [-0.5, 179.5], [319.5, 179.5]])
    for _ in range(3000):
        pose, _warp = path.next()
        inverse = np.linalg.inv(np.vstack([pose, [0, 0, 1]]))[:2]
        q = apply(inverse, frame)
        assert (q >= 0).all() and (q[:, 0] <= layout.width - 1).all() and (q[:, 1] <= layout.height - 1).all()


def test_camera_options_are_validated():
    for name, bad in (("camera_pan_px", -1.0), ("camera_zoom", 0.5), ("camera_shake_px", float("nan")),
                      ("camera_zoom", True)):
        with pytest.raises(ValueError, match=f"SceneOptions.{name} must be a number"):
            SceneOptions(**{name: bad})


def test_synth_command_writes_a_moving_camera(tmp_path):
    rc = cli_main(["synth", "--out", str(tmp_path), "--frames", "2", "--size", "160x96", "--density", "4",
                   "--camera-pan", "120", "--camera-zoom", "0.05", "--camera-shake", "2", "--no-progress"])
    assert rc == 0
    recorded = json.loads((tmp_path / "SYNTH-0-000" / "synthetic.json").read_text())["options"]
    assert (recorded["camera_pan_px"], recorded["camera_zoom"], recorded["camera_shake_px"]) == (120.0, 0.05, 2.0)
    options = SceneOptions(width=160, height=96, num_frames=2, seed=0, density=4, camera_pan_px=120.0,
                           camera_zoom=0.05, camera_shake_px=2.0)
    assert (write_sequence(tmp_path / "api", options, "SYNTH-0-000") / "gt" / "gt.txt").read_bytes() == \
        (tmp_path / "SYNTH-0-000" / "gt" / "gt.txt").read_bytes()


@pytest.mark.parametrize("flag, value", [("--camera-zoom", "0.9"), ("--camera-pan", "-5"), ("--camera-shake", "nan")])
def test_synth_command_names_the_bad_camera_flag(tmp_path, capsys, flag, value):
    assert cli_main(["synth", "--out", str(tmp_path), "--no-progress", flag, value]) == 2
    assert flag in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
