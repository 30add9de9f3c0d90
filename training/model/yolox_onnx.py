"""Initialise a :class:`~mottrack_training.model.yolox_cstrack.YoloxCSTrack` from a YOLOX ONNX file.

Megvii's YOLOX exports (e.g. the COCO YOLOX-nano teacher in ``../shared/models/teachers/onnx/``,
Apache-2.0) keep BatchNorm folded into each convolution's bias, and their backbone / neck
initialisers are anonymous (``onnx::Conv_NNNN``). They are matched here by *position*: the ONNX
graph lists the convolutions in execution order, which is the order of
:func:`yolox_conv_slots` over our modules (backbone, neck, then per head level: stem,
classification tower, ``cls_preds``, regression tower, ``reg_preds``, ``obj_preds``). Every shape
is checked; a file of another architecture is refused with the first mismatch named.

Two exact rewrites make the teacher's function ours:

- input: YOLOX takes BGR 0..255, our networks RGB 0..1, so the stem convolution's input channels
  (Focus: 4 pixel phases x 3 colours) are reordered and its weights multiplied by 255;
- head: ``reg_preds`` + ``obj_preds`` (regression tower) and the person row of ``cls_preds``
  (classification tower) become the one block-structured 1x1 ``pred`` convolution per level.

Reading the file needs the ``onnx`` package (training only; the runtime never imports this).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["OnnxConv", "YoloxImport", "load_yolox_onnx", "read_onnx_convs", "yolox_conv_slots"]

PERSON_CLASS = 0  # COCO class 0


@dataclass(frozen=True)
class OnnxConv:
    """One Conv node: its name, input / output tensor names, weight [O, I/g, k, k], bias [O]."""

    name: str
    input: str
    output: str
    weight: np.ndarray
    bias: np.ndarray
    group: int


@dataclass(frozen=True)
class YoloxImport:
    """What :func:`load_yolox_onnx` did: convolutions copied, and the ONNX tensors feeding the head stems."""

    convs: int
    head_inputs: tuple[str, ...]


def read_onnx_convs(path: str | Path) -> list[OnnxConv]:
    """The Conv nodes of an ONNX file in graph order (weights and biases as float32 arrays)."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"YOLOX ONNX file not found: {path}")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise ValueError(f"{path}: not a readable ONNX file ({exc})") from exc
    inits = {i.name: i for i in model.graph.initializer}
    convs = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        if len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            raise ValueError(f"{path}: Conv node {node.name!r} lacks constant weight and bias (not a BatchNorm-"
                             "folded YOLOX export)")
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        convs.append(OnnxConv(node.name, node.input[0], node.output[0],
                              numpy_helper.to_array(inits[node.input[1]]).astype(np.float32),
                              numpy_helper.to_array(inits[node.input[2]]).astype(np.float32), int(group)))
    return convs


def yolox_conv_slots(model: nn.Module) -> list[tuple[str, nn.Conv2d, int]]:
    """Our convolutions in YOLOX's execution order: ``(kind, conv, level)`` with kind ``conv`` for a plain
    copy, ``cls`` / ``reg`` / ``obj`` for the parts of level ``level``'s fused ``pred`` convolution."""
    slots: list[tuple[str, nn.Conv2d, int]] = []
    for block in (model.backbone, model.neck):
        slots += [("conv", m, -1) for m in block.modules() if isinstance(m, nn.Conv2d)]
    for level, head in enumerate(model.detect.levels):
        slots.append(("conv", head.stem.conv, level))
        slots += [("conv", m, level) for m in head.cls_convs.modules() if isinstance(m, nn.Conv2d)]
        slots.append(("cls", head.pred, level))
        slots += [("conv", m, level) for m in head.reg_convs.modules() if isinstance(m, nn.Conv2d)]
        slots += [("reg", head.pred, level), ("obj", head.pred, level)]
    return slots


def load_yolox_onnx(model: nn.Module, path: str | Path) -> YoloxImport:
    """Copy a YOLOX ONNX file's backbone, neck and head weights into ``model`` (in place).

    Raises ValueError naming the file and the first convolution whose shape does not fit.
    """
    convs = read_onnx_convs(path)
    slots = yolox_conv_slots(model)
    if len(convs) != len(slots):
        raise ValueError(f"{path}: {len(convs)} convolutions, the {model.config.name} network expects {len(slots)} "
                         "(another YOLOX size?)")
    hidden = model.detect.levels[0].stem.conv.out_channels
    head_inputs: list[str] = []
    with torch.no_grad():
        for index, ((kind, conv, level), source) in enumerate(zip(slots, convs)):
            weight, bias = torch.from_numpy(source.weight), torch.from_numpy(source.bias)
            where = f"{path}: convolution {index} ({source.name})"
            if kind == "conv":
                if index == 0:
                    weight = _bgr255_to_rgb01(weight)
                _check(where, tuple(conv.weight.shape), tuple(weight.shape), conv.groups, source.group)
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
                if level >= 0 and conv is model.detect.levels[level].stem.conv:
                    head_inputs.append(source.input)
                continue
            if kind == "cls":
                weight, bias = weight[PERSON_CLASS:PERSON_CLASS + 1], bias[PERSON_CLASS:PERSON_CLASS + 1]
                rows, cols = slice(5, 6), slice(hidden, 2 * hidden)
                conv.weight.zero_()
                conv.bias.zero_()
            else:
                rows, cols = (slice(0, 4), slice(0, hidden)) if kind == "reg" else (slice(4, 5), slice(0, hidden))
            _check(where, tuple(conv.weight[rows, cols].shape), tuple(weight.shape), 1, source.group)
            conv.weight[rows, cols] = weight
            conv.bias[rows] = bias
    return YoloxImport(len(convs), tuple(head_inputs))


def _bgr255_to_rgb01(weight: torch.Tensor) -> torch.Tensor:
    """Stem weight [O, 12, k, k] over Focus phases of BGR 0..255 -> the same function of RGB 0..1."""
    if weight.shape[1] != 12:
        raise ValueError(f"YOLOX stem convolution expects 12 input channels (Focus), got {weight.shape[1]}")
    order = [3 * phase + (2 - colour) for phase in range(4) for colour in range(3)]
    return weight[:, order] * 255.0


def _check(where: str, expected: tuple[int, ...], got: tuple[int, ...], groups: int, source_groups: int) -> None:
    if expected != got or groups != source_groups:
        raise ValueError(f"{where}: weight {got} (groups {source_groups}) does not fit {expected} "
                         f"(groups {groups}): not a YOLOX file of this network's size")
