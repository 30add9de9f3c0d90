"""Hostile frames: the time per frame of N mutually overlapping boxes (a detector without NMS, or
input made to hurt), with ``TrackerOptions.max_detections`` at its default (1,000) and raised to
its maximum (2**20, i.e. every box kept: the behaviour before the bound existed).

Each frame brings N boxes of 50-55 px whose corners lie within 5 px of each other (every pair
overlaps) and uniform random scores, fresh every frame; the default adaptive thresholds. What is
timed is ``Tracker.update_detections_arrays`` (validation included), one frame at a time, on the
native and the Python core. The unbounded runs are short (their second frame alone takes seconds
to a minute); memory stays bounded either way (``tests/sdk/test_hostile_frames.py``).

    flock /tmp/mottrack-bench.lock .venv/bin/python benchmarks/bench_hostile_frames.py \\
        --json benchmarks/results/hostile_frames.json          # ~4 min on the 2-core VM
"""
from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone

import numpy as np

from mottrack_sdk import Tracker, TrackerOptions
from mottrack_sdk.io import write_json
from mottrack_sdk.machine import cpu_info
from mottrack_sdk.tracking.native import native_available

UNBOUNDED = 1 << 20  # the largest max_detections


def run_case(core: str, n: int, frames: int, max_detections: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    tracker = Tracker(TrackerOptions(max_detections=max_detections), core=core)
    times = []
    for _ in range(frames):
        xy = rng.uniform(100.0, 105.0, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(50.0, 55.0, (n, 2))], axis=1)
        scores = rng.random(n)
        start = time.perf_counter()
        tracker.update_detections_arrays(boxes, scores)
        times.append(time.perf_counter() - start)
    t = np.asarray(times)
    return {"core": core, "boxes_per_frame": n, "frames": frames, "max_detections": max_detections,
            "seconds_max": float(t.max()), "seconds_median": float(np.median(t)), "seconds_total": float(t.sum()),
            "seconds_per_frame": [round(float(x), 4) for x in t], "live_tracks_after": tracker._core.live_tracks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boxes", type=int, default=100_000, help="boxes a frame (default 100000)")
    parser.add_argument("--frames", type=int, default=40, help="frames with the default bound (default 40)")
    parser.add_argument("--unbounded-frames", type=int, default=2,
                        help="frames with every box kept (default 2; 0 skips those runs)")
    parser.add_argument("--json", help="write the records here")
    args = parser.parse_args(argv)
    if args.boxes < 1 or args.frames < 1 or args.unbounded_frames < 0:
        parser.error("--boxes and --frames must be >= 1, --unbounded-frames >= 0")
    cores = (["native"] if native_available() else []) + ["python"]
    cases = [(c, args.frames, TrackerOptions().max_detections) for c in cores]
    cases += [(c, args.unbounded_frames, UNBOUNDED) for c in cores if args.unbounded_frames]
    records = []
    print(f"{'core':8} {'max_detections':>14} {'frames':>6} {'max s':>7} {'median s':>8} {'live tracks':>11}")
    for core, frames, bound in cases:
        r = run_case(core, args.boxes, frames, bound)
        records.append(r)
        print(f"{core:8} {bound:>14} {frames:>6} {r['seconds_max']:>7.2f} {r['seconds_median']:>8.2f} "
              f"{r['live_tracks_after']:>11}", flush=True)
    info = cpu_info()
    print(f"machine: {info.summary()}")
    if args.json:
        write_json(args.json, {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "machine": info.to_json(), "python": platform.python_version(),
                               "records": records})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
