"""Camera-motion compensation: the estimator recovers known warps, warp_packed_state is T P Tᵀ."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mottrack_sdk.scenes import SceneGenerator, SceneOptions
from mottrack_sdk.tracking.cmc import CameraMotionEstimator, CmcOptions, identity_warp, warp_packed_state
from mottrack_sdk.tracking.kalman import PP, PV, VV, KalmanBoxFilter, unpack_cov
from mottrack_sdk.tracking.track_table import FLOAT_WIDTH, SCORE


@pytest.fixture(scope="module")
def scene_frame() -> np.ndarray:
    """A 1280x720 synthetic street frame (not a power-of-two multiple of max_side: 1280 -> 640 -> 480)."""
    return next(iter(SceneGenerator(SceneOptions(width=1280, height=720, num_frames=1, seed=3)))).image_bgr


def similarity(angle_deg: float, scale: float, shift: tuple[float, float], centre: tuple[float, float]) -> np.ndarray:
    """(2, 3) warp: rotate by ``angle_deg`` and scale about ``centre``, then shift."""
    a = math.radians(angle_deg)
    r = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    c = np.asarray(centre, np.float64)
    return np.hstack([r, (c - r @ c + np.asarray(shift))[:, None]])


def corner_error(estimated: np.ndarray, truth: np.ndarray, size: tuple[int, int]) -> float:
    """Largest distance between where the two warps send the frame's four corners (pixels)."""
    w, h = size
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)
    moved = [corners @ m[:, :2].T + m[:, 2] for m in (estimated, truth)]
    return float(np.linalg.norm(moved[0] - moved[1], axis=1).max())


def scale_of(warp: np.ndarray) -> float:
    return math.sqrt(abs(np.linalg.det(warp[:, :2])))


# -- the estimator -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["sparse_flow", "ecc"])
@pytest.mark.parametrize("angle, scale, shift", [(0.0, 1.0, (7.3, -4.6)), (0.5, 1.012, (-3.2, 5.9)),
                                                 (-0.3, 0.99, (12.0, 2.5))])
