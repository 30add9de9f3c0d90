"""A small reader / writer of the protobuf wire format of ONNX files, for load-time graph edits
without the ``onnx`` package (the runtime does not depend on it): fields of a message, varints,
initializer tensors (read as numpy, re-encoded as ``raw_data``), nodes (read, and encoded anew),
and splicing new field bytes in place of old ones. Every byte not edited is copied as it is.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator

import numpy as np

# ONNX TensorProto.DataType and field numbers (onnx.proto3)
FLOAT, UINT8, INT8 = 1, 2, 3
MODEL_GRAPH, MODEL_OPSET_IMPORT = 7, 8
OPSET_DOMAIN, OPSET_VERSION = 1, 2
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_OUTPUT = 1, 5, 12
VALUE_INFO_NAME = 1
NODE_INPUT, NODE_OUTPUT, NODE_NAME, NODE_OP_TYPE, NODE_ATTRIBUTE, NODE_DOMAIN = 1, 2, 3, 4, 5, 7
ATTR_NAME, ATTR_FLOAT, ATTR_INT, ATTR_G, ATTR_GRAPHS, ATTR_TYPE = 1, 2, 3, 6, 11, 20
ATTR_TYPE_FLOAT = 1
T_DIMS, T_DATA_TYPE, T_FLOAT_DATA, T_INT32_DATA, T_NAME, T_RAW, T_LOCATION = 1, 2, 4, 5, 8, 9, 14


_MAX_VARINT_BYTES = 10  # a 64-bit value needs at most 10 groups of 7 bits


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``buf[pos]`` and the position after it; ValueError for one longer than 10 bytes
    (a protobuf varint is at most 64 bits: a longer run of continuation bytes is not an ONNX file,
    and decoding it as a Python int took time quadratic in its length)."""
    result = 0
    for k, byte in enumerate(buf[pos:pos + _MAX_VARINT_BYTES]):
        result |= (byte & 0x7F) << (7 * k)
        if byte < 0x80:
            return result, pos + k + 1
    if pos + _MAX_VARINT_BYTES > len(buf):
        raise ValueError("truncated protobuf varint")
    raise ValueError(f"protobuf varint longer than {_MAX_VARINT_BYTES} bytes")


def encode_varint(value: int) -> bytes:
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


def fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int, int]]:
    """``(number, wire_type, field_start, value_start, value_end)`` of each field in ``buf[start:end]``;
    for varints ``value_start`` holds the decoded value and ``value_end`` the end."""
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        field_start = pos
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
            yield number, wire, field_start, value, pos
        elif wire == 2:
            length, pos = read_varint(buf, pos)
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


def length_field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def splice(buf: bytes, start: int, end: int, edits: dict[int, tuple[int, bytes]]) -> bytes:
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
class Tensor:
    name: str
    data_type: int
    dims: list[int]
    field_start: int  # where the initializer field (tag + length) starts; it ends at value_end
    value_start: int
    value_end: int


def read_tensor(buf: bytes, field_start: int, start: int, end: int) -> tuple[Tensor, np.ndarray | None]:
    name, dtype, dims, raw, int32s, floats, external = "", 0, [], None, [], [], False
    for number, wire, _, vs, ve in fields(buf, start, end):
        if number == T_NAME:
            name = buf[vs:ve].decode()
        elif number == T_DATA_TYPE:
            dtype = vs
        elif number == T_DIMS:
            dims += [vs] if wire == 0 else list(packed_varints(buf, vs, ve))
        elif number == T_RAW:
            raw = buf[vs:ve]
        elif number == T_INT32_DATA:
            int32s += [vs] if wire == 0 else list(packed_varints(buf, vs, ve))
        elif number == T_FLOAT_DATA:
            floats += [struct.unpack("<f", buf[vs:ve])[0]] if wire == 5 else \
                list(np.frombuffer(buf[vs:ve], "<f4"))
        elif number == T_LOCATION and vs == 1:
            external = True
    tensor = Tensor(name, dtype, dims, field_start, start, end)
    count = int(np.prod(dims)) if dims else 1
    if external:
        return tensor, None
    if dtype in (INT8, UINT8):
        np_type = np.int8 if dtype == INT8 else np.uint8
        values = np.frombuffer(raw, np_type) if raw is not None else \
            np.array([(v - (1 << 64)) if v >= 1 << 63 else v for v in int32s], np.int64).astype(np_type)
    elif dtype == FLOAT:
        values = np.frombuffer(raw, "<f4") if raw is not None else np.array(floats, np.float32)
    else:
        return tensor, None
    return tensor, (values.reshape(dims) if values.size == count else None)


def packed_varints(buf: bytes, start: int, end: int) -> Iterator[int]:
    pos = start
    while pos < end:
        value, pos = read_varint(buf, pos)
        yield value


