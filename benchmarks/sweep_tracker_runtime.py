"""Choose an exported model's tracker settings as the runtime runs it, on validation sets only.

    .venv/bin/python benchmarks/sweep_tracker_runtime.py --model sdk/assets/models/cstrack_nano_int8.onnx \
        --grid det_thresh=0.4,0.45,0.5,0.55 --grid min_hits=2,4,5,6 --grid low_score_thresh=0.1,0.2 \
        --cpu-int8 float --cpu-int8 u8_w7 \
        --json benchmarks/results/cstrack_nano_real_ft_tracker_grid_runtime.json

``benchmarks/sweep_det_thresh.py`` sweeps a training checkpoint's ``det_thresh`` in PyTorch; this one
runs the file a user gets through ``Tracker(model=..., **point)`` for every point of the grid (the
cartesian product of the ``--grid`` values, each a ``TrackerOptions`` field, on top of the model's own
``tracker_defaults``) on three validation sets, never the held-out synthetic seed 2:

- the synthetic validation seed (``.cache/synthetic/val``, 2 x 100 frames, 20 people), or the
  sequences of every ``--synthetic DIR`` pooled into this one set (more seeds, the same weight in the
  rule; e.g. ``mottrack synth --out .cache/synthetic/val-extra --sequences 2 --seed 3 --frames 100
  --size 960x540 --density 20`` writes seed 3 with the validation scene's settings);
- TUD-Campus (71 real frames, 5-8 people at a time; MOT15 rules);
- MOT17-mini tracked as clips (7 real clips of 4-8 frames, 10-50 people each, MOT17 rules; their
  ground truth holds only the clips' frames): dense real scenes. Births after a clip's first frame
  rarely confirm within 4-8 frames, so this set weighs the thresholds more than ``min_hits``.

The rule: the point maximising the mean over the sets of min(MOTA, IDF1); the first such point in
grid order on a tie.

The detections of every frame are computed once per CPU INT8 mode (preprocessing, ONNX Runtime, the
in-graph tail: they do not depend on the tracker's options) and fed with their frame to
``Tracker.update_detections`` on ``TrackerOptions.for_model`` with the model's ``tracker_defaults`` and
the point (what ``Tracker(model=...)`` builds): the same association and camera-motion compensation as
``Tracker.update``, without opening the model per point, so a grid of a hundred points costs minutes.
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from eval_default_model import (REPO, SHARED, _backend_options, score_tracks,  # benchmarks/ is the script's folder
                                synthetic_folder)

TUD = SHARED / "MOT15" / "train" / "TUD-Campus"
MOT17_MINI = SHARED / "MOT17-mini" / "train"


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["det_thresh=0.4,0.5", "min_hits=2,4"]`` -> ``{"det_thresh": [0.4, 0.5], "min_hits": [2, 4]}``
    (integers stay integers, ``none`` is None); every point is checked as ``TrackerOptions.for_model``
    changes, so a wrong name or value fails before any frame is read."""
    from mottrack_sdk.tracking import TrackerOptions

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ValueError(f"--grid {item!r}: expected KEY=V1,V2,... (a TrackerOptions field and its values)")
        if key in grid:
            raise ValueError(f"--grid {key}: given twice")
        grid[key] = [_value(v.strip(), key) for v in values.split(",")]
    for point in grid_points(grid):
        try:
            TrackerOptions.for_model(**point)
        except ValueError as exc:
            raise ValueError(f"--grid point {point}: {exc}") from None
    return grid


def _value(text: str, key: str) -> Any:
    if text.lower() == "none":
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    raise ValueError(f"--grid {key}: {text!r} is not a number, true/false or none")


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in order (the last key varies fastest)."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def row_score(row: dict, sets: list[str]) -> float:
    """The rule: the mean over ``sets`` of min(MOTA, IDF1), rounded to 0.01."""
    return round(float(np.mean([min(row[n]["MOTA"], row[n]["IDF1"]) for n in sets])), 2)


