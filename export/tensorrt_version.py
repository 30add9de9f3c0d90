"""What each TensorRT version can do, from its version string alone (no TensorRT import).

One builder serves TensorRT 8.5, 8.6, 10.x and 11.x (deployment facts, "TensorRT Python API by
version"); every version difference it acts on is a field of :class:`TensorRTFeatures`, chosen by
:func:`tensorrt_features`, so the dispatch is unit-tested with fake version strings.

=======================  ===========  ====================  ===========
                         8.5 / 8.6    10.x                  11.x
=======================  ===========  ====================  ===========
EXPLICIT_BATCH flag      required     accepted, ignored     removed
STRONGLY_TYPED flag      no           opt-in (10.12: full)  always on
FP16 / INT8 builder flag yes          yes (deprecated)      removed
IInt8EntropyCalibrator2  yes          yes (deprecated 10.1) removed
ONNX opset parsed        <= 17        <= 20                 <= 25
TopK K                   < 3840       < 3840                < 3840
=======================  ===========  ====================  ===========
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType

__all__ = ["MIN_TENSORRT", "TensorRTFeatures", "TensorRTUnavailableError", "calibration_cache_header", "import_tensorrt",
           "parse_tensorrt_version", "tensorrt_features", "version_number"]

MIN_TENSORRT = (8, 5)
MAX_MAJOR = 11
TENSORRT_MISSING = ("TensorRT is needed to build engines, and engines must be built on the target device "
                    "(they are not portable across GPUs or TensorRT versions). On a Jetson install JetPack's "
                    "python3-libnvinfer (a virtualenv needs --system-site-packages); on an x86 GPU host "
                    "pip install 'mottrack-sdk[trt]'. Here, export ONNX instead (--format onnx) and build the "
                    "engine on the target")


class TensorRTUnavailableError(ImportError):
    """TensorRT cannot be imported here; the message says where and how to build engines."""


@dataclass(frozen=True)
class TensorRTFeatures:
    """Version-dependent behaviour the builder relies on (see the module table)."""

    version: tuple[int, int, int]
    explicit_batch_flag: bool       # pass 1 << EXPLICIT_BATCH to create_network (8.x; harmless on 10.x)
    strongly_typed_flag: bool       # STRONGLY_TYPED exists as an opt-in creation flag (10.x)
    always_strongly_typed: bool     # every network is strongly typed (11.x)
    precision_flags: bool           # BuilderFlag.FP16 / INT8 exist
    implicit_int8_calibration: bool  # IInt8EntropyCalibrator2 + calibration caches exist
    max_onnx_opset: int
    max_topk: int = 3839

    @property
    def version_string(self) -> str:
        return ".".join(str(v) for v in self.version)


def parse_tensorrt_version(text: str) -> tuple[int, int, int]:
    """``"8.6.1.6"`` / ``"10.3.0"`` / ``"11.0.0b1"`` -> ``(major, minor, patch)``; ValueError otherwise."""
    match = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", str(text))
    if not match:
        raise ValueError(f"not a TensorRT version string: {text!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def tensorrt_features(version: str | tuple[int, ...]) -> TensorRTFeatures:
    """Features of TensorRT ``version``; ValueError for versions this builder does not support."""
    major, minor, patch = parse_tensorrt_version(version) if isinstance(version, str) else (tuple(version) + (0, 0))[:3]
    found = f"{major}.{minor}.{patch}"
    if (major, minor) < MIN_TENSORRT or major == 9 or major > MAX_MAJOR:
        raise ValueError(f"TensorRT {found} is not supported: use 8.5 or 8.6 (JetPack 5 / 6.0), 10.x "
                         f"(JetPack 6.1+ / 7.x) or 11.x")
    if major == 8:
        return TensorRTFeatures((major, minor, patch), explicit_batch_flag=True, strongly_typed_flag=False,
                                always_strongly_typed=False, precision_flags=True, implicit_int8_calibration=True,
                                max_onnx_opset=17)
    if major == 10:
        return TensorRTFeatures((major, minor, patch), explicit_batch_flag=False, strongly_typed_flag=True,
                                always_strongly_typed=False, precision_flags=True, implicit_int8_calibration=True,
                                max_onnx_opset=20)
    return TensorRTFeatures((major, minor, patch), explicit_batch_flag=False, strongly_typed_flag=False,
                            always_strongly_typed=True, precision_flags=False, implicit_int8_calibration=False,
                            max_onnx_opset=25)


def version_number(version: tuple[int, int, int]) -> int:
    """``NV_TENSORRT_VERSION``: 8.x -> major·1000 + minor·100 + patch (8.6.1 -> 8601); 10+ -> major·10000 +
    minor·100 + patch (10.3.0 -> 100300). It heads calibration caches."""
    major, minor, patch = version
    return major * (1000 if major < 10 else 10000) + minor * 100 + patch


def calibration_cache_header(version: tuple[int, int, int], algorithm: str = "EntropyCalibration2") -> str:
    """First line of a TensorRT calibration cache, e.g. ``TRT-8601-EntropyCalibration2``."""
    return f"TRT-{version_number(version)}-{algorithm}"


def import_tensorrt() -> ModuleType:
    """``import tensorrt``, or :class:`TensorRTUnavailableError` saying it is needed on the target and how."""
    try:
        import tensorrt
    except ImportError as exc:
        raise TensorRTUnavailableError(f"{TENSORRT_MISSING} ({exc})") from exc
    return tensorrt
