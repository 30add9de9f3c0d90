"""``mottrack calibrate``: quantize (INT8 QDQ) and convert (FP16) a model, then compare with FP32.

For each variant, on the same frames and in the same process: detection AP50 against the ground
truth of MOTChallenge evaluation sequences, embedding cosine to FP32 (boxes matched by IoU >= 0.5),
HOTA / MOTA / IDF1 (``mottrack_sdk.Tracker`` + ``evaluate_mot``), file size and ONNX Runtime CPU
latency (median of ``latency_runs`` after warm-up). Writes ``report.json``, ``report.md`` and
``report.png`` into the report folder, next to the INT8 / FP16 models.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_calibration.evaluation import (IGNORED_CLASSES, FrameDetections, OnnxDetector, average_precision_50,
                                             embedding_cosines, measure_latency)
from mottrack_calibration.readers import DEFAULT_CALIBRATION_FRAMES
from mottrack_calibration.report_writer import staged_outputs, write_report
from mottrack_sdk.backends.base import MAX_THREADS
from mottrack_sdk.config import short_repr
from mottrack_sdk.io.frame_sources import read_image
from mottrack_sdk.machine import cpu_info

__all__ = ["MAX_LATENCY_RUNS", "MAX_THREADS", "MAX_WARMUP", "ReportOptions", "TARGETS", "run_calibration_report"]

# Issue targets for the CSTrack-S demo model on held-out synthetic sequences (INT8 vs FP32).
TARGETS = {"max_mota_loss": 1.0, "max_idf1_loss": 1.5, "min_median_cosine": 0.98, "min_int8_speedup": 1.5}
MAX_LATENCY_RUNS = 10_000  # timed runs per variant (a few ms each on the 2-core target)
MAX_WARMUP = 1_000  # untimed runs per variant


@dataclass(frozen=True)
class ReportOptions:
    """Settings of one report run (see ``mottrack calibrate --help``)."""

    method: str = "entropy"
    frames: int = DEFAULT_CALIBRATION_FRAMES
    eval_source: Path | None = None
    max_eval_frames: int | None = None
    cosine_frames: int = 50
    fp16: bool = True
    threads: int = 2
    latency_runs: int = 10
    warmup: int = 3
    activation_type: str = "int8"
    reduce_range: bool | None = None  # None: 7-bit weights when this CPU has no VNNI (see quantize.cpu_has_vnni)
    cache: Path | None = None

    def __post_init__(self) -> None:
        for flag, value, least, most in (("--frames", self.frames, 1, None),
                                         ("--threads", self.threads, 1, MAX_THREADS),
                                         ("--latency-runs", self.latency_runs, 1, MAX_LATENCY_RUNS),
                                         ("--warmup", self.warmup, 0, MAX_WARMUP)):
            if value < least:
                raise ValueError(f"{flag} must be >= {least}, got {value}")
            if most is not None and value > most:
                raise ValueError(f"{flag} must be <= {most}, got {short_repr(value)}")


@dataclass
class EvalSequence:
    """One evaluation sequence restricted to the frames that exist as images."""

    name: str
    frame_rate: float
    frames: list[tuple[int, Path]]
    gt: Any  # MotRows


def load_eval_sequences(root: Path, gt_out: Path, max_frames: int | None) -> list[EvalSequence]:
    """Sequences with ``gt/gt.txt`` under ``root``; ground truth cut to the frames present is written to
    ``gt_out/<seq>`` (MOT17-mini ships the first frames of 600-frame sequences)."""
    from mottrack_sdk.io import SeqInfo, find_sequences, read_mot_txt, read_seqinfo, safe_path_component, write_seqinfo

    sequences: list[EvalSequence] = []
    for seq_dir in find_sequences(root):
        info = read_seqinfo(seq_dir)
        name = safe_path_component(info.name, f"name= in {seq_dir / 'seqinfo.ini'}")  # becomes gt_out/<name>
        if any(s.name == name for s in sequences):
            raise ValueError(f"name= in {seq_dir / 'seqinfo.ini'}: {name!r} is also the name of another sequence")
        paths = sorted((seq_dir / info.im_dir).glob(f"*{info.im_ext}"))
        frames = [(int(p.stem) if p.stem.isdigit() else i + 1, p) for i, p in enumerate(paths)]
        frames = frames[:max_frames] if max_frames else frames
        if not frames:
            continue
        gt = read_mot_txt(seq_dir / "gt" / "gt.txt")
        last = max(f for f, _ in frames)
        gt = gt.select(np.isin(gt.frame, [f for f, _ in frames]))
        out = gt_out / name
        (out / "gt").mkdir(parents=True, exist_ok=True)
        _write_raw_gt(out / "gt" / "gt.txt", gt)  # all columns kept: conf / class decide what is scored
        write_seqinfo(out, SeqInfo(name, info.frame_rate, last, info.im_width, info.im_height))
        sequences.append(EvalSequence(name, info.frame_rate, frames, gt))
    return sequences


def _write_raw_gt(path: Path, gt: Any) -> None:
    from mottrack_sdk.io import atomic_write

    with atomic_write(path) as fh:
        for f, i, (x, y, w, h), c, k, v in zip(gt.frame, gt.track_id, gt.tlwh, gt.conf, gt.class_id, gt.visibility):
            fh.write(f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{c:g},{k},{v:g}\n")


def _gt_boxes(gt: Any, frame: int) -> tuple[np.ndarray, np.ndarray]:
    rows = gt.at_frame(frame)
    scored = (rows.conf > 0) & rows.is_pedestrian()  # class 1, or -1 (MOT15: no class column)
    ignored = ~scored & ((rows.conf == 0) | np.isin(rows.class_id, IGNORED_CLASSES))
    return rows.xyxy[scored], rows.xyxy[ignored]


def _track(detections: list[FrameDetections], seq: EvalSequence, out_file: Path,
           tracker_defaults: dict[str, Any] | None) -> None:
    """Track with the model's validated settings (metadata ``tracker_defaults``), as ``Tracker(model=...)`` does."""
    from mottrack_sdk import Tracker
    from mottrack_sdk.io import write_results
    from mottrack_sdk.tracking.options import model_options

    tracker = Tracker(model_options(tracker_defaults, {"frame_rate": max(1, int(round(seq.frame_rate)))}))
    rows: list[tuple[int, int, np.ndarray, float]] = []
    for (frame, _), dets in zip(seq.frames, detections):
        emb = dets.embeddings if len(dets.xyxy) else None
        for t in tracker.update_detections(dets.xyxy, dets.scores, emb):
            rows.append((frame, t.track_id, np.asarray(t.tlwh, np.float64), float(t.score)))
    write_results(out_file, np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
                  np.array([r[2] for r in rows], np.float64).reshape(-1, 4), np.array([r[3] for r in rows]))


