"""Run a TensorRT-conformant INT8 QDQ model fast and accurately on ONNX Runtime's CPU provider.

The INT8 file the project ships (and TensorRT builds from) has symmetric **int8** activations and
full-range int8 weights. On x86 CPUs ONNX Runtime executes QDQ convolutions as ``QLinearConv`` with
**uint8** activations; it converts int8 pairs to uint8 only where a quantized tensor has a single
consumer, so in CSTrack-S 40 of 89 convolutions ran in float between ``DequantizeLinear`` and
``QuantizeLinear`` and INT8 was no faster than FP32. On CPUs without an int8 dot-product instruction
(VNNI; this VM's CPUID shows AVX2 only) the AVX2 kernel adds u8 x s8 products pairwise in saturating
16-bit lanes, so full-range weights overflow: the demo model at 1088x608 lost 60% of its FP32
detections. Both are fixed at load time, without the ``onnx`` package, by :func:`rewrite_qdq_for_cpu`:

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

The model is edited on its protobuf wire format (a small reader/writer below): initializers are
re-encoded, every other byte is copied. Models with external data, subgraphs, or zero points that
are not plain int8 initializers are left as they are for the affected groups (reported in the result).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["CPU_INT8_MODES", "CpuInt8Rewrite", "adapt_int8_for_cpu", "cpu_has_vnni", "rewrite_qdq_for_cpu"]

CPU_INT8_MODES = ("auto", "u8", "u8_w7", "as_is")

# ONNX TensorProto.DataType and field numbers (onnx.proto3)
_FLOAT, _UINT8, _INT8 = 1, 2, 3
_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_INITIALIZER = 1, 5
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _NODE_ATTRIBUTE = 1, 2, 4, 5
_ATTR_NAME, _ATTR_INT, _ATTR_G, _ATTR_GRAPHS = 1, 3, 6, 11
_T_DIMS, _T_DATA_TYPE, _T_FLOAT_DATA, _T_INT32_DATA, _T_NAME, _T_RAW, _T_LOCATION = 1, 2, 4, 5, 8, 9, 14


def cpu_has_vnni() -> bool:
    """Whether this CPU reports an int8 dot-product instruction (AVX-512 VNNI, AVX-VNNI, AMX, or ARM dotprod).

    Read from ``/proc/cpuinfo`` flags, i.e. what CPUID exposes (a VM may hide what the silicon has).
    Unknown platforms count as having it (no 7-bit-weight workaround)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[1].split())
    if not flags:
        return True
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"}) or "avx2" not in flags and "asimd" in flags


@dataclass
class CpuInt8Rewrite:
    """What :func:`rewrite_qdq_for_cpu` changed: counts of zero points / scales / weights, and why not more."""

    activation_zero_points: int = 0
    weight_scales: int = 0
    int8_weights: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.activation_zero_points or self.weight_scales or self.int8_weights)

    def describe(self) -> str:
        """e.g. ``uint8 activations (278 zero points), 7-bit weights (105 scales)``."""
        parts = []
        if self.activation_zero_points:
            parts.append(f"uint8 activations ({self.activation_zero_points} zero points)")
        if self.weight_scales or self.int8_weights:
            parts.append(f"7-bit weights ({self.weight_scales + self.int8_weights} tensors)")
        return ", ".join(parts) or "unchanged"


def adapt_int8_for_cpu(path: str | Path, mode: str = "auto") -> tuple[str | bytes, CpuInt8Rewrite | None]:
    """What to give ``onnxruntime.InferenceSession`` for ``path`` on the CPU provider: the adapted bytes
    of a QDQ model (``mode``: ``auto`` = uint8 activations + 7-bit weights when the CPU shows no VNNI,
    ``u8``, ``u8_w7``), else the path unchanged; plus what was changed (None: nothing to adapt)."""
    if mode not in CPU_INT8_MODES:
        raise ValueError(f"cpu_int8 must be one of {CPU_INT8_MODES}, got {mode!r}")
    if mode == "as_is":
        return str(path), None
    data = Path(path).read_bytes()
    if b"QuantizeLinear" not in data and b"DequantizeLinear" not in data:
        return str(path), None
    seven_bit = mode == "u8_w7" or (mode == "auto" and not cpu_has_vnni())
    try:
        new, report = rewrite_qdq_for_cpu(data, seven_bit)
    except (ValueError, IndexError, UnicodeDecodeError):  # not an ONNX protobuf: ONNX Runtime will say so
        return str(path), None
    return (new if report.changed else str(path)), report


# ------------------------------------------------------------------ protobuf wire format
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int, int]]:
    """``(number, wire_type, field_start, value_start, value_end)`` of each field in ``buf[start:end]``;
    for varints ``value_start`` holds the decoded value and ``value_end`` the end."""
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        field_start = pos
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, field_start, value, pos
        elif wire == 2:
            length, pos = _varint(buf, pos)
            yield number, wire, field_start, pos, pos + length
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, wire, field_start, pos, pos + size
            pos += size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    if pos != end:
        raise ValueError("truncated protobuf message")


