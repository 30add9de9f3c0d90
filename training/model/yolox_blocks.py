"""YOLOX building blocks: CSPDarknet backbone, PAFPN neck and the decoupled head, BatchNorm folded.

These mirror Megvii's YOLOX (``yolox/models/{network_blocks,darknet,yolo_pafpn,yolo_head}.py``) layer
for layer, in the same execution order, so that the COCO-pretrained YOLOX-nano ONNX file (whose
BatchNorms are folded into the convolutions' biases) can be loaded convolution by convolution
(:mod:`.yolox_onnx`). Every convolution therefore has a bias and no BatchNorm: fine-tuning starts
from exactly the teacher's function.

Shapes (input [B, 3, H, W], H and W multiples of 32; w = width multiple):

- :class:`CSPDarknet`: ``[image] -> [dark3 (256w, H/8), dark4 (512w, H/16), dark5 (1024w, H/32)]``
- :class:`YoloxPafpn`: those three -> ``[P3 (256w), P4 (512w), P5 (1024w)]`` at strides 8, 16, 32
- :class:`YoloxHead`: L maps -> L raw maps [B, 1, H_l, W_l, 5 + nc] ordered ``tx, ty, tw, th, obj,
  cls...`` (logits): the same layout as the anchor head of :mod:`.heads` with one "anchor", so the
  losses, the trainer and the export tail treat both heads alike. Decoding (YOLOX, anchor-free):
  ``cx = (tx + gx)·s``, ``w = exp(tw)·s``, score = σ(obj)·σ(cls).

YOLOX's separate ``reg_pred`` / ``obj_pred`` (on the regression tower) and ``cls_pred`` (on the
classification tower) are one 1x1 convolution here over the concatenated towers, block-initialised
(exactly YOLOX's outputs at load time), so the head ends in a single convolution of 5 + nc channels
like the anchor head (calibration keeps it in float by that channel count).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mottrack_training.model.common import SpaceToDepthStem

__all__ = ["CSPDarknet", "ConvAct", "DepthwiseSeparable", "YoloxHead", "YoloxPafpn", "decode_yolox"]


class ConvAct(nn.Module):
    """Conv2d (with bias: BatchNorm folded) + SiLU (or another activation:
    :func:`~mottrack_training.model.activations.set_activation`), "same" padding: YOLOX's ``BaseConv``."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups, bias=True)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class DepthwiseSeparable(nn.Module):
    """Depthwise k x k (stride s) then pointwise 1x1, each with SiLU: YOLOX's ``DWConv``."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.dconv = ConvAct(in_channels, in_channels, kernel, stride, groups=in_channels)
        self.pconv = ConvAct(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pconv(self.dconv(x))


def _spatial_conv(depthwise: bool, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    return DepthwiseSeparable(cin, cout, kernel, stride) if depthwise else ConvAct(cin, cout, kernel, stride)


class _Bottleneck(nn.Module):
    def __init__(self, channels: int, shortcut: bool, depthwise: bool) -> None:
        super().__init__()
        self.conv1 = ConvAct(channels, channels, 1)
        self.conv2 = _spatial_conv(depthwise, channels, channels, 3)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.shortcut else y


class CSPLayer(nn.Module):
    """YOLOX ``CSPLayer``: two 1x1 halves, n bottlenecks on the first, concatenated, 1x1 out."""

    def __init__(self, in_channels: int, out_channels: int, repeats: int, shortcut: bool, depthwise: bool) -> None:
        super().__init__()
        hidden = out_channels // 2
        self.conv1 = ConvAct(in_channels, hidden, 1)
        self.conv2 = ConvAct(in_channels, hidden, 1)
        self.m = nn.Sequential(*(_Bottleneck(hidden, shortcut, depthwise) for _ in range(repeats)))
        self.conv3 = ConvAct(2 * hidden, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.conv1(x)
        second = self.conv2(x)
        return self.conv3(torch.cat((self.m(first), second), dim=1))


class _SppBottleneck(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernels: Sequence[int] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.conv1 = ConvAct(in_channels, hidden, 1)
        self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)
        self.conv2 = ConvAct(hidden * (len(kernels) + 1), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.pools], dim=1))


class _Focus(SpaceToDepthStem):
    """YOLOX's Focus: space-to-depth then a 3x3 ConvAct (folded into one 6x6 stride-2 conv by ``fuse``)."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.conv = ConvAct(12, out_channels, 3)


class CSPDarknet(nn.Module):
    """YOLOX's CSPDarknet: ``[image [B, 3, H, W]] -> [dark3, dark4, dark5]`` (see module docstring)."""

    def __init__(self, width: float, depth: float, depthwise: bool) -> None:
        super().__init__()
        base = int(64 * width)
        n = max(round(3 * depth), 1)
        self.stem = _Focus(base)
        self.dark2 = nn.Sequential(_spatial_conv(depthwise, base, base * 2, 3, 2),
                                   CSPLayer(base * 2, base * 2, n, True, depthwise))
        self.dark3 = nn.Sequential(_spatial_conv(depthwise, base * 2, base * 4, 3, 2),
                                   CSPLayer(base * 4, base * 4, n * 3, True, depthwise))
        self.dark4 = nn.Sequential(_spatial_conv(depthwise, base * 4, base * 8, 3, 2),
                                   CSPLayer(base * 8, base * 8, n * 3, True, depthwise))
        self.dark5 = nn.Sequential(_spatial_conv(depthwise, base * 8, base * 16, 3, 2),
                                   _SppBottleneck(base * 16, base * 16),
                                   CSPLayer(base * 16, base * 16, n, False, depthwise))
        self.out_channels = (base * 4, base * 8, base * 16)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        x = self.dark2(self.stem(inputs[0]))
        dark3 = self.dark3(x)
        dark4 = self.dark4(dark3)
        return [dark3, dark4, self.dark5(dark4)]


