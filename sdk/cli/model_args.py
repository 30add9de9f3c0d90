"""Model and backend arguments shared by ``mottrack track``, ``bench`` and ``demo``."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mottrack_sdk.backends.onnxruntime_backend import SPINNING_MODES  # onnxruntime itself loads with a model
from mottrack_sdk.backends.qdq_cpu import CPU_INT8_MODES


def add_model_options(parser: argparse.ArgumentParser, model_help: str | None = None) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model", type=Path, default=None, metavar="PATH",
                   help=model_help or "detection model: .onnx (ONNX Runtime), .engine/.plan (TensorRT + sidecar) or "
                                      "a TorchScript file (PyTorch; TorchScript is code: only files you trust); default: the shipped "
                                      "CSTrack-nano default model")
    g.add_argument("--backend", default="auto", help="auto (by model), onnxruntime, tensorrt or torch")
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads of the backend (ONNX Runtime intra-op threads, default 2; torch threads)")
    add_onnxruntime_cpu_options(g)
    g.add_argument("--cmc", choices=["auto", "off", "sparse_flow", "ecc"], default="auto",
                   help="camera-motion compensation from the frames: auto (default) = sparse_flow (OpenCV "
                        "optical flow on a downscaled frame, ~2 ms per 1080p frame); off for fixed cameras when "
                        "every millisecond counts")


def add_onnxruntime_cpu_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--cpu-int8`` and ``--ort-spinning`` (track, demo, bench): ONNX Runtime's CPU provider settings."""
    parser.add_argument("--cpu-int8", choices=CPU_INT8_MODES, default="auto",
                        help="INT8 QDQ models on ONNX Runtime's CPU provider: auto = u8 (uint8 activations, int8 "
                             "kernels) on CPUs with VNNI, else float (the file's int8 weights dequantized at load, "
                             "float kernels: faster there); u8_w7 = int8 kernels with 7-bit weights (no int16 "
                             "saturation without VNNI); as_is = the file unchanged")
    parser.add_argument("--ort-spinning", choices=SPINNING_MODES, default="auto",
                        help="ONNX Runtime worker threads spin-wait for work: in_run = only while a run is in "
                             "progress (the default on the CPU provider: faster runs, and the core is free "
                             "between them), on = after each run too, off = never (least CPU time); auto = "
                             "in_run on the CPU provider, off with a GPU provider")


def backend_options_from_args(args: argparse.Namespace, model: Any) -> Any:
    """Typed backend options for ``--threads`` / ``--cpu-int8`` / ``--ort-spinning`` (None: the backend's
    defaults; the last two concern ONNX Runtime only)."""
    threads = getattr(args, "threads", None)
    cpu_int8 = getattr(args, "cpu_int8", "auto")
    spinning = getattr(args, "ort_spinning", "auto")
    if threads is None and cpu_int8 == "auto" and spinning == "auto":
        return None
    from mottrack_sdk.backends.base import MAX_THREADS

    if threads is not None and not 0 <= threads <= MAX_THREADS:
        raise ValueError(f"--threads: expected a number from 0 to {MAX_THREADS}, got {threads}")
    from mottrack_sdk.backends.registry import backend_for_model, resolve_backend_name

    name = backend_for_model(model) if args.backend == "auto" else resolve_backend_name(args.backend)
    if name == "onnxruntime":
        from mottrack_sdk.backends.onnxruntime_backend import OnnxRuntimeOptions

        return OnnxRuntimeOptions(cpu_int8=cpu_int8, spinning=spinning,
                                  **({} if threads is None else {"intra_op_threads": threads}))
    if name == "torch" and threads is not None:
        from mottrack_sdk.backends.torch_backend import TorchOptions

        return TorchOptions(threads=max(1, threads))
    return None  # TensorRT: no CPU threads to set; torch without --threads: its defaults


def resolve_model(path: Path | None) -> Path:
    """``--model`` or the shipped default model (DefaultModelMissingError, a FileNotFoundError, when absent)."""
    from mottrack_sdk.detector import default_model_path

    if path is None:
        return default_model_path(must_exist=True)
    from mottrack_sdk.io.path_components import check_model_file

    check_model_file(path, f"--model {path}")
    return path
