"""ONNX Runtime CPU: FP32 vs INT8 (QDQ) CSTrack-S, and why INT8 is or is not faster on this machine (issue 5).

For each size: export CSTrack-S (random weights, end-to-end layout) to FP32 ONNX, quantize it with
the project's settings in several variants, and in one process measure ONNX Runtime CPU latency
(batch 1, ``--threads`` intra-op threads, ``--warmup`` untimed runs, median of ``--runs``), count the
ops of the graph ONNX Runtime actually runs (optimised, saved with ``optimized_model_filepath``)
and profile where the time goes per op type. Variants:

- ``int8_s8s8``: TensorRT-conformant (int8 activations symmetric, int8 per-channel weights);
- ``int8_s8s8_rr``: the same with 7-bit weights (``reduce_range``, still int8 / zero point 0);
- ``int8_u8s8``: uint8 asymmetric activations (ONNX Runtime's usual x86 choice; not for TensorRT);
- ``*_dedicated``: one Q/DQ pair per consumer (``DedicatedQDQPair``), so ONNX Runtime can fuse the
  convolutions whose input has several consumers;
- ``int8_s8s8_cpu``: the TensorRT-conformant file as the runtime runs it on the CPU provider
  (``mottrack_sdk.backends.qdq_cpu``: uint8 activations, 7-bit weights when CPUID shows no VNNI).

With ``--weights`` (trained weights) each INT8 variant is also compared with FP32 on real frames:
the share of FP32 detections (score >= 0.5) it finds again (IoU >= 0.7) and the embedding cosine.

Also records what CPUID exposes (AVX-512 / VNNI flags) since ONNX Runtime's int8 GEMM kernels are
chosen from it. Writes ``benchmarks/results/int8_cpu.json``. Run under the benchmark lock::

    flock /tmp/mottrack-bench.lock .venv/bin/python benchmarks/bench_int8_cpu.py
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "int8_cpu.json"
MOT17_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "MOT17-mini" / "train"
VARIANTS = {
    "int8_s8s8": {"activation_type": "int8", "reduce_range": False},
    "int8_s8s8_rr": {"activation_type": "int8", "reduce_range": True},
    "int8_u8s8": {"activation_type": "uint8", "reduce_range": False},
    "int8_u8s8_rr": {"activation_type": "uint8", "reduce_range": True},
    "int8_s8s8_dedicated": {"activation_type": "int8", "reduce_range": False, "dedicated_qdq_pair": True},
    "int8_s8s8_rr_dedicated": {"activation_type": "int8", "reduce_range": True, "dedicated_qdq_pair": True},
    "int8_s8s8_cpu": {"activation_type": "int8", "reduce_range": False},  # + the runtime's CPU adaptation
}


def session(path: Path, threads: int, optimized: Path | None = None, profile: str | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    if profile is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def latency(path: Path, shape: tuple[int, ...], threads: int, warmup: int, runs: int) -> dict[str, Any]:
    sess = session(path, threads)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(warmup):
        sess.run(None, {"images": x})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sess.run(None, {"images": x})
        times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2),
            "runs_ms": [round(t, 2) for t in times]}


def op_counts(path: Path, threads: int, workdir: Path) -> dict[str, int]:
    import onnx

    optimized = workdir / f"{path.stem}.optimized.onnx"
    session(path, threads, optimized=optimized)
    return dict(collections.Counter(n.op_type for n in onnx.load(str(optimized)).graph.node).most_common())


def profile(path: Path, shape: tuple[int, ...], threads: int, workdir: Path, runs: int = 3) -> dict[str, float]:
    """Milliseconds per run by op type (ONNX Runtime's node events, warm-up run excluded)."""
    sess = session(path, threads, profile=str(workdir / path.stem))
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    sess.run(None, {"images": x})
    start = time.time()
    for _ in range(runs):
        sess.run(None, {"images": x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    first_ts = min(e["ts"] for e in events if e.get("name") == "model_run") if events else 0
    per_op: dict[str, float] = collections.defaultdict(float)
    runs_seen = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    cutoff = runs_seen[1] if len(runs_seen) > 1 else first_ts  # skip the first (warm-up) run
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= cutoff:
            per_op[e["args"]["op_name"]] += e["dur"] / 1e3 / runs
    del start
    return {k: round(v, 2) for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])}


def agreement(fp32: Path, other: Path, spec: Any, threads: int, frames: int = 8) -> dict[str, Any]:
    """How many FP32 detections (score >= 0.5) ``other`` finds again at IoU >= 0.7, and their cosine."""
    from mottrack_calibration import open_frame_source
    from mottrack_calibration.readers import evenly_spaced

    source = open_frame_source(MOT17_MINI)
    indices = evenly_spaced(len(source), frames)
    ref_session, session_other = session(fp32, threads), session(other, threads)
    found, total, cosines = 0, 0, []
    for frame in source.read(indices):
        x, _ = spec.apply(frame)
        ref = dict(zip([o.name for o in ref_session.get_outputs()], ref_session.run(None, {spec.input_name: x})))
        got = dict(zip([o.name for o in session_other.get_outputs()], session_other.run(None, {spec.input_name: x})))
        rb, re = _kept(ref)
        gb, ge = _kept(got)
        total += len(rb)
        if len(rb) and len(gb):
            from mottrack_training.engine.inference import box_iou_matrix

            iou = box_iou_matrix(rb, gb)
            best, ok = iou.argmax(1), iou.max(1) >= 0.7
            found += int(ok.sum())
            cosines += list((re[ok] * ge[best[ok]]).sum(1))
    return {"fp32_detections": total, "found_again": found, "share": round(found / max(total, 1), 4),
            "cosine_median": round(float(np.median(cosines)), 4) if cosines else None,
            "cosine_min": round(float(np.min(cosines)), 4) if cosines else None}


def _kept(out: dict[str, np.ndarray], min_score: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    n = int(out["count"].reshape(-1)[0])
    keep = out["scores"][:n] >= min_score
    return out["boxes"][:n][keep].astype(np.float64), out["embeddings"][:n][keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1088x608", "576x320"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--calib-frames", type=int, default=8)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        default=["int8_s8s8", "int8_s8s8_rr", "int8_u8s8", "int8_u8s8_rr", "int8_s8s8_dedicated"])
    parser.add_argument("--weights", type=Path, default=None,
                        help="trained weights (packaged weights.pt or checkpoint) instead of random ones; adds "
                             "the agreement with FP32 on MOT17-mini frames")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch

    from mottrack_calibration import FrameCalibrationReader, PreprocessingSpec, QuantizationOptions, open_frame_source
    from mottrack_calibration import quantize_int8
    from mottrack_export import ExportOptions, TorchModelFromConfig, TorchModelFromWeights, export_onnx
    from mottrack_sdk.backends.qdq_cpu import adapt_int8_for_cpu, cpu_has_vnni
    from mottrack_export.options import parse_size
    from mottrack_sdk.io import write_json
    from mottrack_sdk.machine import cpu_info
    from mottrack_sdk.model_metadata import read_model_metadata

    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"benchmark": "int8_cpu", "date": datetime.datetime.now(datetime.timezone.utc)
                               .isoformat(timespec="seconds"), "machine": {**cpu_info().to_json(), "onnxruntime": ort.__version__},
                               "protocol": {"threads": args.threads, "warmup": args.warmup, "runs": args.runs,
                                            "statistic": "median", "model": f"cstrack_s, {args.weights or 'random weights'}, "
                                            "end-to-end (NMS tail)", "calibration": f"minmax, {args.calib_frames} MOT17-mini frames"},
                               "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        workdir = Path(tmp)
        for text in args.sizes:
            width, height = parse_size(text)
            shape = (1, 3, height, width)
            loader = TorchModelFromWeights(args.weights) if args.weights else TorchModelFromConfig("cstrack_s", {}, 0)
            fp32 = export_onnx(loader(), workdir / f"fp32_{text}.onnx", ExportOptions(size=(width, height))).path
            paths = {"fp32": fp32}
            spec = PreprocessingSpec.from_metadata(read_model_metadata(fp32))
            for name in args.variants:
                kw = VARIANTS[name]
                reader = FrameCalibrationReader(open_frame_source(MOT17_MINI), spec, args.calib_frames)
                paths[name] = quantize_int8(fp32, workdir / f"{name}_{text}.onnx", reader,
                                            QuantizationOptions(method="minmax", **kw)).path
                if name == "int8_s8s8_cpu":
                    # the int8 kernels (auto would pick float compute on CPUs without VNNI)
                    adapted, _ = adapt_int8_for_cpu(paths[name], "u8" if cpu_has_vnni() else "u8_w7")
                    if isinstance(adapted, bytes):
                        paths[name].write_bytes(adapted)
            entry: dict[str, Any] = {}
            for name, path in paths.items():
                entry[name] = {"size_mb": round(path.stat().st_size / 2**20, 2),
                               "latency": latency(path, shape, args.threads, args.warmup, args.runs),
                               "ops_after_optimization": op_counts(path, args.threads, workdir),
                               "profile_ms_by_op": profile(path, shape, args.threads, workdir)}
                if args.weights and name != "fp32":
                    entry[name]["agreement_with_fp32"] = agreement(fp32, path, spec, threads=args.threads)
                print(text, name, entry[name]["latency"]["median_ms"], "ms", entry[name].get("agreement_with_fp32", ""),
                      flush=True)
            base = entry["fp32"]["latency"]["median_ms"]
            for name in args.variants:
                entry[name]["speedup_vs_fp32"] = round(base / entry[name]["latency"]["median_ms"], 3)
            results["sizes"][text] = entry
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