class YoloxPafpn(nn.Module):
    """YOLOX's PAFPN: ``[dark3, dark4, dark5] -> [P3, P4, P5]`` (same channels as the inputs)."""

    def __init__(self, channels: tuple[int, int, int], depth: float, depthwise: bool) -> None:
        super().__init__()
        c3, c4, c5 = channels
        n = max(round(3 * depth), 1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = ConvAct(c5, c4, 1)
        self.c3_p4 = CSPLayer(2 * c4, c4, n, False, depthwise)
        self.reduce_conv1 = ConvAct(c4, c3, 1)
        self.c3_p3 = CSPLayer(2 * c3, c3, n, False, depthwise)
        self.bu_conv2 = _spatial_conv(depthwise, c3, c3, 3, 2)
        self.c3_n3 = CSPLayer(2 * c3, c4, n, False, depthwise)
        self.bu_conv1 = _spatial_conv(depthwise, c4, c4, 3, 2)
        self.c3_n4 = CSPLayer(2 * c4, c5, n, False, depthwise)
        self.out_channels = channels

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        x2, x1, x0 = features
        fpn_out0 = self.lateral_conv0(x0)
        f_out0 = self.c3_p4(torch.cat((self.upsample(fpn_out0), x1), 1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.c3_p3(torch.cat((self.upsample(fpn_out1), x2), 1))
        pan_out1 = self.c3_n3(torch.cat((self.bu_conv2(pan_out2), fpn_out1), 1))
        pan_out0 = self.c3_n4(torch.cat((self.bu_conv1(pan_out1), fpn_out0), 1))
        return [pan_out2, pan_out1, pan_out0]


class _HeadLevel(nn.Module):
    def __init__(self, in_channels: int, hidden: int, num_classes: int, depthwise: bool) -> None:
        super().__init__()
        self.stem = ConvAct(in_channels, hidden, 1)
        self.cls_convs = nn.Sequential(_spatial_conv(depthwise, hidden, hidden), _spatial_conv(depthwise, hidden, hidden))
        self.reg_convs = nn.Sequential(_spatial_conv(depthwise, hidden, hidden), _spatial_conv(depthwise, hidden, hidden))
        # outputs tx, ty, tw, th, obj (from the regression tower), cls (from the classification tower)
        self.pred = nn.Conv2d(2 * hidden, 5 + num_classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.pred(torch.cat((self.reg_convs(x), self.cls_convs(x)), 1))


def decode_yolox(raw_levels: Sequence[torch.Tensor], strides: Sequence[int]) -> torch.Tensor:
    """Raw [B, 1, H_l, W_l, 5 + nc] per level -> [B, N, 4 + nc] (x1, y1, x2, y2 input pixels, class scores)."""
    out = []
    for raw, stride in zip(raw_levels, strides):
        batch, _, height, width, _ = raw.shape
        ys = torch.arange(height, device=raw.device, dtype=raw.dtype)
        xs = torch.arange(width, device=raw.device, dtype=raw.dtype)
        grid = torch.stack((xs.view(1, width).expand(height, width), ys.view(height, 1).expand(height, width)), -1)
        center = (raw[..., 0:2] + grid) * stride
        size = torch.exp(raw[..., 2:4]) * stride
        scores = torch.sigmoid(raw[..., 4:5]) * torch.sigmoid(raw[..., 5:])
        decoded = torch.cat((center - size / 2.0, center + size / 2.0, scores), dim=-1)
        out.append(decoded.reshape(batch, height * width, decoded.shape[-1]))
    return torch.cat(out, 1)


class YoloxHead(nn.Module):
    """YOLOX decoupled head, one level per input: L maps -> L raw [B, 1, H_l, W_l, 5 + nc].

    ``anchors`` ([L, 1, 2] input pixels) are not used to decode: they only tell the YOLOv5-style
    positive assignment of the training loss which GT sizes each level learns (shape ratio < 4).
    """

    box_coding = "yolox"

    def __init__(self, in_channels: Sequence[int], strides: Sequence[int], hidden: int, num_classes: int,
                 assign_anchors: Sequence[tuple[float, float]], depthwise: bool) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_outputs = 5 + num_classes
        self.num_anchors = 1
        self.strides = tuple(int(s) for s in strides)
        self.register_buffer("anchors", torch.tensor([[list(a)] for a in assign_anchors], dtype=torch.float32))
        self.levels = nn.ModuleList(_HeadLevel(c, hidden, num_classes, depthwise) for c in in_channels)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        outputs = []
        for level, x in zip(self.levels, features):
            y = level(x)
            batch, channels, height, width = y.shape
            outputs.append(y.view(batch, 1, channels, height, width).permute(0, 1, 3, 4, 2).contiguous())
        return outputs

    def decode(self, raw_levels: Sequence[torch.Tensor]) -> torch.Tensor:
        return decode_yolox(raw_levels, self.strides)
