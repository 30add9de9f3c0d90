"""Building blocks of the YOLOv5 (v3-era) backbone and neck used by CSTrack.

All blocks take and return NCHW float tensors. ``ConvBlock`` is Conv2d (no bias) + BatchNorm +
LeakyReLU(0.1), "same" padding for odd kernels. Modules that hold a foldable BatchNorm expose
``fuse_batch_norm()``, which folds it into the preceding convolution for inference (outputs equal
up to float rounding); :meth:`CSTrack.fuse` calls it on every such module, then folds every
:class:`SpaceToDepthStem` (Focus) into one strided convolution (:func:`fold_space_to_depth`).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

LEAKY_SLOPE = 0.1


def fold_batch_norm(conv: nn.Conv2d, norm: nn.BatchNorm2d, channels: slice = slice(None)) -> nn.Conv2d:
    """A new Conv2d (with bias) equal to ``norm(conv(x))[:, channels]`` when ``norm`` is in eval mode.

    ``channels`` selects which of the norm's channels belong to ``conv``; it lets one BatchNorm that
    follows a concatenation be folded into each of the concatenated convolutions.
    """
    assert norm.running_mean is not None and norm.running_var is not None
    with torch.no_grad():
        scale = norm.weight[channels] / torch.sqrt(norm.running_var[channels] + norm.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          conv.dilation, conv.groups, bias=True).to(conv.weight.device, conv.weight.dtype)
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_((bias - norm.running_mean[channels]) * scale + norm.bias[channels])
    return fused


class ConvBlock(nn.Module):
    """Conv2d(k, stride, no bias) -> BatchNorm2d -> LeakyReLU(0.1): [B, C_in, H, W] -> [B, C_out, H/s, W/s]."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)
        self.norm: nn.Module = nn.BatchNorm2d(out_channels)
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))

    def fuse_batch_norm(self) -> None:
        """Fold the BatchNorm into the convolution (inference only; idempotent)."""
        if isinstance(self.norm, nn.BatchNorm2d):
            self.conv = fold_batch_norm(self.conv, self.norm)
            self.norm = nn.Identity()


class Bottleneck(nn.Module):
    """ConvBlock 1x1 -> ConvBlock 3x3, plus the input when ``shortcut`` and the channels match."""

    def __init__(self, in_channels: int, out_channels: int, shortcut: bool = True) -> None:
        super().__init__()
        self.reduce = ConvBlock(in_channels, out_channels, 1)
        self.expand = ConvBlock(out_channels, out_channels, 3)
        self.add_input = shortcut and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(self.reduce(x))
        return x + y if self.add_input else y


