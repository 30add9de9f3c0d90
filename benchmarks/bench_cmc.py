"""Camera-motion compensation: time and accuracy of CameraMotionEstimator.estimate on 1080p frames.

Frames come from the synthetic scene generator seen through a moving camera (1920x1080 BGR, people
walking, sensor noise and lighting change), whose true frame-to-frame warp (``SceneFrame.camera_warp``)
is the reference. Two scenes of ``--frames`` frames each:

- ``pan_zoom_shake``: pan 200 px/s, zoom ±10 %, shake 3 px (seed 0);
- ``fast_pan_shake``: pan 600 px/s, shake 6 px (seed 1).

Every method sees the same frames, frame by frame in turn (so all see the same machine load); the
first frame of a scene (identity by definition) is neither timed nor scored. Accuracy per frame is the
*mean corner error*: the mean distance, over the frame's four corners, between where the estimated
and the true warp send them (pixels); reported as median / p95 / max over the frames, next to the
error of doing nothing (the identity). ``sparse_flow+exclude_gt`` passes the frame's ground-truth
boxes as ``exclude_xyxy`` (what a tracker passing its detections gets); ``...+halved`` also passes the
frame's exact 2x halving, made outside the timed call, as ``Tracker.update`` does with the one its
preprocessing made (the same warps, one full-frame read less). Also timed:
``warp_packed_state`` on 50 and 200 tracks.

Run (the machine's cores are shared; the lock keeps benchmarks apart):

    flock /tmp/mottrack-bench.lock .venv/bin/python benchmarks/bench_cmc.py

Writes ``benchmarks/results/cmc.json`` (``--json``) and prints a table. Target: the default method
(``CmcOptions()``, sparse_flow) <= 3 ms median per 1080p frame on the 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from mottrack_sdk.machine import cpu_info
from mottrack_sdk.preprocessing import halve_area
from mottrack_sdk.scenes import SceneGenerator, SceneOptions
from mottrack_sdk.tracking.cmc import CameraMotionEstimator, CmcOptions, warp_packed_state
from mottrack_sdk.tracking.kalman import KalmanBoxFilter
from mottrack_sdk.tracking.track_table import FLOAT_WIDTH

SIZE = (1920, 1080)
SCENES = {
    "pan_zoom_shake": dict(seed=0, camera_pan_px=200.0, camera_zoom=0.1, camera_shake_px=3.0),
    "fast_pan_shake": dict(seed=1, camera_pan_px=600.0, camera_shake_px=6.0),
}
METHODS = {  # name: (options, pass the ground-truth boxes as exclude_xyxy, pass the frame's 2x halving)
    "sparse_flow": (CmcOptions(), False, False),
    "sparse_flow+exclude_gt": (CmcOptions(), True, False),
    "sparse_flow+exclude_gt+halved": (CmcOptions(), True, True),
    "ecc": (CmcOptions(method="ecc"), False, False),
}
TARGET_MS = 3.0
CORNERS = np.array([[0, 0], [SIZE[0] - 1, 0], [0, SIZE[1] - 1], [SIZE[0] - 1, SIZE[1] - 1]], np.float64)


def render(options: SceneOptions) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image, true warp, gt boxes xyxy) per frame."""
    return [(f.image_bgr, f.camera_warp, np.hstack([f.tlwh[:, :2], f.tlwh[:, :2] + f.tlwh[:, 2:]]).astype(np.float64))
            for f in SceneGenerator(options)]


