"""``mottrack export`` end to end: weights (or an FP32 ONNX) -> ONNX fp32/fp16/int8 -> TensorRT engine.

=========  ==============================================================================
format     what is written to ``out``
=========  ==============================================================================
onnx       fp32: the export; fp16: body in float16, IO/tail float32; int8: QDQ (calibrated)
engine     a TensorRT engine + ``<out>.json`` sidecar, built from the ONNX the version needs
           (FP16 flag on 8.x/10.x, the FP16 ONNX on 11.x; INT8 from QDQ or the calibrator);
           the ONNX it was built from is kept at ``onnx_out`` (default ``<out>.onnx``)
=========  ==============================================================================

Every precondition (TensorRT present for engines, calibration data for INT8, a readable ONNX, a valid
size, output paths of the right kind and suffix in writable folders) is checked before the slow
steps, with a message that says what to do.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mottrack_export.options import ExportOptions
from mottrack_export.tensorrt_builder import EngineBuildOptions
from mottrack_sdk.backends.registry import backend_suffixes

__all__ = ["ENGINE_SUFFIXES", "ExportRequest", "export_model"]

ENGINE_SUFFIXES = backend_suffixes("tensorrt")  # the suffixes the runtime picks TensorRT by


@dataclass(frozen=True)
class ExportRequest:
    """What ``mottrack export`` was asked for."""

    out: Path
    format: str = "onnx"
    precision: str = "fp32"
    export: ExportOptions = field(default_factory=ExportOptions)
    calib: Path | None = None
    calib_frames: int = 500
    calib_method: str = "entropy"
    calib_cache: Path | None = None
    calib_reduce_range: bool = False
    engine: EngineBuildOptions | None = None
    onnx_out: Path | None = None
    inputs: tuple[Path, ...] = ()  # files / folders the export reads (--weights, --calib): never overwritten

    def __post_init__(self) -> None:
        if self.format not in ("onnx", "engine"):
            raise ValueError(f"--format must be onnx or engine, got {self.format!r}")
        if self.precision not in ("fp32", "fp16", "int8"):
            raise ValueError(f"--precision must be fp32, fp16 or int8, got {self.precision!r}")
        needs_frames = self.precision == "int8" and (self.format == "onnx" or self.engine is None
                                                     or self.engine.int8_mode == "qdq")
        if needs_frames and self.calib is None and self.calib_cache is None:
            raise ValueError("--precision int8 needs calibration data: --calib SOURCE (a video, an image folder or "
                             "MOTChallenge sequences; ~500 representative frames) or an existing --calib-cache")
        if self.calib is not None and not Path(self.calib).exists():
            raise FileNotFoundError(f"--calib {self.calib}: not found")

    @property
    def engine_onnx(self) -> Path:
        """Where an engine build keeps the ONNX it was built from (``onnx_out``, default ``<out>.onnx``)."""
        return self.onnx_out or self.out.with_suffix(".onnx")

    def check_outputs(self) -> None:
        """Every file this request writes (or reads and updates) can be written, with the right suffix;
        ValueError naming the argument otherwise. No file is created."""
        from mottrack_sdk.engine_sidecar import sidecar_path
        from mottrack_sdk.io.output_paths import check_output_file

        reads = self.inputs
        if self.format == "onnx":
            check_output_file(self.out, "--out", (".onnx",), reads)
        else:
            check_output_file(self.out, "--out", ENGINE_SUFFIXES, reads)
            check_output_file(sidecar_path(self.out), "--out (its sidecar)", inputs=reads)
            check_output_file(self.engine_onnx, "--onnx-out", (".onnx",), reads)
            if self.engine is not None:
                for path, flag in ((self.engine.timing_cache, "--timing-cache"),
                                   (self.engine.calibration_cache, "--trt-calib-cache")):
                    if path is not None:
                        check_output_file(path, flag, inputs=reads)
        if self.calib_cache is not None:
            check_output_file(self.calib_cache, "--calib-cache")  # read and updated: an input by design


def export_model(source: Path | Callable[[], Any], request: ExportRequest) -> dict[str, Any]:
    """Run the request. ``source`` is an FP32 mottrack ONNX path or a loader returning a ``LoadedModel``.

    Returns a summary (paths, metadata, engine sidecar) for the CLI to print.
    """
    from mottrack_sdk.model_metadata import read_model_metadata

    request.check_outputs()
    features = None
    if request.format == "engine":
        from mottrack_export.tensorrt_version import import_tensorrt, tensorrt_features

        trt = import_tensorrt()  # fail before the slow steps when TensorRT is missing
        features = tensorrt_features(trt.__version__)
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mottrack-export-") as tmp:
        if isinstance(source, Path):
            fp32 = source
            metadata = read_model_metadata(fp32)  # FileNotFoundError / ValueError for corrupt files
            if metadata.precision != "fp32":
                raise ValueError(f"--weights {fp32}: an ONNX given as input must be the FP32 export "
                                 f"(this one is {metadata.precision})")
        else:
            from mottrack_export.onnx_export import export_onnx

            target = request.out if request.format == "onnx" and request.precision == "fp32" else Path(tmp) / "fp32.onnx"
            fp32 = export_onnx(source(), target, request.export).path
        if request.format == "onnx":
            path = _convert(fp32, request.out, request.precision, request)
            summary["onnx"] = str(path)
            summary["metadata"] = read_model_metadata(path)
            return summary

        assert features is not None and request.engine is not None
        engine_options = request.engine
        onnx_out = request.engine_onnx
        if request.precision == "fp16" and features.always_strongly_typed:
            onnx_for_engine = _convert(fp32, onnx_out, "fp16", request)
        elif request.precision == "int8" and engine_options.int8_mode == "qdq":
            onnx_for_engine = _convert(fp32, onnx_out, "int8", request)
        else:
            onnx_for_engine = _convert(fp32, onnx_out, "fp32", request)
        frames = None
        if request.precision == "int8" and engine_options.int8_mode == "calibrator":
            if request.calib is None:
                raise ValueError("implicit INT8 calibration needs --calib SOURCE")
            frames = (batch[0] for batch in _reader(onnx_for_engine, request).frames())
        from mottrack_export.tensorrt_builder import EngineFromOnnx

        result = EngineFromOnnx(onnx_for_engine, engine_options, frames)(request.out)
        summary.update(onnx=str(onnx_for_engine), engine=str(result.engine_path), sidecar=result.sidecar)
        return summary


def _reader(model_path: Path, request: ExportRequest) -> Any:
    from mottrack_calibration import FrameCalibrationReader, PreprocessingSpec, open_frame_source
    from mottrack_sdk.model_metadata import read_model_metadata

    assert request.calib is not None
    spec = PreprocessingSpec.from_metadata(read_model_metadata(model_path))
    return FrameCalibrationReader(open_frame_source(request.calib), spec, request.calib_frames)


def _convert(fp32: Path, out: Path, precision: str, request: ExportRequest) -> Path:
    """FP32 ONNX -> ``out`` in ``precision`` (a copy for fp32 when the paths differ)."""
    if precision == "fp32":
        if Path(fp32).resolve() != Path(out).resolve():
            from mottrack_sdk.io import atomic_write

            with atomic_write(out, "wb") as fh:
                fh.write(Path(fp32).read_bytes())
        return Path(out)
    if precision == "fp16":
        from mottrack_calibration import convert_fp16

        return convert_fp16(fp32, out)
    from mottrack_calibration import CalibrationRangeCache, QuantizationOptions, quantize_int8
    from mottrack_sdk.engine_sidecar import file_sha256

    from mottrack_calibration import PreprocessingSpec
    from mottrack_sdk.model_metadata import read_model_metadata

    options = QuantizationOptions(method=request.calib_method, reduce_range=request.calib_reduce_range)
    reader = _reader(fp32, request) if request.calib is not None else None
    cache = None
    if request.calib_cache is not None:
        spec = PreprocessingSpec.from_metadata(read_model_metadata(fp32))
        key = {"model_sha256": file_sha256(fp32), "method": request.calib_method,
               "percentile": options.percentile if request.calib_method == "percentile" else None,
               "activation_type": options.activation_type, "reduce_range": options.reduce_range,
               "depthwise_float": options.depthwise_float,
               "preprocessing": spec.key()}
        cache = CalibrationRangeCache(request.calib_cache, key)
    return quantize_int8(fp32, out, reader, options, cache).path
