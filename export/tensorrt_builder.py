"""ONNX -> TensorRT engine, one implementation for TensorRT 8.5, 8.6, 10.x and 11.x, plus its sidecar.

>>> EngineFromOnnx("cstrack_s_int8.onnx", EngineBuildOptions(precision="int8"))("cstrack_s.engine")

Every version difference comes from :func:`~mottrack_export.tensorrt_version.tensorrt_features`:

- network: ``1 << EXPLICIT_BATCH`` on 8.x; ``STRONGLY_TYPED`` on 11.x (always) or 10.x (opt-in);
- FP16: the ``FP16`` flag on 8.x/10.x; on 11.x the ONNX itself must be FP16 (``--precision fp16``);
- INT8 ``qdq`` (default): the QDQ ONNX of ``mottrack_calibration`` (+ the INT8 flag, and FP16 for the
  float layers, on 8.x/10.x); INT8 ``calibrator``: ``IInt8EntropyCalibrator2`` over host frames with a
  TensorRT calibration cache, 8.5-10.x only, and what DLA needs there (it takes no Q/DQ);
- workspace via ``set_memory_pool_limit``, a timing cache (read, then written back atomically), DLA core
  with GPU fallback, one optimisation profile (the static input shape), ``build_serialized_network``.

The engine is written atomically, then ``<engine>.json`` (``mottrack_sdk.engine_sidecar``). ``trt``,
the CUDA allocator and the GPU identity can be injected, which is how the tests drive this code
without TensorRT.
"""
from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mottrack_export.cuda_memory import DeviceAllocator, GpuInfo
from mottrack_export.tensorrt_version import TensorRTFeatures, import_tensorrt, tensorrt_features
from mottrack_sdk.engine_sidecar import EngineSidecar, file_sha256, write_engine_sidecar
from mottrack_sdk.model_metadata import ModelMetadata

__all__ = ["EngineBuildOptions", "EngineBuildResult", "EngineFromOnnx", "configure_builder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineBuildOptions:
    """How an engine is built.

    Attributes:
        precision: ``fp32`` | ``fp16`` | ``int8``.
        int8_mode: ``qdq`` (the ONNX carries Q/DQ nodes) or ``calibrator`` (implicit, TensorRT <= 10).
        workspace_mib: builder workspace limit.
        timing_cache: file reused across builds (created if absent); None disables it.
        dla_core: DLA core index (Jetson AGX Orin / Orin NX), None for the GPU.
        gpu_fallback: with DLA, run unsupported layers on the GPU instead of failing.
        strongly_typed: None = TensorRT's default for the version (strong on 11.x only); True on 10.x
            builds a strongly typed network (precision from the ONNX's types).
        int8_fp16_fallback: INT8 on 8.x/10.x: also allow FP16 for the layers left in float.
        calibration_cache: the TensorRT calibration cache (``calibrator`` mode).
        calibration_batches: most batches the calibrator feeds (None: all frames given).
    """

    precision: str = "fp16"
    int8_mode: str = "qdq"
    workspace_mib: int = 1024
    timing_cache: Path | None = None
    dla_core: int | None = None
    gpu_fallback: bool = True
    strongly_typed: bool | None = None
    int8_fp16_fallback: bool = True
    calibration_cache: Path | None = None
    calibration_batches: int | None = None

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "fp16", "int8"):
            raise ValueError(f"precision must be fp32, fp16 or int8, got {self.precision!r}")
        if self.int8_mode not in ("qdq", "calibrator"):
            raise ValueError(f"int8_mode must be qdq or calibrator, got {self.int8_mode!r}")
        if self.workspace_mib < 1:
            raise ValueError(f"workspace_mib must be >= 1, got {self.workspace_mib}")
        if self.dla_core is not None and self.dla_core < 0:
            raise ValueError(f"dla_core must be >= 0, got {self.dla_core}")
        if self.dla_core is not None and self.precision == "fp32":
            raise ValueError("DLA runs FP16 or INT8 only: choose --precision fp16 or int8 with a DLA core")


@dataclass(frozen=True)
class EngineBuildResult:
    """The engine file, its sidecar and the features of the TensorRT that built it."""

    engine_path: Path
    sidecar: EngineSidecar
    features: TensorRTFeatures