def corner_error(warp: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance (px) between the four frame corners moved by ``warp`` and by ``truth``."""
    est = CORNERS @ warp[:, :2].T + warp[:, 2]
    ref = CORNERS @ truth[:, :2].T + truth[:, 2]
    return float(np.linalg.norm(est - ref, axis=1).mean())


def run_scene(frames: list) -> dict[str, dict[str, list[float]]]:
    """Per method: seconds per estimate and corner errors (first frame excluded)."""
    estimators = {name: CameraMotionEstimator(spec[0]) for name, spec in METHODS.items()}
    out = {name: {"seconds": [], "errors": [], "identity": 0} for name in METHODS}
    for k, (image, truth, boxes) in enumerate(frames):
        halved = halve_area(image)  # made by the runtime's preprocessing before the estimate: not timed
        for name, est in estimators.items():
            _options, exclude_gt, give_halved = METHODS[name]
            exclude = boxes if exclude_gt else None
            t0 = time.perf_counter()
            warp = est.estimate(image, exclude, halved if give_halved else None)
            dt = time.perf_counter() - t0
            if k == 0:
                continue
            out[name]["seconds"].append(dt)
            out[name]["errors"].append(corner_error(warp, truth))
            out[name]["identity"] += int(np.array_equal(warp, np.eye(2, 3)))
    return out


def summary(seconds: list[float], errors: list[float]) -> dict[str, float]:
    ms, err = np.asarray(seconds) * 1e3, np.asarray(errors)
    return {"median_ms": float(np.median(ms)), "mean_ms": float(ms.mean()), "p95_ms": float(np.percentile(ms, 95)),
            "corner_error_median_px": float(np.median(err)), "corner_error_p95_px": float(np.percentile(err, 95)),
            "corner_error_max_px": float(err.max())}


def time_state_warp(tracks: int, calls: int = 2000) -> float:
    """Median microseconds of warp_packed_state on ``tracks`` realistic packed tracks."""
    rng = np.random.default_rng(0)
    xyah = np.stack([rng.uniform(0, 1920, tracks), rng.uniform(0, 1080, tracks), rng.uniform(0.3, 0.6, tracks),
                     rng.uniform(30, 300, tracks)])
    kf = KalmanBoxFilter()
    f = kf.initiate_packed(xyah, FLOAT_WIDTH)
    kf.predict_packed(f)
    warp = np.array([[1.001, -0.002, 3.0], [0.002, 1.001, -1.5]])
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        warp_packed_state(f, warp)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "cmc.json"))
    parser.add_argument("--frames", type=int, default=120, help="frames per scene (default 120; >= 2)")
    args = parser.parse_args()
    if args.frames < 2:
        raise SystemExit(f"--frames must be >= 2, got {args.frames}")

    load_before = os.getloadavg()  # the cores are shared: record how busy the machine was
    per_method = {name: {"seconds": [], "errors": [], "identity": 0} for name in METHODS}
    scenes, no_compensation = {}, {}
    for scene, knobs in SCENES.items():
        options = SceneOptions(width=SIZE[0], height=SIZE[1], num_frames=args.frames, **knobs)
        t0 = time.perf_counter()
        frames = render(options)
        scenes[scene] = {**knobs, "render_ms_per_frame": (time.perf_counter() - t0) * 1e3 / len(frames)}
        identity = [corner_error(np.eye(2, 3), truth) for _, truth, _ in frames[1:]]
        no_compensation[scene] = {"median_px": float(np.median(identity)), "p95_px": float(np.percentile(identity, 95))}
        for name, res in run_scene(frames).items():
            scenes[scene][name] = summary(res["seconds"], res["errors"]) | {"identity_returned": res["identity"]}
            for key in ("seconds", "errors"):
                per_method[name][key] += res[key]
            per_method[name]["identity"] += res["identity"]
        del frames

    results = {name: summary(r["seconds"], r["errors"])
               | {"frames": len(r["seconds"]), "identity_returned": r["identity"], "options": asdict(METHODS[name][0])}
               for name, r in per_method.items()}
    report = {
        "benchmark": "CameraMotionEstimator.estimate per 1920x1080 BGR frame, synthetic scenes with camera motion",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {**cpu_info().to_json(), "platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "opencv": cv2.__version__, "opencv_threads": cv2.getNumThreads(),
                    "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]},
        "frame_size": list(SIZE), "frames_per_scene": args.frames,
        "accuracy_metric": "mean over the 4 frame corners of |estimated warp(corner) - true warp(corner)|, px",
        "results": results, "per_scene": scenes, "no_compensation": no_compensation,
        "warp_packed_state_us": {"50_tracks": time_state_warp(50), "200_tracks": time_state_warp(200)},
        "target": {"default_method_median_ms": TARGET_MS,
                   "met": results["sparse_flow"]["median_ms"] <= TARGET_MS},
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{'method':<30} {'median ms':>9} {'mean ms':>8} {'p95 ms':>7} {'err med px':>10} {'err p95':>8}"
          f" {'err max':>8}")
    for name, r in results.items():
        print(f"{name:<30} {r['median_ms']:>9.2f} {r['mean_ms']:>8.2f} {r['p95_ms']:>7.2f} "
              f"{r['corner_error_median_px']:>10.3f} {r['corner_error_p95_px']:>8.3f} {r['corner_error_max_px']:>8.3f}")
    for scene, r in no_compensation.items():
        print(f"no compensation, {scene}: median {r['median_px']:.2f} px, p95 {r['p95_px']:.2f} px")
    print(f"warp_packed_state: {report['warp_packed_state_us']} us")
    print(f"target (sparse_flow median <= {TARGET_MS} ms): {'met' if report['target']['met'] else 'MISSED'}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
