"""``mottrack export`` (entry-point group ``mottrack.commands``).

    mottrack export --weights W --format onnx|engine --precision fp32|fp16|int8 [--calib SOURCE]
                    [--size WxH] --out PATH [--raw-heads]

``--weights`` is a training checkpoint, ``{"model", "config"}`` dict or bare state dict (see
:mod:`mottrack_export.weights`), or an FP32 mottrack ``.onnx`` (then only conversion / engine building
runs); ``--random-weights`` exports a freshly initialised network (pipeline tests). Importing this
module loads neither torch, onnx nor tensorrt. Bad input raises ValueError / FileNotFoundError, which
the main CLI prints as one line (exit 2).
"""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SIZE = "1088x608"  # CSTrack-S's reference input, for weights that do not say their own


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export`` to the ``mottrack`` parser."""
    p = subparsers.add_parser(
        "export", help="export CSTrack to ONNX (fp32/fp16/int8, NMS in the graph) or a TensorRT engine",
        description="Export a CSTrack model: ONNX opset 17 with score threshold, TopK, NonMaxSuppression, "
                    "embedding gather and L2 norm inside the graph (or --raw-heads), model metadata inside; "
                    "FP16 / INT8 (QDQ, calibrated on --calib frames); or a TensorRT engine (8.5-11) with a sidecar.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", type=Path, help="checkpoint / state dict (.pt) or an FP32 mottrack .onnx")
    src.add_argument("--random-weights", action="store_true", help="randomly initialised network (tests only)")
    p.add_argument("--config", default="cstrack_s", help="model config for bare state dicts / random weights")
    p.add_argument("--set", dest="model_set", action="append", default=[], metavar="KEY=VALUE",
                   help="model config override, e.g. --set embedding_dim=128 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-weights (0)")
    p.add_argument("--format", choices=("onnx", "engine"), default="onnx")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32")
    p.add_argument("--size", default=None,
                   help="static input WIDTHxHEIGHT, multiples of 32 (default: the size --weights was validated "
                        "at, `package-weights --img-size` / the run's data.img_size; else 1088x608)")
    p.add_argument("--out", type=Path, required=True,
                   help="output .onnx, or .engine / .plan for --format engine (checked before the export starts)")
    p.add_argument("--raw-heads", action="store_true", help="decoded predictions + embedding map, NMS on the host")
    p.add_argument("--embedding-head", choices=("sparse", "dense"), default="sparse",
                   help="sparse (default): SAAN's last convolutions at the kept boxes only; dense: the whole "
                        "embedding map, then the gather (same embeddings, more work)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 13-17 (17: TensorRT 8.5+ parses it)")
    p.add_argument("--tracker-set", action="append", default=[], metavar="KEY=VALUE",
                   help="a TrackerOptions default written into the file over the one --weights was validated "
                        "with, e.g. det_thresh=0.45 for another --size (repeatable; Tracker(model=...) starts "
                        "from the file's defaults)")
    tail = p.add_argument_group("in-graph tail")
    tail.add_argument("--score-threshold", type=float, default=0.1,
                      help="in-graph score floor (0.1 = the tracker's low-score rescue floor)")
    tail.add_argument("--iou-threshold", type=float, default=None,
                      help="in-graph NMS IoU (default: the one --weights was validated with, "
                           "`package-weights --nms-iou` / the run's val.nms_iou; else 0.6)")
    tail.add_argument("--top-k", type=int, default=1000, help="candidates into NMS (< 3840)")
    tail.add_argument("--max-det", type=int, default=300, help="fixed number of output rows")
    tail.add_argument("--resize-mode", choices=("letterbox", "stretch"), default="letterbox",
                      help="preprocessing the runtime applies (written to the metadata)")
    tail.add_argument("--pad-value", type=float, default=127.5, help="letterbox padding, 0-255 (127.5)")
    cal = p.add_argument_group("INT8 calibration")
    cal.add_argument("--calib", type=Path, help="video, image folder or MOTChallenge root for INT8")
    cal.add_argument("--calib-frames", type=int, default=500, help="frames sampled evenly (500)")
    cal.add_argument("--calib-method", choices=("entropy", "minmax", "percentile"), default="entropy")
    cal.add_argument("--calib-reduce-range", action="store_true",
                     help="7-bit weights, for ONNX Runtime on x86 CPUs without VNNI (TensorRT does not need it)")
    cal.add_argument("--calib-cache", type=Path, help="calibration range cache (reused when settings match)")
    eng = p.add_argument_group("TensorRT engine")
    eng.add_argument("--workspace-mib", type=int, default=1024)
    eng.add_argument("--timing-cache", type=Path, help="TensorRT timing cache file (read and updated)")
    eng.add_argument("--dla-core", type=int, help="build for this DLA core (GPU fallback unless --no-gpu-fallback)")
    eng.add_argument("--no-gpu-fallback", action="store_true")
    eng.add_argument("--int8-mode", choices=("qdq", "calibrator"), default="qdq",
                     help="INT8 from the QDQ ONNX (all versions) or TensorRT's calibrator (<= 10, DLA)")
    eng.add_argument("--trt-calib-cache", type=Path, help="TensorRT calibration cache (calibrator mode)")
    eng.add_argument("--onnx-out", type=Path, help="where to keep the ONNX the engine is built from (<out>.onnx)")
    p.set_defaults(func=run_export)


def _model_overrides(items: list[str]) -> dict[str, object]:
    """``--set KEY=VALUE`` model config changes, each VALUE read as YAML (bounded: nesting, aliases, size;
    one-line errors naming ``--set KEY``); the config's own checks judge the values when it is built."""
    from mottrack_sdk.config import parse_yaml_value, short_repr

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set: expected KEY=VALUE, got {short_repr(item)}")
        out[key.strip()] = parse_yaml_value(value, f"--set {key.strip()[:40]}")
    return out


