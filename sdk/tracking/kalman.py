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

Packed path (what the tracker runs every frame). F, Q, H, R and the initial covariance couple a
coordinate only with its own velocity, so every covariance the filter ever produces is zero outside
the four 2×2 blocks {(i, i), (i, i+4), (i+4, i), (i+4, i+4)}, and S = H P Hᵀ + R is diagonal. The
``*_packed`` methods store the tracks *attribute-major*: one (PACKED_WIDTH, T) float64 array whose
rows are ``[mean (8) | P_ii (4) | P_i,i+4 (4) | P_i+4,i+4 (4)]``, and apply filterpy's equations
to those blocks in closed form: about ten elementwise numpy calls on contiguous (4, T) blocks per
predict or update instead of batched 8×8 matrix products and a 4×4 inverse. (Attribute-major because an operation on
a (T, 4) column slice of a row-major table runs numpy's inner loop over 4 elements T times and
costs 3-5× more than the same operation on a contiguous (4, T) block.) :func:`unpack_cov` rebuilds
(T, 8, 8) covariances so a test can hold the packed path against filterpy as well. Predict is
bit-identical to filterpy (F has 0/1 entries, so F P Fᵀ is exact sums); update agrees to rounding
(~1e-12 relative; see :meth:`KalmanBoxFilter.update_packed`).
"""
from __future__ import annotations

import numpy as np

# Rows of the packed (PACKED_WIDTH, T) track array (see the module docstring).
MEAN, PP, PV, VV = slice(0, 8), slice(8, 12), slice(12, 16), slice(16, 20)
PACKED_WIDTH = 20


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


def xyah_rows_to_xyxy(xyah: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Attribute-major :func:`xyah_to_xyxy`: (>= 4, N) rows [cx, cy, a, h, ...] -> (4, N) xyxy rows.

    The same floating-point operations as :func:`xyah_to_xyxy`, so the results are bit-identical.
    """
    n = xyah.shape[1]
    wh = np.empty((2, n))
    np.multiply(xyah[2], xyah[3], out=wh[0])
    wh[1] = xyah[3]
    out = np.empty((4, n)) if out is None else out
    np.multiply(wh, 0.5, out=out[:2])
    np.subtract(xyah[:2], out[:2], out=out[:2])
    np.add(out[:2], wh, out=out[2:])
    return out


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
        expected_f = np.eye(8)
        expected_f[:4, 4:] = np.eye(4)
        if not (np.array_equal(self.F, expected_f) and np.array_equal(self.H, np.eye(4, 8))):
            raise ValueError("KalmanBoxFilter: the packed path needs F = [[I, I], [0, I]] and H = [I, 0]")
        # Packed-path noise as (weight · height)², the same products as process_noise /
        # measurement_noise / initial_std: one weight per packed covariance row (0 for the aspect
        # and the off-diagonal rows), then the height-independent aspect terms ((1e-2)², (1e-5)²,
        # (1e-1)²) added to an exact 0, so the values are bit-identical to the matrix versions.
        wp, wv = self.w_pos, self.w_vel
        self._q_w = np.array([wp, wp, 0, wp, 0, 0, 0, 0, wv, wv, 0, wv])[:, None]
        self._q_c = np.array([0, 0, 1e-2 * 1e-2, 0, 0, 0, 0, 0, 0, 0, 1e-5 * 1e-5, 0])[:, None]
        self._r_w = np.array([wp, wp, 0, wp])[:, None]
        self._r_c = np.array([0, 0, 1e-1 * 1e-1, 0])[:, None]
        p0, v0 = 2 * wp, 10 * wv
        self._init_w = np.array([p0, p0, 0, p0, 0, 0, 0, 0, v0, v0, 0, v0])[:, None]
        self._init_c = self._q_c

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

    # -- packed path ((PACKED_WIDTH, T) attribute-major; see the module docstring) -----------
    def initiate_packed(self, xyah: np.ndarray, width: int = PACKED_WIDTH) -> np.ndarray:
        """(4, K) measurements -> (width, K): zero velocity, diagonal initial P (extra rows 0)."""
        out = np.zeros((width, xyah.shape[1]))
        out[:4] = xyah
        cov = out[PP.start:PACKED_WIDTH]
        np.multiply(self._init_w, xyah[3], out=cov)
        cov *= cov
        cov += self._init_c
        return out

    def predict_packed(self, x: np.ndarray) -> None:
        """In place on (>= PACKED_WIDTH, T): x = F x;  P = F P Fᵀ + Q(h).

        Per block [[a, b], [b, d]]: F P Fᵀ = [[(a + b) + (b + d), b + d], [b + d, d]], the very
        sums filterpy's products form (all other terms are exact zeros).
        """
        q = self._q_w * x[3]            # Q uses the height before the step
        q *= q
        q += self._q_c
        x[:4] += x[4:8]
        x[PP] += x[PV]
        x[PV] += x[VV]
        x[PP] += x[PV]
        x[PP.start:PACKED_WIDTH] += q

    def innovation_packed(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Projected mean H x (4, T) (a view) and the diagonal of S = H P Hᵀ + R (4, T)."""
        r = self._r_w * x[3]
        r *= r
        r += self._r_c
        r += x[PP]
        return x[:4], r

    def update_packed(self, x: np.ndarray, z: np.ndarray, mask: np.ndarray | None = None) -> None:
        """In place on (>= PACKED_WIDTH, K) with measurements z (4, K): filterpy's update.

        With S diagonal the gain of each coordinate is k1 = a / s (position) and k2 = b / s
        (velocity), s = a + r, for the block [[a, b], [b, d]]. The covariance is the optimal-gain
        form (I − KH) P = [[u·a, u·b], [u·b, d − k2·b]] with u = 1 − k1 = r / s, which equals
        filterpy's Joseph form (I − KH) P (I − KH)ᵀ + K R Kᵀ exactly in real arithmetic (the gain
        is the optimal one) and is unconditionally positive here (0 < u < 1, a·d > b²); in floating
        point the two agree to ~1e-12 relative, with a third of the operations.

        ``mask`` (K,) bool, optional: update only those columns. The others get a zero gain, which
        leaves them bit for bit unchanged (x + 0·y, P·1, d − 0·b) as long as their z is finite;
        updating every column that way is cheaper than gathering and scattering the masked ones.
        """
        if not x.flags.c_contiguous:  # the reshapes below must be views: work on a contiguous copy
            xc = np.ascontiguousarray(x)
            self.update_packed(xc, z, mask)
            x[...] = xc
            return
        n = x.shape[1]
        r = self._r_w * x[3]
        r *= r
        r += self._r_c
        r += x[PP]                                      # s = a + r
        ab = x[PP.start:PV.stop].reshape(2, 4, n)       # [a; b], a view
        k = ab / r                                      # [k1; k2]
        if mask is not None:
            k *= mask
        y = z - x[:4]
        x[:8].reshape(2, 4, n)[...] += k * y            # x += K y
        x[VV] -= k[1] * x[PV]                           # d − k2·b (b before the update)
        ab *= 1.0 - k[0]                                # u·a, u·b

    def pack(self, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """(T, 8) mean and block-structured (T, 8, 8) cov -> (PACKED_WIDTH, T)."""
        i = np.arange(4)
        return np.concatenate([mean.T, cov[:, i, i].T, cov[:, i, i + 4].T, cov[:, i + 4, i + 4].T])

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(>= PACKED_WIDTH, T) -> mean (T, 8), cov (T, 8, 8), for tests and inspection."""
        return x[MEAN].T.copy(), unpack_cov(x)

    # -- gating ------------------------------------------------------------------------------
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


def unpack_cov(x: np.ndarray) -> np.ndarray:
    """(>= PACKED_WIDTH, T) packed tracks -> (T, 8, 8) covariances."""
    cov = np.zeros((x.shape[1], 8, 8))
    i = np.arange(4)
    cov[:, i, i], cov[:, i + 4, i + 4] = x[PP].T, x[VV].T
    cov[:, i, i + 4] = cov[:, i + 4, i] = x[PV].T
    return cov


def _diag(values: np.ndarray) -> np.ndarray:
    """(K, n) -> (K, n, n) diagonal matrices."""
    k, n = values.shape
    out = np.zeros((k, n, n))
    idx = np.arange(n)
    out[:, idx, idx] = values
    return out