def test_recovers_a_known_similarity(scene_frame, method, angle, scale, shift):
    h, w = scene_frame.shape[:2]
    truth = similarity(angle, scale, shift, (w / 2, h / 2))
    moved = cv2.warpAffine(scene_frame, truth, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    est = CameraMotionEstimator(CmcOptions(method=method))
    assert np.array_equal(est.estimate(scene_frame), identity_warp())  # first frame
    warp = est.estimate(moved)
    assert warp.shape == (2, 3) and warp.dtype == np.float64
    assert corner_error(warp, truth, (w, h)) < 0.5
    assert abs(scale_of(warp) / scale - 1.0) < 0.005


def test_grey_frames_work_like_bgr(scene_frame):
    gray = cv2.cvtColor(scene_frame, cv2.COLOR_BGR2GRAY)
    truth = similarity(0.2, 1.005, (4.0, 3.0), (640, 360))
    est = CameraMotionEstimator()
    est.estimate(gray)
    assert corner_error(est.estimate(cv2.warpAffine(gray, truth, (1280, 720))), truth, (1280, 720)) < 0.5


def test_identical_frames_give_the_identity(scene_frame):
    for method in ("sparse_flow", "ecc"):
        est = CameraMotionEstimator(CmcOptions(method=method))
        est.estimate(scene_frame)
        assert np.allclose(est.estimate(scene_frame.copy()), identity_warp(), atol=1e-4)


def test_size_change_and_reset_rekey(scene_frame):
    truth = similarity(0.0, 1.0, (5.0, -2.0), (0, 0))
    small = cv2.resize(scene_frame, (640, 360), interpolation=cv2.INTER_AREA)
    est = CameraMotionEstimator()
    est.estimate(scene_frame)
    assert np.array_equal(est.estimate(small), identity_warp())  # size change: identity, re-keyed on small
    warp = est.estimate(cv2.warpAffine(small, truth, (640, 360), borderMode=cv2.BORDER_REFLECT))
    assert corner_error(warp, truth, (640, 360)) < 0.5  # measured against the small frame
    est.reset()
    assert np.array_equal(est.estimate(small), identity_warp())


def test_small_image_warps_convert_exactly():
    """A warp between downscaled images, q = (p + 0.5)·k − 0.5, is the same motion in full-resolution pixels."""
    from mottrack_sdk.tracking.cmc import _to_full_resolution

    k, small = 0.375, similarity(1.5, 1.04, (3.0, -2.0), (10, 20))
    p = np.random.default_rng(1).uniform(0, 1280, (20, 2))
    q_moved = ((p + 0.5) * k - 0.5) @ small[:, :2].T + small[:, 2]
    full = _to_full_resolution(small, k)
    assert np.allclose(p @ full[:, :2].T + full[:, 2], (q_moved + 0.5) / k - 0.5, atol=1e-9)


def test_featureless_frames_give_the_identity(scene_frame):
    flat = np.full((360, 640, 3), 128, np.uint8)
    est = CameraMotionEstimator()
    est.estimate(flat)
    assert np.array_equal(est.estimate(flat), identity_warp())  # no corners at all
    assert np.array_equal(est.estimate(cv2.resize(scene_frame, (640, 360))), identity_warp())


def test_degenerate_estimates_give_the_identity(scene_frame, monkeypatch):
    est = CameraMotionEstimator()
    est.estimate(scene_frame)
    monkeypatch.setattr(est, "_sparse_flow", lambda gray: np.array([[3.0, 0, 0], [0, 3.0, 0]]))  # 3x zoom
    assert np.array_equal(est.estimate(scene_frame), identity_warp())
    monkeypatch.setattr(est, "_sparse_flow", lambda gray: np.array([[1.0, 0, np.nan], [0, 1.0, 0]]))
    assert np.array_equal(est.estimate(scene_frame), identity_warp())
    monkeypatch.setattr(est, "_sparse_flow", lambda gray: np.array([[-1.0, 0, 0], [0, 1.0, 0]]))  # mirror
    assert np.array_equal(est.estimate(scene_frame), identity_warp())


def test_excluded_boxes_do_not_count(scene_frame):
    """A large textured object moving against the background wins unless its box is excluded."""
    h, w = scene_frame.shape[:2]
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_NEAREST)
    x0, y0 = 320, 120
    first = scene_frame.copy()
    first[y0:y0 + 480, x0:x0 + 640] = texture
    background = similarity(0.0, 1.0, (-6.0, 0.0), (0, 0))
    second = cv2.warpAffine(scene_frame, background, (w, h), borderMode=cv2.BORDER_REFLECT)
    second[y0 + 5:y0 + 485, x0 + 9:x0 + 649] = texture  # the object moves by (+9, +5)
    box = np.array([[x0 - 8, y0 - 8, x0 + 650, y0 + 490]], np.float64)
    plain, masked = CameraMotionEstimator(), CameraMotionEstimator()
    plain.estimate(first)
    masked.estimate(first, exclude_xyxy=box)
    assert np.allclose(plain.estimate(second)[:, 2], [9.0, 5.0], atol=1.0)  # follows the object
    assert corner_error(masked.estimate(second), background, (w, h)) < 0.5


@pytest.mark.parametrize("frame", [np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 4), np.uint8),
                                   np.zeros(64, np.uint8), np.zeros((4, 64), np.uint8), [[0, 1], [2, 3]]])
def test_bad_frames_name_the_argument_and_change_nothing(scene_frame, frame):
    truth = similarity(0.0, 1.0, (3.0, 1.0), (0, 0))
    est = CameraMotionEstimator()
    est.estimate(scene_frame)
    with pytest.raises(ValueError, match=r"^frame: expected an \(H, W, 3\) uint8 BGR or \(H, W\) uint8"):
        est.estimate(frame)
    with pytest.raises(ValueError, match="^exclude_xyxy: expected"):
        est.estimate(scene_frame, exclude_xyxy=np.array([[0.0, 0.0, np.nan, 5.0]]))
    moved = cv2.warpAffine(scene_frame, truth, (1280, 720), borderMode=cv2.BORDER_REFLECT)
    assert corner_error(est.estimate(moved), truth, (1280, 720)) < 0.5  # still keyed on scene_frame


@pytest.mark.parametrize("method", ["sparse_flow", "ecc"])
@pytest.mark.parametrize("shape", [(8, 20000, 3), (20000, 8, 3), (16, 20000), (8, 8000), (9, 4000, 3)])
def test_long_thin_frames_keep_their_short_side(method, shape):
    """Downscaling to max_side used to take the short side to 0 pixels (an OpenCV assertion)."""
    est = CameraMotionEstimator(CmcOptions(method=method))
    for _ in range(2):
        assert np.allclose(est.estimate(np.zeros(shape, np.uint8)), identity_warp())


