"""Minimal CUDA access without PyTorch: device buffers for the INT8 calibrator and the GPU's identity.

Jetson images have no PyTorch on the target; ``cuda-python`` may be absent too. Like Polygraphy, this
talks to ``libcudart`` (runtime: malloc / memcpy / free) and ``libcuda`` (driver: device name and
compute capability) through ``ctypes``. Everything is loaded on first use; importing this module
needs no CUDA. The :class:`DeviceAllocator` protocol lets tests pass a fake.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mottrack_sdk.backends.cuda_runtime import load_shared_library

__all__ = ["CudaRuntime", "DeviceAllocator", "GpuInfo", "gpu_info"]

_CUDART_NAMES = ("cudart", "libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0")
_CUDA_MEMCPY_HOST_TO_DEVICE = 1
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


class DeviceAllocator(Protocol):
    """What the calibrator needs from CUDA: device pointers as ints."""

    def malloc(self, nbytes: int) -> int: ...

    def memcpy_htod(self, device_ptr: int, host: np.ndarray) -> None: ...

    def free(self, device_ptr: int) -> None: ...


@dataclass(frozen=True)
class GpuInfo:
    """Device 0 as the driver names it, e.g. ``("Orin", "8.7")``."""

    name: str
    compute_capability: str


def _load(names: tuple[str, ...], what: str) -> ctypes.CDLL:
    try:
        return load_shared_library(names, what)
    except OSError as exc:
        raise RuntimeError(f"cannot load {exc}: is the CUDA runtime installed?") from exc


class CudaRuntime:
    """``cudaMalloc`` / ``cudaMemcpy`` / ``cudaFree`` through ctypes (implements :class:`DeviceAllocator`)."""

    def __init__(self) -> None:
        self._lib = _load(_CUDART_NAMES, "libcudart")
        self._lib.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
        self._lib.cudaMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self._lib.cudaFree.argtypes = [ctypes.c_void_p]

    def _check(self, status: int, call: str) -> None:
        if status != 0:
            self._lib.cudaGetErrorString.restype = ctypes.c_char_p
            message = self._lib.cudaGetErrorString(status).decode(errors="replace")
            raise RuntimeError(f"{call} failed: CUDA error {status} ({message})")

    def malloc(self, nbytes: int) -> int:
        ptr = ctypes.c_void_p()
        self._check(self._lib.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(nbytes)), "cudaMalloc")
        return int(ptr.value or 0)

    def memcpy_htod(self, device_ptr: int, host: np.ndarray) -> None:
        host = np.ascontiguousarray(host)
        self._check(self._lib.cudaMemcpy(ctypes.c_void_p(device_ptr), host.ctypes.data_as(ctypes.c_void_p),
                                         ctypes.c_size_t(host.nbytes), _CUDA_MEMCPY_HOST_TO_DEVICE), "cudaMemcpy")

    def free(self, device_ptr: int) -> None:
        self._check(self._lib.cudaFree(ctypes.c_void_p(device_ptr)), "cudaFree")


def gpu_info(device: int = 0) -> GpuInfo:
    """Name and compute capability of ``device`` from the CUDA driver (``libcuda``)."""
    lib = _load(("cuda", "libcuda.so", "libcuda.so.1"), "libcuda (the NVIDIA driver)")
    for call, status in (("cuInit", lib.cuInit(0)),):
        if status != 0:
            raise RuntimeError(f"{call} failed with CUDA driver error {status}")
    handle = ctypes.c_int()
    if lib.cuDeviceGet(ctypes.byref(handle), device) != 0:
        raise RuntimeError(f"no CUDA device {device}")
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGetName(name, 256, handle)
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.cuDeviceGetAttribute(ctypes.byref(major), _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, handle)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, handle)
    return GpuInfo(name.value.decode(errors="replace").strip(), f"{major.value}.{minor.value}")