def run_calibration_report(model_path: str | Path, data: str | Path, report_dir: str | Path,
                           options: ReportOptions = ReportOptions()) -> dict[str, Any]:
    """Quantize / convert ``model_path`` with frames from ``data``, evaluate every variant, write the report.

    Everything is written to a hidden folder in ``report_dir`` first and moved into place at the end, so a
    run that fails (an error, Ctrl-C) leaves ``report_dir`` as it was (see ``report_writer.staged_outputs``).
    """
    with staged_outputs(report_dir) as work:
        return _calibrate(Path(model_path), data, Path(report_dir), work, options)


def _calibrate(model_path: Path, data: str | Path, report_dir: Path, work: Path,
               options: ReportOptions) -> dict[str, Any]:
    """:func:`run_calibration_report`, writing into ``work`` (the report names ``report_dir``)."""
    from mottrack_calibration.cache import CalibrationRangeCache
    from mottrack_calibration.fp16 import convert_fp16
    from mottrack_calibration.quantize import QuantizationOptions, quantize_int8
    from mottrack_calibration.readers import FrameCalibrationReader, MotSequenceSource, PreprocessingSpec, \
        open_frame_source
    from mottrack_sdk.engine_sidecar import file_sha256
    from mottrack_sdk.model_metadata import read_model_metadata

    metadata = read_model_metadata(model_path)
    if metadata.precision != "fp32":
        raise ValueError(f"--model {model_path}: give the FP32 export (this one is {metadata.precision})")
    source = open_frame_source(data)
    spec = PreprocessingSpec.from_metadata(metadata)
    reader = FrameCalibrationReader(source, spec, options.frames)
    model_hash = file_sha256(model_path)
    from mottrack_calibration.quantize import cpu_has_vnni

    reduce_range = (not cpu_has_vnni()) if options.reduce_range is None else options.reduce_range
    q_options = QuantizationOptions(method=options.method, activation_type=options.activation_type,
                                    reduce_range=reduce_range)
    cache = None
    if options.cache is not None:
        percentile = q_options.percentile if options.method == "percentile" else None
        cache = CalibrationRangeCache(options.cache, {"model_sha256": model_hash, "method": options.method,
                                                      "percentile": percentile,
                                                      "activation_type": options.activation_type,
                                                      "reduce_range": reduce_range,
                                                      "preprocessing": spec.key()})
    variants = {"fp32": model_path}
    quant = quantize_int8(model_path, work / f"{model_path.stem}_int8.onnx", reader, q_options, cache)
    variants["int8"] = quant.path
    if options.fp16:
        variants["fp16"] = convert_fp16(model_path, work / f"{model_path.stem}_fp16.onnx")

    eval_root = options.eval_source
    if eval_root is None and isinstance(source, MotSequenceSource) and source.has_ground_truth:
        eval_root = Path(data)
    sequences = load_eval_sequences(Path(eval_root), work / "eval" / "gt", options.max_eval_frames) \
        if eval_root is not None else []
    if sequences:
        frame_lists = [[_frame(p) for _, p in seq.frames] for seq in sequences]
    else:  # no ground truth: embedding agreement on sampled frames only
        sample = FrameCalibrationReader(source, spec, options.cosine_frames)
        frame_lists = [list(source.read(sample.indices))]

    per_variant: dict[str, list[list[FrameDetections]]] = {}
    results: dict[str, dict[str, Any]] = {}
    for name, path in variants.items():
        detector = OnnxDetector(path, threads=options.threads)
        dets = [[detector.detect(frame) for frame in frames] for frames in frame_lists]
        per_variant[name] = dets
        flat = [d for seq in dets for d in seq]
        rewrite = detector.cpu_int8_rewrite
        shown = path if name == "fp32" else report_dir / Path(path).name  # where it will be
        entry: dict[str, Any] = {"path": str(shown), "size_mb": round(Path(path).stat().st_size / 2**20, 3),
                                 "cpu_int8": rewrite.describe() if rewrite is not None else "not a QDQ model",
                                 "detections_per_frame": float(np.mean([len(d.scores) for d in flat])) if flat else 0.0}
        if sequences:
            gts = [_gt_boxes(seq.gt, f) for seq in sequences for f, _ in seq.frames]
            entry["ap50"] = average_precision_50(flat, [g for g, _ in gts], [i for _, i in gts])
            from mottrack_sdk.eval import evaluate_mot

            results_dir = work / "eval" / "results" / name
            for seq, seq_dets in zip(sequences, dets):
                _track(seq_dets, seq, results_dir / f"{seq.name}.txt", metadata.tracker_defaults)
            combined = evaluate_mot(work / "eval" / "gt", results_dir).combined
            entry["tracking"] = {k: float(combined[k]) for k in ("HOTA", "MOTA", "IDF1", "IDSW")}
        if name != "fp32":
            cos = embedding_cosines([d for seq in per_variant["fp32"] for d in seq], flat)
            entry["embedding_cosine"] = {"median": float(np.median(cos)) if cos.size else None,
                                         "min": float(np.min(cos)) if cos.size else None, "matched": int(cos.size)}
        entry["latency"] = measure_latency(path, options.threads, options.warmup, options.latency_runs)
        results[name] = entry
    report = {
        "model": {"path": str(model_path), "sha256": model_hash, **{k: v for k, v in asdict(metadata).items()
                                                                     if k in ("model_name", "input_size", "embedding_dim",
                                                                              "output_layout", "weights_sha256")}},
        "data": reader.fingerprint(), "evaluation": {"source": str(eval_root) if eval_root else None,
                                                     "sequences": [s.name for s in sequences],
                                                     "frames": sum(len(s.frames) for s in sequences)},
        "quantization": {"method": options.method, "activation_type": options.activation_type,
                         "reduce_range": reduce_range,
                         "calibration_frames": quant.calibration_frames, "cache_hit": quant.cache_hit,
                         "float_nodes": list(quant.excluded_nodes)},
        "machine": _machine(options.threads), "variants": results, "targets": _targets(results),
    }
    report["random_weights"] = metadata.weights_sha256 == "random-init"
    write_report(work, report)
    return report