def check_model_for_build(metadata: ModelMetadata, options: EngineBuildOptions, features: TensorRTFeatures) -> None:
    """Refuse combinations this TensorRT cannot build, each with the fix in the message."""
    version = features.version_string
    if metadata.opset > features.max_onnx_opset:
        raise ValueError(f"the ONNX uses opset {metadata.opset}; TensorRT {version} parses at most "
                         f"{features.max_onnx_opset}: export with --opset {min(17, features.max_onnx_opset)}")
    if metadata.top_k is not None and metadata.top_k > features.max_topk:
        raise ValueError(f"the ONNX's TopK K = {metadata.top_k} exceeds TensorRT's limit {features.max_topk}")
    strong = strongly_typed(options, features)
    if options.precision == "int8" and options.int8_mode == "qdq" and metadata.precision != "int8":
        raise ValueError(f"INT8 from Q/DQ needs the quantized ONNX, this one is {metadata.precision}: quantize it "
                         "with mottrack export --precision int8 --calib SOURCE (or mottrack calibrate)")
    if options.precision == "int8" and options.int8_mode == "calibrator":
        if not features.implicit_int8_calibration:
            raise ValueError(f"TensorRT {version} removed implicit INT8 calibration: use the QDQ ONNX (int8_mode qdq)")
        if metadata.precision != "fp32":
            raise ValueError(f"implicit INT8 calibration starts from the FP32 ONNX, this one is {metadata.precision}")
    if options.precision == "fp16" and strong and metadata.precision == "fp32":
        raise ValueError(f"TensorRT {version} builds this network strongly typed, so FP16 must be in the ONNX: "
                         "export with --precision fp16")
    if options.dla_core is not None and options.precision == "int8" and options.int8_mode == "qdq" \
            and features.implicit_int8_calibration:
        raise ValueError(f"DLA on TensorRT {version} takes no Q/DQ: use int8_mode calibrator with calibration frames")


def strongly_typed(options: EngineBuildOptions, features: TensorRTFeatures) -> bool:
    """Whether the network is created strongly typed for these options on this version."""
    if features.always_strongly_typed:
        if options.strongly_typed is False:
            raise ValueError(f"TensorRT {features.version_string} builds every network strongly typed")
        return True
    if options.strongly_typed and not features.strongly_typed_flag:
        raise ValueError(f"strongly typed networks need TensorRT >= 10.0 (this is {features.version_string})")
    return bool(options.strongly_typed)


