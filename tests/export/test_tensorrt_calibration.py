"""TensorRT implicit calibration without TensorRT: cache text format, batching, the calibrator with fakes."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from fake_tensorrt import FakeAllocator, make_fake_tensorrt

from mottrack_export.tensorrt_calibration import (CalibrationBatcher, CalibrationCacheMismatchError,
                                                  TensorRTCalibrationCache, calibration_cache_from_ranges,
                                                  format_calibration_cache, make_entropy_calibrator,
                                                  parse_calibration_cache)

REAL_CACHE = b"TRT-8601-EntropyCalibration2\nimages: 3c010a14\n168: 3dc6cf6e\n/backbone/Conv_output_0: 3b66eddc\n"


def test_parse_a_cache_as_tensorrt_writes_it():
    header, scales = parse_calibration_cache(REAL_CACHE)
    assert header == "TRT-8601-EntropyCalibration2"
    assert scales["images"] == pytest.approx(1 / 127, rel=1e-3)  # 0x3c010a14, big-endian float32
    assert list(scales) == ["images", "168", "/backbone/Conv_output_0"]


def test_format_round_trips_bit_exactly():
    _, scales = parse_calibration_cache(REAL_CACHE)
    assert format_calibration_cache((8, 6, 1), scales) == REAL_CACHE


def test_scales_are_big_endian_float32_hex():
    text = format_calibration_cache((10, 3, 0), {"x": 0.5}).decode()
    assert text.splitlines() == ["TRT-100300-EntropyCalibration2", f"x: {struct.pack('>f', 0.5).hex()}"]
    assert text.splitlines()[1] == "x: 3f000000"


def test_cache_from_onnxruntime_ranges_is_symmetric_amax_over_127():
    _, scales = parse_calibration_cache(calibration_cache_from_ranges((8, 6, 1), {"a": (-2.54, 1.0), "b": (0.0, 12.7)}))
    assert scales["a"] == pytest.approx(0.02) and scales["b"] == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [b"", b"not a cache\n", b"TRT-8601-EntropyCalibration2\nimages 3c010a14\n",
                                 b"TRT-8601-EntropyCalibration2\nimages: xyz\n"])
def test_malformed_caches_are_errors(bad):
    with pytest.raises(ValueError):
        parse_calibration_cache(bad)


def test_batcher_concatenates_frames_and_drops_the_partial_batch():
    frames = [np.full((3, 4, 5), i, np.float32) for i in range(3)] + [np.full((2, 3, 4, 5), 9, np.float32)]
    batches = list(CalibrationBatcher(iter(frames), (2, 3, 4, 5)))
    assert len(batches) == 2 and all(b.shape == (2, 3, 4, 5) and b.flags.c_contiguous for b in batches)
    assert batches[0][:, 0, 0, 0].tolist() == [0, 1] and batches[1][:, 0, 0, 0].tolist() == [2, 9]
    capped = CalibrationBatcher(iter(frames), (1, 3, 4, 5), max_batches=2)
    assert len(list(capped)) == 2


def test_batcher_rejects_frames_of_another_size():
    with pytest.raises(ValueError, match="preprocess"):
        CalibrationBatcher(iter([np.zeros((3, 8, 8), np.float32)]), (1, 3, 4, 5)).next_batch()


def _key(**changes):
    return {"model_sha256": "abc", "input_size": "64x32", "resize_mode": "letterbox", "pad_value": 127.5, **changes}


def test_calibrator_feeds_device_batches_then_writes_and_reuses_the_cache(tmp_path):
    trt = make_fake_tensorrt("8.6.1")
    allocator = FakeAllocator()
    cache = TensorRTCalibrationCache(tmp_path / "calib.cache", (8, 6, 1), _key())
    frames = [np.random.default_rng(i).random((3, 4, 5), dtype=np.float32) for i in range(3)]
    calibrator = make_entropy_calibrator(trt, CalibrationBatcher(iter(frames), (1, 3, 4, 5)), cache, allocator)
    assert isinstance(calibrator, trt.IInt8EntropyCalibrator2) and calibrator.base_initialised
    assert calibrator.get_batch_size() == 1 and calibrator.read_calibration_cache() is None
    pointers = [calibrator.get_batch(["images"]) for _ in range(4)]
    assert pointers[:3] == [[0x1000]] * 3 and pointers[3] is None
    np.testing.assert_array_equal(allocator.buffers[0x1000][0], frames[2])
    calibrator.write_calibration_cache(REAL_CACHE)
    calibrator.release()
    assert allocator.freed == [0x1000]
    assert cache.read() == REAL_CACHE  # same TensorRT, same key: reused
    assert TensorRTCalibrationCache(cache.path, (10, 3, 0), _key()).read() is None  # other version: recalibrate
    with pytest.raises(CalibrationCacheMismatchError, match="model_sha256"):
        TensorRTCalibrationCache(cache.path, (8, 6, 1), _key(model_sha256="def")).read()


def test_tensorrt_11_has_no_calibrator():
    with pytest.raises(ValueError, match="removed in 11"):
        make_entropy_calibrator(make_fake_tensorrt("11.0.0"), CalibrationBatcher(iter([]), (1, 3, 4, 5)), None,
                                FakeAllocator())
