"""Choose the tracker's det_thresh for a trained run on its validation sets (never the held-out seed).

    .venv/bin/python benchmarks/sweep_det_thresh.py --checkpoint runs/cstrack_nano_real_cpu/best.pt \
        --values 0.4,0.5,0.6 --json benchmarks/results/cstrack_nano_real_tracker_sweep_val.json

Runs the per-epoch validation path (runtime letterbox, NMS, TrackerOptions, TrackEval) of the run on
its synthetic validation seed and on every ``data.val_extra`` set, once per value, and picks the
value that maximises the mean over those sets of min(MOTA, IDF1) (sets with tracking ground truth:
the synthetic seed and e.g. TUD-Campus; AP50-only sets such as MOT17-mini are reported, not used).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--values", default="0.4,0.5,0.6", help="det_thresh values, comma separated")
    parser.add_argument("--use", default="", help="comma separated val_extra names that count (default: all "
                                                   "whose select has no ap50 only)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import torch

    from mottrack_sdk.io import find_sequences, write_json
    from mottrack_training.engine.checkpoint import load_checkpoint
    from mottrack_training.engine.options import train_options_from_dict
    from mottrack_training.engine.sources import sequence_dirs
    from mottrack_training.engine.validation import validate_sequences
    from mottrack_training.model import build_model

    state = load_checkpoint(args.checkpoint)
    options = train_options_from_dict(state["options"], where=args.checkpoint)
    model = build_model(options.model.config, **options.model.overrides)
    model.load_state_dict(state["ema"]["model"] if state.get("ema") else state["model"])
    model.eval()
    sets = {"synthetic_val": sequence_dirs(options.data.val)} if options.data.val else {}
    sets.update({e.name: find_sequences(e.mot) for e in options.data.val_extra})
    use = set(args.use.split(",")) if args.use else {e.name for e in options.data.val_extra
                                                      if set(e.select) != {"ap50"}} | {"synthetic_val"}
    rows = []
    for value in (float(v) for v in args.values.split(",")):
        val = dataclasses.replace(options.val, tracker=options.val.tracker.replace(det_thresh=value))
        row: dict = {"det_thresh": value}
        for name, sequences in sets.items():
            with tempfile.TemporaryDirectory() as tmp:
                result = validate_sequences(model, sequences, val, options.data.img_size, options.data.pad_value,
                                            Path(tmp), torch.device("cpu"))
            row[name] = {k: round(v, 2) for k, v in result.metrics().items()}
        row["score"] = round(sum(min(row[n]["mota"], row[n]["idf1"]) for n in sets if n in use) /
                             max(1, len(use & set(sets))), 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    best = max(rows, key=lambda r: r["score"])
    print(f"best det_thresh {best['det_thresh']} (mean min(MOTA, IDF1) {best['score']} over {sorted(use)})")
    if args.json:
        write_json(args.json, {"checkpoint": str(args.checkpoint), "rule": "max mean over sets of min(MOTA, IDF1)",
                               "sets_used": sorted(use), "rows": rows, "best": best["det_thresh"]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
