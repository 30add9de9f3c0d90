"""The calibration range cache refuses hostile and malformed files with one ValueError naming the file and key."""
from __future__ import annotations

import json
import re

import pytest

from mottrack_calibration.cache import (CACHE_FORMAT, MAX_CACHE_BYTES, MAX_TENSORS, MAX_VALUES,
                                        CalibrationCacheMismatchError, CalibrationRangeCache)

KEY = {"model_sha256": "ab" * 32, "method": "minmax"}
DROP = object()
NOT_OURS = r": not a calibration cache written by mottrack "  # no "delete it": the file may be anything


def _array(data, dtype="float32"):
    return {"data": data, "dtype": dtype, "CLS": "numpy.array"}


OK = {"lowest": _array([-1.0]), "highest": _array([1.0]), "CLS": "TensorData"}  # as the writer stores minmax


def _payload(entry=OK, method="CalibrationMethod.MinMax", tensors=None, **top):
    """A cache as the writer makes it, with ``entry`` for its one tensor and ``tensors`` / ``top`` overrides."""
    td = {"CLS": "TensorsData", "data": {"conv_out": entry},
          "calibration_method": {"CLS": "CalibrationMethod", "value": method}, **(tensors or {})}
    payload = {"format": CACHE_FORMAT, "version": 1, "key": KEY, "info": {"data": {"frames": 8}}, "tensors_data": td,
               **top}
    return {k: v for k, v in payload.items() if v is not DROP}