def best_row(rows: list[dict], sets: list[str]) -> dict:
    """The row with the largest ``score`` (set on every row, :func:`row_score`); first on a tie."""
    for row in rows:
        row["score"] = row_score(row, sets)
    return max(rows, key=lambda r: r["score"])


def synthetic_sequences(folders: list[Path]) -> list[Path]:
    """The MOTChallenge sequences under ``folders``, pooled; ValueError naming ``--synthetic`` for a
    folder without sequences or with a sequence of the held-out seed 2 (``SYNTH-2-*``)."""
    pooled: list[Path] = []
    for folder in folders:
        found = synthetic_folder(folder)
        held_out = [seq.name for seq, seed in found if seed == 2]
        if held_out:
            raise ValueError(f"--synthetic {folder}: {held_out[0]} is of the held-out seed 2, which is never "
                             "used to choose settings")
        pooled += [seq for seq, _ in found if seq not in pooled]
    return pooled


def _detections(model: str, sequences: list[Path], cpu_int8: str) -> dict[Path, tuple[float, list]]:
    """Per sequence: its frame rate and (frame number, image, Detections) of every frame, as the
    runtime detects them."""
    from mottrack_sdk.detector import FrameDetector
    from mottrack_training.engine.validation import sequence_frames

    detector = FrameDetector.from_model(model, backend_options=_backend_options(cpu_int8))
    out = {}
    for seq in sequences:
        frames, frame_rate = sequence_frames(seq)
        images = ((frame, cv2.imread(str(path))) for frame, path in frames)
        out[seq] = (frame_rate, [(frame, image, detector.detect(image)) for frame, image in images])
    detector.close()
    return out


def _track(options: Any, cached: dict[Path, tuple[float, list]], benchmark: str) -> dict[str, float]:
    """Tracking metrics of ``options`` (what ``Tracker(model=..., **point)`` runs: ``for_model()``, the
    model's ``tracker_defaults``, the point) on cached detections; no model is opened."""
    from mottrack_sdk import Tracker

    per_sequence = {}
    for seq, (frame_rate, frames) in cached.items():
        tracker = Tracker(options.replace(frame_rate=frame_rate))
        per_sequence[seq] = [(frame, t.track_id, *t.tlwh, t.score) for frame, image, d in frames
                             for t in tracker.update_detections(d.xyxy, d.scores, d.embeddings, d.classes, frame=image)]
    return score_tracks(per_sequence, benchmark)