@pytest.mark.parametrize("method", ["sparse_flow", "ecc"])
def test_a_given_halving_gives_the_same_estimates(scene_frame, method):
    """What the runtime passes (the preprocessing's 2x halving) changes nothing but the cost."""
    from mottrack_sdk.preprocessing import halve_area

    h, w = scene_frame.shape[:2]
    plain, shared = CameraMotionEstimator(CmcOptions(method=method)), CameraMotionEstimator(CmcOptions(method=method))
    boxes = np.array([[100.0, 80.0, 180.0, 300.0], [700.0, 200.0, 760.0, 420.0]])
    for k in range(4):
        truth = similarity(0.1 * k, 1.0 + 0.002 * k, (3.0 * k, -2.0 * k), (w / 2, h / 2))
        frame = cv2.warpAffine(scene_frame, truth, (w, h), borderMode=cv2.BORDER_REFLECT)
        a = plain.estimate(frame, boxes)
        b = shared.estimate(frame, boxes, halved=halve_area(frame))
        assert np.array_equal(a, b)
        if k:
            assert not np.array_equal(a, identity_warp())


def test_bad_halvings_name_the_argument_and_change_nothing(scene_frame):
    from mottrack_sdk.preprocessing import halve_area

    est = CameraMotionEstimator()
    est.estimate(scene_frame)
    half = halve_area(scene_frame)
    gray = cv2.cvtColor(scene_frame, cv2.COLOR_BGR2GRAY)
    for frame, halved, message in [
            (scene_frame, half[:-1], r"halved: expected the frame's 2x halving, a \(360, 640, 3\) uint8 array"),
            (scene_frame, half.astype(np.float32), "halved: expected"),
            (scene_frame, half[:, :, 0], "halved: expected"), (scene_frame, half.tolist(), "got list"),
            (gray, half, r"halved: only for \(H, W, 3\) BGR frames with even sides"),
            (scene_frame[:719], half, "halved: only for")]:
        with pytest.raises(ValueError, match=message):
            est.estimate(frame, halved=halved)
    truth = similarity(0.0, 1.0, (3.0, 1.0), (0, 0))
    moved = cv2.warpAffine(scene_frame, truth, (1280, 720), borderMode=cv2.BORDER_REFLECT)
    assert corner_error(est.estimate(moved, halved=halve_area(moved)), truth, (1280, 720)) < 0.5


@pytest.mark.parametrize("changes, message", [
    ({"method": "orb"}, r"CmcOptions.method: expected one of \['sparse_flow', 'ecc'\], got 'orb'"),
    ({"max_side": 16}, r"CmcOptions.max_side: expected an integer >= 32"),
    ({"max_side": 480.0}, r"CmcOptions.max_side: expected an integer"),
    ({"max_corners": True}, r"CmcOptions.max_corners: expected an integer"),
    ({"quality": 0.0}, r"CmcOptions.quality: expected a number > 0.0"),
    ({"ransac_threshold": float("nan")}, r"CmcOptions.ransac_threshold: expected a number"),
    ({"ecc_motion": "homography"}, r"CmcOptions.ecc_motion: expected one of"),
    ({"min_inliers": 2}, r"CmcOptions.min_inliers: expected an integer >= 3"),
])
def test_options_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        CmcOptions(**changes)


def test_options_accept_numpy_scalars_and_reject_other_objects():
    options = CmcOptions(max_side=np.int64(320), quality=np.float32(0.02))
    assert options.max_side == 320 and type(options.max_side) is int and type(options.quality) is float
    with pytest.raises(ValueError, match="^options: expected a CmcOptions"):
        CameraMotionEstimator({"method": "ecc"})  # type: ignore[arg-type]


# -- warp_packed_state ---------------------------------------------------------------------------

@pytest.fixture()
def packed_tracks() -> np.ndarray:
    """(FLOAT_WIDTH, 6) tracks after initiate / predict / update / predict, with a score row."""
    rng = np.random.default_rng(4)
    kf = KalmanBoxFilter()
    xyah = np.stack([rng.uniform(0, 1920, 6), rng.uniform(0, 1080, 6), rng.uniform(0.3, 0.6, 6),
                     rng.uniform(30, 300, 6)])
    x = kf.initiate_packed(xyah, FLOAT_WIDTH)
    for _ in range(2):
        kf.predict_packed(x)
        kf.update_packed(x, xyah + rng.normal(0, 3, xyah.shape))
    kf.predict_packed(x)
    x[SCORE] = rng.uniform(0.5, 1.0, 6)
    return x


