"""Constant-velocity Kalman filter on (cx, cy, aspect, h), vectorised over all tracks.

The motion model (transition ``F``, measurement ``H``) is *defined* by a filterpy
``KalmanFilter(dim_x=8, dim_z=4)``; the per-frame work then runs on stacked arrays so that
predicting, gating and updating T tracks costs a handful of numpy calls instead of T filter
objects. The equations are filterpy's, term for term (Joseph-form covariance update), and a test
checks the batch against filterpy's per-track ``predict``/``update`` to 1e-9.

Noise follows JDE/CSTrack: standard deviations proportional to the box height, with weights
``std_weight_position`` (1/20) and ``std_weight_velocity`` (1/160).

Shapes: T tracks; mean (T, 8) = [cx, cy, a, h, vcx, vcy, va, vh]; cov (T, 8, 8);
measurements (K, 4) = [cx, cy, a, h] in pixels (a = w / h).
"""
from __future__ import annotations

import numpy as np


def xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N, 4) [cx, cy, w/h, h]."""
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    return np.stack([xyxy[:, 0] + 0.5 * w, xyxy[:, 1] + 0.5 * h, w / h, h], axis=1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(N, >=4) [cx, cy, a, h, ...] -> (N, 4) xyxy."""
    h = xyah[:, 3]
    w = xyah[:, 2] * h
    x1 = xyah[:, 0] - 0.5 * w
    y1 = xyah[:, 1] - 0.5 * h
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1)


def make_filterpy_model(dt: float = 1.0):
    """The motion model as a filterpy ``KalmanFilter``: F (constant velocity) and H (observe xyah).

    filterpy is imported here, not at module import: it pulls scipy.stats (about a second).
    """
    from filterpy.kalman import KalmanFilter

    kf = KalmanFilter(dim_x=8, dim_z=4)
    kf.F = np.eye(8)
    kf.F[:4, 4:] = dt * np.eye(4)  # x_{k+1} = x_k + dt * v_k
    kf.H = np.eye(4, 8)            # z = (cx, cy, a, h)
    return kf


class KalmanBoxFilter:
    """Batch Kalman filter for boxes; matrices taken from :func:`make_filterpy_model`."""

    def __init__(self, std_weight_position: float = 1.0 / 20, std_weight_velocity: float = 1.0 / 160):
        model = make_filterpy_model()
        self.F: np.ndarray = np.asarray(model.F, dtype=np.float64)
        self.H: np.ndarray = np.asarray(model.H, dtype=np.float64)
        self._FT = np.ascontiguousarray(self.F.T)
        self._HT = np.ascontiguousarray(self.H.T)
        self._I = np.eye(8)
        self.w_pos = float(std_weight_position)
        self.w_vel = float(std_weight_velocity)

    # -- noise models (diagonal, scaled by box height) -------------------------------------
    def initial_std(self, h: np.ndarray) -> np.ndarray:
        """(K,) heights -> (K, 8) initial state standard deviations."""
        p, v = 2 * self.w_pos * h, 10 * self.w_vel * h
        return np.stack([p, p, np.full_like(h, 1e-2), p, v, v, np.full_like(h, 1e-5), v], axis=1)

    def process_noise(self, h: np.ndarray) -> np.ndarray:
        """(T,) heights -> (T, 8, 8) Q."""
        p, v = self.w_pos * h, self.w_vel * h
        std = np.stack([p, p, np.full_like(h, 1e-2), p, v, v, np.full_like(h, 1e-5), v], axis=1)
        return _diag(std * std)

    def measurement_noise(self, h: np.ndarray) -> np.ndarray:
        """(T,) heights -> (T, 4, 4) R."""
        p = self.w_pos * h
        std = np.stack([p, p, np.full_like(h, 1e-1), p], axis=1)
        return _diag(std * std)

    # -- the filter ----------------------------------------------------------------------
    def initiate(self, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, 4) measurements -> mean (K, 8) with zero velocity, cov (K, 8, 8)."""
        mean = np.zeros((len(xyah), 8))
        mean[:, :4] = xyah
        std = self.initial_std(xyah[:, 3])
        return mean, _diag(std * std)

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x = F x;  P = F P Fᵀ + Q(h), with Q from each track's height before the step."""
        q = self.process_noise(mean[:, 3])
        mean = mean @ self._FT
        cov = self.F @ cov @ self._FT + q
        return mean, cov

    def project(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measurement-space mean H x (T, 4) and innovation covariance S = H P Hᵀ + R (T, 4, 4)."""
        r = self.measurement_noise(mean[:, 3])
        return mean @ self._HT, self.H @ cov @ self._HT + r

    def update(self, mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row-wise update of (K, 8)/(K, 8, 8) with measurements z (K, 4); filterpy's equations."""
        r = self.measurement_noise(mean[:, 3])
        y = z - mean @ self._HT                        # innovation y = z - H x
        pht = cov @ self._HT                           # P Hᵀ
        s = self.H @ pht + r                           # S = H P Hᵀ + R
        gain = pht @ np.linalg.inv(s)                  # K = P Hᵀ S⁻¹
        mean = mean + np.einsum("kij,kj->ki", gain, y)  # x = x + K y
        i_kh = self._I - gain @ self.H                 # Joseph form:
        cov = i_kh @ cov @ i_kh.transpose(0, 2, 1) + gain @ r @ gain.transpose(0, 2, 1)
        return mean, cov

    def gating_inverse(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-track gating terms: projected mean (T, 4), S⁻¹ (T, 4, 4), and diag(S) (T, 4).

        diag(S) bounds the gate per coordinate: dᵀS⁻¹d <= g implies |d_k| <= sqrt(g·S_kk), which
        lets candidate pairs be found by a sorted sweep before any Mahalanobis distance is computed.
        """
        z, s = self.project(mean, cov)
        return z, np.linalg.inv(s), np.diagonal(s, axis1=1, axis2=2)


def mahalanobis_sq_pairs(z_tracks: np.ndarray, s_inv: np.ndarray, z_dets: np.ndarray,
                         ti: np.ndarray, dj: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance for the candidate pairs (ti[p], dj[p]) only -> (P,)."""
    d = z_dets[dj] - z_tracks[ti]
    return np.einsum("pi,pij,pj->p", d, s_inv[ti], d)


def _diag(values: np.ndarray) -> np.ndarray:
    """(K, n) -> (K, n, n) diagonal matrices."""
    k, n = values.shape
    out = np.zeros((k, n, n))
    idx = np.arange(n)
    out[:, idx, idx] = values
    return out
