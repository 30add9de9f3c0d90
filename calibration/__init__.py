"""mottrack_calibration: INT8 (ONNX Runtime QDQ, TensorRT-conformant) and FP16 versions of exported models.

- readers (:mod:`.readers`): ``CalibrationDataReader``s over videos, image folders and MOTChallenge
  sequences, preprocessed exactly as the runtime does;
- :func:`quantize_int8` (:mod:`.quantize`) with a :class:`CalibrationRangeCache` (:mod:`.cache`);
- :func:`convert_fp16` (:mod:`.fp16`);
- :func:`run_calibration_report` (:mod:`.report`): ``mottrack calibrate --model M --data SOURCE --report DIR``.

Works on ONNX files only (imports ``mottrack_sdk``, never ``mottrack_training``). Names are imported on
first use (PEP 562), so registering the CLI command loads neither onnx nor onnxruntime.
"""
from __future__ import annotations

from mottrack_sdk.lazy_exports import lazy_exports

_EXPORTS = {
    "DEFAULT_CALIBRATION_FRAMES": "readers",
    "FrameCalibrationReader": "readers",
    "ImageFolderSource": "readers",
    "MotSequenceSource": "readers",
    "PreprocessingSpec": "readers",
    "VideoFileSource": "readers",
    "evenly_spaced": "readers",
    "open_frame_source": "readers",
    "CalibrationRangeCache": "cache",
    "CalibrationCacheMismatchError": "cache",
    "QuantizationOptions": "quantize",
    "QuantizationResult": "quantize",
    "check_tensorrt_qdq": "quantize",
    "quantize_int8": "quantize",
    "convert_fp16": "fp16",
    "FloatRegions": "graph",
    "find_float_regions": "graph",
    "OnnxDetector": "evaluation",
    "ReportOptions": "report",
    "run_calibration_report": "report",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
