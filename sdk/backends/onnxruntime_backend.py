"""ONNX Runtime backend: ``.onnx`` exports on CPU, or on the CUDA / TensorRT execution providers.

The session uses 2 intra-op threads by default (the 2-core target machines; more threads only
contend with the rest of the pipeline), workers that spin only while a run is in progress on the CPU
(``OnnxRuntimeOptions.spinning``), sequential execution and every graph optimisation. Providers
default to what is installed, best first: TensorRT, CUDA, then CPU (always last, as the fallback for
nodes the others do not take). ``onnxruntime`` is imported in :meth:`OnnxRuntimeBackend._load_impl`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mottrack_sdk.backends.base import MAX_THREADS, Backend, LoadedModelInfo, ModelLoadError, TensorSpec
from mottrack_sdk.backends.qdq_cpu import CPU_INT8_MODES
from mottrack_sdk.model_metadata import metadata_from_props

__all__ = ["OnnxRuntimeBackend", "OnnxRuntimeOptions", "PROVIDER_PREFERENCE", "SPINNING_MODES", "choose_providers",
           "resolve_spinning", "spinning_config"]

PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
SPINNING_MODES = ("auto", "in_run", "on", "off")
_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
               "all": "ORT_ENABLE_ALL"}
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
              "tensor(int8)": np.int8, "tensor(bool)": np.bool_}


@dataclass(frozen=True)
class OnnxRuntimeOptions:
    """Session settings.

    Attributes:
        providers: execution providers in priority order, e.g. ``("CPUExecutionProvider",)``;
            None = every installed one of :data:`PROVIDER_PREFERENCE`.
        intra_op_threads: threads inside one operator (0 = ONNX Runtime's choice: all physical cores).
        inter_op_threads: threads across operators (sequential execution uses 1).
        graph_optimization: ``disable`` | ``basic`` | ``extended`` | ``all``.
        device_id: GPU index for the CUDA / TensorRT providers.
        trt_engine_cache: folder where the TensorRT provider caches its engines (None: no cache, so
            every start rebuilds them, which takes minutes).
        log_severity: ONNX Runtime's log level (0 verbose .. 4 fatal).
        spinning: whether ONNX Runtime's worker threads spin-wait for work instead of sleeping.
            ``"in_run"``: only while a run is in progress (between its operators, a few hundred small
            ones in the shipped model: waking sleeping workers for each cost ~3 ms a frame on the
            2-core CPU), stopping the moment the run returns (``session.force_spinning_stop``), so the
            second core is free for the preprocessing, camera-motion estimate and association
            between two runs. ``"on"``: after each run too (ONNX Runtime's own default; the spinning
            worker then takes the core OpenCV needs between frames). ``"off"``: never (sleeping
            workers; the least CPU time). ``"auto"`` (default): ``"in_run"`` on the CPU provider,
            ``"off"`` with a CUDA / TensorRT provider (CPU workers would only spin while the GPU
            works). Measured with ``benchmarks/bench_ort_spinning.py`` (``benchmarks/README.md``).
            An ONNX Runtime without ``session.force_spinning_stop`` (the pinned 1.31.1 has it) ignores
            the key, as it does any unknown config key: ``"in_run"`` then behaves as ``"on"``. Several
            models running at the same time on the same cores (one tracker per camera) spin against
            each other: two streams on the 2-core CPU gave 29.0 FPS together with ``"in_run"``, 42.5
            with ``"off"`` and 49.7 with one intra-op thread each (``benchmarks/bench_streams.py``).
            Give each stream ``intra_op_threads`` = cores / streams.
        cpu_int8: how an INT8 QDQ model runs on the CPU provider (:mod:`mottrack_sdk.backends.qdq_cpu`):
            ``auto`` (``u8`` on CPUs with an int8 dot product, else ``float``), ``float`` (weights
            dequantized at load, float kernels), ``u8`` (uint8 activations, int8 kernels), ``u8_w7``
            (and 7-bit weights) or ``as_is`` (the file unchanged: int8 activations, ONNX Runtime fuses
            part of it). Never applied on the CUDA / TensorRT providers.
    """

    providers: tuple[str, ...] | None = None
    intra_op_threads: int = 2
    inter_op_threads: int = 1
    graph_optimization: str = "all"
    device_id: int = 0
    trt_engine_cache: Path | None = None
    log_severity: int = 3
    spinning: str = "auto"
    cpu_int8: str = "auto"

    def __post_init__(self) -> None:
        if self.spinning not in SPINNING_MODES:
            raise ValueError(f"OnnxRuntimeOptions.spinning: expected one of {list(SPINNING_MODES)}, "
                             f"got {self.spinning!r}")
        if self.cpu_int8 not in CPU_INT8_MODES:
            raise ValueError(f"cpu_int8 must be one of {CPU_INT8_MODES}, got {self.cpu_int8!r}")
        if self.graph_optimization not in _OPT_LEVELS:
            raise ValueError(f"graph_optimization must be one of {sorted(_OPT_LEVELS)}, "
                             f"got {self.graph_optimization!r}")
        if not (0 <= self.intra_op_threads <= MAX_THREADS and 0 <= self.inter_op_threads <= MAX_THREADS):
            raise ValueError(f"thread counts must be 0 (ONNX Runtime's default) to {MAX_THREADS}, got intra "
                             f"{self.intra_op_threads}, inter {self.inter_op_threads}")
        if self.providers is not None:
            object.__setattr__(self, "providers", tuple(self.providers))
            if not self.providers:
                raise ValueError("providers: give at least one, e.g. ('CPUExecutionProvider',), or None for auto")


def resolve_spinning(spinning: str, providers: list[str]) -> str:
    """``OnnxRuntimeOptions.spinning`` on ``providers``: ``"auto"`` -> ``"in_run"`` (CPU only) or ``"off"``."""
    if spinning == "auto":
        return "in_run" if providers == ["CPUExecutionProvider"] else "off"
    return spinning


def spinning_config(spinning: str, providers: list[str]) -> dict[str, str]:
    """ONNX Runtime session config entries for ``OnnxRuntimeOptions.spinning`` on ``providers``."""
    spinning = resolve_spinning(spinning, providers)
    spin = "0" if spinning == "off" else "1"
    config = {"session.intra_op.allow_spinning": spin, "session.inter_op.allow_spinning": spin}
    if spinning == "in_run":
        config["session.force_spinning_stop"] = "1"  # workers stop spinning when the run returns
    return config


def choose_providers(requested: tuple[str, ...] | None, available: list[str]) -> list[str]:
    """The providers to ask for: ``requested`` (each must be installed) or the installed preferred ones."""
    if requested is None:
        chosen = [p for p in PROVIDER_PREFERENCE if p in available]
        return chosen or ["CPUExecutionProvider"]
    missing = [p for p in requested if p not in available]
    if missing:
        raise ValueError(f"execution provider(s) {missing} are not installed here; installed: {available} "
                         "(CUDA / TensorRT providers need the onnxruntime-gpu package)")
    return list(requested)


class OnnxRuntimeBackend(Backend):
    """Runs a mottrack ``.onnx`` export (fp32, fp16 or int8 QDQ) with ONNX Runtime."""

    name = "onnxruntime"

    def __init__(self, model: str | Path, options: OnnxRuntimeOptions | None = None) -> None:
        super().__init__(model)
        self.options = options or OnnxRuntimeOptions()
        self._session: Any = None
        self._output_names: list[str] = []
        self.cpu_int8_rewrite: Any = None  # qdq_cpu.CpuInt8Rewrite when the file was adapted for the CPU
        self.spinning_mode = ""  # the resolved OnnxRuntimeOptions.spinning of the loaded session

    def _load_impl(self) -> LoadedModelInfo:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError(f"the onnxruntime backend needs ONNX Runtime: pip install onnxruntime "
                              f"(or onnxruntime-gpu for CUDA / TensorRT providers) ({exc})") from exc
        path, opts = Path(self.model), self.options
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = opts.intra_op_threads
        session_options.inter_op_num_threads = opts.inter_op_threads
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                                           _OPT_LEVELS[opts.graph_optimization])
        session_options.log_severity_level = opts.log_severity
        providers = choose_providers(opts.providers, ort.get_available_providers())
        self.spinning_mode = resolve_spinning(opts.spinning, providers)
        for key, value in spinning_config(self.spinning_mode, providers).items():
            session_options.add_session_config_entry(key, value)
        source: str | bytes = str(path)
        if providers == ["CPUExecutionProvider"] and opts.cpu_int8 != "as_is" and path.is_file():
            from mottrack_sdk.backends.qdq_cpu import adapt_int8_for_cpu

            source, self.cpu_int8_rewrite = adapt_int8_for_cpu(path, opts.cpu_int8)
            if isinstance(source, bytes):  # external data lies beside the file, not in the working directory
                session_options.add_session_config_entry(
                    "session.model_external_initializers_file_folder_path", str(path.resolve().parent))
        try:
            self._session = ort.InferenceSession(source, session_options, providers=self._with_options(providers))
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / NoSuchFile types
            raise ModelLoadError(f"{path}: not a loadable ONNX model ({' '.join(str(exc).split())[:300]})") from exc
        try:
            metadata = metadata_from_props(self._session.get_modelmeta().custom_metadata_map, where=str(path))
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
        inputs = tuple(_spec(i) for i in self._session.get_inputs())
        outputs = tuple(_spec(o) for o in self._session.get_outputs())
        check_model_io(path, metadata, inputs, outputs)
        self._output_names = [o.name for o in outputs]
        used = self._session.get_providers()
        first = used[0].replace("ExecutionProvider", "")
        device = "CPU" if first == "CPU" else f"{first}:{opts.device_id}"
        return LoadedModelInfo(inputs, outputs, metadata, device)

    def _with_options(self, providers: list[str]) -> list[Any]:
        opts, out = self.options, []
        for name in providers:
            if name == "CUDAExecutionProvider":
                out.append((name, {"device_id": str(opts.device_id)}))
            elif name == "TensorrtExecutionProvider":
                trt = {"device_id": str(opts.device_id)}
                if opts.trt_engine_cache is not None:
                    Path(opts.trt_engine_cache).mkdir(parents=True, exist_ok=True)
                    trt.update(trt_engine_cache_enable="True", trt_engine_cache_path=str(opts.trt_engine_cache))
                out.append((name, trt))
            else:
                out.append(name)
        return out

    def _infer_impl(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._output_names, self._session.run(self._output_names, dict(inputs))))

    def _close_impl(self) -> None:
        self._session = None

    @property
    def load_note(self) -> str:
        """The CPU INT8 adaptation made at load (if any) and the workers' spinning mode."""
        rewrite = self.cpu_int8_rewrite
        notes = [f"CPU int8: {rewrite.describe()}"] if rewrite is not None and rewrite.changed else []
        if self.spinning_mode:
            notes.append(f"spinning {self.spinning_mode}")
        return "; ".join(notes)

    @property
    def providers(self) -> list[str]:
        """The providers the session actually uses (after load)."""
        return list(self._session.get_providers()) if self._session is not None else []


def _spec(node: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in node.shape)
    return TensorSpec(node.name, shape, np.dtype(_ORT_TYPES.get(node.type, np.float32)))


def check_model_io(path: Path | str, metadata: Any, inputs: tuple[TensorSpec, ...],
                   outputs: tuple[TensorSpec, ...]) -> None:
    """The file's inputs/outputs must be what its metadata says (one image input, the named outputs)."""
    width, height = metadata.input_size
    expected_input = (1, 3, height, width)
    if [i.name for i in inputs] != [metadata.input_name]:
        raise ModelLoadError(f"{path}: the model's inputs are {[i.name for i in inputs]}, its metadata says "
                             f"[{metadata.input_name!r}]")
    if not inputs[0].accepts_shape(expected_input) or len(inputs[0].shape) != 4:
        raise ModelLoadError(f"{path}: input {inputs[0].describe()} does not take the metadata's input size "
                             f"{width}x{height} (expected [1, 3, {height}, {width}])")
    if tuple(o.name for o in outputs) != tuple(metadata.outputs):
        raise ModelLoadError(f"{path}: the model's outputs are {[o.name for o in outputs]}, its metadata says "
                             f"{list(metadata.outputs)}")