def dense_reference(f: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means (T, 8) and covariances (T, 8, 8) moved by the full 8x8 T x + shift, T P Tᵀ."""
    r, s = warp[:, :2], scale_of(warp)
    t8 = np.eye(8)
    t8[0:2, 0:2] = t8[4:6, 4:6] = r
    t8[3, 3] = t8[7, 7] = s
    mean = f[:8].T @ t8.T
    mean[:, :2] += warp[:, 2]
    return mean, t8 @ unpack_cov(f) @ t8.T


WARPS = [similarity(0.0, 1.0, (12.5, -7.25), (0, 0)), similarity(2.0, 1.03, (4.0, 9.0), (960, 540)),
         similarity(-7.0, 0.95, (-20.0, 3.0), (100, 50))]


@pytest.mark.parametrize("warp", WARPS)
def test_warp_matches_the_dense_transform(packed_tracks, warp):
    assert np.array_equal(packed_tracks[PP][0], packed_tracks[PP][1])  # this filter's x / y blocks are equal
    mean_ref, cov_ref = dense_reference(packed_tracks, warp)
    f = packed_tracks.copy()
    warp_packed_state(f, warp)
    assert np.allclose(f[:8].T, mean_ref, rtol=1e-12, atol=1e-9)
    assert np.allclose(unpack_cov(f), cov_ref, rtol=1e-10, atol=1e-9 * np.abs(cov_ref).max())  # x-y terms 0 too
    assert np.array_equal(f[SCORE], packed_tracks[SCORE]) and np.array_equal(f[2], packed_tracks[2])


def test_unequal_blocks_keep_the_exact_diagonal(packed_tracks):
    f = packed_tracks.copy()
    for block in (PP, PV, VV):
        f[block.start + 1] *= 2.5  # y variances unlike x
    scale_only = similarity(0.0, 1.1, (3.0, 4.0), (0, 0))
    g = f.copy()
    warp_packed_state(g, scale_only)
    assert np.allclose(unpack_cov(g), dense_reference(f, scale_only)[1], rtol=1e-12)  # no rotation: exact
    rotation = WARPS[2]
    _, cov_ref = dense_reference(f, rotation)
    assert np.abs(cov_ref[:, 0, 1]).max() > 1e-3  # the rotation does create an x-y covariance ...
    warp_packed_state(f, rotation)
    cov = unpack_cov(f)
    i = np.arange(8)
    assert np.allclose(cov[:, i, i], cov_ref[:, i, i], rtol=1e-12)  # ... which is dropped: the diagonal stays exact
    assert np.allclose(cov[:, i[:4], i[:4] + 4], cov_ref[:, i[:4], i[:4] + 4], rtol=1e-12)


def test_mahalanobis_distance_is_invariant(packed_tracks):
    """After warping tracks and detections alike, the gate sees the same distances (what CMC restores)."""
    kf, warp = KalmanBoxFilter(), WARPS[1]
    z = packed_tracks[:4] + np.array([[6.0], [-4.0], [0.02], [5.0]])
    before = ((z - kf.innovation_packed(packed_tracks)[0]) ** 2 / kf.innovation_packed(packed_tracks)[1]).sum(0)
    z_moved = z.copy()
    z_moved[:2] = warp[:, :2] @ z[:2] + warp[:, 2:]
    z_moved[3] *= scale_of(warp)
    f = packed_tracks.copy()
    warp_packed_state(f, warp)
    proj, s = kf.innovation_packed(f)
    assert np.allclose(((z_moved - proj) ** 2 / s).sum(0), before, rtol=1e-9)


def test_identity_leaves_the_state_bit_identical(packed_tracks):
    f = packed_tracks.copy()
    f[0, 0] = np.nan  # even values an arithmetic pass would not preserve bit for bit
    before = f.tobytes()
    warp_packed_state(f, identity_warp())
    warp_packed_state(f, [[1, 0, 0], [0, 1, 0]])
    warp_packed_state(np.zeros((FLOAT_WIDTH, 0)), WARPS[1])  # no tracks: nothing to do
    assert f.tobytes() == before


@pytest.mark.parametrize("warp, message", [
    (np.eye(3), r"warp: expected a \(2, 3\) array"), ("identity", r"warp: expected a \(2, 3\) array"),
    (np.array([[1.0, 0, np.inf], [0, 1, 0]]), "warp: expected finite values"),
    (np.array([[0.0, 0, 1], [0, 0, 1]]), r"warp: expected det R > 0"),
    (np.array([[-1.0, 0, 0], [0, 1, 0]]), r"warp: expected det R > 0"),
])
def test_bad_warps_are_refused(packed_tracks, warp, message):
    with pytest.raises(ValueError, match=message):
        warp_packed_state(packed_tracks, warp)


def test_bad_state_arrays_are_refused():
    with pytest.raises(ValueError, match=r"^f: expected a \(>= 20, T\) float64"):
        warp_packed_state(np.zeros((FLOAT_WIDTH, 3), np.float32), WARPS[0])
    with pytest.raises(ValueError, match=r"^f: expected"):
        warp_packed_state(np.zeros((8, 3)), WARPS[0])
