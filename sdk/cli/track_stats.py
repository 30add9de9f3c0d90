"""What `mottrack track` reports about a run, kept in bounded memory however long the run lasts.

:class:`TrackRunStats` takes each frame's :class:`~mottrack_sdk.detector.StageTimings` and track ids.
Means and counts are exact; the p50 / p90 / p99 of each stage are exact for the first
:data:`TIMING_SAMPLE_FRAMES` frames and, beyond, come from a uniform reservoir sample of that many
frames (Vitter's algorithm R, seeded): a day of camera frames costs the same few MB as a short clip.
Distinct track ids are kept as a set (they grow with the number of tracks, not of frames).
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.detector import StageTimings
from mottrack_sdk.io.video import VIDEO_SUFFIXES

__all__ = ["TIMING_SAMPLE_FRAMES", "TrackRunStats", "print_summary"]

TIMING_SAMPLE_FRAMES = 100_000
_COLUMNS = StageTimings.STAGES + ("total",)


class TrackRunStats:
    """Per-stage milliseconds, tracks per frame and distinct track ids of a run (see the module docstring)."""

    def __init__(self, sample_frames: int = TIMING_SAMPLE_FRAMES, seed: int = 0) -> None:
        if sample_frames < 1:
            raise ValueError(f"sample_frames: expected >= 1, got {sample_frames}")
        self.capacity = sample_frames
        self.frames = 0
        self._samples = np.zeros((min(sample_frames, 1024), len(_COLUMNS)), np.float64)
        self._sums = np.zeros(len(_COLUMNS), np.float64)
        self._live_sum = 0
        self._track_ids: set[int] = set()
        self._recent_total: deque[float] = deque(maxlen=10)
        self._rng = np.random.default_rng(seed)

    def add(self, timings: Any, track_ids: np.ndarray) -> None:
        """One tracked frame: its StageTimings and the ids of the tracks it output."""
        row = np.array([getattr(timings, c) for c in _COLUMNS], np.float64)
        self.frames += 1
        self._sums += row
        self._recent_total.append(float(row[-1]))
        self._live_sum += len(track_ids)
        self._track_ids.update(np.asarray(track_ids, np.int64).tolist())
        if self.frames <= self.capacity:
            if self.frames > len(self._samples):
                grown = np.zeros((min(2 * len(self._samples), self.capacity), len(_COLUMNS)), np.float64)
                grown[: len(self._samples)] = self._samples
                self._samples = grown
            self._samples[self.frames - 1] = row
        else:
            slot = int(self._rng.integers(0, self.frames))
            if slot < self.capacity:
                self._samples[slot] = row

    @property
    def recent_fps(self) -> float:
        """Pipeline FPS over the last 10 frames (0 before any)."""
        total = sum(self._recent_total)
        return 1000.0 * len(self._recent_total) / total if total > 0 else 0.0

    @property
    def tracks(self) -> int:
        return len(self._track_ids)

    def summary(self, model: str, wall_s: float) -> dict[str, Any]:
        """frames, tracks, ms (stage -> p50 / p90 / p99 / mean), FPS, tracks per frame."""
        from mottrack_sdk.benchmark import percentiles

        kept = self._samples[: min(self.frames, self.capacity)]
        ms: dict[str, dict[str, float]] = {}
        for k, column in enumerate(_COLUMNS):
            ms[column] = percentiles(kept[:, k])
            ms[column]["mean"] = round(float(self._sums[k] / self.frames), 3) if self.frames else 0.0
        mean_total = ms["total"]["mean"]
        return {"model": model, "frames": self.frames, "tracks": self.tracks, "ms": ms,
                "pipeline_fps": round(1000.0 / mean_total, 2) if mean_total else 0.0,
                "wall_fps": round(self.frames / wall_s, 2) if wall_s > 0 else 0.0,
                "tracks_per_frame_mean": round(self._live_sum / self.frames, 2) if self.frames else 0.0,
                "timing_sample_frames": len(kept)}


def print_summary(summary: dict[str, Any], written: list[Path]) -> None:
    """The run's closing lines: frames, tracks, ms per stage, FPS, what was skipped or stopped it, files."""
    ms = summary["ms"]
    stages = "  ".join(f"{s} {ms[s]['mean']:.2f}" for s in StageTimings.STAGES)
    video = any(p.suffix.lower() in VIDEO_SUFFIXES for p in written)
    print(f"done: {summary['frames']} frames, {summary['tracks']} tracks; mean ms/frame: {stages} "
          f"(total {ms['total']['mean']:.2f}); {summary['pipeline_fps']:.1f} FPS pipeline, "
          f"{summary['wall_fps']:.1f} FPS with decoding{' and video writing' if video else ''}")
    if summary.get("skipped_frames"):
        print(f"skipped {summary['skipped_frames']} unreadable frame(s) (listed in the summary)")
    if summary.get("ended_early"):
        print(f"note: {summary['ended_early']}")
    if summary.get("interrupted"):
        print(f"interrupted by {summary['interrupted']} after {summary['frames']} frames: the files hold what was tracked")
    print("wrote " + ", ".join(str(p) for p in written))
