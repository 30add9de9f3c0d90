"""The one inference-backend interface: ``load`` / ``infer(dict) -> dict`` / ``close``, with specs.

:class:`Backend` owns the lifecycle (load once, refuse to run closed), the input checks (every error
names the input and the expected shape and dtype) and the timing of ``infer``; a backend overrides
only ``_load_impl`` (returning its specs and the model's metadata), ``_infer_impl`` and
``_close_impl``. Heavy libraries (onnxruntime, tensorrt, torch) are imported inside ``_load_impl``,
so importing any backend module costs nothing. Outputs are plain numpy arrays keyed by output name,
in the layout the model's metadata declares (``nms`` or ``raw_heads``; see
:mod:`mottrack_sdk.model_metadata`).
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from mottrack_sdk.model_metadata import ModelMetadata

__all__ = ["Backend", "BackendState", "LoadedModelInfo", "MAX_THREADS", "ModelLoadError", "TensorSpec"]

# CPU threads any backend, calibration or training run may be given: far above any machine's cores, far
# below a typo's 10**9 (which ONNX Runtime met with std::bad_alloc, reported as "not a loadable model").
MAX_THREADS = 1024


class ModelLoadError(ValueError):
    """A model file cannot be used by a backend: unreadable, foreign, or built for another device.

    The message names the file and both sides of any mismatch (found vs expected).
    """


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and dtype of one model input or output.

    ``shape`` holds ``None`` for a dimension the model leaves symbolic (e.g. ONNX Runtime reports the
    NMS outputs' ``max_det`` as a symbol).
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} [{dims}] {np.dtype(self.dtype).name}"

    def accepts_shape(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.shape) and all(e is None or e == s for e, s in zip(self.shape, shape))


@dataclass(frozen=True)
class LoadedModelInfo:
    """What ``_load_impl`` reports: the model's IO specs, its metadata and where it runs."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: ModelMetadata
    device: str  # e.g. "CPU", "CUDA:0", "Orin (zero-copy)"


class BackendState:
    NEW, LOADED, CLOSED = "new", "loaded", "closed"


