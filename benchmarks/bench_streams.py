"""Several cameras on one box: aggregate throughput of concurrent trackers by ONNX Runtime settings.

Each stream is one ``Tracker`` (the shipped model unless ``--model``) in its own Python thread, fed
the ``mottrack bench`` scene (1920x1080, 50 people; each stream starts at a different frame), all
started together. ONNX Runtime, OpenCV and the tracking core release the GIL in their heavy parts, so
the streams compete for the cores much as processes would. Per configuration (``THREADSxSPINNING``,
e.g. ``2xin_run``: intra-op threads per stream and ``OnnxRuntimeOptions.spinning``) it reports the
aggregate FPS (frames of all streams / wall time) and the slowest stream's FPS. Configurations take
turns for ``--rounds`` rounds, so all of them see the same phases of a shared machine; the table
gives the median over rounds.

    flock /tmp/mottrack-bench.lock .venv/bin/python benchmarks/bench_streams.py --streams 2 \\
        --config 2xoff --config 2xin_run --config 1xoff
"""
from __future__ import annotations

import argparse
import datetime
import threading
import time
from pathlib import Path

import numpy as np

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "streams.json"
DEFAULT_CONFIGS = ("2xin_run", "2xoff", "1xoff")


def parse_config(text: str) -> tuple[int, str]:
    """``"2xin_run"`` -> (2, "in_run"); SystemExit naming --config otherwise."""
    from mottrack_sdk.backends.onnxruntime_backend import SPINNING_MODES

    threads, _, spinning = text.partition("x")
    if not threads.isdigit() or int(threads) < 1 or spinning not in SPINNING_MODES:
        raise SystemExit(f"--config: expected THREADSxSPINNING, e.g. 2xin_run (spinning one of "
                         f"{list(SPINNING_MODES)}), got {text!r}")
    return int(threads), spinning


def run_streams(model: Path | None, images: list[np.ndarray], streams: int, threads: int, spinning: str,
                frames: int) -> dict[str, float]:
    """Aggregate and slowest-stream FPS of ``streams`` trackers running ``frames`` frames each at once."""
    from mottrack_sdk import Tracker
    from mottrack_sdk.backends import OnnxRuntimeOptions

    options = OnnxRuntimeOptions(providers=("CPUExecutionProvider",), intra_op_threads=threads, spinning=spinning)
    trackers = [Tracker(model=model, backend_options=options) for _ in range(streams)]
    seconds = [0.0] * streams
    for tracker in trackers:
        tracker.load_model()
        for i in range(5):  # warm-up, alone
            tracker.update(images[i])

    def work(k: int) -> None:
        start = time.perf_counter()
        for i in range(frames):
            trackers[k].update(images[(k * 17 + i) % len(images)])
        seconds[k] = time.perf_counter() - start

    workers = [threading.Thread(target=work, args=(k,)) for k in range(streams)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    for tracker in trackers:
        tracker.close()
    return {"aggregate_fps": streams * frames / wall, "slowest_stream_fps": frames / max(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--streams", type=int, default=2, help="concurrent trackers (2)")
    parser.add_argument("--config", action="append", default=None,
                        help=f"THREADSxSPINNING, repeatable (default {' '.join(DEFAULT_CONFIGS)})")
    parser.add_argument("--frames", type=int, default=120, help="frames per stream and round (120)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the configurations (3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.streams < 1 or args.frames < 1 or args.rounds < 1:
        raise SystemExit(f"--streams, --frames and --rounds must be >= 1, got {args.streams}, {args.frames}, "
                         f"{args.rounds}")
    configs = [parse_config(c) for c in (args.config or DEFAULT_CONFIGS)]

    from mottrack_sdk.machine import cpu_info
    from mottrack_sdk.benchmark import BenchFrames
    from mottrack_sdk.io import write_json

    bench = BenchFrames.render(60)
    images = [bench.image(i) for i in range(60)]
    runs: dict[str, list[dict[str, float]]] = {f"{t}x{s}": [] for t, s in configs}
    for _ in range(args.rounds):
        for threads, spinning in configs:
            result = run_streams(args.model, images, args.streams, threads, spinning, args.frames)
            runs[f"{threads}x{spinning}"].append(result)
            print(f"{threads}x{spinning}: aggregate {result['aggregate_fps']:.1f} FPS, slowest stream "
                  f"{result['slowest_stream_fps']:.1f}", flush=True)
    records = [{"config": name, "intra_op_threads": int(name.split("x", 1)[0]), "spinning": name.split("x", 1)[1],
                "aggregate_fps_median": round(float(np.median([r["aggregate_fps"] for r in rs])), 1),
                "slowest_stream_fps_median": round(float(np.median([r["slowest_stream_fps"] for r in rs])), 1),
                "aggregate_fps_runs": [round(r["aggregate_fps"], 1) for r in rs]} for name, rs in runs.items()]
    write_json(args.out, {
        "benchmark": "concurrent streams", "streams": args.streams, "frames_per_stream": args.frames,
        "rounds": args.rounds, "machine": cpu_info().to_json(), "model": str(args.model or "shipped default"),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "records": records})
    for r in records:
        print(f"{r['config']:<12} aggregate {r['aggregate_fps_median']:>6.1f} FPS (median of {args.rounds}), "
              f"slowest stream {r['slowest_stream_fps_median']:.1f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
