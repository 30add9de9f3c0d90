"""PyTorch backend: a TorchScript file or an in-memory ``torch.nn.Module`` (torch imported lazily).

The runtime never imports ``mottrack_training``; the network reaches this backend in one of two ways:

1. a TorchScript file written by :func:`save_torchscript`, which stores the model's
   :class:`~mottrack_sdk.model_metadata.ModelMetadata` inside the archive (``mottrack_metadata.json``);
2. a ``torch.nn.Module`` the caller built (e.g. ``mottrack_training.engine.release.load_packaged_model``
   for packaged weights, or ``mottrack_export.TorchModelFromWeights(path)().model`` for a training
   checkpoint), with metadata given in :class:`TorchOptions` or derived from the network's attributes
   (``strides``, ``anchors``, ``num_classes``, ``embedding_dim``, ``embedding_strides``) by
   :func:`metadata_for_network`.

The module's ``forward(images)`` must return the outputs of one layout: ``(predictions [1, N, 4 + nc],
embedding_map [1, E, h, w])`` (``raw_heads``: CSTrack in eval mode does exactly this; host NMS
follows) or ``(boxes, scores, embeddings, count)`` (``nms``).

**A TorchScript file is a program, not data**: ``torch.jit.load`` runs the code inside it (its
``forward`` can do anything Python or TorchScript can, e.g. open files or sockets). Load only
TorchScript files you trust as you would trust a script; for models from elsewhere use ONNX
(``mottrack export``) or weights read with ``torch.load(weights_only=True)`` (what
``mottrack_training`` and ``mottrack export`` do) into a network you build.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mottrack_sdk.backends.base import MAX_THREADS, Backend, LoadedModelInfo, ModelLoadError, TensorSpec
from mottrack_sdk.model_metadata import ModelMetadata, metadata_from_props

DEFAULT_PAD_VALUE = 127.5  # = mottrack_sdk.preprocessing.DEFAULT_PAD_VALUE (not imported: it loads OpenCV)

__all__ = ["METADATA_FILE", "TorchBackend", "TorchOptions", "metadata_for_network", "save_torchscript"]

METADATA_FILE = "mottrack_metadata.json"  # inside the TorchScript archive (torch.jit ``_extra_files``)
_LAYOUT_OUTPUTS = {2: ("raw_heads", ("predictions", "embedding_map")),
                   4: ("nms", ("boxes", "scores", "embeddings", "count"))}


@dataclass(frozen=True)
class TorchOptions:
    """How the PyTorch backend runs.

    Attributes:
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32`` or ``fp16`` (fp16 needs a CUDA device; inputs and outputs stay float32).
        threads: ``torch.set_num_threads`` for CPU inference (process-wide!); None leaves torch's setting.
        metadata: the model's metadata, for an ``nn.Module`` (overrides what the network implies).
        input_size: ``(width, height)`` for metadata derived from the network (default 1088x608).
    """

    device: str = "cpu"
    precision: str = "fp32"
    threads: int | None = None
    metadata: ModelMetadata | None = None
    input_size: tuple[int, int] = (1088, 608)

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16, got {self.precision!r}")
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            raise ValueError(f"fp16 needs a CUDA device (PyTorch FP16 on CPU is slow and partial), got device "
                             f"{self.device!r}")
        if self.threads is not None and not 1 <= self.threads <= MAX_THREADS:
            raise ValueError(f"threads must be 1 to {MAX_THREADS} or None, got {self.threads}")


def metadata_for_network(network: Any, input_size: tuple[int, int] = (1088, 608), output_layout: str = "raw_heads",
                         resize_mode: str = "letterbox", pad_value: float = DEFAULT_PAD_VALUE,
                         model_name: str | None = None) -> ModelMetadata:
    """Metadata of a CSTrack network object, read from its attributes (no training import)."""
    from mottrack_sdk import __version__

    try:
        strides = tuple(int(s) for s in network.strides)
        anchors = tuple(tuple((float(w), float(h)) for w, h in level) for level in network.anchors.tolist())
        embedding_stride = int(network.embedding_strides[0])
        num_classes, embedding_dim = int(network.num_classes), int(network.embedding_dim)
    except AttributeError as exc:
        raise ValueError(f"cannot derive model metadata from {type(network).__name__} ({exc}); pass "
                         "TorchOptions(metadata=ModelMetadata(...))") from None
    name = model_name or getattr(getattr(network, "config", None), "name", None) or type(network).__name__.lower()
    return ModelMetadata(
        model_name=str(name), project_version=__version__, precision="fp32", input_name="images",
        input_size=(int(input_size[0]), int(input_size[1])), input_format="NCHW RGB float32 0..1",
        resize_mode=resize_mode,
        pad_value=float(pad_value), strides=strides, anchors=anchors, num_classes=num_classes,
        embedding_dim=embedding_dim, embedding_stride=embedding_stride, output_layout=output_layout,
        outputs=_LAYOUT_OUTPUTS[2 if output_layout == "raw_heads" else 4][1], opset=0, weights_sha256="in-memory")


def save_torchscript(module: Any, path: str | Path, metadata: ModelMetadata) -> Path:
    """Trace ``module`` at the metadata's input size and save it (atomically) with the metadata inside.

    ``module(images)`` must return the outputs ``metadata.output_layout`` names (CSTrack in eval mode:
    ``raw_heads``). Returns the path.
    """
    import torch

    from mottrack_sdk.io import atomic_path

    width, height = metadata.input_size
    module = module.eval()
    example = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about static shapes; jit.save's deprecation notice
        traced = torch.jit.trace(module, (example,), check_trace=False, strict=False)
        with atomic_path(path, suffix=".torchscript") as tmp:
            torch.jit.save(traced, str(tmp), _extra_files={METADATA_FILE: json.dumps(metadata.to_props())})
    return Path(path)


def _numpy_dtype(tensor: Any) -> np.dtype:
    """The dtype ``infer`` returns for this tensor (floating outputs come back as float32)."""
    if tensor.is_floating_point():
        return np.dtype(np.float32)
    return np.dtype(str(tensor.dtype).replace("torch.", ""))


class TorchBackend(Backend):
    """Runs a TorchScript file or an ``nn.Module`` with PyTorch (outputs copied back to float32 numpy)."""

    name = "torch"

    def __init__(self, model: Any, options: TorchOptions | None = None) -> None:
        super().__init__(model)
        self.options = options or TorchOptions()
        self._torch: Any = None
        self._module: Any = None
        self._device: Any = None
        self._dtype: Any = None
        self._output_names: tuple[str, ...] = ()

    def _load_impl(self) -> LoadedModelInfo:
        try:
            import torch
        except ImportError as exc:
            raise ImportError(f"the torch backend needs PyTorch: pip install 'mottrack-sdk[train]' ({exc})") from exc
        self._torch, opts = torch, self.options
        if opts.threads is not None:
            torch.set_num_threads(opts.threads)
        if opts.device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"TorchOptions(device={opts.device!r}): this PyTorch has no CUDA device "
                                 f"(torch {torch.__version__}); use device='cpu'")
        if isinstance(self.model, (str, Path)):
            module, metadata = self._load_file(Path(self.model))
        else:
            module = self.model
            metadata = opts.metadata or metadata_for_network(module, opts.input_size)
            if opts.device != "cpu" or opts.precision != "fp32":  # .to() is in place: leave the caller's module
                import copy

                module = copy.deepcopy(module)
        self._device = torch.device(opts.device)
        self._dtype = torch.float16 if opts.precision == "fp16" else torch.float32
        self._module = module.eval().to(self._device, self._dtype)
        default_names = _LAYOUT_OUTPUTS[2 if metadata.output_layout == "raw_heads" else 4][1]
        self._output_names = tuple(metadata.outputs) or default_names
        if opts.precision == "fp16":
            import dataclasses

            metadata = dataclasses.replace(metadata, precision="fp16")
        width, height = metadata.input_size
        inputs = (TensorSpec(metadata.input_name, (1, 3, height, width), np.dtype(np.float32)),)
        probe = self._probe(inputs[0], metadata)
        outputs = tuple(TensorSpec(n, tuple(int(d) for d in t.shape), _numpy_dtype(t))
                        for n, t in zip(self._output_names, probe))
        return LoadedModelInfo(inputs, outputs, metadata, str(self._device).upper())

    def _load_file(self, path: Path) -> tuple[Any, ModelMetadata]:
        torch = self._torch
        extra = {METADATA_FILE: ""}  # TorchScript is code: the caller trusts this file (module docstring)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still supported
                module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except Exception as exc:  # torch raises RuntimeError for pickled checkpoints and foreign files
            raise ModelLoadError(
                f"{path}: not a TorchScript model ({str(exc).splitlines()[0][:120]}). The runtime does not import "
                "training code: convert a checkpoint with mottrack_sdk.backends.torch_backend.save_torchscript("
                "network, path, metadata), export ONNX with `mottrack export`, or pass the torch.nn.Module itself "
                "as Tracker(model=network)") from None
        if not extra[METADATA_FILE]:
            raise ModelLoadError(f"{path}: TorchScript without mottrack metadata ({METADATA_FILE}); save it with "
                                 "save_torchscript(module, path, metadata)")
        try:
            metadata = metadata_from_props(json.loads(extra[METADATA_FILE]), where=str(path))
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
        return module, metadata

    def _probe(self, image: TensorSpec, metadata: ModelMetadata) -> tuple[Any, ...]:
        """One zero-input run: the module must return the metadata's outputs (count); returns them."""
        outputs = self._run(np.zeros(image.shape, np.float32))  # type: ignore[arg-type]
        if len(outputs) != len(self._output_names):
            raise ModelLoadError(f"{self.model!s:.80}: forward returned {len(outputs)} outputs, the metadata "
                                 f"({metadata.output_layout}) expects {list(self._output_names)}")
        return outputs

    def _run(self, images: np.ndarray) -> tuple[Any, ...]:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(images).to(self._device, self._dtype)
            out = self._module(x)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    def _infer_impl(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self._run(next(iter(inputs.values())))
        result = {}
        for name, tensor in zip(self._output_names, outputs):
            tensor = tensor.detach()
            if tensor.is_floating_point() and tensor.dtype != self._torch.float32:
                tensor = tensor.float()
            result[name] = tensor.cpu().numpy()
        return result

    def _close_impl(self) -> None:
        self._module = None
        if self._device is not None and self._device.type == "cuda":
            self._torch.cuda.empty_cache()
