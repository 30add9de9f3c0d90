"""mottrack_sdk: real-time multi-object tracking runtime.

``from mottrack_sdk import Tracker; tracks = Tracker().update_detections(boxes, scores)``

Importing this package loads numpy only: torch and tensorrt are never imported here, and
filterpy/lap/onnxruntime/cv2 are imported by the modules that use them.
"""
from __future__ import annotations

from typing import Any

from mottrack_sdk._version import __version__
from mottrack_sdk.types import Detections, Track, TrackState, tracks_to_arrays

__all__ = ["Tracker", "TrackerOptions", "Track", "TrackState", "Detections", "tracks_to_arrays", "__version__"]


def __getattr__(name: str) -> Any:  # lazy: the tracker pulls lap (and filterpy when built)
    if name == "Tracker":
        from mottrack_sdk.tracker import Tracker
        return Tracker
    if name == "TrackerOptions":
        from mottrack_sdk.tracking.options import TrackerOptions
        return TrackerOptions
    raise AttributeError(f"module 'mottrack_sdk' has no attribute {name!r}")