def _length_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _splice(buf: bytes, start: int, end: int, edits: dict[int, tuple[int, bytes]]) -> bytes:
    """``buf[start:end]`` with the fields starting at the keys of ``edits`` replaced (``end, new``)."""
    out, pos = bytearray(), start
    for field_start in sorted(edits):
        field_end, new = edits[field_start]
        out += buf[pos:field_start]
        out += new
        pos = field_end
    out += buf[pos:end]
    return bytes(out)


@dataclass
class _Tensor:
    name: str
    data_type: int
    dims: list[int]
    field_start: int  # where the initializer field (tag + length) starts; it ends at value_end
    value_start: int
    value_end: int


def _read_tensor(buf: bytes, field_start: int, start: int, end: int) -> tuple[_Tensor, np.ndarray | None]:
    name, dtype, dims, raw, int32s, floats, external = "", 0, [], None, [], [], False
    for number, wire, _, vs, ve in _fields(buf, start, end):
        if number == _T_NAME:
            name = buf[vs:ve].decode()
        elif number == _T_DATA_TYPE:
            dtype = vs
        elif number == _T_DIMS:
            dims += [vs] if wire == 0 else list(_packed_varints(buf, vs, ve))
        elif number == _T_RAW:
            raw = buf[vs:ve]
        elif number == _T_INT32_DATA:
            int32s += [vs] if wire == 0 else list(_packed_varints(buf, vs, ve))
        elif number == _T_FLOAT_DATA:
            floats += [struct.unpack("<f", buf[vs:ve])[0]] if wire == 5 else \
                list(np.frombuffer(buf[vs:ve], "<f4"))
        elif number == _T_LOCATION and vs == 1:
            external = True
    tensor = _Tensor(name, dtype, dims, field_start, start, end)
    count = int(np.prod(dims)) if dims else 1
    if external:
        return tensor, None
    if dtype in (_INT8, _UINT8):
        np_type = np.int8 if dtype == _INT8 else np.uint8
        values = np.frombuffer(raw, np_type) if raw is not None else \
            np.array([(v - (1 << 64)) if v >= 1 << 63 else v for v in int32s], np.int64).astype(np_type)
    elif dtype == _FLOAT:
        values = np.frombuffer(raw, "<f4") if raw is not None else np.array(floats, np.float32)
    else:
        return tensor, None
    return tensor, (values.reshape(dims) if values.size == count else None)


def _packed_varints(buf: bytes, start: int, end: int) -> Iterator[int]:
    pos = start
    while pos < end:
        value, pos = _varint(buf, pos)
        yield value


def _encode_tensor(buf: bytes, tensor: _Tensor, data_type: int, values: np.ndarray) -> bytes:
    """The tensor's field with its data replaced by ``raw_data`` of ``values`` (other fields kept)."""
    kept = bytearray()
    for number, _, fs, _, ve in _fields(buf, tensor.value_start, tensor.value_end):
        if number not in (_T_DATA_TYPE, _T_RAW, _T_INT32_DATA, _T_FLOAT_DATA):
            kept += buf[fs:ve]
    kept += _encode_varint(_T_DATA_TYPE << 3) + _encode_varint(data_type)
    raw = np.ascontiguousarray(values, "<f4" if data_type == _FLOAT else values.dtype).tobytes()
    kept += _length_field(_T_RAW, raw)
    return _length_field(_GRAPH_INITIALIZER, bytes(kept))


# ------------------------------------------------------------------ the rewrite
@dataclass
class _Node:
    op_type: str
    inputs: list[str]
    outputs: list[str]
    has_subgraph: bool
    axis: int = 1  # QuantizeLinear / DequantizeLinear's per-channel axis (ONNX default 1)


def _read_node(buf: bytes, start: int, end: int) -> _Node:
    node = _Node("", [], [], False)
    for number, _, _, vs, ve in _fields(buf, start, end):
        if number == _NODE_INPUT:
            node.inputs.append(buf[vs:ve].decode())
        elif number == _NODE_OUTPUT:
            node.outputs.append(buf[vs:ve].decode())
        elif number == _NODE_OP_TYPE:
            node.op_type = buf[vs:ve].decode()
        elif number == _NODE_ATTRIBUTE:
            attr = {n: (buf[a:b] if w == 2 else a) for n, w, _, a, b in _fields(buf, vs, ve)}
            node.has_subgraph |= _ATTR_G in attr or _ATTR_GRAPHS in attr
            if attr.get(_ATTR_NAME) == b"axis" and _ATTR_INT in attr:
                value = attr[_ATTR_INT]
                node.axis = value - (1 << 64) if value >= 1 << 63 else value
    return node


