"""Native (C++) vs Python tracking core: time per frame at N = 10, 50, 200, motion-only and with
512-d embeddings, in one run.

Each case runs both cores on the same deterministic synthetic scene (the scene of
``benchmarks/test_association.py``: seed 1, constant-velocity objects with jitter, box noise, misses,
false positives, occlusions): 30 warm-up frames, then every one of the next 300 frames is timed.
What is timed is ``core.step(...)`` on inputs already validated as ``Tracker`` validates them
(embeddings normalised), so the numbers compare the association cores themselves. The two cores
step alternately, frame by frame, so both see the same machine load; each case is run 3 times with
fresh cores and, per core, the run with the lowest mean is reported (mean, median, p90 per frame).
The tracks of both cores are checked equal on the way.

Run (the machine's cores are shared; the lock keeps benchmarks apart):

    flock /tmp/mottrack-bench.lock .venv/bin/python benchmarks/bench_native_core.py

Writes ``benchmarks/results/native_core.json`` and prints a table. Targets: native >= 5x faster
than the Python core at N = 200, and <= 0.2 ms/frame at N = 50.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mottrack_sdk.machine import cpu_info
from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions
from mottrack_sdk.tracking.core import AssociationCore
from mottrack_sdk.tracking.native import NativeAssociationCore, native_available
from mottrack_sdk.tracking.options import TrackerOptions
from mottrack_sdk.tracking.validation import check_embeddings

WARMUP, FRAMES = 30, 300
REPEATS = 3
SIZES = (10, 50, 200)
MODES = ("motion", "embeddings")
TARGET_SPEEDUP_N200 = 5.0
TARGET_NATIVE_MS_N50 = 0.2


def scene_inputs(n_objects: int, embeddings: bool) -> list[tuple]:
    """Validated per-frame inputs (xyxy, scores, embeddings or None, classes)."""
    opts = DetectionSceneOptions(num_objects=n_objects, num_frames=WARMUP + FRAMES, seed=1,
                                 embedding_dim=512 if embeddings else 0)
    frames = []
    for f in DetectionScene(opts):
        n = len(f.det_scores)
        emb = check_embeddings(f.det_embeddings, n, None) if embeddings else None
        frames.append((f.det_xyxy, f.det_scores, emb, np.zeros(n, np.int64)))
    return frames


def time_cores(cores: dict, frames: list[tuple]) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """Run the cores side by side, frame by frame (so both see the same machine load): per-frame
    seconds of the timed frames, and every frame's track IDs, per core."""
    times = {name: [] for name in cores}
    ids = {name: [] for name in cores}
    for k, (xyxy, scores, emb, classes) in enumerate(frames):
        for name, core in cores.items():
            t0 = time.perf_counter()
            out = core.step(xyxy, scores, emb, classes)
            dt = time.perf_counter() - t0
            ids[name].append(out.track_id.tolist())
            if k >= WARMUP:
                times[name].append(dt)
    return {name: np.array(t) for name, t in times.items()}, ids


def stats_ms(times: np.ndarray) -> dict[str, float]:
    return {"mean_ms": float(times.mean() * 1e3), "median_ms": float(np.median(times) * 1e3),
            "p90_ms": float(np.percentile(times, 90) * 1e3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "native_core.json"))
    args = parser.parse_args()
    if not native_available():
        raise SystemExit("mottrack_sdk._native is not built: `pip install -e .` with a C++17 compiler and pybind11")

    options = TrackerOptions()
    results = []
    for n in SIZES:
        for mode in MODES:
            frames = scene_inputs(n, mode == "embeddings")
            runs = []
            for _ in range(REPEATS):  # fresh cores each time; the run with the lower mean is kept
                times, ids = time_cores({"python": AssociationCore(options),
                                         "native": NativeAssociationCore(options)}, frames)
                if ids["python"] != ids["native"]:
                    raise SystemExit(f"N={n} {mode}: native and Python tracks differ")
                runs.append(times)
            py = stats_ms(min((r["python"] for r in runs), key=np.mean))
            nat = stats_ms(min((r["native"] for r in runs), key=np.mean))
            results.append({"objects": n, "mode": mode, "frames": FRAMES,
                            "detections_per_frame": float(np.mean([len(f[1]) for f in frames[WARMUP:]])),
                            "python": py, "native": nat, "speedup_mean": py["mean_ms"] / nat["mean_ms"],
                            "same_tracks": True})

    by = {(r["objects"], r["mode"]): r for r in results}
    targets = {
        "speedup_at_N200_ge_5x": all(by[(200, m)]["speedup_mean"] >= TARGET_SPEEDUP_N200 for m in MODES),
        "native_at_N50_le_0.2ms": all(by[(50, m)]["native"]["mean_ms"] <= TARGET_NATIVE_MS_N50 for m in MODES),
    }
    report = {
        "benchmark": "native vs Python tracking core, core.step per frame",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {**cpu_info().to_json(), "platform": platform.platform(),
                    "python": platform.python_version(), "numpy": np.__version__},
        "warmup_frames": WARMUP, "timed_frames": FRAMES, "repeats": REPEATS, "scene_seed": 1,
        "results": results, "targets_met": targets,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{'N':>4} {'mode':<11} {'dets':>6} {'python ms':>10} {'native ms':>10} {'speedup':>8}"
          f" {'py p50':>8} {'nat p50':>8}")
    for r in results:
        print(f"{r['objects']:>4} {r['mode']:<11} {r['detections_per_frame']:>6.1f} {r['python']['mean_ms']:>10.3f}"
              f" {r['native']['mean_ms']:>10.3f} {r['speedup_mean']:>7.1f}x {r['python']['median_ms']:>8.3f}"
              f" {r['native']['median_ms']:>8.3f}")
    print("targets:", ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in targets.items()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
