"""The JDE / YOLOv5 detection head and the box decoding of CSTrack.

Raw head output of level l: [B, A, H_l, W_l, 5 + nc] (A = 3 anchors, H_l = H / stride_l), last axis
``(tx, ty, tw, th, t_obj, t_cls_0 .. t_cls_nc-1)``, all logits.

Decoding (spec "Detect head"; YOLOv5 v3+), per cell (gx, gy) and anchor (aw, ah) in input pixels:

    cx, cy = (2·σ(tx, ty) − 0.5 + (gx, gy)) · stride
    w, h   = (2·σ(tw, th))² · (aw, ah)
    score_c = σ(t_obj) · σ(t_cls_c)

Decoded predictions are [B, N, 4 + nc]: ``(x1, y1, x2, y2)`` in input pixels (x1 = cx − w/2, ...),
then one score per class (nc = 1: column 4 is the pedestrian score). N = Σ_l A·H_l·W_l, ordered by
level, then anchor, then row (y), then column (x), i.e. ``raw.reshape(B, -1, 5 + nc)`` order.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def decode_level(raw: torch.Tensor, anchors: torch.Tensor, stride: int) -> torch.Tensor:
    """Decode one level: raw [B, A, H, W, 5 + nc], anchors [A, 2] (w, h pixels) -> [B, A·H·W, 4 + nc]."""
    batch, num_anchors, height, width, _ = raw.shape
    ys = torch.arange(height, device=raw.device, dtype=raw.dtype)
    xs = torch.arange(width, device=raw.device, dtype=raw.dtype)
    grid = torch.stack((xs.view(1, width).expand(height, width), ys.view(height, 1).expand(height, width)), -1)
    t = raw.sigmoid()
    center = (t[..., 0:2] * 2.0 - 0.5 + grid) * stride  # [B, A, H, W, 2]
    size = (t[..., 2:4] * 2.0) ** 2 * anchors.to(raw.dtype).view(1, num_anchors, 1, 1, 2)
    scores = t[..., 4:5] * t[..., 5:]
    decoded = torch.cat((center - size / 2.0, center + size / 2.0, scores), dim=-1)
    return decoded.reshape(batch, num_anchors * height * width, decoded.shape[-1])


def decode_predictions(raw_levels: Sequence[torch.Tensor], anchors: torch.Tensor,
                       strides: Sequence[int]) -> torch.Tensor:
    """Decode all levels: raw [B, A, H_l, W_l, 5 + nc] each, anchors [L, A, 2] -> [B, N, 4 + nc] (xyxy, scores)."""
    return torch.cat([decode_level(raw, anchors[i], s) for i, (raw, s) in enumerate(zip(raw_levels, strides))], 1)


class DetectionHead(nn.Module):
    """Per level a Conv1x1 (with bias) C_l -> A·(5 + nc): L maps [B, C_l, H_l, W_l] -> L raw [B, A, H_l, W_l, 5 + nc].

    ``anchors`` (buffer [L, A, 2], input pixels) and ``strides`` describe the levels. Objectness biases
    start at log(8 / (640 / stride)²), the YOLOv5 prior of about 8 objects per 640² image.
    """

    def __init__(self, in_channels: Sequence[int], strides: Sequence[int],
                 anchors: Sequence[Sequence[tuple[float, float]]], num_classes: int) -> None:
        super().__init__()
        if not len(in_channels) == len(strides) == len(anchors):
            raise ValueError(f"DetectionHead: {len(in_channels)} inputs, {len(strides)} strides, "
                             f"{len(anchors)} anchor levels")
        self.num_classes = num_classes
        self.num_outputs = 5 + num_classes
        self.num_anchors = len(anchors[0])
        self.strides = tuple(int(s) for s in strides)
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32))
        self.convs = nn.ModuleList(nn.Conv2d(c, self.num_anchors * self.num_outputs, 1) for c in in_channels)
        self.reset_biases()

    def reset_biases(self) -> None:
        """Objectness prior (spec: obj += log(8 / (640 / stride)²)); class biases keep the default init."""
        with torch.no_grad():
            for conv, stride in zip(self.convs, self.strides):
                bias = conv.bias.view(self.num_anchors, self.num_outputs)
                bias[:, 4] += math.log(8.0 / (640.0 / stride) ** 2)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        outputs = []
        for conv, x in zip(self.convs, features):
            y = conv(x)
            batch, _, height, width = y.shape
            outputs.append(y.view(batch, self.num_anchors, self.num_outputs, height, width)
                           .permute(0, 1, 3, 4, 2).contiguous())
        return outputs

    def decode(self, raw_levels: Sequence[torch.Tensor]) -> torch.Tensor:
        """Raw outputs of :meth:`forward` -> [B, N, 4 + nc] (x1, y1, x2, y2 pixels, per-class scores)."""
        return decode_predictions(raw_levels, self.anchors, self.strides)
