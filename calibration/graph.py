"""Find, in an exported CSTrack ONNX graph, the nodes that must stay in float.

Deployment facts: keep the detect-head output convolutions, the decode / NMS tail and the embedding
head's last layer out of INT8 (and the tail out of FP16). Node names depend on the exporter, so they
are found from the graph's structure instead:

- walk backwards from every graph output, through any node, and stop at the first ``Conv`` on each
  path: the nodes walked are the **tail** (decode, TopK, NonMaxSuppression, gathers, L2 norm, ...),
  the ``Conv`` nodes where the walk stopped are the **head convolutions**;
- a head convolution with ``A·(5 + nc)`` output channels (from the model metadata) is a detect-head
  output conv; one with ``embedding_dim`` output channels is the embedding head's last layer.

This works for the ``nms`` and ``raw_heads`` layouts alike, and after ONNX Runtime's pre-processing.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["FloatRegions", "constant_matmuls", "ensure_node_names", "find_float_regions", "model_metadata_of"]

HEAD_OPS = ("Conv", "ConvTranspose")


@dataclass(frozen=True)
class FloatRegions:
    """Names of the nodes to keep in float (see the module docstring)."""

    tail: tuple[str, ...]
    detect_convs: tuple[str, ...]
    embedding_convs: tuple[str, ...]
    other_head_convs: tuple[str, ...] = ()

    @property
    def head_convs(self) -> tuple[str, ...]:
        return self.detect_convs + self.embedding_convs + self.other_head_convs

    def all(self) -> list[str]:
        return list(self.tail + self.head_convs)


def ensure_node_names(model: Any) -> int:
    """Give every unnamed node of an ``onnx.ModelProto`` a unique name (``<op>_<index>``); returns how many."""
    used = {n.name for n in model.graph.node if n.name}
    added = 0
    for index, node in enumerate(model.graph.node):
        if node.name:
            continue
        name, k = f"{node.op_type}_{index}", 0
        while name in used:
            k += 1
            name = f"{node.op_type}_{index}_{k}"
        node.name = name
        used.add(name)
        added += 1
    return added


def model_metadata_of(model: Any) -> Any:
    """``ModelMetadata`` of an ``onnx.ModelProto`` (ValueError if it has none)."""
    from mottrack_sdk.model_metadata import metadata_from_props

    return metadata_from_props({p.key: p.value for p in model.metadata_props})


def find_float_regions(model: Any, detect_channels: int | None = None,
                       embedding_dim: int | None = None) -> FloatRegions:
    """Tail nodes and head convolutions of ``model`` (an ``onnx.ModelProto`` with named nodes).

    ``detect_channels`` (A·(5 + nc)) and ``embedding_dim`` default to the model's metadata.
    Raises ValueError when no head convolution is found (not a CSTrack export).
    """
    if detect_channels is None or embedding_dim is None:
        meta = model_metadata_of(model)
        detect_channels = len(meta.anchors[0]) * (5 + meta.num_classes)
        embedding_dim = meta.embedding_dim
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    weights = {init.name: init for init in graph.initializer}
    tail: list[str] = []
    heads: list[Any] = []
    seen: set[str] = set()
    queue = deque(producer[o.name] for o in graph.output if o.name in producer)
    while queue:
        node = queue.popleft()
        if node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in HEAD_OPS:
            heads.append(node)
            continue
        tail.append(node.name)
        queue.extend(producer[i] for i in node.input if i in producer)
    if not heads:
        raise ValueError("no convolution found upstream of the outputs: not a CSTrack export")
    detect, embed, other = [], [], []
    for node in heads:
        channels = _out_channels(node, weights, producer)
        if channels == detect_channels:
            detect.append(node.name)
        elif channels == embedding_dim:
            embed.append(node.name)
        else:
            other.append(node.name)
    order = {node.name: i for i, node in enumerate(graph.node)}
    return FloatRegions(tuple(sorted(tail, key=order.__getitem__)), tuple(sorted(detect, key=order.__getitem__)),
                        tuple(sorted(embed, key=order.__getitem__)), tuple(sorted(other, key=order.__getitem__)))


def _out_channels(node: Any, weights: dict[str, Any], producer: dict[str, Any]) -> int | None:
    """Output channels of a Conv from its weight's dims (through a DequantizeLinear if quantized)."""
    name = node.input[1] if len(node.input) > 1 else ""
    if name not in weights and name in producer and producer[name].op_type == "DequantizeLinear":
        name = producer[name].input[0]
    init = weights.get(name)
    if init is None or not init.dims:
        return None
    return int(init.dims[1] if node.op_type == "ConvTranspose" else init.dims[0])


def constant_matmuls(model: Any) -> list[str]:
    """``MatMul`` / ``Gemm`` nodes with a constant operand (REN's pooling matrices).

    ONNX Runtime would quantize that operand per channel along an axis TensorRT does not take for
    matrix products; they are tiny, so they stay float."""
    inits = {i.name for i in model.graph.initializer}
    constants = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    return [n.name for n in model.graph.node
            if n.op_type in ("MatMul", "Gemm") and any(i in inits or i in constants for i in n.input[:2])]
