"""`mottrack` sub-commands contributed by ``mottrack_training`` (entry-point group ``mottrack.commands``).

``register(subparsers)`` adds:

- ``model-info --config NAME|PATH [--size WxH] [--json FILE]``: parameters and GFLOPs (2·MACs) per
  block (backbone, neck, REN, SAAN, Detect) and in total; the JSON has ``params`` (int), ``gflops``
  (float) and ``blocks`` (name -> {params, gflops}).

- ``train --config FILE [--resume CKPT] [--out DIR] [--device D] [--max-steps N] [--no-progress]``:
  train a CSTrack model from a YAML run config (see ``mottrack_training.engine.options``); with
  ``--resume`` alone the run's own options are taken from the checkpoint. Under ``torchrun`` every
  process runs this command (DDP).

- ``ablate --config FILE --out DIR [--arms A,B] [--epochs N]``: the ablation table (JDE vs + REN vs
  + REN + SAAN, CE vs iHOIM) with the same budget per arm, measured on held-out synthetic sequences
  (``mottrack_training.engine.ablation``).

- ``pseudo-label SOURCE... --out DATASET [--teachers ...]``: label footage with teacher detectors into
  MOTChallenge sequences (``mottrack_training.distill``; arguments in ``distill/cli_args.py``).

- ``mosaic CROPS --out DIR [--count N] [--size WxH] [--rows-px MIN,MAX] [--seed S]``: tile a folder of
  single-person crops into frames of many small people, to pseudo-label with ``--stills``
  (``mottrack_training.data.mosaic``).

This module imports neither torch nor the model at import time: the main
CLI loads every plugin's ``register`` on start-up, and ``mottrack --help`` must stay fast.
Bad input raises ``ValueError``, which the main CLI prints as one line (exit code 2).
"""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SIZE = "1088x608"
# MosaicOptions fields -> the mosaic flags that set them, so its errors name the flag
_MOSAIC_FLAGS = {"width": "--size", "height": "--size", "count": "--count", "min_height": "--rows-px MIN",
                 "max_height": "--rows-px MAX", "seed": "--seed"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the training component's commands to the ``mottrack`` argument parser."""
    info = subparsers.add_parser(
        "model-info",
        help="parameters and GFLOPs of a CSTrack network, per block",
        description="Print parameters and GFLOPs (2 x MACs of conv/linear/matmul, batch 1) of a CSTrack "
                    "network per block (backbone, neck, REN, SAAN, Detect) and in total.",
    )
    info.add_argument("--config", default="cstrack_s",
                      help="a shipped model config (cstrack, cstrack_s) or a path to a YAML file "
                           "(default: %(default)s)")
    info.add_argument("--size", default=DEFAULT_SIZE,
                      help="input WIDTHxHEIGHT in pixels, multiples of 32 (default: %(default)s)")
    info.add_argument("--json", metavar="FILE", default=None, help="also write the numbers to FILE (JSON)")
    info.set_defaults(func=run_model_info)

    train = subparsers.add_parser(
        "train",
        help="train a CSTrack model from a YAML run config",
        description="Train CSTrack / CSTrack-S (detection + ReID) from a YAML run config: data sources "
                    "(synthetic scenes generated on demand, MOTChallenge, JDE lists), SGD schedule, EMA, "
                    "per-epoch validation (AP50, HOTA/MOTA/IDF1), atomic checkpoints. Several GPUs or "
                    "nodes: torchrun --nproc-per-node N -m mottrack_sdk.cli.main train --config FILE.",
    )
    train.add_argument("--config", default=None, help="run config YAML (e.g. configs/cstrack_s_synthetic.yaml)")
    train.add_argument("--resume", metavar="CKPT", default=None,
                       help="continue from a checkpoint (last.pt); the loss curve continues exactly")
    train.add_argument("--out", metavar="DIR", default=None,
                       help="output folder (default: the config's output_dir, runs/<name>, or the "
                            "resumed checkpoint's folder)")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="override the config's device")
    train.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps in total")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)

    pack = subparsers.add_parser(
        "package-weights",
        help="FP16 weights + config + metrics card (held-out synthetic sequences) from a training run",
        description="Take a run's EMA weights, measure AP50/HOTA/MOTA/IDF1 on held-out synthetic sequences "
                    "(a seed neither training nor validation used) and write weights.pt (FP16), "
                    "config.yaml and metrics.json to --out.",
    )
    pack.add_argument("--checkpoint", required=True, help="a training checkpoint (best.pt / last.pt)")
    pack.add_argument("--out", required=True, help="output folder")
    pack.add_argument("--test-seed", type=int, default=2, help="seed of the held-out sequences (default 2)")
    pack.add_argument("--test-sequences", type=int, default=2, help="how many held-out sequences (default 2)")
    pack.add_argument("--tracker-set", action="append", default=[], metavar="KEY=VALUE",
                      help="TrackerOptions change over the run's validation tracker, e.g. det_thresh=0.65 "
                           "(choose it on the validation seed; stored with the weights; repeatable)")
    pack.add_argument("--nms-iou", type=float, default=None, metavar="IOU",
                      help="NMS IoU to measure the card with, in (0, 1] (default: the run's val.nms_iou); "
                           "stored with the weights: mottrack export's --iou-threshold default")
    pack.add_argument("--img-size", default=None, metavar="WxH",
                      help="input size to measure the card at (default: the run's training size), e.g. the size "
                           "the model will be exported at; stored with the weights: mottrack export's --size default")
    pack.add_argument("--source", action="append", default=[], metavar="NAME=LICENCE",
                      help="a training source and its licence, listed in the metrics card beside the ones "
                           "read from the run (pseudo-label licences, init_onnx); repeatable")
    pack.set_defaults(func=run_package_weights)

    avg = subparsers.add_parser(
        "average-weights",
        help="weighted mean of fine-tuned runs of one model (a model soup) as a checkpoint to package",
        description="Average the EMA weights of two or more training checkpoints of the same model config "
                    "(fine-tunes of one starting point) and write the mean as a checkpoint that "
                    "`mottrack package-weights` takes; its card lists every member's training sources.",
    )
    avg.add_argument("checkpoints", nargs="+", metavar="CKPT", help="training checkpoints (best.pt / last.pt)")
    avg.add_argument("--out", required=True, help="checkpoint to write (e.g. runs/soup/best.pt)")
    avg.add_argument("--mix", default=None, help="comma-separated weights, one per checkpoint, in [0, 1], "
                                                 "summing to 1 (default: equal)")
    avg.set_defaults(func=run_average_weights)

    abl = subparsers.add_parser(
        "ablate",
        help="JDE vs +REN vs +REN+SAAN (CE) and CE vs iHOIM, same budget each, held-out metrics",
        description="Train every ablation arm from scratch from one run config (same data, seed, input and "
                    "epochs; only ren/saan/id_loss differ), measure each arm's last EMA weights on held-out "
                    "synthetic sequences, write ablation.json and ablation.md to --out. Finished arms are "
                    "reused, so an interrupted ablation continues.",
    )
    abl.add_argument("--config", required=True, help="base run config YAML (e.g. configs/ablation_cpu.yaml)")
    abl.add_argument("--out", required=True, help="output folder (one run folder per arm)")
    abl.add_argument("--arms", default=None, help="comma-separated subset of jde,ren,ren_saan,ren_saan_ihoim (all)")
    abl.add_argument("--epochs", type=int, default=None, help="override optim.epochs of the base config")
    abl.add_argument("--test-seed", type=int, default=2, help="seed of the held-out sequences (default 2)")
    abl.add_argument("--test-sequences", type=int, default=2, help="how many held-out sequences (default 2)")
    abl.set_defaults(func=run_ablate)

    mos = subparsers.add_parser(
        "mosaic",
        help="tile single-person crops into frames of many small people (then: pseudo-label --stills)",
        description="Tile a folder of single-person crops (e.g. INRIA Person positives) into frames of many "
                    "small people, rows of random heights, crops in a seeded permutation, half of them "
                    "mirrored. The frames carry no labels: `mottrack pseudo-label DIR --stills` labels them.",
    )
    mos.add_argument("crops", metavar="CROPS", help="folder of crop images (.png, .jpg, .jpeg, .bmp)")
    mos.add_argument("--out", required=True, help="new folder for the frames (must not exist)")
    mos.add_argument("--count", type=int, default=200, help="frames to write (default: %(default)s)")
    mos.add_argument("--size", default="960x540", help="frame WIDTHxHEIGHT (default: %(default)s)")
    mos.add_argument("--rows-px", default="48,180", metavar="MIN,MAX",
                     help="row heights in pixels, drawn log-uniformly (default: %(default)s)")
    mos.add_argument("--seed", type=int, default=0, help="layout / order / mirroring seed (default: %(default)s)")
    mos.add_argument("--no-progress", action="store_true", help="no progress bar")
    mos.set_defaults(func=run_mosaic)

    from mottrack_training.distill.cli_args import add_pseudo_label_parser  # argparse only

    add_pseudo_label_parser(subparsers)


