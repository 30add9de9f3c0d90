"""The engine builder against fake TensorRT modules of each version, and the sidecar the runtime checks.

A real build runs only where TensorRT and a GPU exist (marked ``tensorrt``/``gpu``; skipped here).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from fake_tensorrt import FakeAllocator, make_fake_tensorrt
from onnx_stub import write_stub_onnx

from mottrack_export.cuda_memory import GpuInfo
from mottrack_export.tensorrt_builder import EngineBuildOptions, EngineFromOnnx
from mottrack_sdk.engine_sidecar import EngineMismatchError, check_engine_sidecar, read_engine_sidecar

ORIN = GpuInfo("Orin", "8.7")


def _build(tmp_path, version, precision_onnx="fp32", frames=None, **options):
    trt = make_fake_tensorrt(version)
    onnx_path = write_stub_onnx(tmp_path / f"m_{precision_onnx}.onnx", precision_onnx)
    result = EngineFromOnnx(onnx_path, EngineBuildOptions(**options), frames, trt=trt, allocator=FakeAllocator(),
                            gpu=ORIN)(tmp_path / "m.engine")
    return trt, result


def test_tensorrt_8_fp16_uses_explicit_batch_and_the_fp16_flag(tmp_path):
    trt, result = _build(tmp_path, "8.6.1.6", precision="fp16", workspace_mib=256)
    assert ("create_network", 1 << 0) in trt.calls
    assert ("workspace", 0, 256 << 20) in trt.calls
    assert trt.last_config.flags == {"FP16"}
    assert trt.last_config.profiles[0].shapes == {"images": ((1, 3, 32, 64),) * 3}
    assert (tmp_path / "m.engine").read_bytes() == b"engine-bytes-8.6.1.6"
    assert result.sidecar.precision == "fp16" and result.sidecar.input_size == (64, 32)


def test_tensorrt_8_int8_from_qdq_sets_int8_and_fp16(tmp_path):
    trt, _ = _build(tmp_path, "8.5.2", precision_onnx="int8", precision="int8")
    assert trt.last_config.flags == {"INT8", "FP16"} and trt.last_config.int8_calibrator is None


def test_tensorrt_10_weakly_typed_by_default_strong_on_request(tmp_path):
    trt, _ = _build(tmp_path, "10.3.0", precision="fp16")
    assert ("create_network", 0) in trt.calls and trt.last_config.flags == {"FP16"}
    trt, _ = _build(tmp_path, "10.16.0", precision_onnx="fp16", precision="fp16", strongly_typed=True)
    assert ("create_network", 1 << 1) in trt.calls and trt.last_config.flags == set()


def test_tensorrt_11_takes_precision_from_the_onnx(tmp_path):
    trt, result = _build(tmp_path, "11.0.0", precision_onnx="fp16", precision="fp16")
    assert ("create_network", 0) in trt.calls and trt.last_config.flags == set()
    trt, _ = _build(tmp_path, "11.0.0", precision_onnx="int8", precision="int8")
    assert trt.last_config.flags == set()
    with pytest.raises(ValueError, match="FP16 must be in the ONNX"):
        _build(tmp_path, "11.0.0", precision_onnx="fp32", precision="fp16")
    with pytest.raises(ValueError, match="removed implicit INT8"):
        _build(tmp_path, "11.0.0", precision="int8", int8_mode="calibrator")


def test_implicit_calibration_feeds_frames_and_writes_the_cache(tmp_path):
    frames = [np.random.default_rng(i).random((3, 32, 64), dtype=np.float32) for i in range(5)]
    cache = tmp_path / "calib.cache"
    trt, result = _build(tmp_path, "10.3.0", frames=iter(frames), precision="int8", int8_mode="calibrator",
                         calibration_cache=cache)
    assert trt.calls[-1] == ("build", ["FP16", "INT8"], 5)
    assert ("calibration_profile", {"images": ((1, 3, 32, 64),) * 3}) in trt.calls
    assert cache.read_bytes().startswith(b"TRT-100300-EntropyCalibration2")
    assert json.loads((tmp_path / "calib.cache.key.json").read_text())["input_size"] == "64x32"
    trt, _ = _build(tmp_path, "10.3.0", frames=iter(frames), precision="int8", int8_mode="calibrator",
                    calibration_cache=cache)
    assert trt.calls[-1] == ("build", ["FP16", "INT8"], 0)  # cache reused: no batches read
    assert result.sidecar.int8_mode == "calibrator"


def test_dla_with_gpu_fallback_and_its_limits(tmp_path):
    frames = [np.zeros((3, 32, 64), np.float32)]
    trt, result = _build(tmp_path, "8.6.1", frames=iter(frames), precision="int8", int8_mode="calibrator",
                         dla_core=1)
    config = trt.last_config
    assert config.default_device_type == trt.DeviceType.DLA and config.DLA_core == 1
    assert "GPU_FALLBACK" in config.flags and result.sidecar.dla_core == 1
    with pytest.raises(ValueError, match="DLA core 2 requested, this device has 2"):
        _build(tmp_path, "8.6.1", precision="fp16", dla_core=2)
    with pytest.raises(ValueError, match="takes no Q/DQ"):
        _build(tmp_path, "10.3.0", precision_onnx="int8", precision="int8", dla_core=0)
    with pytest.raises(ValueError, match="DLA runs FP16 or INT8"):
        EngineBuildOptions(precision="fp32", dla_core=0)


def test_timing_cache_is_read_and_written_back(tmp_path):
    timing = tmp_path / "timing.cache"
    timing.write_bytes(b"old")
    trt, _ = _build(tmp_path, "10.3.0", precision="fp16", timing_cache=timing)
    assert timing.read_bytes() == b"timing:old"


def test_refusals_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="needs the quantized ONNX"):
        _build(tmp_path, "10.3.0", precision="int8")
    with pytest.raises(ValueError, match="parses at most 17"):
        trt = make_fake_tensorrt("8.6.1")
        path = write_stub_onnx(tmp_path / "o19.onnx", opset=19)
        EngineFromOnnx(path, EngineBuildOptions(), trt=trt, gpu=ORIN)(tmp_path / "x.engine")
    with pytest.raises(ValueError, match="cannot parse"):
        trt = make_fake_tensorrt("10.3.0", parse_ok=False)
        EngineFromOnnx(write_stub_onnx(tmp_path / "p.onnx"), EngineBuildOptions(), trt=trt, gpu=ORIN)(tmp_path / "p.engine")


def test_sidecar_is_checked_by_the_runtime(tmp_path):
    _, result = _build(tmp_path, "10.3.0", precision="fp16")
    engine = tmp_path / "m.engine"
    sidecar = read_engine_sidecar(engine)
    assert sidecar == result.sidecar and sidecar.tensorrt_version == "10.3.0" and sidecar.gpu_name == "Orin"
    from mottrack_sdk.model_metadata import metadata_from_props

    described = metadata_from_props(sidecar.model_metadata)  # the engine describes itself (runtime backend)
    assert described.precision == "fp16" and described.input_size == (64, 32)
    assert check_engine_sidecar(engine, tensorrt_version="10.3.0", gpu_name="orin ", input_size=(64, 32),
                                precision="fp16") == sidecar
    with pytest.raises(EngineMismatchError, match=r"TensorRT 10\.3\.0 \(this device runs 10\.16\.0\).*precision fp16"):
        check_engine_sidecar(engine, tensorrt_version="10.16.0", gpu_name="Orin", precision="int8")
    engine.write_bytes(b"tampered")
    with pytest.raises(EngineMismatchError, match="does not match its sidecar"):
        check_engine_sidecar(engine, tensorrt_version="10.3.0", gpu_name="Orin")


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_real_engine_build(tmp_path):
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (engines are built on the target)")
    from mottrack_export.cuda_memory import gpu_info

    try:
        gpu = gpu_info()
    except RuntimeError as exc:
        pytest.skip(f"no CUDA GPU: {exc}")
    path = write_stub_onnx(tmp_path / "stub.onnx")
    result = EngineFromOnnx(path, EngineBuildOptions(precision="fp16"))(tmp_path / "stub.engine")
    check_engine_sidecar(result.engine_path, tensorrt_version=trt.__version__, gpu_name=gpu.name)