class BottleneckCSP(nn.Module):
    """Cross-stage-partial block (YOLOv5 v3): [B, C_in, H, W] -> [B, C_out, H, W].

    Half the output width goes through ``repeats`` bottlenecks, the other half is a plain 1x1
    projection of the input; both are concatenated, batch-normalised, activated and mixed by a 1x1.
    """

    def __init__(self, in_channels: int, out_channels: int, repeats: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        hidden = out_channels // 2
        self.stem = ConvBlock(in_channels, hidden, 1)
        self.bottlenecks = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut) for _ in range(repeats)))
        self.bottleneck_proj = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.bypass_proj = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.norm: nn.Module = nn.BatchNorm2d(2 * hidden)
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
        self.mix = ConvBlock(2 * hidden, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = self.bottleneck_proj(self.bottlenecks(self.stem(x)))
        y2 = self.bypass_proj(x)
        return self.mix(self.act(self.norm(torch.cat((y1, y2), dim=1))))

    def fuse_batch_norm(self) -> None:
        """Fold the post-concatenation BatchNorm into the two projections (inference only)."""
        if isinstance(self.norm, nn.BatchNorm2d):
            hidden = self.bottleneck_proj.out_channels
            self.bottleneck_proj = fold_batch_norm(self.bottleneck_proj, self.norm, slice(0, hidden))
            self.bypass_proj = fold_batch_norm(self.bypass_proj, self.norm, slice(hidden, 2 * hidden))
            self.norm = nn.Identity()


class SpatialPyramidPooling(nn.Module):
    """SPP: 1x1 halving, max-pools of several kernels (stride 1) concatenated, 1x1 to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, pool_kernels: Sequence[int] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.reduce = ConvBlock(in_channels, hidden, 1)
        self.pools = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in pool_kernels)
        self.mix = ConvBlock(hidden * (len(pool_kernels) + 1), out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        return self.mix(torch.cat([x, *(pool(x) for pool in self.pools)], dim=1))


def fold_space_to_depth(conv: nn.Conv2d) -> nn.Conv2d:
    """The k x k "same" convolution that follows a Focus space-to-depth, as one 2k x 2k convolution of
    stride 2 (padding 2·(k // 2)) on the image itself: the same function, without the four strided
    slices and the concatenation (YOLOv5 v6 made the same change; here it is exact, weights moved).

    Space-to-depth channel block b = dy + 2·dx holds pixels (2i + dy, 2j + dx), so kernel tap (ki, kj)
    of block b reads image offset (2·ki + dy, 2·kj + dx) - 2·(k // 2): the big kernel's tap.
    """
    out_channels, in4, k, kw = conv.weight.shape
    if in4 % 4 or k != kw or k % 2 == 0 or conv.stride != (1, 1) or conv.groups != 1 \
            or conv.dilation != (1, 1) or conv.padding != (k // 2, k // 2):
        raise ValueError(f"fold_space_to_depth needs an odd square 'same' stride-1 convolution over 4·C channels, "
                         f"got weight {tuple(conv.weight.shape)}, stride {conv.stride}, padding {conv.padding}")
    channels = in4 // 4
    with torch.no_grad():
        weight = conv.weight.view(out_channels, 2, 2, channels, k, k)  # (o, dx, dy, c, ki, kj)
        weight = weight.permute(0, 3, 4, 2, 5, 1).reshape(out_channels, channels, 2 * k, 2 * k)
        folded = nn.Conv2d(channels, out_channels, 2 * k, 2, 2 * (k // 2), bias=conv.bias is not None)
        folded = folded.to(conv.weight.device, conv.weight.dtype)
        folded.weight.copy_(weight)
        if conv.bias is not None:
            folded.bias.copy_(conv.bias)
    return folded


class SpaceToDepthStem(nn.Module):
    """Space-to-depth (top-left, bottom-left, top-right, bottom-right) then ``self.conv``, a block whose
    ``.conv`` is its Conv2d: [B, C, H, W] -> [B, C_out, H/2, W/2] (H, W even). ``fold()`` (inference)
    turns the pair into one strided convolution (:func:`fold_space_to_depth`)."""

    conv: nn.Module
    folded: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.folded:
            # Same channel order as YOLOv5 / YOLOX, so their pretrained first layers map one to one.
            x = torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1)
        return self.conv(x)

    def fold(self) -> None:
        if not self.folded:
            self.conv.conv = fold_space_to_depth(self.conv.conv)
            self.folded = True


class Focus(SpaceToDepthStem):
    """YOLOv5's Focus: space-to-depth then a ConvBlock."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = ConvBlock(4 * in_channels, out_channels, kernel)


class Concat(nn.Module):
    """Channel concatenation of same-size maps: list of [B, C_i, H, W] -> [B, sum C_i, H, W]."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, dim=1)


def fuse_batch_norms(module: nn.Module) -> int:
    """Call ``fuse_batch_norm()`` on every submodule that has one; returns how many were fused."""
    fusable = [m for m in module.modules() if hasattr(m, "fuse_batch_norm") and m is not module]
    for m in fusable:
        m.fuse_batch_norm()
    return len(fusable)


def fold_space_to_depth_stems(module: nn.Module) -> int:
    """:meth:`SpaceToDepthStem.fold` on every stem in ``module`` (after BatchNorm fusion); returns how many."""
    stems = [m for m in module.modules() if isinstance(m, SpaceToDepthStem)]
    for m in stems:
        m.fold()
    return len(stems)