def configure_builder(trt: ModuleType, builder: Any, network: Any, options: EngineBuildOptions,
                      features: TensorRTFeatures, input_name: str, input_shape: tuple[int, ...],
                      calibrator: Any = None, timing_cache: bytes | None = None) -> Any:
    """A builder config for ``options`` on this version (flags, workspace, DLA, profile, timing cache)."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_mib) << 20)
    if features.precision_flags and not strongly_typed(options, features):
        if options.precision == "fp16" or (options.precision == "int8" and options.int8_fp16_fallback):
            config.set_flag(trt.BuilderFlag.FP16)
        if options.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)  # 8.x needs it even with Q/DQ in the graph
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, input_shape, input_shape, input_shape)
    config.add_optimization_profile(profile)
    if calibrator is not None:
        config.int8_calibrator = calibrator
        config.set_calibration_profile(profile)
    if options.dla_core is not None:
        cores = int(builder.num_DLA_cores)
        if options.dla_core >= cores:
            raise ValueError(f"DLA core {options.dla_core} requested, this device has {cores} "
                             "(Orin Nano has none; AGX Orin and Orin NX 16GB have 2)")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(options.dla_core)
        if options.gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    if options.timing_cache is not None:
        cache = config.create_timing_cache(timing_cache or b"")
        config.set_timing_cache(cache, False)
    return config


@dataclass
class EngineFromOnnx:
    """Deferred engine build: ``EngineFromOnnx(onnx_path, options, frames)(engine_path) -> EngineBuildResult``.

    ``calibration_frames`` (``calibrator`` mode) yields ``[3, H, W]`` float32 frames preprocessed for the
    model (``mottrack_calibration.open_calibration_source(...)`` frames). ``trt``, ``allocator`` and
    ``gpu`` default to the real TensorRT, ``CudaRuntime`` and ``gpu_info()``.
    """

    onnx_path: str | Path
    options: EngineBuildOptions
    calibration_frames: Iterable[np.ndarray] | None = None
    trt: ModuleType | None = None
    allocator: DeviceAllocator | None = None
    gpu: GpuInfo | Callable[[], GpuInfo] | None = None

    def __call__(self, engine_path: str | Path) -> EngineBuildResult:
        from mottrack_export.tensorrt_calibration import (CalibrationBatcher, TensorRTCalibrationCache,
                                                          make_entropy_calibrator)
        from mottrack_sdk import __version__
        from mottrack_sdk.io import atomic_write
        from mottrack_sdk.model_metadata import read_model_metadata

        onnx_path, engine_path, options = Path(self.onnx_path), Path(engine_path), self.options
        metadata = read_model_metadata(onnx_path)
        trt = self.trt or import_tensorrt()
        features = tensorrt_features(trt.__version__)
        check_model_for_build(metadata, options, features)
        width, height = metadata.input_size
        input_shape = (1, 3, height, width)
        model_hash = file_sha256(onnx_path)

        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        flags = 0
        if features.explicit_batch_flag:
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        if strongly_typed(options, features) and features.strongly_typed_flag:
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_path.read_bytes(), str(onnx_path)):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise ValueError(f"TensorRT {features.version_string} cannot parse {onnx_path}: " + " | ".join(errors))

        calibrator = None
        if options.precision == "int8" and options.int8_mode == "calibrator":
            if self.calibration_frames is None:
                raise ValueError("implicit INT8 calibration needs calibration frames (--calib SOURCE)")
            cache = None
            if options.calibration_cache is not None:
                key = {"model_sha256": model_hash, "input_size": f"{width}x{height}",
                       "resize_mode": metadata.resize_mode, "pad_value": metadata.pad_value,
                       "algorithm": "EntropyCalibration2"}
                cache = TensorRTCalibrationCache(options.calibration_cache, features.version, key)
            batcher = CalibrationBatcher(self.calibration_frames, input_shape, options.calibration_batches)
            allocator = self.allocator
            if allocator is None:
                from mottrack_export.cuda_memory import CudaRuntime

                allocator = CudaRuntime()
            calibrator = make_entropy_calibrator(trt, batcher, cache, allocator)

        timing_bytes = None
        if options.timing_cache is not None and Path(options.timing_cache).is_file():
            timing_bytes = Path(options.timing_cache).read_bytes()
        config = configure_builder(trt, builder, network, options, features, metadata.input_name, input_shape,
                                   calibrator, timing_bytes)
        try:
            serialized = builder.build_serialized_network(network, config)
        finally:
            if calibrator is not None:
                calibrator.release()
        if serialized is None:
            raise RuntimeError(f"TensorRT {features.version_string} failed to build {onnx_path} (see its log above)")
        with atomic_write(engine_path, "wb") as fh:
            fh.write(bytes(serialized))
        if options.timing_cache is not None:
            with atomic_write(options.timing_cache, "wb") as fh:
                fh.write(bytes(config.get_timing_cache().serialize()))

        gpu = self.gpu() if callable(self.gpu) else self.gpu
        if gpu is None:
            from mottrack_export.cuda_memory import gpu_info

            gpu = gpu_info()
        sidecar = EngineSidecar(
            tensorrt_version=str(trt.__version__), gpu_name=gpu.name, compute_capability=gpu.compute_capability,
            input_name=metadata.input_name, input_size=(width, height), precision=options.precision,
            model_sha256=model_hash, engine_sha256=file_sha256(engine_path), project_version=__version__,
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), dla_core=options.dla_core,
            int8_mode=options.int8_mode if options.precision == "int8" else None,
            model_metadata=metadata.with_precision(options.precision).to_props())
        write_engine_sidecar(engine_path, sidecar)
        log.info("built %s (TensorRT %s, %s, %s)", engine_path, trt.__version__, gpu.name, options.precision)
        return EngineBuildResult(engine_path, sidecar, features)
