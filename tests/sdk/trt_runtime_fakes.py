"""Stand-ins for ``tensorrt`` (runtime side) and the CUDA runtime, for testing the TensorRT backend here.

:class:`FakeCuda` implements the backend's ``CudaApi`` over ordinary host memory (device pointers are
host addresses, copies are ``memmove``) and records every call. :func:`make_fake_tensorrt` returns a
module-like object with TensorRT's name-based runtime API (8.5 - 11: ``num_io_tensors``,
``get_tensor_name/mode/shape/dtype``, ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``)
whose engines are files ``FAKE-ENGINE\\n<onnx path>``: executing one runs that ONNX in ONNX Runtime CPU,
reading its input from and writing its outputs to the addresses the backend bound. So the backend's
buffer handling is exercised end to end, and its results compare with the ONNX Runtime reference.
"""
from __future__ import annotations

import ctypes
import types
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.backends.cuda_runtime import host_array

ENGINE_MAGIC = b"FAKE-ENGINE\n"


class FakeCuda:
    """``CudaApi`` over host memory; ``calls`` counts each API call, ``live`` holds unfreed allocations."""

    name = "fake-cuda"

    def __init__(self, gpu: str = "NVIDIA Orin") -> None:
        self.gpu = gpu
        self.calls: Counter[str] = Counter()
        self.live: dict[int, np.ndarray] = {}
        self.mapped: set[int] = set()

    def _alloc(self, nbytes: int) -> int:
        buf = np.zeros(nbytes, np.uint8)
        ptr = int(buf.ctypes.data)
        self.live[ptr] = buf
        return ptr

    def set_device(self, device: int) -> None:
        self.calls["set_device"] += 1

    def enable_mapped_memory(self) -> None:
        self.calls["enable_mapped_memory"] += 1

    def device_name(self, device: int) -> str:
        return self.gpu

    def stream_create(self) -> int:
        self.calls["stream_create"] += 1
        return 0x5151

    def stream_destroy(self, stream: int) -> None:
        self.calls["stream_destroy"] += 1

    def stream_synchronize(self, stream: int) -> None:
        self.calls["stream_synchronize"] += 1

    def malloc(self, nbytes: int) -> int:
        self.calls["malloc"] += 1
        return self._alloc(nbytes)

    def free(self, ptr: int) -> None:
        self.calls["free"] += 1
        del self.live[ptr]

    def host_alloc(self, nbytes: int, mapped: bool) -> int:
        self.calls["host_alloc_mapped" if mapped else "host_alloc"] += 1
        ptr = self._alloc(nbytes)
        if mapped:
            self.mapped.add(ptr)
        return ptr

    def free_host(self, ptr: int) -> None:
        self.calls["free_host"] += 1
        del self.live[ptr]

    def host_device_pointer(self, host_ptr: int) -> int:
        self.calls["host_device_pointer"] += 1
        assert host_ptr in self.mapped, "only mapped host memory has a device pointer"
        return host_ptr

    def memcpy_htod_async(self, device_ptr: int, host_ptr: int, nbytes: int, stream: int) -> None:
        self.calls["memcpy_htod"] += 1
        ctypes.memmove(device_ptr, host_ptr, nbytes)

    def memcpy_dtoh_async(self, host_ptr: int, device_ptr: int, nbytes: int, stream: int) -> None:
        self.calls["memcpy_dtoh"] += 1
        ctypes.memmove(host_ptr, device_ptr, nbytes)


def write_fake_engine(path: Path, onnx_path: Path) -> Path:
    path.write_bytes(ENGINE_MAGIC + str(onnx_path).encode())
    return path


