"""Choose the tracker's det_thresh for an exported model as the runtime runs it, on validation sets only.

    .venv/bin/python benchmarks/sweep_det_thresh_runtime.py --model sdk/assets/models/cstrack_nano_int8.onnx \
        --values 0.5,0.55,0.6 --cpu-int8 float --cpu-int8 u8_w7 \
        --json benchmarks/results/cstrack_nano_real_ft_tracker_sweep_runtime.json

``benchmarks/sweep_det_thresh.py`` sweeps a training checkpoint in PyTorch; this one runs the file a
user gets through ``Tracker(model=..., det_thresh=...)`` (preprocessing, ONNX Runtime with the given
CPU INT8 mode, in-graph NMS, the model's other tracker defaults) on TUD-Campus (MOT15 rules) and the
synthetic validation seed (``.cache/synthetic/val``, never the held-out seed 2), with the same rule:
the value maximising the mean over the sets of min(MOTA, IDF1).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from eval_default_model import REPO, SHARED, _tracking  # benchmarks/ is the script's folder

TUD = SHARED / "MOT15" / "train" / "TUD-Campus"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--values", default="0.5,0.55,0.6", help="det_thresh values, comma separated")
    parser.add_argument("--cpu-int8", action="append", default=None, help="CPU INT8 modes (repeatable; default auto)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from mottrack_sdk.io import find_sequences, write_json

    sets = {"synthetic_val": (find_sequences(REPO / ".cache" / "synthetic" / "val"), "MOT17")}
    if TUD.is_dir():
        sets["tud"] = ([TUD], "MOT15")
    out: dict = {"model": args.model, "rule": "max mean over sets of min(MOTA, IDF1)", "modes": {}}
    for mode in args.cpu_int8 or ["auto"]:
        rows = []
        for value in (float(v) for v in args.values.split(",")):
            row: dict = {"det_thresh": value}
            for name, (sequences, benchmark) in sets.items():
                row[name] = _tracking(args.model, sequences, benchmark, mode, value)
            row["score"] = round(float(np.mean([min(row[n]["MOTA"], row[n]["IDF1"]) for n in sets])), 2)
            print(mode, json.dumps(row), flush=True)
            rows.append(row)
        best = max(rows, key=lambda r: r["score"])["det_thresh"]
        print(f"{mode}: best det_thresh {best}")
        out["modes"][mode] = {"rows": rows, "best": best}
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