def plot_scores(result: dict, png: Path) -> None:
    """One heat map per CPU mode: the rule's score over the grid's first two keys (the best over any
    other keys), each cell labelled, the chosen point boxed."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(result["grid"])
    if len(keys) < 2:
        raise ValueError("--png needs a grid of at least two keys (rows x columns)")
    ys, xs = result["grid"][keys[0]], result["grid"][keys[1]]
    modes = result["modes"]
    fig, axes = plt.subplots(1, len(modes), figsize=(1.1 * len(xs) * len(modes) + 1.5, 0.6 * len(ys) + 1.6),
                             squeeze=False)
    for ax, (mode, entry) in zip(axes[0], modes.items()):
        score = np.full((len(ys), len(xs)), np.nan)
        for row in entry["rows"]:
            i, j = ys.index(row[keys[0]]), xs.index(row[keys[1]])
            score[i, j] = np.nanmax([score[i, j], row["score"]])
        ax.imshow(score, cmap="viridis", aspect="auto")
        middle = np.nanmean(score)
        for (i, j), value in np.ndenumerate(score):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", color="w" if value < middle else "k")
        best = entry["best"]
        ax.add_patch(plt.Rectangle((xs.index(best[keys[1]]) - 0.5, ys.index(best[keys[0]]) - 0.5), 1, 1,
                                   fill=False, edgecolor="red", linewidth=2))
        ax.set(xticks=range(len(xs)), xticklabels=xs, yticks=range(len(ys)), yticklabels=ys,
               xlabel=keys[1], ylabel=keys[0],
               title=f"{mode}: best\n" + textwrap.fill(", ".join(f"{k}={v}" for k, v in best.items()), 44))
        ax.title.set_fontsize(8)
    first_row = next(iter(modes.values()))["rows"][0]
    sets = [k for k, v in first_row.items() if isinstance(v, dict)]
    fig.suptitle(f"mean over {', '.join(sets)} of min(MOTA, IDF1)", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="the exported model (required unless --from-json)")
    parser.add_argument("--grid", action="append", default=None, metavar="KEY=V1,V2",
                        help="a TrackerOptions field and its values (repeatable; default det_thresh=0.5,0.55,0.6)")
    parser.add_argument("--cpu-int8", action="append", default=None, help="CPU INT8 modes (repeatable; default auto)")
    parser.add_argument("--synthetic", type=Path, action="append", default=None, metavar="DIR",
                        help="synthetic validation sequences, pooled into one set (repeatable; default "
                             ".cache/synthetic/val); never the held-out seed 2")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--png", type=Path, default=None, help="heat maps of the score over the first two grid keys")
    parser.add_argument("--from-json", type=Path, default=None, help="plot a previous --json result (no sweep)")
    args = parser.parse_args()
    from mottrack_sdk.io import find_sequences, write_json
    from mottrack_sdk.model_metadata import read_model_metadata
    from mottrack_sdk.tracking.options import model_options

    if args.from_json is not None:
        if args.png is None:
            parser.error("--from-json: give --png to plot it")
        try:
            plot_scores(json.loads(args.from_json.read_text()), args.png)
        except KeyError as exc:
            parser.error(f"--from-json {args.from_json}: expected a --json result of this script, no key {exc}")
        except (OSError, ValueError) as exc:
            parser.error(f"--from-json {args.from_json}: {exc}")
        print(f"wrote {args.png}")
        return 0
    if args.model is None:
        parser.error("--model is required (or --from-json to plot a previous result)")

    try:
        grid = parse_grid(args.grid or ["det_thresh=0.5,0.55,0.6"])
    except ValueError as exc:
        parser.error(str(exc))
    if not Path(args.model).is_file():
        parser.error(f"--model {args.model}: file not found")
    try:
        synthetic = synthetic_sequences(args.synthetic or [REPO / ".cache" / "synthetic" / "val"])
    except ValueError as exc:
        parser.error(str(exc))
    sets = {"synthetic_val": (synthetic, "MOT17")}
    if TUD.is_dir():
        sets["tud"] = ([TUD], "MOT15")
    if MOT17_MINI.is_dir():
        sets["mot17_mini_clips"] = (find_sequences(MOT17_MINI), "MOT17")
    out: dict = {"model": args.model, "grid": grid, "rule": "max mean over sets of min(MOTA, IDF1)",
                 "synthetic_val_sequences": [p.name for p in synthetic], "modes": {}}
    defaults = read_model_metadata(args.model).tracker_defaults or {}
    for mode in args.cpu_int8 or ["auto"]:
        cached = {name: (_detections(args.model, seqs, mode), bench) for name, (seqs, bench) in sets.items()}
        rows = []
        for point in grid_points(grid):
            options = model_options(defaults, point)
            row: dict = {**point, **{name: _track(options, c, bench) for name, (c, bench) in cached.items()}}
            row["score"] = row_score(row, list(sets))
            print(mode, json.dumps(row), flush=True)
            rows.append(row)
        best = best_row(rows, list(sets))
        chosen = {k: best[k] for k in grid}
        print(f"{mode}: best {chosen} (score {best['score']})")
        out["modes"][mode] = {"rows": rows, "best": chosen}
    if args.json:
        write_json(args.json, out)
    if args.png:
        plot_scores(out, args.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
