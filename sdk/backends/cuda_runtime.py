"""The few CUDA runtime calls the TensorRT backend needs, without PyTorch.

Two implementations of one small API (:class:`CudaApi`), chosen by :func:`load_cuda_runtime`:

- :class:`CudaPythonRuntime`: NVIDIA's ``cuda-python`` (``from cuda.bindings import runtime`` from
  12.6 on; ``from cuda import cudart`` before; the ``[trt]`` extra installs it);
- :class:`CtypesCudaRuntime`: ``libcudart`` through ``ctypes`` (as Polygraphy does), for Jetson images
  where only JetPack's CUDA is present.

Pointers and stream handles are plain ints. Pinned host memory (``cudaHostAlloc``) is wrapped as
numpy arrays with :func:`host_array`; on Jetson the same allocation is *mapped*
(``cudaHostAllocMapped`` + ``cudaHostGetDevicePointer``) so the GPU reads and writes it directly and
no copies are made (the memory is shared by CPU and GPU). Nothing is imported or loaded until used.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["CudaApi", "CudaPythonRuntime", "CtypesCudaRuntime", "CudaUnavailableError", "host_array", "is_jetson",
           "load_cuda_runtime"]

HOST_TO_DEVICE, DEVICE_TO_HOST = 1, 2       # cudaMemcpyKind
HOST_ALLOC_DEFAULT, HOST_ALLOC_MAPPED = 0, 2  # cudaHostAlloc flags
DEVICE_MAP_HOST = 8                         # cudaSetDeviceFlags(cudaDeviceMapHost)
ERROR_SET_ON_ACTIVE_PROCESS = 36            # flags set after the context exists: harmless with UVA
_CUDART_NAMES = ("libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "cudart")


class CudaUnavailableError(ImportError):
    """Neither cuda-python nor libcudart can be loaded."""


class CudaApi(Protocol):
    """What the TensorRT backend calls (all pointers / streams are ints)."""

    name: str

    def set_device(self, device: int) -> None: ...
    def enable_mapped_memory(self) -> None: ...
    def device_name(self, device: int) -> str: ...
    def stream_create(self) -> int: ...
    def stream_destroy(self, stream: int) -> None: ...
    def stream_synchronize(self, stream: int) -> None: ...
    def malloc(self, nbytes: int) -> int: ...
    def free(self, ptr: int) -> None: ...
    def host_alloc(self, nbytes: int, mapped: bool) -> int: ...
    def free_host(self, ptr: int) -> None: ...
    def host_device_pointer(self, host_ptr: int) -> int: ...
    def memcpy_htod_async(self, device_ptr: int, host_ptr: int, nbytes: int, stream: int) -> None: ...
    def memcpy_dtoh_async(self, host_ptr: int, device_ptr: int, nbytes: int, stream: int) -> None: ...


def is_jetson() -> bool:
    """A Jetson (Tegra SoC, integrated GPU sharing system memory): ``/etc/nv_tegra_release`` or a tegra device tree."""
    if Path("/etc/nv_tegra_release").exists():
        return True
    if platform.machine() != "aarch64":
        return False
    try:
        return b"tegra" in Path("/proc/device-tree/compatible").read_bytes().lower()
    except OSError:
        return False


def host_array(ptr: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A numpy view of ``nbytes`` of host memory at ``ptr`` (the memory must outlive the view)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = (ctypes.c_uint8 * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)


def load_cuda_runtime(prefer: str = "auto") -> CudaApi:
    """cuda-python when importable (``prefer="cuda-python"`` requires it), else ctypes over libcudart."""
    errors = []
    if prefer in ("auto", "cuda-python"):
        try:
            return CudaPythonRuntime()
        except ImportError as exc:
            if prefer == "cuda-python":
                raise CudaUnavailableError(f"cuda-python is not installed ({exc}): pip install cuda-python") from exc
            errors.append(f"cuda-python: {exc}")
    try:
        return CtypesCudaRuntime()
    except OSError as exc:
        errors.append(f"libcudart: {exc}")
    raise CudaUnavailableError("the TensorRT backend needs the CUDA runtime: install cuda-python "
                               "(pip install 'mottrack-sdk[trt]') or the CUDA toolkit / JetPack (libcudart); "
                               + "; ".join(errors))


class CudaPythonRuntime:
    """:class:`CudaApi` over NVIDIA cuda-python (every call returns ``(err, *values)``)."""

    name = "cuda-python"

    def __init__(self, module: Any = None) -> None:
        if module is None:
            try:
                from cuda.bindings import runtime as module  # cuda-python >= 12.6
            except ImportError:
                from cuda import cudart as module  # older cuda-python (removed in 13)
        self._rt = module

    def _call(self, name: str, *args: Any) -> Any:
        result = getattr(self._rt, name)(*args)
        err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        code = int(getattr(err, "value", err))
        if code != 0:
            _, message = self._rt.cudaGetErrorString(err)
            raise RuntimeError(f"{name} failed: CUDA error {code} ({_text(message)})")
        return values[0] if len(values) == 1 else values

    def _stream(self, stream: int) -> Any:
        return self._rt.cudaStream_t(stream) if hasattr(self._rt, "cudaStream_t") else stream

    def set_device(self, device: int) -> None:
        self._call("cudaSetDevice", device)

    def enable_mapped_memory(self) -> None:
        try:
            self._call("cudaSetDeviceFlags", DEVICE_MAP_HOST)
        except RuntimeError as exc:
            if f"error {ERROR_SET_ON_ACTIVE_PROCESS}" not in str(exc):
                raise

    def device_name(self, device: int) -> str:
        return _text(self._call("cudaGetDeviceProperties", device).name)

    def stream_create(self) -> int:
        return _handle(self._call("cudaStreamCreate"))

    def stream_destroy(self, stream: int) -> None:
        self._call("cudaStreamDestroy", self._stream(stream))

    def stream_synchronize(self, stream: int) -> None:
        self._call("cudaStreamSynchronize", self._stream(stream))

    def malloc(self, nbytes: int) -> int:
        return _handle(self._call("cudaMalloc", nbytes))

    def free(self, ptr: int) -> None:
        self._call("cudaFree", ptr)

    def host_alloc(self, nbytes: int, mapped: bool) -> int:
        return _handle(self._call("cudaHostAlloc", nbytes, HOST_ALLOC_MAPPED if mapped else HOST_ALLOC_DEFAULT))

    def free_host(self, ptr: int) -> None:
        self._call("cudaFreeHost", ptr)

    def host_device_pointer(self, host_ptr: int) -> int:
        return _handle(self._call("cudaHostGetDevicePointer", host_ptr, 0))

    def memcpy_htod_async(self, device_ptr: int, host_ptr: int, nbytes: int, stream: int) -> None:
        self._call("cudaMemcpyAsync", device_ptr, host_ptr, nbytes, self._kind(HOST_TO_DEVICE), self._stream(stream))

    def memcpy_dtoh_async(self, host_ptr: int, device_ptr: int, nbytes: int, stream: int) -> None:
        self._call("cudaMemcpyAsync", host_ptr, device_ptr, nbytes, self._kind(DEVICE_TO_HOST), self._stream(stream))

    def _kind(self, kind: int) -> Any:
        enum = getattr(self._rt, "cudaMemcpyKind", None)
        return enum(kind) if enum is not None else kind


class CtypesCudaRuntime:
    """:class:`CudaApi` over ``libcudart`` with ``ctypes`` (no Python CUDA package needed)."""

    name = "ctypes libcudart"

    def __init__(self, lib: Any = None) -> None:
        self._lib = lib if lib is not None else _load_cudart()
        vp, size = ctypes.c_void_p, ctypes.c_size_t
        signatures = {
            "cudaSetDevice": [ctypes.c_int], "cudaSetDeviceFlags": [ctypes.c_uint],
            "cudaStreamCreate": [ctypes.POINTER(vp)], "cudaStreamDestroy": [vp], "cudaStreamSynchronize": [vp],
            "cudaMalloc": [ctypes.POINTER(vp), size], "cudaFree": [vp],
            "cudaHostAlloc": [ctypes.POINTER(vp), size, ctypes.c_uint], "cudaFreeHost": [vp],
            "cudaHostGetDevicePointer": [ctypes.POINTER(vp), vp, ctypes.c_uint],
            "cudaMemcpyAsync": [vp, vp, size, ctypes.c_int, vp],
        }
        for name, argtypes in signatures.items():
            getattr(self._lib, name).argtypes = argtypes
        self._lib.cudaGetErrorString.restype = ctypes.c_char_p

    def _check(self, status: int, name: str) -> None:
        if status != 0:
            raise RuntimeError(f"{name} failed: CUDA error {status} ({_text(self._lib.cudaGetErrorString(status))})")

    def _out_ptr(self, name: str, *args: Any) -> int:
        ptr = ctypes.c_void_p()
        self._check(getattr(self._lib, name)(ctypes.byref(ptr), *args), name)
        return int(ptr.value or 0)

    def set_device(self, device: int) -> None:
        self._check(self._lib.cudaSetDevice(device), "cudaSetDevice")

    def enable_mapped_memory(self) -> None:
        status = self._lib.cudaSetDeviceFlags(DEVICE_MAP_HOST)
        if status not in (0, ERROR_SET_ON_ACTIVE_PROCESS):
            self._check(status, "cudaSetDeviceFlags")

    def device_name(self, device: int) -> str:
        # cudaDeviceProp starts with char name[256] in every CUDA version; 4 KiB covers the whole struct.
        props = ctypes.create_string_buffer(4096)
        getter = getattr(self._lib, "cudaGetDeviceProperties_v2", None) or self._lib.cudaGetDeviceProperties
        self._check(getter(props, ctypes.c_int(device)), "cudaGetDeviceProperties")
        return _text(props.raw[:256].split(b"\0", 1)[0])

    def stream_create(self) -> int:
        return self._out_ptr("cudaStreamCreate")

    def stream_destroy(self, stream: int) -> None:
        self._check(self._lib.cudaStreamDestroy(ctypes.c_void_p(stream)), "cudaStreamDestroy")

    def stream_synchronize(self, stream: int) -> None:
        self._check(self._lib.cudaStreamSynchronize(ctypes.c_void_p(stream)), "cudaStreamSynchronize")

    def malloc(self, nbytes: int) -> int:
        return self._out_ptr("cudaMalloc", ctypes.c_size_t(nbytes))

    def free(self, ptr: int) -> None:
        self._check(self._lib.cudaFree(ctypes.c_void_p(ptr)), "cudaFree")

    def host_alloc(self, nbytes: int, mapped: bool) -> int:
        return self._out_ptr("cudaHostAlloc", ctypes.c_size_t(nbytes),
                             ctypes.c_uint(HOST_ALLOC_MAPPED if mapped else HOST_ALLOC_DEFAULT))

    def free_host(self, ptr: int) -> None:
        self._check(self._lib.cudaFreeHost(ctypes.c_void_p(ptr)), "cudaFreeHost")

    def host_device_pointer(self, host_ptr: int) -> int:
        return self._out_ptr("cudaHostGetDevicePointer", ctypes.c_void_p(host_ptr), ctypes.c_uint(0))

    def memcpy_htod_async(self, device_ptr: int, host_ptr: int, nbytes: int, stream: int) -> None:
        self._copy(device_ptr, host_ptr, nbytes, HOST_TO_DEVICE, stream)

    def memcpy_dtoh_async(self, host_ptr: int, device_ptr: int, nbytes: int, stream: int) -> None:
        self._copy(host_ptr, device_ptr, nbytes, DEVICE_TO_HOST, stream)

    def _copy(self, dst: int, src: int, nbytes: int, kind: int, stream: int) -> None:
        status = self._lib.cudaMemcpyAsync(ctypes.c_void_p(dst), ctypes.c_void_p(src), ctypes.c_size_t(nbytes),
                                           ctypes.c_int(kind), ctypes.c_void_p(stream))
        self._check(status, "cudaMemcpyAsync")


def load_shared_library(names: tuple[str, ...], what: str) -> Any:
    """The first of ``names`` that ``ctypes`` can load (bare names go through ``find_library``).

    Raises ``OSError`` naming ``what`` and the last loader errors. Shared with
    ``mottrack_export.cuda_memory`` (libcudart and libcuda for engine building).
    """
    errors = []
    for name in names:
        path = name if name.startswith("lib") else ctypes.util.find_library(name)
        if not path:
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            errors.append(str(exc))
    raise OSError(f"{what} not found (" + ("; ".join(errors[-2:]) or "no candidate") + ")")


def _load_cudart() -> Any:
    return load_shared_library(_CUDART_NAMES, "libcudart")


def _handle(value: Any) -> int:
    """An int from a cuda-python pointer / handle object (they define ``__int__``) or an int."""
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except TypeError:
        return int(value.getPtr())


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).split(b"\0", 1)[0].decode(errors="replace").strip()
    return str(value).strip()
