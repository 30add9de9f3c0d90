"""SAAN, CSTrack's scale-aware attention network (paper Sec. III-C), and the JDE-style ablation.

:class:`ScaleAwareAttention` turns the L per-level ReID maps [B, C_l, H/s_l, W/s_l] (s_l = 8, 16, 32)
into one embedding map [B, E, H/8, W/8]:

- per level: ConvBlock 3x3 C_l -> D (D = 256 scaled by the width multiple), then levels coarser than
  the first are upsampled onto the first level's grid by a depthwise ConvTranspose2d with kernel 2f,
  stride f, padding f/2 (f = 2: k4 s2 p1, f = 4: k8 s4 p2), which yields exactly f·H_l rows for any
  H_l, so the maps land on the stride-8 grid for every input size that is a multiple of 32;
- spatial attention on each level, concatenation to [B, L·D, H/8, W/8], channel attention;
- ConvBlock 3x3 L·D -> D, Conv1x1 D -> E (with bias).

The upsampling kernels start as bilinear interpolation (then train freely). Everything after the
channel attention is local, so :meth:`ScaleAwareAttention.embeddings_at` gives the map's vectors at
chosen cells without computing the rest of it (the export's sparse embedding head).
:class:`PerLevelEmbeddingHeads` is the ``saan: false`` ablation: a 1x1 conv per level (JDE), giving
L maps [B, E, H/s_l, W/s_l].
"""
from __future__ import annotations

import torch
from torch import nn

from mottrack_training.model.common import ConvBlock

ATTENTION_LEAKY_SLOPE = 0.3