def encode_tensor(buf: bytes, tensor: Tensor, data_type: int, values: np.ndarray) -> bytes:
    """The tensor's field with its data replaced by ``raw_data`` of ``values`` (other fields kept)."""
    kept = bytearray()
    for number, _, fs, _, ve in fields(buf, tensor.value_start, tensor.value_end):
        if number not in (T_DATA_TYPE, T_RAW, T_INT32_DATA, T_FLOAT_DATA):
            kept += buf[fs:ve]
    kept += encode_varint(T_DATA_TYPE << 3) + encode_varint(data_type)
    raw = np.ascontiguousarray(values, "<f4" if data_type == FLOAT else values.dtype).tobytes()
    kept += length_field(T_RAW, raw)
    return length_field(GRAPH_INITIALIZER, bytes(kept))


def encode_float_initializer(name: str, values: np.ndarray) -> bytes:
    """A graph's initializer field for a new float32 tensor (dims, FLOAT, name, raw_data)."""
    values = np.ascontiguousarray(values, "<f4")
    body = length_field(T_DIMS, b"".join(encode_varint(int(d)) for d in values.shape)) if values.ndim else b""
    body += encode_varint(T_DATA_TYPE << 3) + encode_varint(FLOAT)
    body += length_field(T_NAME, name.encode()) + length_field(T_RAW, values.tobytes())
    return length_field(GRAPH_INITIALIZER, body)


@dataclass
class Node:
    op_type: str
    inputs: list[str]
    outputs: list[str]
    has_subgraph: bool
    axis: int = 1  # QuantizeLinear / DequantizeLinear's per-channel axis (ONNX default 1)
    name: str = ""
    domain: str = ""
    field_start: int = 0  # where the graph's node field (tag + length) starts; it ends at field_end
    field_end: int = 0


def read_node(buf: bytes, start: int, end: int, field_start: int = 0) -> Node:
    """The node whose NodeProto bytes are ``buf[start:end]`` (its graph field starts at ``field_start``)."""
    node = Node("", [], [], False, field_start=field_start, field_end=end)
    for number, _, _, vs, ve in fields(buf, start, end):
        if number == NODE_NAME:
            node.name = buf[vs:ve].decode()
        elif number == NODE_DOMAIN:
            node.domain = buf[vs:ve].decode()
        elif number == NODE_INPUT:
            node.inputs.append(buf[vs:ve].decode())
        elif number == NODE_OUTPUT:
            node.outputs.append(buf[vs:ve].decode())
        elif number == NODE_OP_TYPE:
            node.op_type = buf[vs:ve].decode()
        elif number == NODE_ATTRIBUTE:
            attr = {n: (buf[a:b] if w == 2 else a) for n, w, _, a, b in fields(buf, vs, ve)}
            node.has_subgraph |= ATTR_G in attr or ATTR_GRAPHS in attr
            if attr.get(ATTR_NAME) == b"axis" and ATTR_INT in attr:
                value = attr[ATTR_INT]
                node.axis = value - (1 << 64) if value >= 1 << 63 else value
    return node


def encode_node(op_type: str, inputs: list[str], outputs: list[str], name: str = "", domain: str = "",
                float_attributes: dict[str, float] | None = None) -> bytes:
    """A graph's node field (GraphProto.node) for a new node with float attributes only."""
    body = b"".join(length_field(NODE_INPUT, i.encode()) for i in inputs)
    body += b"".join(length_field(NODE_OUTPUT, o.encode()) for o in outputs)
    body += length_field(NODE_NAME, name.encode()) if name else b""
    body += length_field(NODE_OP_TYPE, op_type.encode())
    for key, value in (float_attributes or {}).items():
        attr = length_field(ATTR_NAME, key.encode()) + encode_varint(ATTR_FLOAT << 3 | 5) + struct.pack("<f", value)
        attr += encode_varint(ATTR_TYPE << 3) + encode_varint(ATTR_TYPE_FLOAT)
        body += length_field(NODE_ATTRIBUTE, attr)
    body += length_field(NODE_DOMAIN, domain.encode()) if domain else b""
    return length_field(GRAPH_NODE, body)


def opset_domains(model: bytes) -> set[str]:
    """The operator-set domains a serialized ModelProto imports ("" = the default ONNX domain)."""
    found = set()
    for number, wire, _, vs, ve in fields(model):
        if number == MODEL_OPSET_IMPORT and wire == 2:
            found.add(next((model[a:b].decode() for n, w, _, a, b in fields(model, vs, ve)
                            if n == OPSET_DOMAIN and w == 2), ""))
    return found


def encode_opset_import(domain: str, version: int) -> bytes:
    """A ModelProto.opset_import field (append it to the model's bytes: fields may come in any order)."""
    return length_field(MODEL_OPSET_IMPORT, length_field(OPSET_DOMAIN, domain.encode())
                        + encode_varint(OPSET_VERSION << 3) + encode_varint(version))


def graph_output_names(buf: bytes, start: int, end: int) -> set[str]:
    """Names of the outputs of the GraphProto in ``buf[start:end]``."""
    names = set()
    for number, wire, _, vs, ve in fields(buf, start, end):
        if number == GRAPH_OUTPUT and wire == 2:
            names |= {buf[a:b].decode() for n, w, _, a, b in fields(buf, vs, ve) if n == VALUE_INFO_NAME and w == 2}
    return names
