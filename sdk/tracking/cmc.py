"""Camera-motion compensation (CMC): the frame-to-frame image warp, and moving Kalman states with it.

What it is for: when the camera pans, zooms or shakes, every box in the image moves by the camera's
motion on top of its own. The tracker's Kalman filter predicts in image coordinates, so without
compensation a pan of a few pixels per frame (or a one-frame shake) puts the predictions beside
the detections: the Mahalanobis gate and the IoU of the association cascade then miss, and tracks
are lost or swap. :class:`CameraMotionEstimator` measures the global image motion between
consecutive frames as a similarity (rotation, uniform scale, translation); :func:`warp_packed_state`
moves every track's Kalman state (mean and covariance) by it, so that prediction and detection are
in the same (current) image coordinates again.

Coordinates: a warp is a float64 (2, 3) matrix ``[R | t]`` mapping a pixel position of the *previous*
frame to the same scene point's position in the *current* frame, ``p_cur = R @ p_prev + t``, in
full-resolution pixels with OpenCV's convention (pixel (0, 0)'s centre at (0, 0)). The identity
means "no camera motion" (or: not measured).

Cost (``benchmarks/bench_cmc.py``, 1920x1080 BGR frames, the 2-core AVX2 CPU): the default
``sparse_flow`` path is an exact 2x area halving of the colour frame (mostly reading the 6 MB
frame), a grey conversion and one more halving (to ``max_side`` = 480 px; ~0.6 ms together),
Shi-Tomasi corners on the frame halved once more (~0.35 ms, kept for the next frame), pyramidal
Lucas-Kanade from the previous small frame and a RANSAC similarity (~0.6 ms): about 2 ms per frame.
``Tracker.update`` passes the halving its preprocessing made already (``halved``), which saves the
full-frame read: ~0.5-0.7 ms less, the same warp. ``ecc`` (dense, iterative, coarse to fine over
three scales) takes about 30-40 ms. Warping the states is a dozen elementwise numpy operations
(~30-50 us for 50 tracks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from mottrack_sdk.tracking.kalman import PACKED_WIDTH, PP, PV, VV
from mottrack_sdk.types import MIN_FRAME_SIDE

__all__ = ["CMC_METHODS", "CameraMotionEstimator", "CmcOptions", "check_warp", "identity_warp", "warp_packed_state"]

CMC_METHODS = ("sparse_flow", "ecc")
ECC_MOTIONS = ("euclidean", "affine")
MIN_SCALE, MAX_SCALE = 0.5, 2.0  # a frame-to-frame zoom outside this is a failed estimate
_ECC_COARSE_LEVELS = 2  # ECC area-halved passes before the max_side one


def identity_warp() -> np.ndarray:
    """The (2, 3) float64 identity warp (a new array)."""
    return np.eye(2, 3)


@dataclass(frozen=True)
class CmcOptions:
    """Settings of :class:`CameraMotionEstimator` (image distances in *downscaled* pixels).

    method: ``"sparse_flow"`` (corners + Lucas-Kanade + RANSAC, the default) or ``"ecc"``
        (OpenCV's dense enhanced-correlation alignment). Turning CMC off is the caller's choice.
    max_side: the frame is converted to grey and area-downscaled so that its longer side is at
        most this many pixels (1920x1080 -> 480x270 by default, an exact 4x block average).
    max_corners, quality, min_distance, block_size: ``cv2.goodFeaturesToTrack`` on the previous
        frame (at most ``max_corners`` Shi-Tomasi corners, ``quality`` relative to the best one,
        at least ``min_distance`` apart).
    corner_level: corners are found on the small frame area-halved this many times (0: on the
        small frame itself) and tracked from their mapped-back positions at full small size.
    flow_window, flow_levels: Lucas-Kanade window side and pyramid levels above the base image.
    ransac_threshold: RANSAC inlier distance of ``cv2.estimateAffinePartial2D``.
    min_inliers: fewer tracked points or RANSAC inliers than this -> no estimate (identity).
    ecc_motion: ``"euclidean"`` (rotation + translation) or ``"affine"`` (6 parameters, projected
        to the nearest similarity afterwards, so zoom is measured).
    ecc_iterations, ecc_epsilon: ECC stopping criteria (iteration cap, correlation increment).

    Why these defaults (``benchmarks/bench_cmc.py``, people walking in the frame): walkers move by
    about a small-image pixel per frame, so a RANSAC threshold of 1 px counted them as inliers and
    biased the warp (mean corner error 1.3 px at 1080p); 0.3 px (Lucas-Kanade is good to ~0.05 px)
    cuts that to ~0.15 px. People are the most contrasted corners of a street scene: ``min_distance``
    12 and ``quality`` 0.001 keep the 200 corners spread over the background, weak texture included
    (0.01 lost it in a low-texture scene: 3x the error). ``corner_level`` 1 finds them on 240x135
    (0.2 ms instead of 0.8 ms) at equal median accuracy. A 9 px window on 2 pyramid levels still
    follows a 600 px/s pan with 6 px shake (20-40 px per frame at 1080p) and costs half of 15 px on 3.
    """

    method: str = "sparse_flow"
    max_side: int = 480
    max_corners: int = 200
    quality: float = 0.001
    min_distance: float = 12.0
    block_size: int = 3
    corner_level: int = 1
    flow_window: int = 9
    flow_levels: int = 2
    ransac_threshold: float = 0.3
    min_inliers: int = 12
    ecc_motion: str = "affine"
    ecc_iterations: int = 30
    ecc_epsilon: float = 1e-4

    def __post_init__(self) -> None:
        for f in fields(self):  # numpy scalars (np.int64(480), np.float32(0.01)) as Python numbers
            value = getattr(self, f.name)
            if isinstance(value, np.generic):
                object.__setattr__(self, f.name, value.item())
        _choice(self, "method", CMC_METHODS)
        _choice(self, "ecc_motion", ECC_MOTIONS)
        _integer(self, "max_side", 32, 8192)
        _integer(self, "max_corners", 4, 100_000)
        _integer(self, "block_size", 3, 31)
        _integer(self, "corner_level", 0, 4)
        _integer(self, "flow_window", 5, 101)
        _integer(self, "flow_levels", 0, 8)
        _integer(self, "min_inliers", 3, 100_000)
        _integer(self, "ecc_iterations", 1, 10_000)
        _number(self, "quality", 0.0, 1.0, open_low=True)
        _number(self, "min_distance", 0.0, 1000.0)
        _number(self, "ransac_threshold", 0.0, 1000.0, open_low=True)
        _number(self, "ecc_epsilon", 0.0, 1.0, open_low=True)


class CameraMotionEstimator:
    """Frame-to-frame camera motion of a video, one :meth:`estimate` call per frame, in order.

    Keeps the previous frame (grey, downscaled) and, for ``sparse_flow``, its corners. Every call
    makes the given frame the reference for the next one, whatever its result.
    """

    def __init__(self, options: CmcOptions | None = None) -> None:
        if options is not None and not isinstance(options, CmcOptions):
            raise ValueError(f"options: expected a CmcOptions or None, got {type(options).__name__}")
        self.options = options or CmcOptions()
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame: the next :meth:`estimate` returns the identity."""
        self._prev: np.ndarray | None = None          # (h, w) uint8 grey, downscaled
        self._prev_points: np.ndarray | None = None   # (K, 1, 2) float32 corners of _prev
        self._frame_size: tuple[int, int] | None = None  # full-resolution (H, W) of _prev

    def estimate(self, frame: np.ndarray, exclude_xyxy: np.ndarray | None = None,
                 halved: np.ndarray | None = None) -> np.ndarray:
        """The (2, 3) float64 similarity mapping the previous frame's pixels to ``frame``'s.

        ``frame``: (H, W, 3) uint8 BGR or (H, W) uint8 grey. ``exclude_xyxy``: optional (N, 4) boxes
        (x1, y1, x2, y2, pixels of ``frame``) whose content must not count, e.g. the frame's
        detections (people move on their own): ``sparse_flow`` takes no corners inside them for
        the next estimate, ``ecc`` masks them out of this one. Default: nothing excluded.
        ``halved``: optional ``preprocessing.halve_area(frame)`` of a BGR frame with even sides, when
        the caller has it already (``FrameDetector.last_halved``): the downscale then starts from
        it instead of reading the full frame again, with the same result.

        Returns the identity for the first frame (or after :meth:`reset`), after a change of frame
        size, when too few points are tracked or RANSAC / ECC fails, and for a degenerate result
        (non-finite, reflected, or a scale outside [0.5, 2]). Raises ``ValueError`` naming
        ``frame`` / ``exclude_xyxy`` / ``halved`` for bad input (the estimator is then unchanged).
        """
        gray, scale = _small_gray(frame, self.options.max_side, halved)
        mask = _exclusion_mask(exclude_xyxy, gray.shape, scale)
        size = (frame.shape[0], frame.shape[1])
        warp = None
        if self._prev is not None and size == self._frame_size:
            small = self._sparse_flow(gray) if self.options.method == "sparse_flow" else self._ecc(gray, mask)
            warp = None if small is None else _plausible(_to_full_resolution(small, scale))
        self._prev, self._frame_size = gray, size
        if self.options.method == "sparse_flow":
            self._prev_points = self._corners(gray, mask)
        return identity_warp() if warp is None else warp

    # -- sparse flow ------------------------------------------------------------------------------
    def _corners(self, gray: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        """(K, 1, 2) float32 corners of ``gray`` (small-image pixels), found ``corner_level`` halvings down."""
        import cv2

        o = self.options
        image, levels = gray, 0
        while levels < o.corner_level and min(image.shape) // 2 >= MIN_FRAME_SIDE:
            image, mask, levels = _halve(image), _halve_mask(mask), levels + 1
        k = 2 ** levels
        points = cv2.goodFeaturesToTrack(image, o.max_corners, o.quality, o.min_distance / k, mask=mask,
                                         blockSize=o.block_size)
        return points if points is None or k == 1 else (points + 0.5) * k - 0.5

    def _sparse_flow(self, gray: np.ndarray) -> np.ndarray | None:
        """Small-image warp from LK-tracked corners and a RANSAC similarity, or None."""
        import cv2

        o, p0 = self.options, self._prev_points
        if p0 is None or len(p0) < o.min_inliers:
            return None
        p1, status, _err = cv2.calcOpticalFlowPyrLK(
            self._prev, gray, p0, None, winSize=(o.flow_window, o.flow_window), maxLevel=o.flow_levels,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
        ok = status.reshape(-1) == 1
        if int(ok.sum()) < o.min_inliers:
            return None
        warp, inliers = cv2.estimateAffinePartial2D(p0[ok], p1[ok], method=cv2.RANSAC,
                                                    ransacReprojThreshold=o.ransac_threshold,
                                                    maxIters=2000, confidence=0.995, refineIters=10)
        if warp is None or inliers is None or int(inliers.sum()) < o.min_inliers:
            return None
        return warp

    # -- ECC ---------------------------------------------------------------------------------------
    def _ecc(self, gray: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        """Small-image warp from ``cv2.findTransformECC`` (previous = template), or None.

        Coarse to fine over up to ``_ECC_COARSE_LEVELS`` area halvings (while the short side stays
        >= 32 px), from the identity at the coarsest. From the identity at full size ECC's capture
        range is a few pixels: fast pans with shake (600 px/s, 6 px at 1080p) diverged with one
        coarse level; OpenCV's 5-tap Gaussian pre-smoothing widens the range too.
        """
        import cv2

        o = self.options
        motion = cv2.MOTION_EUCLIDEAN if o.ecc_motion == "euclidean" else cv2.MOTION_AFFINE
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, o.ecc_iterations, o.ecc_epsilon)
        levels = [(self._prev, gray, mask)]
        while len(levels) <= _ECC_COARSE_LEVELS and min(levels[-1][0].shape) // 2 >= 32:
            prev, cur, m = levels[-1]
            levels.append((_halve(prev), _halve(cur), _halve_mask(m)))
        warp = np.eye(2, 3)
        try:
            for i in range(len(levels) - 1, -1, -1):
                prev, cur, m = levels[i]
                warp = cv2.findTransformECC(prev, cur, warp.astype(np.float32), motion, criteria, m, 5)[1]
                warp = _to_full_resolution(warp, 0.5) if i else warp.astype(np.float64)
        except cv2.error:  # no convergence (uncorrelated frames, a flat image)
            return None
        if o.ecc_motion == "affine":  # nearest similarity: a = mean of the diagonal, b = of the skew
            a, b = (warp[0, 0] + warp[1, 1]) / 2, (warp[1, 0] - warp[0, 1]) / 2
            warp[:, :2] = [[a, -b], [b, a]]
        return warp


def warp_packed_state(f: np.ndarray, warp: np.ndarray) -> None:
    """Apply the camera warp to every track's packed Kalman state, in place.

    ``f``: (>= PACKED_WIDTH, T) float64 attribute-major track array (``TrackTable.f``; rows in
    ``kalman.py``: mean [cx, cy, a, h, vcx, vcy, va, vh], then the covariance blocks ``PP``
    (P_ii), ``PV`` (P_i,i+4), ``VV`` (P_i+4,i+4) for i = cx, cy, a, h); other rows are untouched.
    ``warp``: (2, 3) ``[R | t]`` from :meth:`CameraMotionEstimator.estimate`, s = sqrt(det R).

    The state transforms as x' = T x + (t, 0...) with T = R on (cx, cy) and on (vcx, vcy), s on h and
    vh, 1 on a and va, and P' = T P Tᵀ. Means: exact. Covariances: the h rows scale by s², a rows are
    unchanged. The x / y rows become the diagonal of R·diag(p_x, p_y)·Rᵀ, i.e. (R∘R)·(p_x, p_y), for
    each of the three blocks. In this filter p_x = p_y always (the initial, process and measurement
    noises of x and y are the same multiple of h, so both rows see identical arithmetic), and R is
    s times a rotation, so R·p·I·Rᵀ = s²·p·I: the result is T P Tᵀ exactly, x / y cross terms
    included (they are 0). Were the blocks unequal, a rotation would create an x-y covariance the
    packed layout cannot hold: it is dropped, the diagonal stays exact (for θ = 45° this is the
    mean of the two). The exact identity returns at once, so ``f`` stays bit-identical.

    Raises ``ValueError`` naming ``warp`` (not (2, 3), not finite, det R <= 0) or ``f``.
    """
    warp = check_warp(warp)
    if not isinstance(f, np.ndarray) or f.dtype != np.float64 or f.ndim != 2 or f.shape[0] < PACKED_WIDTH:
        raise ValueError(f"f: expected a (>= {PACKED_WIDTH}, T) float64 packed track array, got "
                         f"{getattr(f, 'shape', type(f).__name__)} {getattr(f, 'dtype', '')}".rstrip())
    (r00, r01, tx), (r10, r11, ty) = rows = warp.tolist()
    if rows == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] or f.shape[1] == 0:
        return
    s2 = r00 * r11 - r01 * r10
    # Stepped basic slices are views on any layout: rows (cx, vcx), (cy, vcy), (h, vh), and the
    # x / y / h rows of the three covariance blocks (PP, PV, VV are 4 rows apart).
    x, y = f[0:5:4].copy(), f[1:6:4].copy()
    f[0:5:4] = r00 * x + r01 * y + np.array([[tx], [0.0]])  # (cx, cy) <- R (cx, cy) + t
    f[1:6:4] = r10 * x + r11 * y + np.array([[ty], [0.0]])  # (vcx, vcy) <- R (vcx, vcy) + 0
    f[3:8:4] *= math.sqrt(s2)            # h, vh
    step = PV.start - PP.start
    cov_x, cov_y, cov_h = (slice(PP.start + i, VV.stop, step) for i in (0, 1, 3))
    px, py = f[cov_x].copy(), f[cov_y].copy()
    f[cov_x] = (r00 * r00) * px + (r01 * r01) * py  # diag(R diag(px, py) Rᵀ) = (R∘R) (px, py)
    f[cov_y] = (r10 * r10) * px + (r11 * r11) * py
    f[cov_h] *= s2


def check_warp(warp: Any) -> np.ndarray:
    """``warp`` as a (2, 3) float64 array [R | t] with finite values and det R > 0, or ValueError naming
    ``warp`` (both cores check with it; the C API repeats the same checks in C++)."""
    try:
        arr = np.asarray(warp, dtype=np.float64) if isinstance(warp, (np.ndarray, list, tuple)) else None
    except (TypeError, ValueError):  # ragged or non-numeric nesting
        arr = None
    if arr is None or arr.shape != (2, 3):
        raise ValueError(f"warp: expected a (2, 3) array [R | t], got {getattr(arr, 'shape', type(warp).__name__)}")
    if not np.isfinite(arr).all():
        raise ValueError("warp: expected finite values, got NaN or infinity")
    if arr[0, 0] * arr[1, 1] - arr[0, 1] * arr[1, 0] <= 0:
        raise ValueError(f"warp: expected det R > 0 (a camera motion: no collapse, no mirror), got R = "
                         f"{arr[:, :2].tolist()}")
    return arr


def _small_gray(frame: Any, max_side: int, halved: Any = None) -> tuple[np.ndarray, float]:
    """Grey, area-downscaled copy of ``frame`` and the scale factor (small px per full px)."""
    import cv2

    ok = isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and (
        frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3))
    if not ok or min(frame.shape[:2]) < MIN_FRAME_SIDE:
        got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"frame: expected an (H, W, 3) uint8 BGR or (H, W) uint8 grey image of at least "
                         f"{MIN_FRAME_SIDE}x{MIN_FRAME_SIDE} pixels, got {got}")
    if halved is not None:
        _check_halved(halved, frame)
    # Area downscale with fx = fy, so each step maps q = (p + 0.5)·k − 0.5 exactly (uniform) and so
    # does their product. Halvings first: OpenCV's exact-2x INTER_AREA path is ~8x faster than one
    # 4x step (1080p grey: 0.11 vs 0.93 ms on AVX2); a last fractional step reaches max_side. A colour
    # frame is halved before its grey conversion (the runtime's preprocessing has made that halving
    # already: ``halved``), so the full frame is read at most once per video frame.
    # The short side never goes below MIN_FRAME_SIDE: a very long, thin frame keeps more than
    # max_side on its long side rather than losing its short one.
    scale = 1.0
    if frame.ndim == 3 and max(frame.shape[:2]) / 2 >= max_side and min(frame.shape[:2]) // 2 >= MIN_FRAME_SIDE:
        frame, scale = (halved if halved is not None else _halve(np.ascontiguousarray(frame))), 0.5
    frame = np.ascontiguousarray(frame)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    while max(gray.shape) / 2 >= max_side and min(gray.shape) // 2 >= MIN_FRAME_SIDE:
        gray, scale = _halve(gray), scale * 0.5
    k = max(max_side / max(gray.shape), MIN_FRAME_SIDE / min(gray.shape))
    if k < 1.0:
        gray = cv2.resize(gray, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        scale *= k
    return (gray.copy() if gray is frame else gray), scale  # never keep the caller's buffer


def _check_halved(halved: Any, frame: np.ndarray) -> None:
    """ValueError naming ``halved`` unless it can be ``halve_area(frame)`` of a BGR frame with even sides."""
    h, w = frame.shape[:2]
    if frame.ndim != 3 or h % 2 or w % 2:
        raise ValueError(f"halved: only for (H, W, 3) BGR frames with even sides, got a frame of shape {frame.shape}")
    if not isinstance(halved, np.ndarray) or halved.dtype != np.uint8 or halved.shape != (h // 2, w // 2, 3):
        got = f"{halved.shape} {halved.dtype}" if isinstance(halved, np.ndarray) else type(halved).__name__
        raise ValueError(f"halved: expected the frame's 2x halving, a ({h // 2}, {w // 2}, 3) uint8 array, got {got}")


def _halve(image: np.ndarray) -> np.ndarray:
    """Exact 2x area downscale (:func:`mottrack_sdk.preprocessing.halve_area`; cv2 imported on first use)."""
    from mottrack_sdk.preprocessing import halve_area

    return halve_area(image)


def _halve_mask(mask: np.ndarray | None) -> np.ndarray | None:
    """Halved 0 / 255 mask: 255 only where all four pixels were 255."""
    return None if mask is None else np.where(_halve(mask) == 255, 255, 0).astype(np.uint8)


def _exclusion_mask(boxes: Any, shape: tuple[int, ...], scale: float) -> np.ndarray | None:
    """uint8 mask of the small image, 0 inside the (full-resolution xyxy) boxes; None for no boxes."""
    if boxes is None:
        return None
    arr = np.asarray(boxes, dtype=np.float64) if isinstance(boxes, (np.ndarray, list, tuple)) else None
    if arr is None or arr.ndim != 2 or arr.shape[1] != 4 or not np.isfinite(arr).all():
        got = getattr(arr, "shape", type(boxes).__name__)
        raise ValueError(f"exclude_xyxy: expected (N, 4) finite boxes x1, y1, x2, y2 or None, got {got}")
    if len(arr) == 0:
        return None
    h, w = shape[:2]
    small = np.clip(np.rint(arr * scale), 0, [w, h, w, h]).astype(np.int64)
    mask = np.full((h, w), 255, np.uint8)
    for x0, y0, x1, y1 in small.tolist():
        mask[y0:y1, x0:x1] = 0
    return mask


def _to_full_resolution(small: np.ndarray, scale: float) -> np.ndarray:
    """Small-image warp -> full-resolution warp. With q = s·p + c (c = (s − 1) / 2 on both axes) the
    linear part is unchanged and t = (A·c + b − c) / s."""
    warp = np.asarray(small, np.float64).copy()
    if scale != 1.0:
        c = (scale - 1.0) / 2.0
        warp[:, 2] = (warp[:, :2].sum(axis=1) * c + warp[:, 2] - c) / scale
    return warp


def _plausible(warp: np.ndarray) -> np.ndarray | None:
    """``warp`` if finite, orientation-preserving and scaled within [MIN_SCALE, MAX_SCALE], else None."""
    if not np.isfinite(warp).all():
        return None
    det = warp[0, 0] * warp[1, 1] - warp[0, 1] * warp[1, 0]
    return warp if MIN_SCALE ** 2 <= det <= MAX_SCALE ** 2 else None


def _choice(options: CmcOptions, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(options, name)
    if value not in allowed:
        raise ValueError(f"CmcOptions.{name}: expected one of {list(allowed)}, got {value!r}")


def _integer(options: CmcOptions, name: str, low: int, high: int) -> None:
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"CmcOptions.{name}: expected an integer >= {low} (at most {high}), got {value!r}")


def _number(options: CmcOptions, name: str, low: float, high: float, open_low: bool = False) -> None:
    value = getattr(options, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (low < value if open_low else low <= value) and value <= high
    if not ok:
        bound = f"> {low}" if open_low else f">= {low}"
        raise ValueError(f"CmcOptions.{name}: expected a number {bound} (at most {high}), got {value!r}")