class SpatialAttention(nn.Module):
    """Where to look: y = x·a + x with a = σ(Conv7x7([mean_c, max_c](ConvBlock1x1(x)))), a: [B, 1, H, W]."""

    def __init__(self, channels: int, attention_channels: int) -> None:
        super().__init__()
        self.reduce = ConvBlock(channels, attention_channels, 1)
        self.conv = nn.Conv2d(2, 1, 7, 1, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        pooled = torch.cat((reduced.mean(dim=1, keepdim=True), reduced.amax(dim=1, keepdim=True)), dim=1)
        return x * torch.sigmoid(self.conv(pooled)) + x


class ChannelAttention(nn.Module):
    """What to look at: y = x·a + x with a = σ(MLP(avgpool(x)) + MLP(maxpool(x))), a: [B, C, 1, 1].

    The shared MLP is Conv1d(1, 1, k3) along the channels -> LayerNorm(C) -> LeakyReLU(0.3) -> Linear(C, C).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.local_mix = nn.Conv1d(1, 1, 3, padding=1, bias=False)
        self.norm = nn.LayerNorm(channels)
        self.act = nn.LeakyReLU(ATTENTION_LEAKY_SLOPE, inplace=True)
        self.fc = nn.Linear(channels, channels)

    def _shared_mlp(self, pooled: torch.Tensor) -> torch.Tensor:
        # pooled [B, C] -> [B, 1, C] so the Conv1d slides over channels
        return self.fc(self.act(self.norm(self.local_mix(pooled.unsqueeze(1))))).squeeze(1)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """a = σ(MLP(avgpool(x)) + MLP(maxpool(x))): [B, C, H, W] -> [B, C]."""
        return torch.sigmoid(self._shared_mlp(x.mean(dim=(2, 3))) + self._shared_mlp(x.amax(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)[:, :, None, None] + x


def bilinear_upsampling_kernel(factor: int) -> torch.Tensor:
    """[2f, 2f] kernel that makes ConvTranspose2d(k=2f, s=f, p=f/2) a bilinear ×f upsampling."""
    size = 2 * factor
    center = (size - 1) / 2
    ramp = 1.0 - torch.abs(torch.arange(size, dtype=torch.float32) - center) / factor
    return ramp[:, None] * ramp[None, :]


class DepthwiseUpsample(nn.ConvTranspose2d):
    """Learned ×f upsampling, one kernel per channel: [B, C, H, W] -> [B, C, f·H, f·W] (f even)."""

    def __init__(self, channels: int, factor: int) -> None:
        if factor < 2 or factor % 2:
            raise ValueError(f"upsampling factor must be an even integer >= 2, got {factor}")
        super().__init__(channels, channels, 2 * factor, stride=factor, padding=factor // 2,
                         groups=channels, bias=False)
        with torch.no_grad():
            self.weight.copy_(bilinear_upsampling_kernel(factor).expand_as(self.weight))


class ScaleAwareAttention(nn.Module):
    """SAAN: L ReID maps [B, C_l, H/s_l, W/s_l] -> embedding map [B, embedding_dim, H/s_0, W/s_0].

    Args:
        in_channels: C_l per level; strides: s_l per level (each a multiple of s_0).
        channels: D, the per-level width (256 in CSTrack); attention_channels: the spatial
        attention's reduction width (64 in CSTrack); embedding_dim: E (512).
    """

    def __init__(self, in_channels: tuple[int, ...], strides: tuple[int, ...], channels: int,
                 attention_channels: int, embedding_dim: int) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(ConvBlock(c, channels, 3) for c in in_channels)
        self.upsamplers = nn.ModuleList(
            DepthwiseUpsample(channels, s // strides[0]) if s != strides[0] else nn.Identity() for s in strides)
        self.spatial_attention = nn.ModuleList(SpatialAttention(channels, attention_channels) for _ in strides)
        fused_channels = channels * len(in_channels)
        self.channel_attention = ChannelAttention(fused_channels)
        self.fuse = ConvBlock(fused_channels, channels, 3)
        self.embed = nn.Conv2d(channels, embedding_dim, 1, bias=True)

    def attended_levels(self, features: list[torch.Tensor]) -> torch.Tensor:
        """The L attended levels on the finest grid, concatenated: [B, L·D, H/s_0, W/s_0]."""
        return torch.cat([
            attend(upsample(encode(x)))
            for x, encode, upsample, attend in zip(features, self.encoders, self.upsamplers, self.spatial_attention)
        ], dim=1)

    def forward(self, features: list[torch.Tensor], rows: torch.Tensor | None = None,
                cols: torch.Tensor | None = None) -> torch.Tensor:
        """The embedding map [B, E, H/s_0, W/s_0]; with ``rows`` and ``cols`` (int64 [M] cells of that map)
        only its vectors there, [M, E], computed at those cells alone (:meth:`embeddings_at`)."""
        if (rows is None) != (cols is None):
            raise ValueError("ScaleAwareAttention: pass both rows and cols (the cells), or neither (the whole map)")
        levels = self.attended_levels(features)
        if rows is not None:
            return self.embeddings_at(levels, rows, cols)
        return self.embed(self.fuse(self.channel_attention(levels)))

    def embeddings_at(self, levels: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """What :meth:`forward` gives at M cells, computed at those cells only (inference; batch 1).

        ``levels``: :meth:`attended_levels` [1, L·D, h, w]; ``rows`` / ``cols``: int64 [M] cell indices
        in ``[0, h)`` / ``[0, w)``. Returns [M, E], the (unnormalised) embedding map's vectors there.

        The channel attention is global (pooled over the whole map) and so is computed in full; what
        follows it is local: a 3x3 ConvBlock (zero padding) and a 1x1 convolution. So the 3x3 patch of
        each cell is gathered from the zero-padded map, scaled by the channel weights and sent through
        the same two convolutions as a batch of M 3x3 images: the exported end-to-end graph then spends
        the fuse and embed convolutions (a quarter of SAAN's arithmetic) on the kept boxes only. Needs
        ``eval()`` (the BatchNorm, unless folded, uses its running statistics).
        """
        batch, channels, height, width = (int(v) for v in levels.shape)
        if batch != 1:
            raise ValueError(f"embeddings_at: batch 1 only, got levels of shape {tuple(levels.shape)}")
        conv = self.fuse.conv
        if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.padding != (1, 1):
            raise ValueError(f"embeddings_at: the fuse convolution must be 3x3, stride 1, padding 1, got {conv}")
        padded_width = width + 2
        table = nn.functional.pad(levels[0], (1, 1, 1, 1)).reshape(channels, (height + 2) * padded_width)
        table = table.transpose(0, 1)  # [(h + 2)·(w + 2), L·D]: one row per padded cell, gathered as rows
        index = torch.stack([(rows + dy) * padded_width + (cols + dx) for dy in range(3) for dx in range(3)], dim=1)
        count = int(index.shape[0])
        patches = table.index_select(0, index.reshape(-1)).reshape(count, 9, channels)
        scale = self.channel_attention.weights(levels)[0].view(1, 1, channels)
        patches = patches * scale + patches  # the channel attention, x·a + x, on the patches only
        patches = patches.permute(0, 2, 1).reshape(count, channels, 3, 3)
        # the fuse convolution's 3x3 window on a 3x3 patch without padding: the centre cell's output
        fused = self.fuse.act(self.fuse.norm(nn.functional.conv2d(patches, conv.weight, conv.bias)))
        # kept as convolutions (not matrix products) so that INT8 calibration sees the same layers:
        # the fuse convolution quantized, the embedding's last layer (a head convolution) in float
        return self.embed(fused).view(count, self.embed.out_channels)


class PerLevelEmbeddingHeads(nn.Module):
    """JDE-style ablation: Conv1x1 (with bias) per level, [B, C_l, H_l, W_l] -> [B, E, H_l, W_l] each."""

    def __init__(self, in_channels: tuple[int, ...], embedding_dim: int) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Conv2d(c, embedding_dim, 1, bias=True) for c in in_channels)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [head(x) for head, x in zip(self.heads, features)]