class Backend(ABC):
    """Runs one exported mottrack model. Use as ``with backend: outputs = backend.infer({...})``.

    Subclasses set :attr:`name` (the registry name) and implement the three ``_impl`` methods.

    Attributes:
        model: what was given to load (a path, or an in-memory object for the torch backend).
        last_infer_ms: wall time of the latest ``infer`` (checks included), milliseconds.
    """

    name: ClassVar[str] = "backend"

    def __init__(self, model: str | Path | Any) -> None:
        self.model = model
        self.last_infer_ms = 0.0
        self._state = BackendState.NEW
        self._info: LoadedModelInfo | None = None
        self._input_by_name: dict[str, TensorSpec] = {}

    # ---- lifecycle -------------------------------------------------------------------------------
    def load(self) -> "Backend":
        """Load the model (once; a second call is a no-op). Returns ``self``.

        Raises:
            FileNotFoundError: the model file does not exist.
            ModelLoadError: unreadable model, or one built for another runtime version, device or size.
            ImportError: the backend's library is not installed (the message says how to get it).
            RuntimeError: ``load`` after ``close``.
        """
        if self._state == BackendState.LOADED:
            return self
        if self._state == BackendState.CLOSED:
            raise RuntimeError(f"{self.name} backend: load() after close(); create a new backend")
        if isinstance(self.model, (str, Path)):
            from mottrack_sdk.io.path_components import check_model_file

            try:
                check_model_file(self.model, str(self.model))
            except ValueError as exc:  # a folder or a FIFO (a missing file stays FileNotFoundError)
                raise ModelLoadError(str(exc)) from None
        info = self._load_impl()
        self._info = info
        self._input_by_name = {spec.name: spec for spec in info.inputs}
        self._state = BackendState.LOADED
        return self

    def close(self) -> None:
        """Release the model and any device memory. Idempotent; ``infer`` afterwards raises."""
        if self._state == BackendState.LOADED:
            try:
                self._close_impl()
            finally:
                self._info = None
        self._state = BackendState.CLOSED

    def __enter__(self) -> "Backend":
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_loaded(self) -> bool:
        return self._state == BackendState.LOADED

    # ---- what the model is -----------------------------------------------------------------------
    @property
    def info(self) -> LoadedModelInfo:
        if self._info is None:
            raise RuntimeError(f"{self.name} backend is {self._state}: call load() first (or use `with backend:`)")
        return self._info

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        return self.info.inputs

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        return self.info.outputs

    @property
    def metadata(self) -> ModelMetadata:
        return self.info.metadata

    @property
    def precision(self) -> str:
        """``fp32`` | ``fp16`` | ``int8``: what the model file computes in (from its metadata)."""
        return self.info.metadata.precision

    @property
    def device(self) -> str:
        return self.info.device

    @property
    def load_note(self) -> str:
        """What loading changed in the model for this device (e.g. the CPU INT8 adaptation); "" if nothing."""
        return ""

    # ---- running ---------------------------------------------------------------------------------
    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model once.

        Args:
            inputs: input name -> array of exactly the input's shape and dtype (``input_specs``).

        Returns:
            output name -> numpy array, for every output of ``output_specs``, in that order.

        Raises:
            ValueError: a missing or unknown input, or a wrong shape or dtype (naming the input and
                what it expects).
            RuntimeError: the backend is not loaded or already closed.
        """
        start = time.perf_counter()
        if self._state != BackendState.LOADED:
            raise RuntimeError(f"{self.name} backend is {self._state}: call load() before infer() "
                               "(or use `with backend:`)")
        self._check_inputs(inputs)
        outputs = self._infer_impl(inputs)
        self.last_infer_ms = (time.perf_counter() - start) * 1e3
        return outputs

    def _check_inputs(self, inputs: Mapping[str, np.ndarray]) -> None:
        if not isinstance(inputs, Mapping):
            raise ValueError(f"{self.name} backend: inputs must be a dict of name -> array, "
                             f"got {type(inputs).__name__}")
        expected = self._input_by_name
        unknown = sorted(set(inputs) - set(expected))
        if unknown:
            raise ValueError(f"{self.name} backend: unknown input(s) {unknown}; the model takes "
                             + ", ".join(s.describe() for s in expected.values()))
        for name, spec in expected.items():
            if name not in inputs:
                raise ValueError(f"{self.name} backend: input {spec.describe()} is missing")
            value = inputs[name]
            if not isinstance(value, np.ndarray):
                raise ValueError(f"input {name!r}: expected a numpy array {spec.describe()}, "
                                 f"got {type(value).__name__}")
            if value.dtype != spec.dtype:
                raise ValueError(f"input {name!r}: expected dtype {np.dtype(spec.dtype).name}, got {value.dtype} "
                                 f"(shape {tuple(value.shape)}; the model takes {spec.describe()})")
            if not spec.accepts_shape(tuple(value.shape)):
                raise ValueError(f"input {name!r}: expected shape {_shape_text(spec.shape)}, got "
                                 f"{_shape_text(value.shape)} (the model takes {spec.describe()})")

    # ---- what a backend implements ---------------------------------------------------------------
    @abstractmethod
    def _load_impl(self) -> LoadedModelInfo:
        """Open the model; return its specs, metadata and device. Import heavy libraries here."""

    @abstractmethod
    def _infer_impl(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on checked inputs; return every output as a numpy array the caller may keep."""

    def _close_impl(self) -> None:
        """Free resources (default: nothing)."""

    def __repr__(self) -> str:
        where = f", device={self._info.device!r}" if self._info else ""
        return f"{type(self).__name__}({str(self.model)[:80]!r}, state={self._state}{where})"


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