def parse_size(text: str, flag: str = "--size") -> tuple[int, int]:
    """``"1088x608"`` -> (1088, 608) as (width, height); ``ValueError`` naming ``flag`` on anything else."""
    from mottrack_sdk.config import parse_size as parse

    return parse(text, flag, multiple=32, example=DEFAULT_SIZE)


def check_held_out(test_seed: int, test_sequences: int) -> None:
    """``--test-seed`` / ``--test-sequences`` within the bounds of the held-out synthetic source they make
    (:class:`~mottrack_training.engine.options.SyntheticSource`, its own check), before any work starts;
    ``ValueError`` naming the flag."""
    from mottrack_training.engine.options import SyntheticSource

    try:
        SyntheticSource(root=".", seed=test_seed, sequences=test_sequences)
    except ValueError as exc:  # "synthetic.sequences must be ...": say which flag set it
        text = str(exc).replace("synthetic.seed", "--test-seed").replace("synthetic.sequences", "--test-sequences")
        raise ValueError(text) from None


def run_model_info(args: argparse.Namespace) -> int:
    """Build the model on the ``meta`` device (no weights allocated), count, print, optionally save."""
    width, height = parse_size(args.size)
    if args.json:
        from mottrack_sdk.io.output_paths import check_output_file

        check_output_file(args.json, "--json", (".json",))
    import torch

    from mottrack_training.model.complexity import measure_complexity
    from mottrack_training.model.cstrack import build_model

    with torch.device("meta"):
        model = build_model(args.config)
    complexity = measure_complexity(model, width, height)
    print(complexity.format_table())
    if args.json:
        from mottrack_sdk.io import write_json

        write_json(args.json, complexity.to_json())
        print(f"wrote {args.json}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Load the options (config file or checkpoint), apply command-line overrides, train."""
    import dataclasses

    from mottrack_training.engine import Trainer, load_checkpoint, load_train_options, train_options_from_dict

    if args.config is None and args.resume is None:
        raise ValueError("give --config FILE (and optionally --resume CKPT)")
    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError(f"--max-steps must be >= 1, got {args.max_steps}")
    if args.config is not None:
        options = load_train_options(args.config)
    else:
        options = train_options_from_dict(load_checkpoint(args.resume)["options"], where=f"{args.resume} [options]")
    if args.device is not None:
        options = dataclasses.replace(options, device=args.device)
    if args.max_steps is not None:
        options = dataclasses.replace(options, optim=dataclasses.replace(options.optim, max_steps=args.max_steps))
    if args.no_progress:
        options = dataclasses.replace(options, log=dataclasses.replace(options.log, progress=False))
    trainer = Trainer(options, out_dir=args.out, resume=args.resume)
    try:
        summary = trainer.fit()
    finally:
        from mottrack_training.engine.distributed import shutdown_distributed

        shutdown_distributed()
    if trainer.ctx.is_main:
        best = summary.best
        print(f"done: {len(summary.steps)} steps this session; checkpoints in {summary.out_dir} "
              f"(best {best['metric']} = {best['value']} at epoch {best['epoch']})")
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    """Run the ablation (``mottrack_training.engine.ablation``) and print its table."""
    from pathlib import Path

    from mottrack_training.engine.ablation import ARMS, run_ablation
    from mottrack_training.engine.options import merge_config, read_train_config

    check_held_out(args.test_seed, args.test_sequences)
    base = read_train_config(args.config)
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
        base = merge_config(base, {"optim": {"epochs": args.epochs}})
    arms = [a.strip() for a in args.arms.split(",")] if args.arms else list(ARMS)
    run_ablation(base, args.out, arms, args.test_seed, args.test_sequences)
    print((Path(args.out) / "ablation.md").read_text(), end="")
    return 0


def run_average_weights(args: argparse.Namespace) -> int:
    """Average checkpoints (``mottrack_training.engine.soup``) and say what went in."""
    from mottrack_sdk.io.output_paths import check_output_file
    from mottrack_training.engine.soup import average_checkpoints, parse_mix

    check_output_file(args.out, "--out")
    record = average_checkpoints(args.checkpoints, args.out, parse_mix(args.mix, len(args.checkpoints)))
    for member in record["averaged_from"]:
        print(f"  {member['weight']:.3f} x {member['checkpoint']} ({member['config']}, epoch {member['epoch']})")
    print(f"averaged {len(record['averaged_from'])} checkpoints -> {args.out}")
    return 0


def run_mosaic(args: argparse.Namespace) -> int:
    """Write crop mosaics (``mottrack_training.data.mosaic``) with a progress bar."""
    from tqdm import tqdm

    from mottrack_sdk.cli.synth_cmd import parse_size as parse_frame_size  # any frame size, not /32
    from mottrack_sdk.scenes.options import with_flag_names
    from mottrack_training.data.mosaic import MosaicOptions, write_mosaics

    width, height = parse_frame_size(args.size)
    rows = args.rows_px.split(",")
    if len(rows) != 2 or not all(p.strip().isdigit() for p in rows):
        raise ValueError(f"--rows-px: expected MIN,MAX pixels (e.g. 48,180), got {args.rows_px!r}")
    try:
        options = MosaicOptions(width=width, height=height, count=args.count, min_height=int(rows[0]),
                                max_height=int(rows[1]), seed=args.seed)
    except ValueError as exc:  # the dataclass names its fields; the command line names its flags
        raise with_flag_names(exc, _MOSAIC_FLAGS) from None
    with tqdm(total=options.count, desc="mosaic", unit="frame", disable=args.no_progress, leave=False) as bar:
        files = write_mosaics(args.crops, args.out, options, progress=bar.update)
    print(f"wrote {len(files)} frames of {options.width}x{options.height} -> {args.out} "
          f"(label them: mottrack pseudo-label {args.out} --stills --out DATASET)")
    return 0


def run_package_weights(args: argparse.Namespace) -> int:
    """Package a run (see ``mottrack_training.engine.release``) and print its metrics card."""
    from mottrack_sdk.cli.common import tracker_changes
    from mottrack_training.engine.release import package_weights

    check_held_out(args.test_seed, args.test_sequences)
    tracker = tracker_changes(args.tracker_set, "--tracker-set")
    if args.nms_iou is not None and not 0 < args.nms_iou <= 1:
        raise ValueError(f"--nms-iou must be in (0, 1], got {args.nms_iou}")
    img_size = parse_size(args.img_size, "--img-size") if args.img_size is not None else None
    notes = {}
    for item in args.source:
        name, sep, licence = item.partition("=")
        if not sep or not name.strip() or not licence.strip():
            raise ValueError(f"--source {item!r}: expected NAME=LICENCE")
        notes[name.strip()] = licence.strip()
    from mottrack_sdk.io.output_paths import check_output_file, check_output_folder

    check_output_folder(args.out, "--out")  # before the minutes of measuring
    for name in ("weights.pt", "config.yaml", "metrics.json"):
        check_output_file(Path(args.out) / name, "--out", inputs=[args.checkpoint])
    card = package_weights(args.checkpoint, args.out, args.test_seed, args.test_sequences, tracker=tracker,
                           source_notes=notes, nms_iou=args.nms_iou, img_size=img_size)
    print(f"AP50 {card['ap50']:.1f}  HOTA {card['hota']:.1f}  MOTA {card['mota']:.1f}  IDF1 {card['idf1']:.1f}  "
          f"({card['measured_on']['what']}); {card['weights_bytes'] / 2**20:.1f} MiB -> {args.out}")
    for name, metrics in card.get("real", {}).items():
        print(f"  real [{name}]: " + "  ".join(f"{k.upper()} {metrics[k]:.1f}" for k in ("ap50", "hota", "mota", "idf1")))
    return 0