def run_export(args: argparse.Namespace) -> int:
    from mottrack_export.options import ExportOptions, TailOptions, check_tracker_defaults, parse_size
    from mottrack_export.pipeline import ExportRequest, export_model
    from mottrack_export.tensorrt_builder import EngineBuildOptions
    from mottrack_export.tensorrt_version import TensorRTUnavailableError
    from mottrack_sdk.config import short_repr

    if not 0 <= args.seed < 2**63:  # torch.manual_seed takes a 64-bit integer
        raise ValueError(f"--seed: expected an integer in [0, 2**63 - 1], got {short_repr(args.seed)}")
    if args.calib_frames < 1:
        raise ValueError(f"--calib-frames must be >= 1, got {args.calib_frames}")
    validated_iou, validated_size = None, None
    if args.weights is not None and args.weights.suffix.lower() != ".onnx" and args.weights.is_file():
        from mottrack_export.weights import validated_export_defaults

        validated_iou, validated_size = validated_export_defaults(args.weights)
    size = parse_size(args.size if args.size is not None else validated_size or DEFAULT_SIZE)
    iou = args.iou_threshold if args.iou_threshold is not None else validated_iou or 0.6
    tracker = None
    if args.tracker_set:
        from mottrack_sdk.cli.common import tracker_changes

        if args.weights is not None and args.weights.suffix.lower() == ".onnx":
            raise ValueError("--tracker-set: an ONNX --weights file keeps its own metadata; export from the "
                             ".pt weights to write other tracker defaults")
        tracker = check_tracker_defaults(tracker_changes(args.tracker_set, "--tracker-set"), "--tracker-set")
    options = ExportOptions(size=size, opset=args.opset, raw_heads=args.raw_heads,
                            embedding_head=args.embedding_head, resize_mode=args.resize_mode, pad_value=args.pad_value,
                            tail=TailOptions(args.score_threshold, iou, args.top_k, args.max_det),
                            tracker_defaults=tracker)
    engine = None
    if args.format == "engine":
        engine = EngineBuildOptions(
            precision=args.precision, int8_mode=args.int8_mode, workspace_mib=args.workspace_mib,
            timing_cache=args.timing_cache, dla_core=args.dla_core, gpu_fallback=not args.no_gpu_fallback,
            calibration_cache=args.trt_calib_cache)
    request = ExportRequest(out=args.out, format=args.format, precision=args.precision, export=options,
                            calib=args.calib, calib_frames=args.calib_frames, calib_method=args.calib_method,
                            calib_cache=args.calib_cache, calib_reduce_range=args.calib_reduce_range, engine=engine,
                            onnx_out=args.onnx_out,
                            inputs=tuple(p for p in (args.weights, args.calib) if p is not None))
    overrides = _model_overrides(args.model_set)
    if args.weights is not None and args.weights.suffix.lower() == ".onnx":
        if overrides or args.raw_heads or args.size is not None:
            print("note: --weights is an ONNX file; --size/--raw-heads/--set come from that file and are ignored")
        source: object = args.weights
    elif args.weights is not None:
        from mottrack_export.weights import TorchModelFromWeights

        if not args.weights.is_file():
            raise FileNotFoundError(f"--weights {args.weights}: file not found")
        source = TorchModelFromWeights(args.weights, args.config, overrides)
    else:
        from mottrack_export.weights import TorchModelFromConfig

        source = TorchModelFromConfig(args.config, overrides, args.seed)
    try:
        summary = export_model(source, request)  # type: ignore[arg-type]
    except TensorRTUnavailableError as exc:
        raise ValueError(str(exc)) from exc
    if "engine" in summary:
        sc = summary["sidecar"]
        print(f"wrote {summary['engine']} (TensorRT {sc.tensorrt_version}, {sc.gpu_name}, {sc.precision}) and its "
              f"sidecar; built from {summary['onnx']}")
    else:
        meta = summary["metadata"]
        print(f"wrote {summary['onnx']} ({meta.model_name} {meta.input_size[0]}x{meta.input_size[1]}, {meta.precision}, "
              f"{meta.output_layout}: {', '.join(meta.outputs)})")
    return 0
