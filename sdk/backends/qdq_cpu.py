"""Run a TensorRT-conformant INT8 QDQ model fast and accurately on ONNX Runtime's CPU provider.

The INT8 file the project ships (and TensorRT builds from) has symmetric **int8** activations and
full-range int8 weights. On x86 CPUs ONNX Runtime executes QDQ convolutions as ``QLinearConv`` with
**uint8** activations; it converts int8 pairs to uint8 only where a quantized tensor has a single
consumer, so in CSTrack-S 40 of 89 convolutions ran in float between ``DequantizeLinear`` and
``QuantizeLinear`` and INT8 was no faster than FP32. On CPUs without an int8 dot-product instruction
(VNNI; this VM's CPUID shows AVX2 only) the AVX2 kernel adds u8 x s8 products pairwise in saturating
16-bit lanes, so full-range weights overflow: the demo model at 1088x608 lost 60% of its FP32
detections. Both are fixed at load time, without the ``onnx`` package, by :func:`rewrite_qdq_for_cpu`
(modes ``u8`` and ``u8_w7``):

- **uint8 activations**: every activation Q/DQ group (a ``QuantizeLinear`` of a computed tensor and
  the ``DequantizeLinear`` nodes that read it) gets its int8 zero point ``z`` replaced by the uint8
  ``z + 128``. ``q_u8 = q_s8 + 128`` and ``(q_u8 - (z + 128)) * s = (q_s8 - z) * s``: the model
  computes the same function, and ONNX Runtime fuses all of it.
- **7-bit weights** (CPUs without VNNI), so that 2 x 255 x 64 < 2^15 never saturates (ONNX Runtime's
  ``reduce_range``). Both weight layouts are handled: int8 initializers feeding a ``DequantizeLinear``
  (what ``mottrack_calibration`` writes, a quarter of FP32's size) are requantized to
  ``round_half_even(q / 2)`` in [-64, 64] with the scale doubled; float weights behind a Q/DQ pair
  (older files) keep their values and get the pair's scale doubled, so ONNX Runtime quantizes them to
  [-64, 64] itself. Even levels give identical 7-bit weights in both layouts; an odd 8-bit level lies
  halfway between two 7-bit levels, where only the float file knows which one is nearer.
- **SiLU as one node**: ``Mul(x, Sigmoid(x))`` becomes ONNX Runtime's ``com.microsoft.QuickGelu``
  with ``alpha = 1`` (x·σ(x), the fusion ONNX Runtime makes itself in float graphs). In a QDQ graph
  it cannot: ``x`` is a ``DequantizeLinear`` output read twice, which ONNX Runtime duplicates before
  fusing, so every quantized YOLOX convolution paid two dequantizations, a sigmoid and a product.
  CSTrack-nano INT8 at 640x352: 104 SiLUs, outputs bit-identical, ~8% less inference time.

Mode ``float`` (what ``auto`` picks on CPUs without VNNI): every weight is dequantized at load (the
file's int8 values times their scales, so weight rounding stays what TensorRT will use) and every
activation Q/DQ pair is removed: ONNX Runtime then runs its float kernels. On such CPUs the int8 path
is the slower one: ``u8_w7`` still pays a dequantize / quantize around every float depthwise
convolution and an NHWC transpose around every ``QLinearConv``; on CSTrack-nano at 640x352 it took
25.7 ms against 23.0 ms in float (medians of ``mottrack bench`` runs, this 2-core AVX2 VM), and
7-bit weights cost accuracy (MOT17-mini AP50 53.4 vs 55.5). CPUs with VNNI (or ARM dot product) keep ``u8``; GPUs and TensorRT are never rewritten.

The model is edited on its protobuf wire format (:mod:`.onnx_wire`): initializers and fused nodes
are re-encoded, every other byte is copied. Models with external data, subgraphs, or zero points that
are not plain int8 initializers are left as they are for the affected groups (reported in the result).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mottrack_sdk.backends.onnx_wire import (FLOAT, GRAPH_INITIALIZER, GRAPH_NODE, INT8, MODEL_GRAPH, UINT8, Node,
                                             Tensor, encode_float_initializer, encode_node, encode_opset_import,
                                             encode_tensor, fields, graph_output_names, length_field,
                                             opset_domains, read_node, read_tensor, splice)
from mottrack_sdk.machine import cpu_info

__all__ = ["CPU_INT8_MODES", "CpuInt8Rewrite", "adapt_int8_for_cpu", "cpu_has_vnni", "rewrite_qdq_for_cpu"]

CPU_INT8_MODES = ("auto", "float", "u8", "u8_w7", "as_is")
MS_DOMAIN = "com.microsoft"


def cpu_has_vnni() -> bool:
    """Whether ONNX Runtime's u8s8 int8 kernels are exact on this CPU: it reports an int8 dot-product
    instruction (AVX-512 VNNI, AVX-VNNI, AMX, or ARM dotprod), or it is an ARM CPU without AVX2's
    saturating path. Read from ``/proc/cpuinfo`` flags (:func:`mottrack_sdk.machine.cpu_info`).
    Unknown platforms count as having it (no 7-bit-weight workaround)."""
    return cpu_info().int8_kernels_exact


@dataclass
class CpuInt8Rewrite:
    """What :func:`rewrite_qdq_for_cpu` changed: counts of zero points / scales / weights / fused SiLUs,
    and why not more."""

    activation_zero_points: int = 0
    weight_scales: int = 0
    int8_weights: int = 0
    silu_fused: int = 0
    float_weights: int = 0
    float_activations: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.activation_zero_points or self.weight_scales or self.int8_weights or self.silu_fused
                    or self.float_weights or self.float_activations)

    def describe(self) -> str:
        """e.g. ``uint8 activations (278 zero points), 7-bit weights (105 scales)``."""
        parts = []
        if self.float_weights or self.float_activations:
            parts.append(f"float compute ({self.float_weights} weights dequantized at load, "
                         f"{self.float_activations} activation Q/DQ removed)")
        if self.activation_zero_points:
            parts.append(f"uint8 activations ({self.activation_zero_points} zero points)")
        if self.weight_scales or self.int8_weights:
            parts.append(f"7-bit weights ({self.weight_scales + self.int8_weights} tensors)")
        if self.silu_fused:
            parts.append(f"{self.silu_fused} SiLUs as one node")
        return ", ".join(parts) or "unchanged"


def adapt_int8_for_cpu(path: str | Path, mode: str = "auto") -> tuple[str | bytes, CpuInt8Rewrite | None]:
    """What to give ``onnxruntime.InferenceSession`` for ``path`` on the CPU provider: the adapted bytes
    of a QDQ model (``mode``: ``auto`` = ``u8`` on CPUs with an int8 dot product (VNNI), else
    ``float``; ``float``, ``u8``, ``u8_w7``; see the module docstring), else the path unchanged; plus
    what was changed (None: nothing to adapt)."""
    if mode not in CPU_INT8_MODES:
        raise ValueError(f"cpu_int8 must be one of {CPU_INT8_MODES}, got {mode!r}")
    if mode == "as_is":
        return str(path), None
    data = Path(path).read_bytes()
    if b"QuantizeLinear" not in data and b"DequantizeLinear" not in data:
        return str(path), None
    if mode == "auto":
        mode = "u8" if cpu_has_vnni() else "float"
    try:
        new, report = rewrite_qdq_for_cpu(data, mode == "u8_w7", float_compute=mode == "float")
    except (ValueError, IndexError, UnicodeDecodeError):  # not an ONNX protobuf: ONNX Runtime will say so
        return str(path), None
    return (new if report.changed else str(path)), report


# ------------------------------------------------------------------ the rewrite
def rewrite_qdq_for_cpu(model: bytes, seven_bit_weights: bool,
                        float_compute: bool = False) -> tuple[bytes, CpuInt8Rewrite]:
    """``model`` (serialized ONNX) with uint8 activation Q/DQ groups, single-node SiLUs and, if
    ``seven_bit_weights``, 7-bit weights; or, if ``float_compute``, every weight dequantized at load and
    every activation Q/DQ removed (single-node SiLUs too). See the module docstring. Returns the new
    bytes and what changed."""
    report = CpuInt8Rewrite()
    graph = next(((fs, vs, ve) for n, w, fs, vs, ve in fields(model) if n == MODEL_GRAPH and w == 2), None)
    if graph is None:
        report.skipped.append("no graph")
        return model, report
    g_field, g_start, g_end = graph
    nodes: list[Node] = []
    inits: dict[str, tuple[Tensor, np.ndarray | None]] = {}
    for number, wire, fs, vs, ve in fields(model, g_start, g_end):
        if number == GRAPH_NODE and wire == 2:
            nodes.append(read_node(model, vs, ve, fs))
        elif number == GRAPH_INITIALIZER and wire == 2:
            tensor, values = read_tensor(model, fs, vs, ve)
            inits[tensor.name] = (tensor, values)
    if any(n.has_subgraph for n in nodes):
        report.skipped.append("the graph has subgraphs (If/Loop/Scan): left as it is")
        return model, report
    consumers: dict[str, list[int]] = {}
    users: dict[str, set[int]] = {}  # initializer name -> nodes reading it
    for i, node in enumerate(nodes):
        for name in node.inputs:
            consumers.setdefault(name, []).append(i)
            users.setdefault(name, set()).add(i)

    def dtype_of(name: str) -> int:
        return inits[name][0].data_type if name in inits else 0

    if float_compute:
        edits = _float_compute_edits(nodes, inits, consumers, users, g_end, report)
        edits.update(_fused_silu_edits(nodes, consumers, graph_output_names(model, g_start, g_end), report))
        return _finish(model, g_field, g_start, g_end, edits, report)

    new_values: dict[str, tuple[int, np.ndarray]] = {}
    # uint8 activations: Q of a computed tensor + the DQs reading it, grouped through shared zero points
    groups: list[tuple[set[int], set[str]]] = []
    for i, node in enumerate(nodes):
        if node.op_type != "QuantizeLinear" or node.inputs[0] in inits or len(node.inputs) < 3:
            continue
        readers = consumers.get(node.outputs[0], [])
        if not all(nodes[j].op_type == "DequantizeLinear" and len(nodes[j].inputs) >= 3 for j in readers):
            report.skipped.append(f"{node.outputs[0]}: read by a node other than DequantizeLinear")
            continue
        groups.append(({i, *readers}, {node.inputs[2], *(nodes[j].inputs[2] for j in readers)}))
    merged = _merge_groups(groups)
    for members, zero_points in merged:
        reason = next((f"zero point {z}: not an int8 initializer" for z in zero_points
                       if dtype_of(z) != INT8 or inits[z][1] is None), None)
        reason = reason or next((f"zero point {z}: also used outside its Q/DQ group" for z in zero_points
                                 if not users[z] <= members), None)
        if reason:
            report.skipped.append(reason)
            continue
        for z in zero_points:
            new_values[z] = (UINT8, (inits[z][1].astype(np.int16) + 128).astype(np.uint8))
            report.activation_zero_points += 1
    if seven_bit_weights:
        _seven_bit_weights(nodes, inits, users, consumers, new_values, report)
    edits = {inits[name][0].field_start: (inits[name][0].value_end, encode_tensor(model, inits[name][0], dt, v))
             for name, (dt, v) in new_values.items()}
    edits.update(_fused_silu_edits(nodes, consumers, graph_output_names(model, g_start, g_end), report))
    return _finish(model, g_field, g_start, g_end, edits, report)


def _finish(model: bytes, g_field: int, g_start: int, g_end: int, edits: dict[int, tuple[int, bytes]],
            report: CpuInt8Rewrite) -> tuple[bytes, CpuInt8Rewrite]:
    """The model with ``edits`` spliced into its graph (and the com.microsoft opset when a node needs it)."""
    if not edits:
        return model, report
    new_graph = splice(model, g_start, g_end, edits)
    new = splice(model, 0, len(model), {g_field: (g_end, length_field(MODEL_GRAPH, new_graph))})
    if report.silu_fused and MS_DOMAIN not in opset_domains(model):
        new += encode_opset_import(MS_DOMAIN, 1)
    return new, report


def _float_compute_edits(nodes: list[Node], inits: dict, consumers: dict[str, list[int]],
                         users: dict[str, set[int]], g_end: int, report: CpuInt8Rewrite) -> dict[int, tuple[int, bytes]]:
    """Edits that turn a QDQ graph into a float one with the file's quantized weights.

    A weight ``DequantizeLinear`` (of an int8 / uint8 initializer) is replaced by a float initializer
    holding ``(q - zero_point) · scale`` under its output's name; a weight ``QuantizeLinear`` of a float
    initializer (older files) and its readers by the fake-quantized values. An activation
    ``QuantizeLinear`` is dropped and each ``DequantizeLinear`` reading it becomes an ``Identity`` of
    its input (ONNX Runtime removes those). Initializers read only by those nodes (int8 weights, scales,
    zero points) are dropped. Anything else stays as it is (reported)."""
    edits: dict[int, tuple[int, bytes]] = {}
    added = bytearray()
    replaced: set[int] = set()  # nodes removed or turned into Identity (they no longer read initializers)

    def values(name: str) -> np.ndarray | None:
        return inits[name][1] if name in inits else None

    def scale_and_zero(node: Node, like: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        scale = values(node.inputs[1])
        zero = values(node.inputs[2]) if len(node.inputs) > 2 else np.zeros((), np.int8)
        if scale is None or zero is None:
            return None
        s, z = _per_axis(scale, like, node.axis), _per_axis(zero, like, node.axis)
        return None if s is None or z is None else (s, z)

    for i, node in enumerate(nodes):
        x = node.inputs[0] if node.inputs else ""
        if node.op_type == "DequantizeLinear" and x in inits:
            q = values(x)
            sz = None if q is None or inits[x][0].data_type not in (INT8, UINT8) else scale_and_zero(node, q)
            w = None if sz is None else (q.astype(np.float32) - sz[1]) * sz[0]
            if w is None:
                report.skipped.append(f"weight {x}: not a plain int8 initializer with known scale")
                continue
            edits[node.field_start] = (node.field_end, b"")
            replaced.add(i)
            added += encode_float_initializer(node.outputs[0], w)
            report.float_weights += 1
        elif node.op_type == "QuantizeLinear":
            readers = [nodes[j] for j in consumers.get(node.outputs[0], [])]
            if not readers or any(r.op_type != "DequantizeLinear" for r in readers):
                report.skipped.append(f"{node.outputs[0]}: read by a node other than DequantizeLinear")
                continue
            if x in inits:  # float weight behind a Q/DQ pair: its fake-quantized values
                w = values(x)
                sz = None if w is None else scale_and_zero(node, w)
                if sz is None:
                    report.skipped.append(f"weight {x}: not readable")
                    continue
                s, z = sz
                unsigned = len(node.inputs) > 2 and values(node.inputs[2]).dtype == np.uint8
                q = np.clip(np.round(w.astype(np.float32) / s) + z, *((0, 255) if unsigned else (-128, 127)))
                for r in readers:
                    edits[r.field_start] = (r.field_end, b"")
                    added += encode_float_initializer(r.outputs[0], (q - z) * s)
                report.float_weights += 1
            else:
                for r in readers:
                    edits[r.field_start] = (r.field_end, encode_node("Identity", [x], r.outputs, r.name))
                report.float_activations += 1
            edits[node.field_start] = (node.field_end, b"")
            replaced |= {i, *consumers.get(node.outputs[0], [])}
    for name, readers in users.items():
        if name in inits and readers <= replaced:
            edits[inits[name][0].field_start] = (inits[name][0].value_end, b"")
    if added:
        edits[g_end] = (g_end, bytes(added))
    return edits


def _fused_silu_edits(nodes: list[Node], consumers: dict[str, list[int]], graph_outputs: set[str],
                      report: CpuInt8Rewrite) -> dict[int, tuple[int, bytes]]:
    """Node edits turning each ``Mul(x, Sigmoid(x))`` into one ``com.microsoft.QuickGelu(x, alpha=1)``."""
    edits: dict[int, tuple[int, bytes]] = {}
    for node in nodes:
        if node.op_type != "Sigmoid" or node.domain or len(node.inputs) != 1 or len(node.outputs) != 1:
            continue
        x, s = node.inputs[0], node.outputs[0]
        readers = consumers.get(s, [])
        if len(readers) != 1 or s in graph_outputs:
            continue
        mul = nodes[readers[0]]
        if mul.op_type != "Mul" or mul.domain or sorted(mul.inputs) != sorted([x, s]):
            continue
        edits[node.field_start] = (node.field_end, encode_node("QuickGelu", [x], mul.outputs, node.name or s,
                                                               MS_DOMAIN, {"alpha": 1.0}))
        edits[mul.field_start] = (mul.field_end, b"")
        report.silu_fused += 1
    return edits


def _per_axis(values: np.ndarray, like: np.ndarray, axis: int) -> np.ndarray | None:
    """A Q/DQ scale or zero point (one value, or one per ``axis`` of ``like``) as float32 shaped to
    broadcast against ``like``; None when it fits neither."""
    if values.size == 1:
        return values.astype(np.float32).reshape(())
    if like.ndim == 0 or like.shape[axis % like.ndim] != values.size:
        return None
    return values.astype(np.float32).reshape([-1 if d == axis % like.ndim else 1 for d in range(like.ndim)])


def _weight_levels(weights: np.ndarray | None, scale: np.ndarray | None, axis: int) -> float:
    """max |w / scale| (the largest quantization level a weight Q produces); inf when unknown."""
    shaped = None if weights is None or scale is None or not weights.size else _per_axis(scale, weights, axis)
    if shaped is None:
        return float("inf")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmax(np.abs(weights.astype(np.float32) / shaped)))


def _merge_groups(groups: list[tuple[set[int], set[str]]]) -> list[tuple[set[int], set[str]]]:
    """Union of the groups that share a zero-point initializer."""
    merged: list[tuple[set[int], set[str]]] = []
    for members, names in groups:
        members, names = set(members), set(names)
        for other in [g for g in merged if g[1] & names]:
            merged.remove(other)
            members |= other[0]
            names |= other[1]
        merged.append((members, names))
    return merged


def _seven_bit_weights(nodes: list[Node], inits: dict, users: dict[str, set[int]], consumers: dict[str, list[int]],
                       new_values: dict[str, tuple[int, np.ndarray]], report: CpuInt8Rewrite) -> None:
    """Double weight scales (float weights + Q/DQ pair) or halve int8 weights read by a DQ."""
    weight_nodes: set[int] = set()
    scales: set[str] = set()
    halved: set[str] = set()
    for i, node in enumerate(nodes):
        x = node.inputs[0] if node.inputs else ""
        if node.op_type == "QuantizeLinear" and x in inits and inits[x][0].data_type == FLOAT:
            readers = consumers.get(node.outputs[0], [])
            weight_nodes |= {i, *readers}
            if _weight_levels(inits[x][1], inits.get(node.inputs[1], (None, None))[1], node.axis) <= 64.5:
                report.skipped.append(f"weight {x}: already quantized to 7 bits")
                continue
            scales |= {node.inputs[1], *(nodes[j].inputs[1] for j in readers)}
        elif node.op_type == "DequantizeLinear" and x in inits and inits[x][0].data_type == INT8:
            weight_nodes.add(i)
            values = inits[x][1]
            if values is not None and values.size and np.abs(values.astype(np.int16)).max() <= 64:
                report.skipped.append(f"weight {x}: already quantized to 7 bits")
                continue
            scales.add(node.inputs[1])
            halved.add(x)
    for name in sorted(scales):
        tensor, values = inits.get(name, (None, None))
        if tensor is None or tensor.data_type != FLOAT or values is None or not users[name] <= weight_nodes:
            report.skipped.append(f"weight scale {name}: not a float initializer of weight Q/DQ nodes only")
            continue
        new_values[name] = (FLOAT, values.astype(np.float32) * np.float32(2.0))
        report.weight_scales += 1
    for name in sorted(halved):
        tensor, values = inits[name]
        if values is None or not users[name] <= weight_nodes:
            report.skipped.append(f"int8 weight {name}: not rewritable")
            continue
        # np.round halves to even, like QuantizeLinear; +-127 -> +-64 as a float weight with a doubled scale gives
        new_values[name] = (INT8, np.clip(np.round(values.astype(np.float32) / 2), -64, 64).astype(np.int8))
        report.int8_weights += 1
