"""TensorRT backend: a serialized engine run with TensorRT's name-based tensor API (8.5 through 11).

One code path for every supported version (deployment facts): ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3`` on one CUDA stream. Memory without PyTorch
(:mod:`.cuda_runtime`): pinned host buffers and device buffers with async copies, or on Jetson
(integrated GPU, shared memory) mapped pinned buffers that the GPU uses in place (zero-copy).

Before deserializing, the engine's sidecar (``<engine>.json``, written by ``mottrack export --format
engine``) is checked against this machine: TensorRT version, GPU name and input size; a mismatch is an
:class:`~mottrack_sdk.engine_sidecar.EngineMismatchError` naming both sides. The model metadata
(preprocessing, output layout) comes from, in order: ``TensorRTOptions.metadata_onnx``; the sidecar's
``model_metadata`` (written by ``mottrack export``); the ONNX the engine was built from beside it (``<stem>.onnx``,
accepted only if its SHA-256 is the sidecar's ``model_sha256``); else the engine's own tensors with the
exporter's default preprocessing (letterbox, pad 127.5), with a warning.

``tensorrt`` and CUDA are imported in ``_load_impl``; tests inject fakes through ``trt=`` / ``cuda=``.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mottrack_sdk.backends.base import Backend, LoadedModelInfo, ModelLoadError, TensorSpec
from mottrack_sdk.backends.cuda_runtime import CudaApi, host_array, is_jetson, load_cuda_runtime
from mottrack_sdk.engine_sidecar import (EngineSidecar, check_engine_sidecar, file_sha256, read_engine_sidecar,
                                         sidecar_path)
from mottrack_sdk.model_metadata import ModelMetadata, metadata_from_props

DEFAULT_PAD_VALUE = 127.5  # = mottrack_sdk.preprocessing.DEFAULT_PAD_VALUE (not imported: it loads OpenCV)

__all__ = ["TensorRTBackend", "TensorRTOptions", "metadata_from_engine_tensors"]

log = logging.getLogger(__name__)

TENSORRT_MISSING = ("the tensorrt backend needs TensorRT's Python bindings: on a Jetson install JetPack's "
                    "python3-libnvinfer (a virtualenv needs --system-site-packages); on an x86 GPU host "
                    "pip install 'mottrack-sdk[trt]'. Without a GPU, run the .onnx export on ONNX Runtime instead")


@dataclass(frozen=True)
class TensorRTOptions:
    """How an engine is opened.

    Attributes:
        device: CUDA device index.
        check_sidecar: refuse engines whose sidecar names another TensorRT, GPU or input size (and
            engines without a sidecar). Turn off only for engines built outside mottrack.
        verify_engine_hash: also check the engine file against the sidecar's SHA-256.
        zero_copy: mapped pinned memory shared by CPU and GPU; None = on Jetson only (on a discrete
            GPU it would make every kernel read over PCIe).
        metadata_onnx: the ONNX the engine was built from, to read the model metadata from.
        input_size: ``(width, height)`` the caller expects; an engine for another size is refused.
        cuda: ``auto`` | ``cuda-python`` | ``ctypes``: which CUDA runtime binding to use.
    """

    device: int = 0
    check_sidecar: bool = True
    verify_engine_hash: bool = True
    zero_copy: bool | None = None
    metadata_onnx: Path | None = None
    input_size: tuple[int, int] | None = None
    cuda: str = "auto"

    def __post_init__(self) -> None:
        if self.cuda not in ("auto", "cuda-python", "ctypes"):
            raise ValueError(f"cuda must be auto, cuda-python or ctypes, got {self.cuda!r}")
        if self.device < 0:
            raise ValueError(f"device must be >= 0, got {self.device}")


@dataclass
class _Binding:
    spec: TensorSpec
    nbytes: int
    host_ptr: int
    device_ptr: int
    host: np.ndarray


class TensorRTBackend(Backend):
    """Runs a TensorRT engine file (``.engine`` / ``.plan``) built by ``mottrack export --format engine``."""

    name = "tensorrt"

    def __init__(self, model: str | Path, options: TensorRTOptions | None = None, *, trt: Any = None,
                 cuda: CudaApi | None = None) -> None:
        super().__init__(model)
        self.options = options or TensorRTOptions()
        self._trt, self._cuda = trt, cuda
        self._objects: list[Any] = []  # logger, runtime, engine, context: kept alive, released in order
        self._context: Any = None
        self._stream = 0
        self._bindings: dict[str, _Binding] = {}
        self._input_name = ""
        self._output_names: tuple[str, ...] = ()
        self.zero_copy = False

    # ---- loading ---------------------------------------------------------------------------------
    def _load_impl(self) -> LoadedModelInfo:
        try:
            return self._open()
        except BaseException:
            if self._cuda is not None:
                self._close_impl()  # free whatever was allocated before the failure
            raise

    def _open(self) -> LoadedModelInfo:
        path, opts = Path(self.model), self.options
        trt = self._trt or _import_tensorrt()
        cuda = self._cuda or _cuda_runtime(opts.cuda)
        self._trt, self._cuda = trt, cuda
        cuda.set_device(opts.device)
        self.zero_copy = is_jetson() if opts.zero_copy is None else bool(opts.zero_copy)
        if self.zero_copy:
            cuda.enable_mapped_memory()
        gpu = cuda.device_name(opts.device)
        sidecar = self._sidecar(path, trt, gpu)
        metadata = self._metadata(path, sidecar)

        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            built = f" (its sidecar says TensorRT {sidecar.tensorrt_version} on {sidecar.gpu_name})" if sidecar else ""
            raise ModelLoadError(f"{path}: TensorRT {trt.__version__} on {gpu} cannot deserialize this engine{built}: "
                                 "rebuild it on this device with mottrack export --format engine")
        context = engine.create_execution_context()
        self._objects = [logger, runtime, engine, context]
        self._context = context
        inputs, outputs = self._tensors(trt, engine, context, metadata, path)
        if metadata is None:
            metadata = metadata_from_engine_tensors(inputs[0], outputs, sidecar)
            log.warning("%s: no model metadata found (no %s beside it, none in its sidecar); assuming the exporter's "
                        "defaults: letterbox, pad %.1f, %s layout", path, path.with_suffix(".onnx").name,
                        DEFAULT_PAD_VALUE, metadata.output_layout)
        if sidecar is not None and sidecar.precision != metadata.precision:
            metadata = dataclasses.replace(metadata, precision=sidecar.precision)  # e.g. FP16 flag on an fp32 ONNX
        self._check_io(path, metadata, inputs, outputs)
        self._stream = cuda.stream_create()
        for spec in inputs + outputs:
            self._bindings[spec.name] = self._allocate(spec)
            if not context.set_tensor_address(spec.name, self._bindings[spec.name].device_ptr):
                raise ModelLoadError(f"{path}: TensorRT refused the address of tensor {spec.name!r}")
        self._input_name = inputs[0].name
        self._output_names = tuple(metadata.outputs)
        by_name = {o.name: o for o in outputs}
        device = f"{gpu} (cuda:{opts.device}{', zero-copy' if self.zero_copy else ''}, {cuda.name})"
        return LoadedModelInfo(inputs, tuple(by_name[n] for n in self._output_names), metadata, device)

    def _sidecar(self, path: Path, trt: Any, gpu: str) -> EngineSidecar | None:
        opts = self.options
        if opts.check_sidecar:
            return check_engine_sidecar(path, tensorrt_version=str(trt.__version__), gpu_name=gpu,
                                        input_size=opts.input_size, verify_engine_hash=opts.verify_engine_hash)
        try:
            return read_engine_sidecar(path)
        except (FileNotFoundError, ValueError):
            return None

    def _metadata(self, path: Path, sidecar: EngineSidecar | None) -> ModelMetadata | None:
        """Model metadata from the sources in the module docstring, or None (derive from the engine)."""
        from mottrack_sdk.model_metadata import read_model_metadata

        if self.options.metadata_onnx is not None:
            return read_model_metadata(self.options.metadata_onnx)
        if sidecar is not None and sidecar.model_metadata:
            return metadata_from_props(sidecar.model_metadata, where=str(sidecar_path(path)))
        onnx = path.with_suffix(".onnx")
        if onnx.is_file() and (sidecar is None or file_sha256(onnx) == sidecar.model_sha256):
            try:
                return read_model_metadata(onnx)
            except ImportError:  # no onnxruntime on this device to read it
                return None
        return None

    def _tensors(self, trt: Any, engine: Any, context: Any, metadata: ModelMetadata | None,
                 path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        inputs, outputs = [], []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                if any(d < 0 for d in shape):  # dynamic: fix it to the metadata's (or the sidecar's) size
                    if metadata is None:
                        raise ModelLoadError(f"{path}: input {name!r} has dynamic shape {shape} and no metadata says "
                                             "which size to use; pass TensorRTOptions(metadata_onnx=...)")
                    width, height = metadata.input_size
                    shape = (1, 3, height, width)
                    if not context.set_input_shape(name, shape):
                        raise ModelLoadError(f"{path}: the engine's profile does not take input {name} {shape}")
                inputs.append(TensorSpec(name, shape, dtype))
            else:
                outputs.append((name, dtype))
        if len(inputs) != 1:
            raise ModelLoadError(f"{path}: expected one image input, the engine has {[s.name for s in inputs]}")
        specs = tuple(TensorSpec(n, tuple(int(d) for d in context.get_tensor_shape(n)), dt) for n, dt in outputs)
        return tuple(inputs), specs

    @staticmethod
    def _check_io(path: Path, metadata: ModelMetadata, inputs: tuple[TensorSpec, ...],
                  outputs: tuple[TensorSpec, ...]) -> None:
        width, height = metadata.input_size
        if inputs[0].name != metadata.input_name or tuple(inputs[0].shape) != (1, 3, height, width):
            raise ModelLoadError(f"{path}: engine input {inputs[0].describe()}, but the model metadata expects "
                                 f"{metadata.input_name} [1, 3, {height}, {width}] (engine built for another size?)")
        if sorted(o.name for o in outputs) != sorted(metadata.outputs):
            raise ModelLoadError(f"{path}: engine outputs {sorted(o.name for o in outputs)}, the model metadata "
                                 f"expects {sorted(metadata.outputs)}")

    def _allocate(self, spec: TensorSpec) -> _Binding:
        cuda = self._cuda
        shape = tuple(int(d) for d in spec.shape)
        nbytes = max(1, int(np.prod(shape, dtype=np.int64)) * spec.dtype.itemsize)
        host_ptr = cuda.host_alloc(nbytes, mapped=self.zero_copy)
        device_ptr = cuda.host_device_pointer(host_ptr) if self.zero_copy else cuda.malloc(nbytes)
        return _Binding(spec, nbytes, host_ptr, device_ptr, host_array(host_ptr, shape, spec.dtype))

    # ---- running ---------------------------------------------------------------------------------
    def _infer_impl(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        cuda, stream = self._cuda, self._stream
        binding = self._bindings[self._input_name]
        np.copyto(binding.host, inputs[self._input_name])
        if not self.zero_copy:
            cuda.memcpy_htod_async(binding.device_ptr, binding.host_ptr, binding.nbytes, stream)
        if not self._context.execute_async_v3(stream):
            raise RuntimeError(f"{self.model}: TensorRT execute_async_v3 failed (see the TensorRT log)")
        if not self.zero_copy:
            for name in self._output_names:
                out = self._bindings[name]
                cuda.memcpy_dtoh_async(out.host_ptr, out.device_ptr, out.nbytes, stream)
        cuda.stream_synchronize(stream)
        # copies: the pinned buffers are overwritten by the next frame
        return {name: self._bindings[name].host.copy() for name in self._output_names}

    def _close_impl(self) -> None:
        cuda = self._cuda
        if self._stream:
            cuda.stream_synchronize(self._stream)
        for binding in self._bindings.values():
            binding.host = np.empty(0)  # drop the view before freeing its memory
            if not self.zero_copy:
                cuda.free(binding.device_ptr)
            cuda.free_host(binding.host_ptr)
        self._bindings.clear()
        if self._stream:
            cuda.stream_destroy(self._stream)
            self._stream = 0
        self._context = None
        while self._objects:  # context, engine, runtime, logger: reverse order of creation
            self._objects.pop()


def metadata_from_engine_tensors(image: TensorSpec, outputs: tuple[TensorSpec, ...],
                                 sidecar: EngineSidecar | None) -> ModelMetadata:
    """Metadata implied by the engine's tensors when no ONNX or sidecar metadata exists (default preprocessing)."""
    from mottrack_sdk import __version__

    by_name = {o.name: o for o in outputs}
    _, _, height, width = (int(d) for d in image.shape)
    if {"boxes", "scores", "embeddings", "count"} <= set(by_name):
        layout, names = "nms", ("boxes", "scores", "embeddings", "count")
        dim, max_det, stride, nc = int(by_name["embeddings"].shape[-1]), int(by_name["boxes"].shape[0]), 8, 1
    elif {"predictions", "embedding_map"} <= set(by_name):
        layout, names, max_det = "raw_heads", ("predictions", "embedding_map"), None
        emb = by_name["embedding_map"].shape
        dim, stride, nc = int(emb[1]), max(1, height // int(emb[2])), int(by_name["predictions"].shape[-1]) - 4
    else:
        raise ModelLoadError(f"engine outputs {sorted(by_name)} are neither the nms nor the raw_heads layout")
    tail = {"score_threshold": 0.1, "iou_threshold": 0.6, "top_k": 1000, "max_det": max_det} if layout == "nms" else {}
    return ModelMetadata(
        model_name="unknown", project_version=__version__, precision=sidecar.precision if sidecar else "fp32",
        input_name=image.name, input_size=(width, height), input_format="NCHW RGB float32 0..1",
        resize_mode="letterbox", pad_value=DEFAULT_PAD_VALUE, strides=(8, 16, 32), anchors=(), num_classes=nc,
        embedding_dim=dim, embedding_stride=stride, output_layout=layout, outputs=names, opset=0,
        weights_sha256="unknown", **tail)


def _import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as exc:
        raise ImportError(f"{TENSORRT_MISSING} ({exc})") from exc
    return tensorrt


def _cuda_runtime(prefer: str) -> CudaApi:
    return load_cuda_runtime("auto" if prefer == "auto" else prefer)