def _targets(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    fp32, int8 = results["fp32"], results["int8"]
    out: dict[str, Any] = {"thresholds": TARGETS}
    if "tracking" in fp32:
        out["mota_loss"] = fp32["tracking"]["MOTA"] - int8["tracking"]["MOTA"]
        out["idf1_loss"] = fp32["tracking"]["IDF1"] - int8["tracking"]["IDF1"]
    out["median_cosine"] = int8.get("embedding_cosine", {}).get("median")
    out["int8_speedup"] = fp32["latency"]["median_ms"] / int8["latency"]["median_ms"]
    met = {"int8_speedup": out["int8_speedup"] >= TARGETS["min_int8_speedup"]}
    if "mota_loss" in out:
        met["mota_loss"] = out["mota_loss"] <= TARGETS["max_mota_loss"]
        met["idf1_loss"] = out["idf1_loss"] <= TARGETS["max_idf1_loss"]
    if out["median_cosine"] is not None:
        met["median_cosine"] = out["median_cosine"] >= TARGETS["min_median_cosine"]
    out["met"] = met
    return out


def _machine(threads: int) -> dict[str, Any]:
    import onnxruntime as ort

    return {**cpu_info().to_json(), "onnxruntime": ort.__version__, "threads": threads}


def _frame(path: Path) -> np.ndarray:
    """One evaluation frame (header-checked, see ``mottrack_sdk.io.frame_sources.read_image``)."""
    image, problem = read_image(path)
    if image is None:
        raise ValueError(f"{path}: {problem}")
    return image
