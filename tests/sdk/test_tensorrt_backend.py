"""The TensorRT backend without TensorRT: sidecar checks, buffers (discrete and Jetson zero-copy), metadata
sources, CUDA bindings (cuda-python and ctypes) against fakes. Real engines: tests/sdk/test_backend_contract.py
(marked ``tensorrt`` / ``gpu``, skipped here)."""
from __future__ import annotations

import ctypes
import logging
import types

import numpy as np
import pytest

from trt_runtime_fakes import FakeCuda, make_engine_with_sidecar, make_fake_tensorrt

from mottrack_sdk.backends import ModelLoadError, OnnxRuntimeBackend, TensorRTBackend, TensorRTOptions
from mottrack_sdk.backends.cuda_runtime import (CtypesCudaRuntime, CudaPythonRuntime, CudaUnavailableError,
                                                host_array, is_jetson, load_cuda_runtime)
from mottrack_sdk.engine_sidecar import EngineMismatchError, sidecar_path


@pytest.fixture
def engine(tiny_models, tmp_path):
    return make_engine_with_sidecar(tmp_path / "nms", tiny_models.nms, tensorrt_version="10.3.0", gpu_name="NVIDIA Orin")


def _backend(engine, trt_version="10.3.0", gpu="NVIDIA Orin", cuda=None, **options):
    return TensorRTBackend(engine, TensorRTOptions(**options), trt=make_fake_tensorrt(trt_version),
                           cuda=cuda or FakeCuda(gpu))


def _reference(onnx, batch):
    with OnnxRuntimeBackend(onnx) as ref:
        return ref.infer({"images": batch})


@pytest.fixture(scope="module")
def batch(tiny_models):
    width, height = tiny_models.size
    return np.random.default_rng(1).random((1, 3, height, width), dtype=np.float32)


@pytest.mark.parametrize("version", ["8.5.2.2", "8.6.2", "10.3.0", "11.0.0"])
def test_one_code_path_for_every_version(tiny_models, tmp_path, batch, version):
    engine = make_engine_with_sidecar(tmp_path, tiny_models.nms, tensorrt_version=version)
    with _backend(engine, trt_version=version) as backend:
        out = backend.infer({"images": batch})
    ref = _reference(tiny_models.nms, batch)
    assert out["count"][0] == ref["count"][0]
    np.testing.assert_allclose(out["boxes"], ref["boxes"], atol=1e-3)


@pytest.mark.parametrize("built, here, message", [
    (("8.6.2", "NVIDIA Orin"), ("10.3.0", "NVIDIA Orin"), r"built for TensorRT 8\.6\.2 \(this device runs 10\.3\.0\)"),
    (("10.3.0", "NVIDIA Orin"), ("10.3.0", "NVIDIA GeForce RTX 4090"),
     r"GPU 'NVIDIA Orin' \(this device has 'NVIDIA GeForce RTX 4090'\)"),
])
def test_engine_for_another_tensorrt_or_gpu_names_both_sides(tiny_models, tmp_path, built, here, message):
    engine = make_engine_with_sidecar(tmp_path, tiny_models.nms, tensorrt_version=built[0], gpu_name=built[1])
    fake_cuda = FakeCuda(here[1])
    with pytest.raises(EngineMismatchError, match=message):
        _backend(engine, trt_version=here[0], cuda=fake_cuda).load()
    assert not fake_cuda.live  # nothing allocated before the check


def test_engine_for_another_input_size_names_both_sides(engine, tiny_models, tmp_path):
    with pytest.raises(EngineMismatchError, match=r"input size 320x192 \(expected 576x320\)"):
        _backend(engine, input_size=(576, 320)).load()
    # an engine whose metadata ONNX is for another size: caught at the engine's tensors
    other = make_engine_with_sidecar(tmp_path / "other", tiny_models.nms, input_size=(576, 320))
    with pytest.raises(EngineMismatchError, match=r"input size 576x320 \(expected 320x192\)"):
        _backend(other, input_size=(320, 192)).load()