def _write(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return CalibrationRangeCache(path, KEY)


def _refused(path, content, where):
    with pytest.raises(ValueError) as exc:
        _write(path, content).load()
    assert type(exc.value) is ValueError, exc.value  # not a key mismatch
    assert re.search(re.escape(str(path)) + ".*" + where, str(exc.value)), str(exc.value)
    return str(exc.value)


def test_writer_shapes_load_and_reach_onnx_runtime(tmp_path):
    """minmax [x] float32 arrays, entropy plain floats, percentile 0-d arrays, float16, avg/std: all accepted."""
    from onnxruntime.quantization.calibrate import TensorsData

    entry = {"lowest": -0.5, "highest": _array(1.5), "avg": _array([0.25], "float16"), "std": 2, "CLS": "TensorData"}
    for method in ("MinMax", "Entropy", "Percentile"):
        cache = _write(tmp_path / "c.json", _payload(entry, f"CalibrationMethod.{method}"))
        data = TensorsData.from_dict(cache.load())
        assert data.calibration_method.name == method and cache.info == {"data": {"frames": 8}}
        assert str(data["conv_out"].avg.dtype) == "float16" and cache.ranges() == {"conv_out": (-0.5, 1.5)}


@pytest.mark.parametrize("where, entry", [
    # the file must not choose the numpy dtype: these allocate 1.6 GB / 2 GB or give object arrays
    (r"lowest\.dtype: expected one of float32, float16", {**OK, "lowest": _array([0.0], "(20000,20000)f4")}),
    (r"lowest\.dtype", {**OK, "lowest": _array(["a"], "S2000000000")}),
    (r"lowest\.dtype", {**OK, "lowest": _array(["a"], "<U2000000000")}),
    (r"lowest\.dtype", {**OK, "lowest": _array([{"a": 1}], "O")}),
    (r"lowest\.dtype", {**OK, "lowest": _array([0.0], "float64")}),
    (r"highest\.dtype", {**OK, "highest": _array([1], "int64")}),
    (r"lowest\.data: expected .*list of 1 to 4096", {**OK, "lowest": _array([0.0] * (MAX_VALUES + 1))}),
], ids=["subarray", "bytes", "unicode", "object", "float64", "int64", "too_many_values"])
def test_cache_cannot_choose_dtypes_or_sizes(tmp_path, where, entry):
    _refused(tmp_path / "c.json", _payload(entry), where)


def test_cache_tensor_count_and_file_size_are_bounded(tmp_path):
    many = _payload(tensors={"data": {f"t{i}": {"lowest": 0, "highest": 1} for i in range(MAX_TENSORS + 1)}})
    _refused(tmp_path / "many.json", many, rf"tensors_data\.data: expected at most {MAX_TENSORS} tensors")
    path = tmp_path / "big.json"
    path.write_text(json.dumps(_payload()) + " " * MAX_CACHE_BYTES)  # valid JSON, only too large
    with pytest.raises(ValueError, match=re.escape(str(path)) + NOT_OURS + r"\(larger than 8 MiB\); give another"):
        CalibrationRangeCache(path, KEY).load()


def test_quantize_int8_refuses_a_hostile_cache_before_building_arrays(tiny_model, tmp_path):
    from mottrack_calibration.quantize import QuantizationOptions, quantize_int8

    cache = _write(tmp_path / "ranges.json", _payload({**OK, "lowest": _array([0.0], "(2,2)f4")}))
    with pytest.raises(ValueError, match=r"ranges\.json: malformed calibration cache: .*lowest\.dtype"):
        quantize_int8(tiny_model, tmp_path / "q.onnx", None, QuantizationOptions(method="minmax"), cache)
    assert not (tmp_path / "q.onnx").exists()


MALFORMED = {
    "no_tensors_data": (_payload(tensors_data=DROP), r"tensors_data: expected an object .*got nothing"),
    "tensors_data_list": (_payload(tensors_data=[1, 2]), r"tensors_data: expected an object"),
    "tensors_data_extra_key": (_payload(tensors={"smooth_quant": True}), r"tensors_data: expected only the keys"),
    "tensors_data_cls": (_payload(tensors={"CLS": "Other"}), r"tensors_data\.CLS: expected 'TensorsData'"),
    "method_unknown": (_payload(method="CalibrationMethod.Bogus"), r"tensors_data\.calibration_method: expected"),
    "method_unused": (_payload(method="CalibrationMethod.Distribution"), r"calibration_method"),
    "method_plain": (_payload(tensors={"calibration_method": 1}), r"calibration_method: expected .*got 1"),
    "key_list": (_payload(key=[1, 2]), r"key: expected an object, got \[1, 2\]"),
    "info_list": (_payload(info=[1]), r"info: expected an object"),
    "info_data_list": (_payload(info={"data": [1]}), r"info\.data: expected an object"),
    "frames_text": (_payload(info={"data": {"frames": "many"}}), r"info\.data\.frames: expected a count.*'many'"),
    "frames_negative": (_payload(info={"data": {"frames": -1}}), r"info\.data\.frames"),
    "frames_bool": (_payload(info={"data": {"frames": True}}), r"info\.data\.frames"),
    "data_list": (_payload(tensors={"data": [1]}), r"tensors_data\.data: expected an object"),
    "entry_list": (_payload([1]), r"tensors_data\.data\['conv_out'\]: expected an object"),
    "entry_unknown_key": (_payload({**OK, "__class__": 1}), r"\['conv_out'\]: expected only the keys .*'__class__'"),
    "entry_histogram": (_payload({**OK, "hist": _array([1, 2], "int64")}), r"histograms are not cached"),
    "entry_no_highest": (_payload({"lowest": 0.0}), r"\['conv_out'\]: expected lowest and highest"),
    "entry_cls": (_payload({**OK, "CLS": "Other"}), r"\['conv_out'\]\.CLS"),
    "array_cls": (_payload({**OK, "lowest": {**_array([0.0]), "CLS": "x"}}), r"lowest\.CLS"),
    "array_extra_key": (_payload({**OK, "lowest": {**_array([0.0]), "shape": [2]}}), r"lowest: expected only"),
    "dtype_name": (_payload({**OK, "lowest": _array([0], "not-a-dtype")}), r"lowest\.dtype"),
    "dtype_missing": (_payload({**OK, "lowest": {"data": [0.0]}}), r"lowest\.dtype: .*got nothing"),
    "nan": (_payload({**OK, "lowest": _array([float("nan")])}), r"lowest\.data: expected a finite"),
    "inf": (_payload({**OK, "highest": float("inf")}), r"highest: expected a finite"),
    "nan_text": (_payload({**OK, "lowest": _array(["nan"])}), r"lowest\.data"),
    "bool": (_payload({**OK, "highest": True}), r"highest: expected a finite"),
    "float16_overflow": (_payload({**OK, "highest": _array([70000.0], "float16")}), r"highest\.data"),
    "float32_overflow": (_payload({**OK, "highest": 1e39}), r"highest: expected"),
    "huge_int": (_payload({**OK, "highest": _array([10 ** 400])}), r"highest\.data"),
    "nested_list": (_payload({**OK, "lowest": _array([[0.0]])}), r"lowest\.data"),
    "empty_list": (_payload({**OK, "lowest": _array([])}), r"lowest\.data"),
    "plain_list": (_payload({**OK, "lowest": [0.0]}), r"lowest: expected"),
    "deep": ('{"a":' * 100000 + "1" + "}" * 100000, NOT_OURS + r"\(not JSON: maximum recursion"),
    "many_digits": ('{"format": ' + "1" * 5000 + "}", NOT_OURS + r"\(not JSON: Exceeds the limit"),
}


@pytest.mark.parametrize("content, where", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_cache_is_one_value_error_naming_file_and_key(tmp_path, content, where):
    message = _refused(tmp_path / "c.json", content, where)
    assert len(message) < 400


def test_key_mismatch_stays_a_mismatch_with_a_bounded_message(tmp_path):
    stored = {f"k{i:03d}": i for i in range(300)}
    with pytest.raises(CalibrationCacheMismatchError, match=r"k000: cache 0 vs now None.*and 297 more") as exc:
        _write(tmp_path / "c.json", _payload(key=stored)).load()
    assert len(str(exc.value)) < 600