def make_fake_tensorrt(version: str = "10.3.0", dynamic_input: bool = False) -> Any:
    """A ``tensorrt`` stand-in (see the module docstring). ``dynamic_input`` reports the input as [-1, 3, -1, -1]."""
    import onnxruntime as ort

    calls: list[tuple[Any, ...]] = []
    io_mode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")

    class Context:
        def __init__(self, engine: "Engine") -> None:
            self.engine = engine
            self.addresses: dict[str, int] = {}
            self.input_shape: tuple[int, ...] | None = None

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            calls.append(("set_input_shape", name, tuple(shape)))
            self.input_shape = tuple(shape)
            return tuple(shape) == self.engine.shapes[name]

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.engine.shapes[name]

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            self.addresses[name] = ptr
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            calls.append(("execute_async_v3", stream_handle))
            eng = self.engine
            image = host_array(self.addresses[eng.input], eng.shapes[eng.input], np.float32).copy()
            outputs = eng.session.run(eng.outputs, {eng.input: image})
            for name, value in zip(eng.outputs, outputs):
                np.copyto(host_array(self.addresses[name], eng.shapes[name], eng.dtypes[name]), value)
            return True

    class Engine:
        def __init__(self, onnx_path: str) -> None:
            self.session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            node = self.session.get_inputs()[0]
            self.input = node.name
            self.outputs = [o.name for o in self.session.get_outputs()]
            values = self.session.run(None, {self.input: np.zeros(node.shape, np.float32)})
            self.shapes = {self.input: tuple(node.shape), **{n: v.shape for n, v in zip(self.outputs, values)}}
            self.dtypes = {self.input: np.dtype(np.float32), **{n: v.dtype for n, v in zip(self.outputs, values)}}
            # TensorRT lists outputs in its own order: reversed here so the backend must not rely on it
            self.names = [self.input] + self.outputs[::-1]

        @property
        def num_io_tensors(self) -> int:
            return len(self.names)

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_mode(self, name: str) -> str:
            return io_mode.INPUT if name == self.input else io_mode.OUTPUT

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            if dynamic_input and name == self.input:
                return (-1, 3, -1, -1)
            return self.shapes[name]

        def get_tensor_dtype(self, name: str) -> np.dtype:
            return self.dtypes[name]

        def create_execution_context(self) -> Context:
            return Context(self)

    class Runtime:
        def __init__(self, logger: Any) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            calls.append(("deserialize", len(data)))
            if not data.startswith(ENGINE_MAGIC):
                return None  # what TensorRT does for an engine of another version
            return Engine(data[len(ENGINE_MAGIC):].decode())

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            pass

    return types.SimpleNamespace(__version__=version, Logger=Logger, Runtime=Runtime, TensorIOMode=io_mode,
                                 nptype=lambda dtype: np.dtype(dtype), calls=calls)


def make_engine_with_sidecar(folder: Path, onnx_path: Path, *, tensorrt_version: str = "10.3.0",
                             gpu_name: str = "NVIDIA Orin", precision: str = "fp16", copy_onnx: bool = True,
                             input_size: tuple[int, int] | None = None, embed_metadata: bool = True) -> Path:
    """``folder/model.engine`` (a fake engine running ``onnx_path``) and its sidecar (with the model metadata, as
    ``mottrack export`` writes it, unless ``embed_metadata=False``); ``copy_onnx`` puts ``model.onnx`` beside it."""
    import shutil

    from mottrack_sdk.engine_sidecar import EngineSidecar, file_sha256, write_engine_sidecar
    from mottrack_sdk.model_metadata import read_model_metadata

    folder.mkdir(parents=True, exist_ok=True)
    metadata = read_model_metadata(onnx_path)
    beside = folder / "model.onnx"
    if copy_onnx:
        shutil.copyfile(onnx_path, beside)
    engine = write_fake_engine(folder / "model.engine", onnx_path)
    write_engine_sidecar(engine, EngineSidecar(
        tensorrt_version=tensorrt_version, gpu_name=gpu_name, compute_capability="8.7",
        input_name=metadata.input_name, input_size=input_size or metadata.input_size, precision=precision,
        model_sha256=file_sha256(onnx_path), engine_sha256=file_sha256(engine), project_version="0.1.0",
        created="2026-11-22T00:00:00+00:00",
        model_metadata=metadata.with_precision(precision).to_props() if embed_metadata else None))
    return engine