def test_missing_sidecar_and_undeserializable_engines(engine, tiny_models):
    sidecar_path(engine).unlink()
    with pytest.raises(FileNotFoundError, match="sidecar not found"):
        _backend(engine).load()
    engine.write_bytes(b"an engine of another TensorRT")
    with pytest.raises(ModelLoadError, match=r"TensorRT 10\.3\.0 on NVIDIA Orin cannot deserialize"):
        _backend(engine, check_sidecar=False).load()


def test_replaced_engine_fails_the_hash_check(engine):
    engine.write_bytes(engine.read_bytes() + b" ")
    with pytest.raises(EngineMismatchError, match="does not match its sidecar"):
        _backend(engine).load()


def test_discrete_gpu_copies_through_pinned_buffers_on_one_stream(engine, tiny_models, batch):
    cuda = FakeCuda()
    backend = _backend(engine, cuda=cuda, zero_copy=False).load()
    assert cuda.calls["host_alloc"] == cuda.calls["malloc"] == 5  # images + 4 outputs
    assert cuda.calls["stream_create"] == 1 and not cuda.calls["host_alloc_mapped"]
    for _ in range(2):
        out = backend.infer({"images": batch})
    assert cuda.calls["memcpy_htod"] == 2 and cuda.calls["memcpy_dtoh"] == 8
    ref = _reference(tiny_models.nms, batch)
    for name in ref:
        np.testing.assert_allclose(out[name], ref[name], atol=1e-3)
    out["boxes"][:] = -1  # outputs are copies, not views of the pinned buffers
    assert (backend.infer({"images": batch})["boxes"] != -1).any()
    backend.close()
    assert not cuda.live and cuda.calls["stream_destroy"] == 1


def test_jetson_uses_mapped_zero_copy_memory(engine, tiny_models, batch, monkeypatch):
    import mottrack_sdk.backends.tensorrt_backend as trt_backend

    monkeypatch.setattr(trt_backend, "is_jetson", lambda: True)
    cuda = FakeCuda()
    with _backend(engine, cuda=cuda) as backend:  # zero_copy=None: decided by the platform
        assert backend.zero_copy and "zero-copy" in backend.device
        out = backend.infer({"images": batch})
    assert cuda.calls["enable_mapped_memory"] == 1
    assert cuda.calls["host_alloc_mapped"] == cuda.calls["host_device_pointer"] == 5
    assert not cuda.calls["malloc"] and not cuda.calls["memcpy_htod"] and not cuda.calls["memcpy_dtoh"]
    np.testing.assert_allclose(out["scores"], _reference(tiny_models.nms, batch)["scores"], atol=1e-4)
    assert not cuda.live


def test_dynamic_input_shape_is_set_from_the_metadata(tiny_models, tmp_path, batch):
    engine = make_engine_with_sidecar(tmp_path, tiny_models.raw)
    fake = make_fake_tensorrt("10.3.0", dynamic_input=True)
    with TensorRTBackend(engine, trt=fake, cuda=FakeCuda()) as backend:
        backend.infer({"images": batch})
    assert ("set_input_shape", "images", (1, 3, 192, 320)) in fake.calls


def test_metadata_sources(tiny_models, tmp_path, caplog):
    from mottrack_sdk.model_metadata import read_model_metadata

    reference = read_model_metadata(tiny_models.raw)
    # the sidecar's model_metadata (what mottrack export writes), precision included
    engine = make_engine_with_sidecar(tmp_path / "a", tiny_models.raw, copy_onnx=False, precision="int8")
    with _backend(engine) as backend:
        assert backend.metadata == reference.with_precision("int8")
    # none in the sidecar: the ONNX beside the engine, when its hash is the sidecar's model_sha256
    engine = make_engine_with_sidecar(tmp_path / "b", tiny_models.raw, embed_metadata=False, precision="fp16")
    with _backend(engine) as backend:
        assert backend.metadata == reference.with_precision("fp16")
    # neither: derived from the engine's tensors, default preprocessing, with a warning
    (tmp_path / "b" / "model.onnx").write_bytes(b"another model")
    with caplog.at_level(logging.WARNING), _backend(engine) as backend:
        md = backend.metadata
    assert (md.output_layout, md.input_size, md.embedding_stride, md.embedding_dim, md.precision, md.resize_mode,
            md.pad_value) == ("raw_heads", (320, 192), 8, 32, "fp16", "letterbox", 127.5)
    assert "no model metadata found" in caplog.text


