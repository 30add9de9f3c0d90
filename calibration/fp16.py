"""FP16: the network body in float16, inputs/outputs and the decode/NMS tail kept float32.

For GPUs and TensorRT 11's strongly typed networks (which take precision from the ONNX's types, not
from builder flags). Written with plain ``onnx`` helpers (``onnxconverter-common`` is not a
dependency). Rules:

- every node except the tail (:func:`~mottrack_calibration.graph.find_float_regions`) computes in
  float16: its float32 initializers are converted (copied when a float32 node shares them), Constant
  nodes feeding only float16 nodes are converted, ``Cast(to=float)`` becomes ``Cast(to=float16)``;
- a ``Cast`` is inserted wherever a tensor crosses between the two regions, and after the graph input
  and before each graph output, whose names and float32 types are unchanged;
- input slots that the ONNX spec keeps float32 (Resize's ``roi`` and ``scales``) are left alone.

FP16 ONNX on a CPU is slower than FP32 (ONNX Runtime inserts casts around ops without float16
kernels): it is a GPU artifact. The report still runs it on the CPU to measure its accuracy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["convert_fp16"]

FLOAT, FLOAT16 = 1, 10
FP32_INPUT_SLOTS = {"Resize": {1, 2}, "Upsample": {1}}  # slots the spec keeps float32 (roi, scales)
FP16_MAX = 65504.0


def convert_fp16(model_path: str | Path, out_path: str | Path, keep_float: list[str] | None = None) -> Path:
    """Write the FP16 version of a mottrack FP32 export ``model_path`` to ``out_path`` (atomic).

    ``keep_float`` names nodes to keep float32 (default: the tail). Raises ValueError for a model
    that is not an FP32 mottrack export.
    """
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    from mottrack_calibration.graph import ensure_node_names, find_float_regions, model_metadata_of
    from mottrack_calibration.model_io import load_onnx, save_with_metadata

    model = load_onnx(model_path)
    metadata = model_metadata_of(model)
    if metadata.precision != "fp32":
        raise ValueError(f"{model_path}: FP16 conversion starts from the FP32 export, this model is "
                         f"{metadata.precision}")
    ensure_node_names(model)
    if keep_float is None:
        keep_float = list(find_float_regions(model).tail)
    model = shape_inference.infer_shapes(model)
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(graph.value_info) + list(graph.input)
             + list(graph.output)}
    inits = {i.name: i for i in graph.initializer}
    for name, init in inits.items():
        types[name] = init.data_type
    fp32_nodes = set(keep_float)
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[tuple[Any, int]]] = {}
    for node in graph.node:
        for slot, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, slot))

    def is_half(node: Any) -> bool:
        return node.name not in fp32_nodes

    def wants_half(node: Any, slot: int) -> bool:
        return is_half(node) and slot not in FP32_INPUT_SLOTS.get(node.op_type, set())

    # Constant nodes feeding only float16 slots become float16 themselves.
    for node in graph.node:
        if node.op_type == "Constant" and all(wants_half(c, s) for o in node.output for c, s in consumers.get(o, [])) \
                and consumers.get(node.output[0]):
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == FLOAT:
                    attr.t.CopyFrom(numpy_helper.from_array(_to_half(numpy_helper.to_array(attr.t)), attr.t.name))
                    types[node.output[0]] = FLOAT16
        elif node.op_type == "Constant":
            fp32_nodes.add(node.name)  # shared with float32 consumers: stays float32, cast where needed

    new_nodes: list[Any] = []
    casts: dict[tuple[str, int], str] = {}
    half_copies: dict[str, str] = {}

    def cast(name: str, to: int) -> str:
        key = (name, to)
        if key not in casts:
            out = f"{name}__{'fp16' if to == FLOAT16 else 'fp32'}"
            new_nodes.append(helper.make_node("Cast", [name], [out], name=f"{out}_Cast", to=to))
            casts[key] = out
        return casts[key]

    half_tensors = set()  # float tensors produced in float16
    for node in graph.node:
        if node.op_type != "Constant" and is_half(node):
            for out in node.output:
                if types.get(out) == FLOAT:
                    half_tensors.add(out)
            if node.op_type == "Cast":
                for attr in node.attribute:
                    if attr.name == "to" and attr.i == FLOAT:
                        attr.i = FLOAT16
        elif node.op_type == "Constant" and types.get(node.output[0]) == FLOAT16:
            half_tensors.add(node.output[0])

    for node in list(graph.node):
        for slot, name in enumerate(node.input):
            if not name:
                continue
            half_here = wants_half(node, slot) and node.op_type != "Constant"
            is_float = types.get(name) == FLOAT or name in half_tensors
            if not is_float:
                continue
            if half_here and name not in half_tensors:
                if name in inits:  # weights: convert once, copy if a float32 node also reads them
                    shared = any(not wants_half(c, s) for c, s in consumers[name])
                    if shared:
                        if name not in half_copies:
                            copy = numpy_helper.from_array(_to_half(numpy_helper.to_array(inits[name])),
                                                           f"{name}__fp16")
                            graph.initializer.append(copy)
                            half_copies[name] = copy.name
                        node.input[slot] = half_copies[name]
                    else:
                        if inits[name].data_type == FLOAT:
                            inits[name].CopyFrom(numpy_helper.from_array(
                                _to_half(numpy_helper.to_array(inits[name])), name))
                else:
                    node.input[slot] = cast(name, FLOAT16)
            elif not half_here and name in half_tensors:
                node.input[slot] = cast(name, FLOAT)
        new_nodes.append(node)

    # Graph outputs keep their names and float32: the producer writes <name>__half, a Cast restores it.
    for output in graph.output:
        if output.name in half_tensors:
            internal = f"{output.name}__half"
            node = producer[output.name]
            node.output[list(node.output).index(output.name)] = internal
            for other in new_nodes:
                for i, name in enumerate(other.input):
                    if name == output.name:
                        other.input[i] = internal
            new_nodes.append(helper.make_node("Cast", [internal], [output.name], name=f"{output.name}_Cast", to=FLOAT))

    del graph.node[:]
    graph.node.extend(_topological(new_nodes, {i.name for i in graph.input} | {i.name for i in graph.initializer}))
    del graph.value_info[:]
    model = shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    extra = {"fp16.float32_nodes": str(len(fp32_nodes))}
    return save_with_metadata(model, out_path, metadata.with_precision("fp16"), extra)


def _to_half(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.float32:
        return array
    return np.clip(array, -FP16_MAX, FP16_MAX).astype(np.float16)


def _topological(nodes: list[Any], available: set[str]) -> list[Any]:
    """Nodes in an order where every input is produced before use (inserted Casts moved into place)."""
    ready = set(available) | {""}
    pending, ordered = list(nodes), []
    while pending:
        progressed, rest = False, []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
                progressed = True
            else:
                rest.append(node)
        if not progressed:
            raise ValueError(f"FP16 conversion left a cycle or a missing input at {rest[0].name}")
        pending = rest
    return ordered
