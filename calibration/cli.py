"""``mottrack calibrate`` (entry-point group ``mottrack.commands``).

    mottrack calibrate --model M.onnx --data SOURCE --report DIR [--eval ROOT] [--method entropy]
                       [--frames 500] [--cache FILE] [--no-fp16] [--threads 2] [--latency-runs 10]

Quantizes the FP32 export to INT8 (QDQ) with frames of SOURCE, converts it to FP16, evaluates all
three and writes ``DIR/report.{json,md,png}`` plus the INT8 / FP16 models. Importing this module loads
neither onnx nor onnxruntime. Bad input raises ValueError / FileNotFoundError (one line, exit 2).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``calibrate`` to the ``mottrack`` parser."""
    p = subparsers.add_parser(
        "calibrate", help="INT8 / FP16 versions of an ONNX export and an accuracy + speed report",
        description="Quantize an FP32 mottrack ONNX export to a TensorRT-conformant INT8 QDQ model (detect-head "
                    "output convs, embedding head's last layer and the decode/NMS tail kept float), convert it to "
                    "FP16, and compare FP32 / INT8 / FP16: detection AP50, embedding cosine to FP32, HOTA/MOTA/IDF1 "
                    "on evaluation sequences, model size, ONNX Runtime CPU latency.")
    p.add_argument("--model", type=Path, required=True, help="FP32 ONNX from mottrack export")
    p.add_argument("--data", type=Path, required=True,
                   help="calibration frames: a video, an image folder or MOTChallenge sequence(s)")
    p.add_argument("--report", type=Path, required=True,
                   help="output folder (report.json / .md / .png, the INT8 and FP16 models); checked first")
    p.add_argument("--eval", type=Path, default=None,
                   help="MOTChallenge sequences with gt for AP50 / tracking (default: --data when it has gt)")
    p.add_argument("--max-eval-frames", type=int, default=None, help="frames per evaluation sequence (all)")
    p.add_argument("--method", choices=("entropy", "minmax", "percentile"), default="entropy")
    p.add_argument("--frames", type=int, default=500, help="calibration frames sampled evenly (500)")
    p.add_argument("--activations", choices=("int8", "uint8"), default="int8",
                   help="int8 = S8S8 symmetric (TensorRT-conformant); uint8 = U8S8 (CPU experiment)")
    p.add_argument("--reduce-range", choices=("auto", "on", "off"), default="auto",
                   help="7-bit weights: auto = on when this CPU shows no VNNI (ONNX Runtime's int8 kernels "
                        "saturate there with 8-bit weights)")
    p.add_argument("--cache", type=Path, default=None, help="calibration range cache (JSON), reused when keys match")
    p.add_argument("--no-fp16", action="store_true", help="skip the FP16 variant")
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (2)")
    p.add_argument("--latency-runs", type=int, default=10, help="timed runs per variant after warm-up (10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (3)")
    p.set_defaults(func=run_calibrate)


def _check_before_work(args: argparse.Namespace) -> None:
    """Everything that would otherwise fail after the models are written: the report folder and every file
    it will hold, the range cache, and ground truth under ``--eval``. No output may replace an input."""
    from mottrack_sdk.io import find_sequences
    from mottrack_sdk.io.output_paths import check_output_file, check_output_folder

    inputs = {flag: path for flag, path in (("--model", args.model), ("--data", args.data), ("--eval", args.eval))
              if path is not None}
    check_output_folder(args.report, "--report")
    _check_outside_input_folders(args.report, inputs)
    outputs = ["report.json", "report.md", "report.png", f"{args.model.stem}_int8.onnx"]
    outputs += [] if args.no_fp16 else [f"{args.model.stem}_fp16.onnx"]
    for name in outputs:
        _check_not_inputs(check_output_file(args.report / name, "--report"), "--report", inputs)
    if args.cache is not None:
        _check_not_inputs(check_output_file(args.cache, "--cache"), "--cache", inputs)
    if args.eval is not None:
        if not args.eval.is_dir():
            raise FileNotFoundError(f"--eval {args.eval}: folder not found")
        try:
            find_sequences(args.eval)
        except FileNotFoundError:
            raise FileNotFoundError(f"--eval {args.eval}: no MOTChallenge sequence with ground truth (gt/gt.txt) "
                                    "in it or its sub-folders") from None


def _check_not_inputs(path: Path, flag: str, inputs: dict[str, Path]) -> None:
    """``check_not_input`` against each input, its message also naming the input's flag."""
    from mottrack_sdk.io.output_paths import check_not_input

    for input_flag, given in inputs.items():
        try:
            check_not_input(path, flag, [given])
        except ValueError as exc:
            raise ValueError(f"{exc} ({given} is the {input_flag} input)") from None


def _check_outside_input_folders(report: Path, inputs: dict[str, Path]) -> None:
    """The report folder is no input folder nor inside one: its report.png would be read as a frame and its
    eval/gt sequences as more ground truth by the next run on that input."""
    target = report.resolve()
    for flag, given in inputs.items():
        if given.is_dir() and (target == given.resolve() or given.resolve() in target.parents):
            where = "is the" if target == given.resolve() else "is inside the"
            raise ValueError(f"--report {report}: {where} {flag} folder {given} (the report's models, images and "
                             "eval/ sequences would mix with that input); choose a folder outside it")


def run_calibrate(args: argparse.Namespace) -> int:
    from mottrack_calibration.report import ReportOptions, run_calibration_report

    if args.max_eval_frames is not None and args.max_eval_frames < 1:
        raise ValueError(f"--max-eval-frames must be >= 1, got {args.max_eval_frames}")
    options = ReportOptions(method=args.method, frames=args.frames, eval_source=args.eval,
                            max_eval_frames=args.max_eval_frames, fp16=not args.no_fp16, threads=args.threads,
                            latency_runs=args.latency_runs, warmup=args.warmup, activation_type=args.activations,
                            reduce_range=None if args.reduce_range == "auto" else args.reduce_range == "on",
                            cache=args.cache)  # its checks name the flags, before any file is looked at
    if not args.model.is_file():
        raise FileNotFoundError(f"--model {args.model}: file not found")
    if not args.data.exists():
        raise FileNotFoundError(f"--data {args.data}: not found")
    _check_before_work(args)
    # written to a hidden folder in --report, moved into place at the end: a failed run leaves --report as it was
    report = run_calibration_report(args.model, args.data, args.report, options)
    v = report["variants"]
    for name in ("fp32", "int8", "fp16"):
        if name in v:
            ap = v[name].get("ap50")
            mota = v[name].get("tracking", {}).get("MOTA")
            print(f"{name:>5}: {v[name]['latency']['median_ms']:8.1f} ms  AP50 "
                  f"{'n/a' if ap is None else f'{100 * ap:.1f}'}  MOTA {'n/a' if mota is None else f'{mota:.1f}'}  "
                  f"{v[name]['size_mb']:.2f} MB")
    print(f"wrote {args.report}/report.json, report.md, report.png")
    return 0
