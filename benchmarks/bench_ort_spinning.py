"""Frame pipeline on a 2-core CPU: ONNX Runtime worker-thread spinning ``off`` / ``in_run`` / ``on``, in one run.

``OnnxRuntimeOptions.spinning`` decides whether ONNX Runtime's worker threads spin-wait for work:
never (``off``), only while a run is in progress (``in_run``: ``session.force_spinning_stop``), or
after each run too (``on``, ONNX Runtime's own default). Each mode gets its own ``Tracker`` on the
same model (2 intra-op threads, the runtime's CPU INT8 adaptation) and the whole frame path is timed:
preprocessing of a 1080p frame, inference, decoding, camera-motion estimation and association
(``Tracker.update``, the ``mottrack bench`` scene: 1920x1080, 50 people). The modes take turns in
blocks of ``--block`` frames (not frame by frame: a worker spinning after its run would slow the next
mode's frame; the order flips every round), so all of them see the same phases of a shared machine.
The first two rounds are warm-up. Reports per mode the FPS from the mean frame time, the p50 stage
times, and in how many blocks each mode beat ``off``.

    flock /tmp/mottrack-bench.lock .venv/bin/python benchmarks/bench_ort_spinning.py \\
        --model sdk/assets/models/cstrack_nano_int8.onnx [--modes off,in_run,on]
"""
from __future__ import annotations

import argparse
import datetime
import platform
from pathlib import Path

import numpy as np

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "ort_spinning.json"
MODES = ("off", "in_run", "on")
STAGES = ("preprocess", "inference", "postprocess", "camera_motion", "association")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--rounds", type=int, default=30, help="rounds of one block per mode; 2 are warm-up (30)")
    parser.add_argument("--block", type=int, default=10, help="frames per block (10)")
    parser.add_argument("--modes", default="off,in_run",
                        help=f"modes that take turns, 'off' among them (default off,in_run; any of {','.join(MODES)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    modes = tuple(m.strip() for m in args.modes.split(","))
    if "off" not in modes or any(m not in MODES for m in modes) or len(set(modes)) != len(modes):
        raise SystemExit(f"--modes: distinct values of {list(MODES)}, 'off' among them (the reference), got {args.modes!r}")
    if args.rounds < 3 or args.block < 1:
        raise SystemExit(f"--rounds must be >= 3 and --block >= 1, got {args.rounds} and {args.block}")

    from mottrack_sdk import Tracker
    from mottrack_sdk.backends import OnnxRuntimeOptions
    from mottrack_sdk.benchmark import BenchFrames
    from mottrack_sdk.io import write_json
    from mottrack_sdk.machine import cpu_info

    frames = BenchFrames.render(60)
    images = [frames.image(i) for i in range(60)]
    records = []
    for path in args.model:
        trackers = {mode: Tracker(model=path, backend_options=OnnxRuntimeOptions(
            providers=("CPUExecutionProvider",), spinning=mode)) for mode in modes}
        for tracker in trackers.values():
            tracker.load_model()
        stage_ms = {mode: {s: [] for s in (*STAGES, "total")} for mode in modes}
        block_ms = {mode: [] for mode in modes}
        for r in range(args.rounds):
            order = modes if r % 2 == 0 else modes[::-1]
            for mode in order:
                for i in range(args.block):
                    trackers[mode].update(images[(r * args.block + i) % len(images)])
                    timings = trackers[mode].last_timings
                    if r >= 2:
                        for s in STAGES:
                            stage_ms[mode][s].append(getattr(timings, s))
                        stage_ms[mode]["total"].append(timings.total)
                if r >= 2:
                    block_ms[mode].append(float(np.mean(stage_ms[mode]["total"][-args.block:])))
        off = np.asarray(block_ms["off"])
        for mode in modes:
            ms = stage_ms[mode]
            blocks = np.asarray(block_ms[mode])
            record = {"model": str(path), "spinning": mode, "frames": len(ms["total"]),
                      "fps": round(1000.0 / float(np.mean(ms["total"])), 2),
                      "p50_ms": {s: round(float(np.median(v)), 2) for s, v in ms.items()},
                      "blocks_faster_than_off": int((blocks < off).sum()), "blocks": len(blocks),
                      "median_block_speedup_over_off": round(float(np.median(off / blocks)), 3)}
            records.append(record)
            print(record, flush=True)
        for tracker in trackers.values():
            tracker.close()
    write_json(args.out, {
        "benchmark": "ort_spinning", "statistic": "FPS from the mean frame time; stage p50",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "benchmarks/bench_ort_spinning.py " + " ".join(f"--model {m}" for m in args.model)
                   + f" --rounds {args.rounds} --block {args.block} --modes {','.join(modes)}",
        "machine": {**cpu_info().to_json(), "platform": platform.platform()},
        "records": records})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
