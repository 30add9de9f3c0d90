"""Frame pipeline on a 2-core CPU: ONNX Runtime thread spinning on vs off, in one run (issue 6).

For each model: letterbox + normalise a 1080p synthetic frame (``mottrack_sdk.preprocessing``, the
runtime's code) then run the model through :class:`~mottrack_sdk.backends.OnnxRuntimeBackend` (2
intra-op threads, the runtime's INT8 CPU adaptation), alternating as ``Tracker.update`` does; the
sessions with spinning on and off take turns in blocks of all frames (not frame by frame: a spinning
session's idle workers would slow the other session's run), so both see the same machine. Reports median preprocess / inference ms and the share of the frame spent outside the network.

    flock /tmp/mottrack-bench.lock .venv/bin/python benchmarks/bench_ort_spinning.py \\
        --model sdk/assets/models/cstrack_s_demo_int8.onnx --model M_1088x608.onnx
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import time
from pathlib import Path

import numpy as np

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "ort_spinning.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--frames", type=int, default=20, help="distinct 1920x1080 frames (20)")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the frames; the first is warm-up (3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    from mottrack_sdk.backends import OnnxRuntimeBackend, OnnxRuntimeOptions
    from mottrack_sdk.io import write_json
    from mottrack_sdk.preprocessing import to_network_input
    from mottrack_sdk.scenes import SceneGenerator, SceneOptions

    scene = SceneGenerator(SceneOptions(num_frames=args.frames, seed=3))
    frames = [f.image_bgr for f in itertools.islice(scene.frames(), args.frames)]
    records = []
    for path in args.model:
        backends = {spin: OnnxRuntimeBackend(path, OnnxRuntimeOptions(providers=("CPUExecutionProvider",),
                                                                      allow_spinning=spin)).load()
                    for spin in (True, False)}
        md = backends[True].metadata
        times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for round_index in range(args.rounds):
            for spin, backend in backends.items():
                for frame in frames:
                    a = time.perf_counter()
                    batch, _ = to_network_input(frame, tuple(md.input_size), md.resize_mode, md.pad_value)
                    b = time.perf_counter()
                    backend.infer({md.input_name: batch})
                    c = time.perf_counter()
                    if round_index:
                        times[spin].append(((b - a) * 1e3, (c - b) * 1e3))
        for spin, rows in times.items():
            pre, inf = (float(np.median([r[i] for r in rows])) for i in (0, 1))
            records.append({"model": str(path), "size": f"{md.input_size[0]}x{md.input_size[1]}",
                            "precision": md.precision, "allow_spinning": spin, "preprocess_ms": round(pre, 2),
                            "inference_ms": round(inf, 2), "outside_share": round(pre / (pre + inf), 4),
                            "frames": len(rows)})
            print(records[-1], flush=True)
        for backend in backends.values():
            backend.close()
    write_json(args.out, {"benchmark": "ort_spinning", "date": datetime.datetime.now(datetime.timezone.utc)
                          .isoformat(timespec="seconds"), "statistic": "median", "records": records})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
