"""INT8 QDQ quantization: TensorRT-conformant settings, float regions kept, every method, the range cache."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mottrack_calibration.cache import CalibrationCacheMismatchError, CalibrationRangeCache
from mottrack_calibration.quantize import QuantizationOptions, check_tensorrt_qdq, quantize_int8
from mottrack_calibration.readers import FrameCalibrationReader, PreprocessingSpec, open_frame_source
from mottrack_sdk.model_metadata import read_model_metadata

SPEC = PreprocessingSpec("images", (64, 32), "letterbox", 127.5)


def _reader(folder, count=8):
    return FrameCalibrationReader(open_frame_source(folder), SPEC, count)


def _consumers_of_dq(model):
    producer = {o: n for n in model.graph.node for o in n.output}
    return {n.name: [producer[i].op_type if i in producer else "init" for i in n.input] for n in model.graph.node}


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_every_method_gives_a_conformant_model_close_to_fp32(tiny_model, image_folder, tmp_path, method):
    # 7-bit weights: on x86 CPUs without VNNI ONNX Runtime's int8 convolutions saturate with 8-bit weights
    options = QuantizationOptions(method=method, reduce_range=True)
    result = quantize_int8(tiny_model, tmp_path / "q.onnx", _reader(image_folder), options)
    model = onnx.load(str(result.path))
    assert check_tensorrt_qdq(model) == []
    assert read_model_metadata(result.path).precision == "int8" and result.calibration_frames == 8
    inputs = _consumers_of_dq(model)
    assert inputs["body_conv1"][:2] == ["DequantizeLinear", "DequantizeLinear"]  # activations and weights in int8
    for name in ("detect_conv", "embed_conv"):
        assert inputs[name][1:] == ["init", "init"]  # float weights and bias: the head convs stay float
    assert {"detect_conv", "embed_conv", "tail_sigmoid"} <= set(result.excluded_nodes)
    image = next(iter(_reader(image_folder, 1)))
    ref = ort.InferenceSession(str(tiny_model)).run(None, image)
    got = ort.InferenceSession(str(result.path)).run(None, image)
    for a, b in zip(ref, got):
        assert np.abs(a - b).max() < 0.1 * (np.abs(a).max() + 1e-6)


def test_uint8_activations_are_flagged_as_not_tensorrt_conformant(tiny_model, image_folder, tmp_path):
    result = quantize_int8(tiny_model, tmp_path / "u8.onnx", _reader(image_folder, 4),
                           QuantizationOptions(method="minmax", activation_type="uint8"))
    problems = check_tensorrt_qdq(onnx.load(str(result.path)))
    assert problems and any("zero point" in p for p in problems)
    assert not result.options.tensorrt_conformant


def test_range_cache_is_reused_and_refused_for_other_settings(tiny_model, image_folder, tmp_path):
    key = {"model_sha256": "abc", "method": "minmax", "preprocessing": SPEC.key()}
    cache = CalibrationRangeCache(tmp_path / "ranges.json", key)
    first = quantize_int8(tiny_model, tmp_path / "a.onnx", _reader(image_folder), QuantizationOptions(method="minmax"),
                          cache)
    assert not first.cache_hit and json.loads(cache.path.read_text())["key"]["method"] == "minmax"
    again = quantize_int8(tiny_model, tmp_path / "b.onnx", None, QuantizationOptions(method="minmax"),
                          CalibrationRangeCache(cache.path, key))
    assert again.cache_hit and again.calibration_frames == 8
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    assert set(cache.ranges()) and all(lo <= hi for lo, hi in cache.ranges().values())
    other = CalibrationRangeCache(cache.path, {**key, "method": "entropy", "preprocessing": {**SPEC.key(), "size": "96x64"}})
    with pytest.raises(CalibrationCacheMismatchError, match="method: cache 'minmax' vs now 'entropy'.*preprocessing.size"):
        quantize_int8(tiny_model, tmp_path / "c.onnx", None, QuantizationOptions(method="entropy"), other)


def test_missing_calibration_data_and_wrong_inputs(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="needs calibration data"):
        quantize_int8(tiny_model, tmp_path / "q.onnx", None)
    (tmp_path / "bad.onnx").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a valid ONNX file"):
        quantize_int8(tmp_path / "bad.onnx", tmp_path / "q.onnx", None)
    with pytest.raises(ValueError, match="method"):
        QuantizationOptions(method="kl")


def test_corrupt_cache_files(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"not a calibration cache written by mottrack \(not JSON"):
        CalibrationRangeCache(path, {}).load()
    path.write_text(json.dumps({"format": "x"}))
    with pytest.raises(ValueError, match="not a calibration cache written by mottrack .*format"):
        CalibrationRangeCache(path, {}).load()
    path.write_bytes(b"\xe3\x28\xa1 binary")  # not text at all (a model given as the cache): still named
    with pytest.raises(ValueError, match=r"c\.json: not a calibration cache written by mottrack") as exc:
        CalibrationRangeCache(path, {}).load()
    assert "delete" not in str(exc.value) and "give another cache path" in str(exc.value)


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["auto", "off"])
def test_depthwise_convolutions_stay_float_in_depthwise_networks(image_folder, tmp_path, mode):
    """CSTrack-nano (YOLOX, depthwise): auto keeps grouped convs and the first conv float, with float inputs."""
    pytest.importorskip("torch")
    from mottrack_calibration.quantize import depthwise_and_first_convs
    from mottrack_export.onnx_export import export_onnx
    from mottrack_export.options import ExportOptions
    from mottrack_export.weights import LoadedModel
    from mottrack_training.model import build_model

    fp32 = export_onnx(LoadedModel(build_model("cstrack_nano").eval(), "cstrack_nano", "random-init"),
                       tmp_path / "nano.onnx", ExportOptions(size=(64, 32))).path
    assert len(depthwise_and_first_convs(onnx.load(str(fp32)))) == 1 + 30  # the stem + 30 depthwise convs
    float_convs = depthwise_and_first_convs(onnx.load(str(fp32)), QuantizationOptions().leading_float_convs)
    # + the first separable block's pointwise conv (its depthwise one is among the 30)
    assert len(float_convs) == 2 + 30 and "pconv" in float_convs[2] and "dark2.0" in float_convs[2]
    result = quantize_int8(fp32, tmp_path / "q.onnx", _reader(image_folder, 4),
                           QuantizationOptions(method="minmax", depthwise_float=mode))
    model = onnx.load(str(result.path))
    assert check_tensorrt_qdq(model) == []
    inputs = _consumers_of_dq(model)
    for name in float_convs:
        assert (inputs[name][0] == "DequantizeLinear") == (mode == "off"), name
    assert (set(float_convs) <= set(result.excluded_nodes)) == (mode == "auto")
    pointwise = next(n.name for n in model.graph.node if n.op_type == "Conv" and n.name not in float_convs)
    assert inputs[pointwise][:2] == ["DequantizeLinear", "DequantizeLinear"]  # the rest is int8


def test_depthwise_float_is_validated():
    with pytest.raises(ValueError, match="depthwise_float"):
        QuantizationOptions(depthwise_float="sometimes")
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match="leading_float_convs"):
            QuantizationOptions(leading_float_convs=bad)