def test_without_tensorrt_the_error_says_where_to_get_it(engine):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="python3-libnvinfer"):
            TensorRTBackend(engine, cuda=FakeCuda()).load()
    else:
        pytest.skip("TensorRT is installed here")


# ---- CUDA bindings -------------------------------------------------------------------------------
def test_cuda_python_wrapper_unpacks_results_and_raises_named_errors():
    class Err(int):
        pass

    calls = []

    def ok(*values):
        return lambda *args: calls.append(args) or (Err(0), *values)

    runtime = types.SimpleNamespace(
        cudaSetDevice=ok(), cudaMalloc=ok(0x1000), cudaHostAlloc=ok(0x2000), cudaHostGetDevicePointer=ok(0x3000),
        cudaStreamCreate=ok(0x44), cudaMemcpyAsync=ok(), cudaStreamSynchronize=ok(),
        cudaGetDeviceProperties=ok(types.SimpleNamespace(name=b"NVIDIA Orin\x00\x00")),
        cudaFree=lambda p: (Err(2),), cudaGetErrorString=lambda err: (Err(0), b"out of memory"),
        cudaSetDeviceFlags=lambda f: (Err(36),))
    cuda = CudaPythonRuntime(runtime)
    assert cuda.malloc(10) == 0x1000 and cuda.host_alloc(10, mapped=True) == 0x2000
    assert calls[-1] == (10, 2)  # cudaHostAllocMapped
    assert cuda.host_device_pointer(0x2000) == 0x3000 and cuda.stream_create() == 0x44
    assert cuda.device_name(0) == "NVIDIA Orin"
    cuda.memcpy_htod_async(0x1000, 0x2000, 10, 0x44)
    assert calls[-1] == (0x1000, 0x2000, 10, 1, 0x44)
    cuda.enable_mapped_memory()  # "set on active process" is harmless
    with pytest.raises(RuntimeError, match=r"cudaFree failed: CUDA error 2 \(out of memory\)"):
        cuda.free(0x1000)


def test_ctypes_wrapper_passes_pointers_and_reads_outputs():
    class FakeLib:
        def __init__(self):
            self.calls = []
            self.cudaGetErrorString = lambda status: b"invalid value"

        def __getattr__(self, name):
            def call(*args):
                self.calls.append((name, args))
                if name == "cudaGetDeviceProperties_v2":
                    ctypes.memmove(args[0], b"Orin\x00", 5)
                elif args and isinstance(args[0], type(ctypes.byref(ctypes.c_void_p()))):
                    args[0]._obj.value = 0xABC0
                return 1 if name == "cudaFree" else 0
            setattr(self, name, call)
            return call

    lib = FakeLib()
    cuda = CtypesCudaRuntime(lib)
    assert cuda.malloc(64) == 0xABC0 and cuda.host_alloc(64, mapped=False) == 0xABC0
    assert cuda.device_name(0) == "Orin" and cuda.stream_create() == 0xABC0
    cuda.memcpy_dtoh_async(0x10, 0x20, 8, 0x30)
    name, args = lib.calls[-1]
    assert name == "cudaMemcpyAsync" and args[3].value == 2 and args[4].value == 0x30
    with pytest.raises(RuntimeError, match=r"cudaFree failed: CUDA error 1 \(invalid value\)"):
        cuda.free(0xABC0)


def test_no_cuda_here_is_a_clear_error_and_host_arrays_view_memory():
    try:
        load_cuda_runtime()
    except CudaUnavailableError as exc:
        assert "cuda-python" in str(exc) and "libcudart" in str(exc)
    buf = np.arange(6, dtype=np.float32)
    view = host_array(buf.ctypes.data, (2, 3), np.float32)
    view[1, 2] = 42
    assert buf[5] == 42
    assert isinstance(is_jetson(), bool)
