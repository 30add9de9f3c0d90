"""Frame pipeline on a 2-core CPU: ONNX Runtime worker-thread spinning ``off`` / ``in_run`` / ``on``, in one run.

``OnnxRuntimeOptions.spinning`` decides whether ONNX Runtime's worker threads spin-wait for work:
never (``off``), only while a run is in progress (``in_run``: ``session.force_spinning_stop``), or
after each run too (``on``, ONNX Runtime's own default). Each mode gets its own ``Tracker`` on the
same model (2 intra-op threads, the runtime's CPU INT8 adaptation) and the whole frame path is timed:
preprocessing of a 1080p frame, inference, decoding, camera-motion estimation and association
(``Tracker.update``, the ``mottrack bench`` scene: 1920x1080, 50 people). The modes take turns in
blocks of ``--block`` frames (:func:`mottrack_sdk.benchmark.run_interleaved`, as ``mottrack bench
--interleave``: not frame by frame, since a worker spinning after its run would slow the next mode's
frame; the order flips every round), so all of them see the same phases of a shared machine. Each
tracker first runs two blocks untimed. Reports per mode the FPS from the mean frame time, the p50
stage times, and in how many blocks each mode beat ``off``.

    flock /tmp/mottrack-bench.lock .venv/bin/python benchmarks/bench_ort_spinning.py \\
        --model sdk/assets/models/cstrack_nano_int8.onnx [--modes off,in_run,on]
"""
from __future__ import annotations

import argparse
import datetime
import platform
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "ort_spinning.json"
MODES = ("off", "in_run", "on")


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
    modes = ("off",) + tuple(m for m in modes if m != "off")  # the reference first: ratios are to it

    from mottrack_sdk import Tracker
    from mottrack_sdk.backends import OnnxRuntimeOptions
    from mottrack_sdk.benchmark import BenchFrames, run_interleaved
    from mottrack_sdk.io import write_json
    from mottrack_sdk.machine import cpu_info

    warmup, count = 2 * args.block, (args.rounds - 2) * args.block
    frames = BenchFrames.render(warmup + count)
    records = []
    for path in args.model:
        trackers = [Tracker(model=path, backend_options=OnnxRuntimeOptions(
            providers=("CPUExecutionProvider",), spinning=mode)) for mode in modes]
        for mode, result in zip(modes, run_interleaved(trackers, frames, count, warmup, ["model"] * len(modes),
                                                        args.block)):
            turns = result.extra["interleaved"]
            record = {"model": str(path), "spinning": mode, "frames": result.frames, "fps": result.fps,
                      "p50_ms": {s: v["p50"] for s, v in result.ms.items()},
                      "blocks_faster_than_off": turns["blocks_faster_than_first"], "blocks": turns["rounds"],
                      "median_block_speedup_over_off": turns["ratio_to_first"]}
            records.append(record)
            print(record, flush=True)
        for tracker in trackers:
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
