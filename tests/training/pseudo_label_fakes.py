"""A fake teacher and tiny frame folders for the ``mottrack pseudo-label`` tests (no teacher runtime
needed; the ``teacher_file`` fixture, a file such a teacher is built on, is in ``conftest.py``)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mottrack_sdk.types import Detections
from mottrack_training.distill import PseudoLabelOptions, Teacher, pseudo_label


def dets(boxes, scores) -> Detections:
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32))


class BlockTeacher(Teacher):
    """White blocks -> score 0.9, grey blocks -> 0.3 (an ignore region at the default bands)."""

    kind = "fake"

    def _load(self) -> None:
        pass

    def _detect(self, frame_bgr: np.ndarray) -> Detections:
        gray = frame_bgr[:, :, 1]
        boxes, scores = [], []
        for mask, score in (((gray > 200), 0.9), (((gray > 90) & (gray < 170)), 0.3)):
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
            for x, y, w, h, area in stats[1:]:
                if area >= 20:
                    boxes.append([x, y, x + w, y + h])
                    scores.append(score)
        return dets(boxes, scores)


def make_frames(folder: Path, n: int = 6, size=(128, 96), names=None) -> Path:
    folder.mkdir(parents=True)
    for f in range(1, n + 1):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[20:70, 10 + 5 * f:30 + 5 * f] = 255  # a walking person
        image[20:60, 95:115] = 128                 # a doubtful one
        cv2.imwrite(str(folder / (names[f - 1] if names else f"{f:04d}.png")), image)
    return folder


def run(sources, out, teacher_file, **options):
    teachers = [BlockTeacher(teacher_file, (128, 96), name="blocks")]
    return pseudo_label([str(s) for s in sources], out, PseudoLabelOptions(**options), progress=False,
                        log=lambda _: None, teachers=teachers)
