"""The batch Kalman filter equals filterpy's KalmanFilter, track by track, to 1e-9."""
from __future__ import annotations

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from mottrack_sdk.tracking.kalman import (KalmanBoxFilter, mahalanobis_sq_pairs, make_filterpy_model, unpack_cov,
                                          xyah_to_xyxy, xyxy_to_xyah)


def _random_states(rng: np.random.Generator, n: int, kf: KalmanBoxFilter) -> tuple[np.ndarray, np.ndarray]:
    xyah = np.column_stack([rng.uniform(0, 1920, n), rng.uniform(0, 1080, n), rng.uniform(0.3, 0.6, n),
                            rng.uniform(30, 300, n)])
    mean, cov = kf.initiate(xyah)
    mean[:, 4:] = rng.normal(0, 3, (n, 4))
    a = rng.normal(size=(n, 8, 8))
    cov = cov + 0.5 * a @ a.transpose(0, 2, 1)  # a generic SPD covariance, not just the initial diagonal
    return mean, cov


def _filterpy_track(mean: np.ndarray, cov: np.ndarray) -> KalmanFilter:
    f = make_filterpy_model()
    f.x = mean.reshape(8, 1).copy()
    f.P = cov.copy()
    return f


def test_filterpy_defines_the_model():
    kf = KalmanBoxFilter()
    ref = make_filterpy_model()
    assert isinstance(ref, KalmanFilter)
    np.testing.assert_array_equal(kf.F, ref.F)
    np.testing.assert_array_equal(kf.H, ref.H)
    assert ref.F[0, 4] == 1.0 and ref.F[4, 4] == 1.0 and ref.F[4, 0] == 0.0  # constant velocity


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_predict_and_update_match_filterpy_per_track(seed):
    rng = np.random.default_rng(seed)
    kf = KalmanBoxFilter()
    mean, cov = _random_states(rng, 25, kf)
    z = mean[:, :4] + rng.normal(0, 5, (25, 4))
    z[:, 2] = np.abs(z[:, 2])
    p_mean, p_cov = kf.predict(mean, cov)
    u_mean, u_cov = kf.update(p_mean, p_cov, z)
    for i in range(25):
        ref = _filterpy_track(mean[i], cov[i])
        ref.predict(Q=kf.process_noise(mean[i:i + 1, 3])[0])
        np.testing.assert_allclose(p_mean[i], ref.x.ravel(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(p_cov[i], ref.P, rtol=0, atol=1e-9)
        ref.update(z[i].reshape(4, 1), R=kf.measurement_noise(p_mean[i:i + 1, 3])[0])
        np.testing.assert_allclose(u_mean[i], ref.x.ravel(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(u_cov[i], ref.P, rtol=0, atol=1e-9)


def test_initiate_follows_the_jde_noise_model():
    kf = KalmanBoxFilter(std_weight_position=1 / 20, std_weight_velocity=1 / 160)
    mean, cov = kf.initiate(np.array([[100.0, 200.0, 0.5, 80.0]]))
    np.testing.assert_array_equal(mean[0], [100, 200, 0.5, 80, 0, 0, 0, 0])
    expected = np.array([2 / 20 * 80, 2 / 20 * 80, 1e-2, 2 / 20 * 80, 10 / 160 * 80, 10 / 160 * 80, 1e-5,
                         10 / 160 * 80]) ** 2
    np.testing.assert_allclose(np.diag(cov[0]), expected, rtol=1e-12)


def test_gating_distance_matches_filterpy_innovation_covariance():
    rng = np.random.default_rng(5)
    kf = KalmanBoxFilter()
    mean, cov = _random_states(rng, 12, kf)
    dets = mean[:, :4] + rng.normal(0, 4, (12, 4))
    z, s_inv, s_diag = kf.gating_inverse(mean, cov)
    ti, dj = np.repeat(np.arange(12), 12), np.tile(np.arange(12), 12)
    d2 = mahalanobis_sq_pairs(z, s_inv, dets, ti, dj)
    for p in range(0, len(ti), 7):
        i, j = ti[p], dj[p]
        ref = _filterpy_track(mean[i], cov[i])
        r = kf.measurement_noise(mean[i:i + 1, 3])[0]
        s = ref.H @ ref.P @ ref.H.T + r  # filterpy's S
        y = dets[j] - (ref.H @ ref.x).ravel()
        assert d2[p] == pytest.approx(float(y @ np.linalg.solve(s, y)), rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(s_diag[i], np.diag(s), rtol=1e-12)


def test_box_conversions_round_trip():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 1000, (50, 2))
    xyxy = np.concatenate([xy, xy + rng.uniform(1, 300, (50, 2))], axis=1)
    np.testing.assert_allclose(xyah_to_xyxy(xyxy_to_xyah(xyxy)), xyxy, atol=1e-9)


# The tracker runs the packed path (2x2 covariance blocks); it must equal filterpy track by track too,
# over long predict/update sequences including ~100 missed frames in a row.
@pytest.mark.parametrize("seed", [0, 1])
def test_packed_path_matches_filterpy_per_track(seed):
    rng = np.random.default_rng(seed)
    kf, n = KalmanBoxFilter(), 20
    xyah = np.column_stack([rng.uniform(0, 1920, n), rng.uniform(0, 1080, n), rng.uniform(0.3, 0.6, n),
                            rng.uniform(30, 300, n)])
    x = kf.initiate_packed(np.ascontiguousarray(xyah.T))
    mean, cov = kf.initiate(xyah)
    np.testing.assert_array_equal(unpack_cov(x), cov)
    refs = []
    for i in range(n):
        f = make_filterpy_model()
        f.x, f.P = mean[i].reshape(8, 1).copy(), cov[i].copy()
        refs.append(f)
    for step in range(250):
        h = x[3].copy()
        kf.predict_packed(x)
        for i, f in enumerate(refs):
            f.predict(Q=kf.process_noise(h[i:i + 1])[0])
        matched = rng.random(n) < 0.7
        matched[:4] = step % 120 > 100                       # four tracks miss ~100 frames in a row
        z = x[:4] + rng.normal(0, 3, (4, n)) * np.array([[1], [1], [0.01], [1]])
        h = x[3].copy()
        kf.update_packed(x, z, matched)
        for i in np.nonzero(matched)[0]:
            refs[i].update(z[:, i].reshape(4, 1), R=kf.measurement_noise(h[i:i + 1])[0])
        ref_mean = np.array([f.x.ravel() for f in refs])
        ref_cov = np.array([f.P for f in refs])
        np.testing.assert_allclose(x[:8].T, ref_mean, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(unpack_cov(x), ref_cov, rtol=1e-12, atol=1e-9)
        z_proj, s = kf.innovation_packed(x)
        _, _, s_diag = kf.gating_inverse(ref_mean, ref_cov)
        np.testing.assert_allclose(s.T, s_diag, rtol=1e-12, atol=1e-9)
