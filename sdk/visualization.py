"""Drawing tracks on frames: a box, the ID and a short trail per track, one stable colour per ID (OpenCV)."""
from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["TrackAnnotator", "id_colour"]


def id_colour(track_id: int) -> tuple[int, int, int]:
    """A distinct, stable BGR colour for an ID (golden-ratio hue steps, full saturation)."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((track_id * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


class TrackAnnotator:
    """Draws boxes, IDs and trails (the last ``trail_length`` box bottoms) of each frame's tracks.

    Trails of tracks not seen for ``trail_length`` frames are forgotten (bounded memory).
    """

    def __init__(self, trail_length: int = 30, thickness: int = 2) -> None:
        self.trail_length = int(trail_length)
        self.thickness = int(thickness)
        self._trails: dict[int, deque[tuple[int, int]]] = {}
        self._last_seen: dict[int, int] = {}
        self._frame = 0

    def draw(self, image: np.ndarray, track_ids: np.ndarray, xyxy: np.ndarray, info: str | None = None) -> np.ndarray:
        """Draw on ``image`` in place (BGR uint8) and return it. ``xyxy`` (T, 4) frame px, ``track_ids`` (T,)."""
        import cv2

        self._frame += 1
        scale = max(0.4, image.shape[0] / 1080.0)
        for tid, box in zip(np.asarray(track_ids).tolist(), np.asarray(xyxy).tolist()):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            colour = id_colour(tid)
            trail = self._trails.setdefault(tid, deque(maxlen=self.trail_length))
            trail.append(((x1 + x2) // 2, y2))
            self._last_seen[tid] = self._frame
            cv2.rectangle(image, (x1, y1), (x2, y2), colour, self.thickness)
            if len(trail) > 1:
                cv2.polylines(image, [np.array(trail, np.int32).reshape(-1, 1, 2)], False, colour, self.thickness)
            cv2.putText(image, str(tid), (x1, max(0, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, colour,
                        max(1, self.thickness - 1), cv2.LINE_AA)
        if info:
            cv2.putText(image, info, (10, int(30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255),
                        2, cv2.LINE_AA)
        stale = [tid for tid, seen in self._last_seen.items() if self._frame - seen > self.trail_length]
        for tid in stale:
            del self._trails[tid], self._last_seen[tid]
        return image