def rewrite_qdq_for_cpu(model: bytes, seven_bit_weights: bool) -> tuple[bytes, CpuInt8Rewrite]:
    """``model`` (serialized ONNX) with uint8 activation Q/DQ groups and, if ``seven_bit_weights``,
    7-bit weights; see the module docstring. Returns the new bytes and what changed."""
    report = CpuInt8Rewrite()
    graph = next(((fs, vs, ve) for n, w, fs, vs, ve in _fields(model) if n == _MODEL_GRAPH and w == 2), None)
    if graph is None:
        report.skipped.append("no graph")
        return model, report
    g_field, g_start, g_end = graph
    nodes: list[_Node] = []
    inits: dict[str, tuple[_Tensor, np.ndarray | None]] = {}
    for number, wire, fs, vs, ve in _fields(model, g_start, g_end):
        if number == _GRAPH_NODE and wire == 2:
            nodes.append(_read_node(model, vs, ve))
        elif number == _GRAPH_INITIALIZER and wire == 2:
            tensor, values = _read_tensor(model, fs, vs, ve)
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
                       if dtype_of(z) != _INT8 or inits[z][1] is None), None)
        reason = reason or next((f"zero point {z}: also used outside its Q/DQ group" for z in zero_points
                                 if not users[z] <= members), None)
        if reason:
            report.skipped.append(reason)
            continue
        for z in zero_points:
            new_values[z] = (_UINT8, (inits[z][1].astype(np.int16) + 128).astype(np.uint8))
            report.activation_zero_points += 1
    if seven_bit_weights:
        _seven_bit_weights(nodes, inits, users, consumers, new_values, report)
    if not new_values:
        return model, report
    edits = {inits[name][0].field_start: (inits[name][0].value_end, _encode_tensor(model, inits[name][0], dt, v))
             for name, (dt, v) in new_values.items()}
    new_graph = _splice(model, g_start, g_end, edits)
    return _splice(model, 0, len(model), {g_field: (g_end, _length_field(_MODEL_GRAPH, new_graph))}), report


def _weight_levels(weights: np.ndarray | None, scale: np.ndarray | None, axis: int) -> float:
    """max |w / scale| (the largest quantization level a weight Q produces); inf when unknown."""
    if weights is None or scale is None or not weights.size:
        return float("inf")
    if scale.size > 1:
        axis = axis % weights.ndim
        if weights.shape[axis] != scale.size:
            return float("inf")
        scale = scale.reshape([-1 if d == axis else 1 for d in range(weights.ndim)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmax(np.abs(weights.astype(np.float32) / scale.astype(np.float32))))


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


def _seven_bit_weights(nodes: list[_Node], inits: dict, users: dict[str, set[int]], consumers: dict[str, list[int]],
                       new_values: dict[str, tuple[int, np.ndarray]], report: CpuInt8Rewrite) -> None:
    """Double weight scales (float weights + Q/DQ pair) or halve int8 weights read by a DQ."""
    weight_nodes: set[int] = set()
    scales: set[str] = set()
    halved: set[str] = set()
    for i, node in enumerate(nodes):
        x = node.inputs[0] if node.inputs else ""
        if node.op_type == "QuantizeLinear" and x in inits and inits[x][0].data_type == _FLOAT:
            readers = consumers.get(node.outputs[0], [])
            weight_nodes |= {i, *readers}
            if _weight_levels(inits[x][1], inits.get(node.inputs[1], (None, None))[1], node.axis) <= 64.5:
                report.skipped.append(f"weight {x}: already quantized to 7 bits")
                continue
            scales |= {node.inputs[1], *(nodes[j].inputs[1] for j in readers)}
        elif node.op_type == "DequantizeLinear" and x in inits and inits[x][0].data_type == _INT8:
            weight_nodes.add(i)
            values = inits[x][1]
            if values is not None and values.size and np.abs(values.astype(np.int16)).max() <= 64:
                report.skipped.append(f"weight {x}: already quantized to 7 bits")
                continue
            scales.add(node.inputs[1])
            halved.add(x)
    for name in sorted(scales):
        tensor, values = inits.get(name, (None, None))
        if tensor is None or tensor.data_type != _FLOAT or values is None or not users[name] <= weight_nodes:
            report.skipped.append(f"weight scale {name}: not a float initializer of weight Q/DQ nodes only")
            continue
        new_values[name] = (_FLOAT, values.astype(np.float32) * np.float32(2.0))
        report.weight_scales += 1
    for name in sorted(halved):
        tensor, values = inits[name]
        if values is None or not users[name] <= weight_nodes:
            report.skipped.append(f"int8 weight {name}: not rewritable")
            continue
        # np.round halves to even, like QuantizeLinear; +-127 -> +-64 as a float weight with a doubled scale gives
        new_values[name] = (_INT8, np.clip(np.round(values.astype(np.float32) / 2), -64, 64).astype(np.int8))
        report.int8_weights += 1
