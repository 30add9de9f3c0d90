"""The optional native (C++) tracking core: the one module through which ``mottrack_sdk`` reaches bindings/.

``mottrack_sdk._native`` is compiled from ``bindings/`` by ``pip install`` when a C++17 compiler and
pybind11 are present; otherwise the package installs without it and the pure-Python
:class:`~mottrack_sdk.tracking.core.AssociationCore` (the reference) is used. The native core runs
the same cascade with the same options and gives the same tracks (IDs identical, boxes to rounding;
``tests/bindings`` checks both against each other).

    core = make_core(TrackerOptions(), "auto")    # native when built, else Python
    core.apply_camera_motion(warp)                 # optional: (2, 3) camera warp since the last frame
    frame = core.step(xyxy, scores, embeddings, classes)

The extension is imported lazily, on the first :func:`native_available` or :func:`make_core` call.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from mottrack_sdk.tracking.core import FrameTracks
from mottrack_sdk.tracking.matching import MAX_SOLVER_SIDE, MAX_WINDOW_PAIRS
from mottrack_sdk.tracking.options import TrackerOptions

CORES = ("auto", "native", "python")

_native: Any = None
_import_error: str | None = None


def _load() -> Any:
    """The compiled module, or None (the reason is kept for error messages)."""
    global _native, _import_error
    if _native is None and _import_error is None:
        try:
            from mottrack_sdk import _native as module
        except ImportError as exc:
            _import_error = str(exc) or type(exc).__name__
        else:
            _native = module
    return _native


def native_available() -> bool:
    """Whether the C++ core (``mottrack_sdk._native``) was built and imports."""
    return _load() is not None


class NativeAssociationCore:
    """:class:`~mottrack_sdk.tracking.core.AssociationCore`'s interface on the C++ core.

    ``step`` takes what ``AssociationCore.step`` takes, already validated by the caller
    (``Tracker``): boxes (N, 4) float64 xyxy with positive sizes, scores (N,) float64, unit-norm
    embeddings (N, D) float32 or None, classes (N,) int64 or None (one class). It returns
    :class:`FrameTracks`. There is no ``table``: the tracks live in C++ (``live_tracks`` counts them).
    ``max_window_pairs`` / ``max_solver_side``: as ``AssociationCore``'s (tests only).

    Raises:
        RuntimeError: when the extension is not built.
        ValueError: for inputs the C++ side refuses (wrong shapes, NaN, D changing without reset).
    """

    def __init__(self, options: TrackerOptions, max_window_pairs: int = MAX_WINDOW_PAIRS,
                 max_solver_side: int = MAX_SOLVER_SIDE):
        module = _load()
        if module is None:
            raise RuntimeError(_not_built_message())
        self.options = options
        self._impl = module.NativeCore(asdict(options), max_window_pairs, max_solver_side)

    @property
    def frame_id(self) -> int:
        """Frames processed since creation or the last :meth:`reset` (the first frame is 1)."""
        return self._impl.frame_id

    @property
    def live_tracks(self) -> int:
        """Tracks held (tentative, tracked and lost); bounded on endless streams."""
        return self._impl.live_tracks

    def reset(self) -> None:
        """Forget all tracks; IDs restart at 1."""
        self._impl.reset()

    def apply_camera_motion(self, warp: np.ndarray) -> None:
        """Move every track's Kalman state by the camera's (2, 3) similarity ``warp`` [R | t]
        (previous frame -> this frame, pixels); see ``AssociationCore.apply_camera_motion``. Call
        before :meth:`step`.

        Raises:
            ValueError: naming ``warp`` unless it is a (2, 3) array of finite numbers with det R > 0
                (the tracks are then unchanged).
        """
        from mottrack_sdk.tracking.cmc import check_warp

        self._impl.apply_camera_motion(np.ascontiguousarray(check_warp(warp)))

    def step(self, xyxy: np.ndarray, scores: np.ndarray, embeddings: np.ndarray | None,
             classes: np.ndarray | None) -> FrameTracks:
        """One frame of the association cascade; see ``AssociationCore.step``."""
        if classes is None:
            classes = np.zeros(len(scores), np.int64)
        return FrameTracks(*self._impl.step(xyxy, scores, embeddings, classes))


def make_core(options: TrackerOptions, core: str = "auto") -> Any:
    """The tracking core for ``Tracker(core=...)``.

    Args:
        options: the tracker's options.
        core: ``"python"`` (the reference ``AssociationCore``), ``"native"`` (the C++ core; an
            error when it was not built) or ``"auto"`` (native when built, else Python).

    Raises:
        ValueError: for an unknown ``core``.
        RuntimeError: for ``"native"`` when ``mottrack_sdk._native`` is not built.
    """
    if core not in CORES:
        raise ValueError(f"core: expected one of {CORES}, got {core!r}")
    if core == "native" or (core == "auto" and native_available()):
        return NativeAssociationCore(options)
    from mottrack_sdk.tracking.core import AssociationCore

    return AssociationCore(options)


def _not_built_message() -> str:
    return ("core='native': the C++ tracking core (mottrack_sdk._native) is not available "
            f"({_import_error}). It is built by `pip install` from bindings/ when a C++17 compiler and "
            "pybind11 are present (see the install log for why it was skipped); use core='python' or "
            "core='auto' to run the pure-Python core.")
