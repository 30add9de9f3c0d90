"""Version dispatch of the TensorRT builder, driven by version strings alone (no TensorRT needed)."""
from __future__ import annotations

import pytest

from mottrack_export.tensorrt_version import (TensorRTUnavailableError, calibration_cache_header, import_tensorrt,
                                              parse_tensorrt_version, tensorrt_features)


@pytest.mark.parametrize("text, expected", [("8.5.2.2", (8, 5, 2)), ("8.6.1.6", (8, 6, 1)), ("10.3.0", (10, 3, 0)),
                                            ("10.16.0.72", (10, 16, 0)), ("11.0.0b1", (11, 0, 0)), ("10.1", (10, 1, 0))])
def test_parse_version(text, expected):
    assert parse_tensorrt_version(text) == expected


def test_parse_rejects_garbage():
    with pytest.raises(ValueError, match="TensorRT version"):
        parse_tensorrt_version("trt")


@pytest.mark.parametrize("version", ["8.5.2", "8.6.1"])
def test_jetpack_5_and_6_0(version):
    f = tensorrt_features(version)
    assert f.explicit_batch_flag and f.precision_flags and f.implicit_int8_calibration
    assert not f.strongly_typed_flag and not f.always_strongly_typed and f.max_onnx_opset == 17


@pytest.mark.parametrize("version", ["10.3.0", "10.16.0"])
def test_tensorrt_10(version):
    f = tensorrt_features(version)
    assert not f.explicit_batch_flag and f.strongly_typed_flag and f.precision_flags and f.implicit_int8_calibration
    assert not f.always_strongly_typed and f.max_onnx_opset == 20 and f.max_topk == 3839


def test_tensorrt_11_is_strongly_typed_without_calibrators_or_flags():
    f = tensorrt_features("11.2.0")
    assert f.always_strongly_typed and not f.precision_flags and not f.implicit_int8_calibration
    assert not f.explicit_batch_flag and f.max_onnx_opset == 25


@pytest.mark.parametrize("version", ["8.4.3", "7.2.1", "9.3.0", "12.0.0"])
def test_unsupported_versions_are_named(version):
    with pytest.raises(ValueError, match=f"TensorRT {version} is not supported"):
        tensorrt_features(version)


def test_calibration_cache_headers_follow_nv_tensorrt_version():
    assert calibration_cache_header((8, 6, 1)) == "TRT-8601-EntropyCalibration2"
    assert calibration_cache_header((8, 5, 2)) == "TRT-8502-EntropyCalibration2"
    assert calibration_cache_header((10, 3, 0)) == "TRT-100300-EntropyCalibration2"


def test_missing_tensorrt_says_it_is_needed_on_the_target():
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(TensorRTUnavailableError, match="TensorRT is needed.*target"):
            import_tensorrt()
    else:
        pytest.skip("TensorRT is installed here")
