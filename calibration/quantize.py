"""INT8: ONNX Runtime static quantization to a TensorRT-conformant QDQ model.

>>> reader = FrameCalibrationReader(open_frame_source("MOT17/train"), PreprocessingSpec.from_metadata(meta))
>>> quantize_int8("cstrack_s.onnx", "cstrack_s_int8.onnx", reader, QuantizationOptions(method="entropy"))

Settings (deployment facts, "INT8"): ``QuantFormat.QDQ``, int8 activations and weights, per-channel
weights (Conv axis 0), symmetric activations (zero point 0), float bias, shared Q/DQ pairs;
``quant_pre_process`` first. Weights are stored quantized: int8 initializers feeding a
``DequantizeLinear`` (per-channel scales on axis 0 for Conv), which TensorRT (8.5-11) and ONNX Runtime
both take, so the file is about a quarter of FP32's size. ``QuantizationOptions(float_weights=True)``
writes the older layout instead: float weights behind a ``QuantizeLinear`` / ``DequantizeLinear`` pair
(``AddQDQPairToWeight``), as large as FP32 and computing exactly the same function. The file runs on
ONNX Runtime CPU and builds a TensorRT INT8 engine (8.x/10.x with the INT8 flag; 11.x as is).

By default the detect-head output convs, the decode/NMS tail and the embedding head's last conv stay
float (:mod:`.graph`). Ranges are collected in chunks (bounded memory for 500 frames at 1088x608)
and kept in a :class:`~mottrack_calibration.cache.CalibrationRangeCache` when one is given.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mottrack_calibration.cache import CalibrationRangeCache
from mottrack_calibration.graph import FloatRegions
from mottrack_sdk.backends.qdq_cpu import cpu_has_vnni  # re-exported: the runtime adapts INT8 files to it too

__all__ = ["CALIBRATION_METHODS", "QuantizationOptions", "QuantizationResult", "check_tensorrt_qdq", "cpu_has_vnni",
           "quantize_int8"]

log = logging.getLogger(__name__)
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
CHUNK_FRAMES = 4  # frames per range-collection pass: bounds the calibrator memory (all tensors of 4 frames)


@dataclass(frozen=True)
class QuantizationOptions:
    """Typed replacement for ONNX Runtime's ``extra_options`` strings (the ones this project uses).

    Attributes:
        method: ``minmax`` | ``entropy`` | ``percentile`` range calibration.
        percentile: for ``percentile`` (e.g. 99.999).
        activation_type: ``int8`` (S8S8, symmetric: TensorRT-conformant) or ``uint8`` (U8S8,
            asymmetric: an ONNX Runtime CPU experiment only, TensorRT rejects it).
        keep_heads_float: keep detect-head output convs, the tail and the embedding head's last layer float.
        keep_constant_matmul_float: keep MatMuls with a constant operand (REN pooling) float; per-channel
            weights on them would not be TensorRT-conformant.
        exclude_nodes: more node names to keep float.
        op_types: op types to quantize (None: ONNX Runtime's default set).
        dedicated_qdq_pair: one Q/DQ pair per consumer of a tensor instead of a shared one (the
            facts' TensorRT settings use shared pairs; ONNX Runtime CPU fuses fan-out inputs only with
            dedicated ones, see benchmarks/README.md).
        reduce_range: 7-bit weights. Still int8 with zero point 0 (TensorRT takes it, one bit of weight
            precision lost), but needed by ONNX Runtime on x86 CPUs without VNNI: there its int8 kernels
            multiply u8 x s8 pairs with 16-bit saturation (``vpmaddubsw``), and full-range weights
            saturate (measured here: 30x larger output error). See :func:`cpu_has_vnni`.
        float_weights: store weights as float behind a Q/DQ pair (the layout of files before int8 weight
            storage; ~4x larger, same function) instead of int8 initializers feeding a DequantizeLinear.
        depthwise_float: ``auto`` (on when the graph has a grouped convolution), ``on`` or ``off``. On: the
            depthwise (grouped) convolutions and the first convolution stay float and only Conv / MatMul are
            quantized, so the activations feeding those layers stay float too. Depthwise-separable
            networks with folded BatchNorm (YOLOX-nano) amplify per-tensor activation error through
            large per-channel depthwise gains: quantizing them lost every detection of CSTrack-nano here,
            while they hold under 10% of its multiply-adds.
        leading_float_convs: with ``depthwise_float`` on, how many convolutions from the input (graph
            order) stay float as well as the depthwise ones. 3 = YOLOX-nano's stem and first
            depthwise-separable block (stride 4, full-resolution activations with the widest
            per-tensor ranges): measured on the shipped CSTrack-nano, MOT17-mini AP50 45.3 with only
            the stem float, 52.8 with these three, at the same speed (``benchmarks/README.md``).
    """

    method: str = "entropy"
    percentile: float = 99.999
    activation_type: str = "int8"
    keep_heads_float: bool = True
    keep_constant_matmul_float: bool = True
    exclude_nodes: tuple[str, ...] = ()
    op_types: tuple[str, ...] | None = None
    reduce_range: bool = False
    dedicated_qdq_pair: bool = False
    float_weights: bool = False
    depthwise_float: str = "auto"
    leading_float_convs: int = 3

    def __post_init__(self) -> None:
        if self.depthwise_float not in ("auto", "on", "off"):
            raise ValueError(f"depthwise_float must be auto, on or off, got {self.depthwise_float!r}")
        if isinstance(self.leading_float_convs, bool) or not isinstance(self.leading_float_convs, int) \
                or not 0 <= self.leading_float_convs <= 1000:
            raise ValueError(f"leading_float_convs must be an integer in [0, 1000], got {self.leading_float_convs!r}")
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, got {self.method!r}")
        if not 90.0 <= self.percentile < 100.0:
            raise ValueError(f"percentile must be in [90, 100), got {self.percentile}")
        if self.activation_type not in ("int8", "uint8"):
            raise ValueError(f"activation_type must be int8 or uint8, got {self.activation_type!r}")

    @property
    def tensorrt_conformant(self) -> bool:
        return self.activation_type == "int8"

    def ort_extra_options(self) -> dict[str, Any]:
        symmetric = self.activation_type == "int8"
        return {"ActivationSymmetric": symmetric, "WeightSymmetric": True, "AddQDQPairToWeight": self.float_weights,
                "QuantizeBias": False, "DedicatedQDQPair": self.dedicated_qdq_pair,
                "QDQOpTypePerChannelSupportToAxis": {"Conv": 0, "ConvTranspose": 1},
                "CalibTensorRangeSymmetric": symmetric, "CalibPercentile": self.percentile}


def depthwise_and_first_convs(model: Any, leading: int = 1) -> list[str]:
    """Names of the grouped (depthwise) Conv nodes of an ``onnx.ModelProto``, preceded by its first
    ``leading`` Conv nodes in graph order (none of either when the graph has no grouped Conv)."""
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    grouped = [n.name for n in convs if any(a.name == "group" and a.i > 1 for a in n.attribute)]
    if not grouped:
        return []
    return list(dict.fromkeys([n.name for n in convs[:leading]] + grouped))


@dataclass(frozen=True)
class QuantizationResult:
    """The quantized file and what stayed float."""

    path: Path
    float_regions: FloatRegions | None
    excluded_nodes: tuple[str, ...]
    calibration_frames: int
    cache_hit: bool
    options: QuantizationOptions = field(default_factory=QuantizationOptions)


class _Chunk:
    """At most ``size`` items of a reader, as a CalibrationDataReader (ONNX Runtime reads until None)."""

    def __init__(self, items: Iterator[dict[str, Any]], size: int) -> None:
        self.items, self.left, self.count = items, size, 0

    def get_next(self) -> dict[str, Any] | None:
        if self.left <= 0:
            return None
        self.left -= 1
        item = next(self.items, None)
        self.count += item is not None
        return item


def _ort_method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


def _collect_ranges(model_path: Path, reader: Any, options: QuantizationOptions, op_types: list[str],
                    workdir: Path) -> tuple[Any, int]:
    """Run the calibrator over ``reader`` chunk by chunk; ``(TensorsData, frames seen)``."""
    from onnxruntime.quantization.calibrate import create_calibrator

    extra = options.ort_extra_options()
    calib_options = {"symmetric": extra["CalibTensorRangeSymmetric"]}
    if options.method == "percentile":
        calib_options["percentile"] = options.percentile
    calibrator = create_calibrator(model_path, op_types, augmented_model_path=str(workdir / "augmented.onnx"),
                                   calibrate_method=_ort_method(options.method), extra_options=calib_options)
    # Each collect_data call folds its chunk into the calibrator's ranges / histograms and frees the
    # outputs; one call over 500 frames would hold every intermediate tensor of every frame.
    # (ONNX Runtime's own max_intermediate_outputs drops data in 1.31, so it is not used.)
    items = iter(reader.get_next, None)
    seen = 0
    while True:
        chunk = _Chunk(items, CHUNK_FRAMES)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # ORT prints progress lines per chunk
                calibrator.collect_data(chunk)
        except ValueError as exc:  # "No data is collected.": an empty final chunk
            if "finite-sized bins" in str(exc):
                raise ValueError(f"{options.method} calibration cannot histogram an activation whose values are "
                                 "all (nearly) equal, e.g. an untrained attention softmax; use --method entropy or "
                                 "minmax") from exc
            if "No data" not in str(exc):
                raise
            if not seen:
                raise ValueError("calibration data yielded no frames") from exc
        seen += chunk.count
        if chunk.count < CHUNK_FRAMES:
            break
    with contextlib.redirect_stdout(io.StringIO()):
        return calibrator.compute_data(), seen


def _strip_tensors_data(tensors_data: Any) -> Any:
    """Only what the QDQ quantizer reads (ranges, avg/std): entropy histograms would bloat the cache."""
    from onnxruntime.quantization.calibrate import TensorData, TensorsData

    keep = ("lowest", "highest", "avg", "std")
    slim = {name: TensorData(**{k: getattr(v, k) for k in keep if hasattr(v, k)}) for name, v in tensors_data.items()}
    return TensorsData(tensors_data.calibration_method, slim)


def quantize_int8(model_path: str | Path, out_path: str | Path, reader: Any | None,
                  options: QuantizationOptions = QuantizationOptions(),
                  cache: CalibrationRangeCache | None = None) -> QuantizationResult:
    """Quantize ``model_path`` (FP32 mottrack export) to a QDQ INT8 model at ``out_path`` (atomic).

    ``reader`` is a CalibrationDataReader (may be None when ``cache`` holds the ranges). Raises
    ValueError for missing calibration data, a cache made for other settings, or a model that is not
    a mottrack export.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import TensorsData, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from mottrack_calibration.graph import constant_matmuls, ensure_node_names, find_float_regions, model_metadata_of
    from mottrack_calibration.model_io import load_onnx, save_with_metadata

    model_path, out_path = Path(model_path), Path(out_path)
    model = load_onnx(model_path)
    metadata = model_metadata_of(model)
    if metadata.precision != "fp32":
        raise ValueError(f"{model_path}: quantization starts from the FP32 export, this model is {metadata.precision}")
    op_types = list(options.op_types) if options.op_types else sorted(set(QLinearOpsRegistry) | set(QDQRegistry))
    with tempfile.TemporaryDirectory(prefix="mottrack-quant-") as tmp:
        workdir = Path(tmp)
        pre_path = workdir / "pre.onnx"
        quant_pre_process(model, str(pre_path))
        pre = onnx.load(str(pre_path))
        ensure_node_names(pre)
        onnx.save(pre, str(pre_path))
        regions = find_float_regions(pre, len(metadata.anchors[0]) * (5 + metadata.num_classes),
                                     metadata.embedding_dim) if options.keep_heads_float else None
        matmuls = constant_matmuls(pre) if options.keep_constant_matmul_float else []
        float_convs = (depthwise_and_first_convs(pre, options.leading_float_convs)
                       if options.depthwise_float != "off" else [])  # [] without grouped convolutions
        if float_convs and not options.op_types:
            op_types = ["Conv", "MatMul"]
        excluded = tuple(dict.fromkeys((regions.all() if regions else []) + matmuls + float_convs
                                       + list(options.exclude_nodes)))
        tensors_data, frames, hit = None, 0, False
        if cache is not None:
            stored = cache.load()
            if stored is not None:
                tensors_data, hit = TensorsData.from_dict(stored), True
                frames = int(getattr(cache, "info", {}).get("data", {}).get("frames", 0))
        if tensors_data is None:
            if reader is None:
                raise ValueError("INT8 quantization needs calibration data (--calib SOURCE) or a calibration cache")
            tensors_data, frames = _collect_ranges(pre_path, reader, options, op_types, workdir)
            tensors_data = _strip_tensors_data(tensors_data)
            if cache is not None:
                fingerprint = reader.fingerprint() if hasattr(reader, "fingerprint") else {"frames": frames}
                cache.save(tensors_data, {"data": fingerprint})
        ort_cache = workdir / "ranges.json"
        save_tensors_data(tensors_data, ort_cache)
        qtype = QuantType.QInt8 if options.activation_type == "int8" else QuantType.QUInt8
        q_path = workdir / "quantized.onnx"
        logging.getLogger("root").setLevel(logging.ERROR)  # ORT's pre-processing reminder
        quantize_static(str(pre_path), str(q_path), calibration_data_reader=None, quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=op_types, per_channel=True, reduce_range=options.reduce_range,
                        activation_type=qtype, weight_type=QuantType.QInt8, nodes_to_exclude=list(excluded),
                        calibrate_method=_ort_method(options.method), extra_options=options.ort_extra_options(),
                        calibration_cache_path=str(ort_cache))
        quantized = onnx.load(str(q_path))
        extra = {"quantization.method": options.method, "quantization.activation_type": options.activation_type,
                 "quantization.frames": str(frames), "quantization.float_nodes": str(len(excluded)),
                 "quantization.tensorrt_conformant": str(options.tensorrt_conformant).lower(),
                 "quantization.weights": "float_qdq" if options.float_weights else "int8"}
        save_with_metadata(quantized, out_path, metadata.with_precision("int8"), extra)
    if options.tensorrt_conformant:
        problems = check_tensorrt_qdq(onnx.load(str(out_path)))
        if problems:
            log.warning("%s: not TensorRT-conformant: %s", out_path, "; ".join(problems[:5]))
    return QuantizationResult(out_path, regions, excluded, frames, hit, options)


def check_tensorrt_qdq(model: Any) -> list[str]:
    """What in a QDQ model TensorRT would not take: non-int8 or non-zero zero points, non-constant scales,
    per-channel activations, Conv weights not per-channel on axis 0, per-channel non-Conv weights.
    Empty when conformant."""
    from onnx import TensorProto, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def is_weight(node: Any) -> bool:
        source = producer.get(node.input[0])
        return node.input[0] in inits or (source is not None and source.op_type == "QuantizeLinear"
                                          and source.input[0] in inits)

    problems = []
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        scale, zero = node.input[1], (node.input[2] if len(node.input) > 2 else "")
        if scale not in inits:
            problems.append(f"{node.name}: scale is not a constant")
            continue
        if zero and (zero not in inits or inits[zero].data_type != TensorProto.INT8
                     or numpy_helper.to_array(inits[zero]).any()):
            problems.append(f"{node.name}: zero point must be int8 zeros")
        per_channel = int(numpy_helper.to_array(inits[scale]).size) > 1
        if not per_channel:
            continue
        if not is_weight(node):
            problems.append(f"{node.name}: activation scale is not per-tensor")
            continue
        users = consumers.get(node.output[0], []) if node.op_type == "DequantizeLinear" else []
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if node.op_type == "DequantizeLinear" and any(u.op_type == "Conv" for u in users) and axis != 0:
            problems.append(f"{node.name}: Conv weight scales on axis {axis}, TensorRT wants 0")
        elif node.op_type == "DequantizeLinear" and any(u.op_type != "Conv" for u in users):
            problems.append(f"{node.name}: per-channel weights for {sorted({u.op_type for u in users})}")
    return problems
