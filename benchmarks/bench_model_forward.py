"""PyTorch forward latency of CSTrack and CSTrack-S on the CPU (issue 3).

Batch 1, FP32, eval mode (``model(x)`` = network forward + box decode, no NMS), ``torch.no_grad``,
2 intra-op threads, randomly initialised weights (latency does not depend on them), BatchNorm not
fused unless ``--fuse``. Each (config, size) gets ``--warmup`` untimed runs, then ``--repeats`` timed
ones; the median is reported. Results go to ``benchmarks/results/model_forward.json`` (atomically).

The machine is shared: run it under the benchmark lock so timings do not overlap others::

    flock /tmp/mottrack-bench.lock .venv/bin/python benchmarks/bench_model_forward.py
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from mottrack_sdk.io import write_json
from mottrack_sdk.machine import cpu_info
from mottrack_training.cli import parse_size
from mottrack_training.model import build_model
from mottrack_training.model.complexity import measure_complexity

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "model_forward.json"
DEFAULT_SIZES = ("1088x608", "864x480", "576x320")
DEFAULT_CONFIGS = ("cstrack_s", "cstrack")


def time_forward(model: torch.nn.Module, width: int, height: int, warmup: int, repeats: int) -> list[float]:
    """Milliseconds of ``repeats`` eval-mode forwards of one [1, 3, height, width] input."""
    images = torch.rand(1, 3, height, width)
    timings = []
    with torch.no_grad():
        for run in range(warmup + repeats):
            start = time.perf_counter()
            model(images)
            elapsed_ms = (time.perf_counter() - start) * 1e3
            if run >= warmup:
                timings.append(elapsed_ms)
    return timings


def run(configs: list[str], sizes: list[str], warmup: int, repeats: int, threads: int, fuse: bool
        ) -> list[dict[str, Any]]:
    """Time every (config, size) pair; returns one result row each."""
    torch.set_num_threads(threads)
    rows = []
    for config in configs:
        torch.manual_seed(0)
        model = build_model(config).eval()
        if fuse:
            model.fuse()
        for size in sizes:
            width, height = parse_size(size)
            complexity = measure_complexity(model, width, height)
            timings = time_forward(model, width, height, warmup, repeats)
            rows.append({
                "config": config, "width": width, "height": height,
                "params": complexity.params, "gflops": round(complexity.gflops, 2),
                "median_ms": round(statistics.median(timings), 1),
                "min_ms": round(min(timings), 1), "max_ms": round(max(timings), 1),
                "runs_ms": [round(t, 1) for t in timings],
            })
            print(f"{config:<10} {width}x{height}: median {rows[-1]['median_ms']:.1f} ms", file=sys.stderr)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the result rows."""
    lines = ["| config | input (WxH) | params (M) | GFLOPs | median ms | min ms | max ms |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['width']}x{r['height']} | {r['params'] / 1e6:.2f} | {r['gflops']:.1f} "
                     f"| {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['max_ms']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="WIDTHxHEIGHT, multiples of 32")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fuse", action="store_true", help="fold BatchNorm into the convolutions first")
    parser.add_argument("--json", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.repeats < 10 or args.warmup < 1:
        parser.error("the benchmark protocol needs --repeats >= 10 and --warmup >= 1")

    rows = run(args.configs, args.sizes, args.warmup, args.repeats, args.threads, args.fuse)
    print(format_table(rows))
    write_json(args.json, {
        "benchmark": "model_forward",
        "protocol": {"batch": 1, "dtype": "float32", "mode": "eval, no_grad, forward + decode (no NMS)",
                     "threads": args.threads, "warmup": args.warmup, "repeats": args.repeats,
                     "statistic": "median", "bn_fused": args.fuse},
        "machine": {**cpu_info().to_json(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "results": rows,
    })
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
