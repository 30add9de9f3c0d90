"""REN, the reciprocal network of CSTrack (paper Sec. III-B; the reference code calls it CCN).

One :class:`ReciprocalNetwork` per output level splits the shared neck feature F [B, C, H, W] into a
detection feature and a ReID feature, both [B, C, H, W]:

1. Fp = AdaptiveAvgPool2d(pool_size)(F)                    [B, C, h, w]  (h, w = 6, 10; computed as
   two matrix products, see :class:`BinAveragePool2d`)
2. Mk = flatten(LeakyReLU_0.3(InstanceNorm(Conv3x3_k(Fp))))  [B, C, N'],  N' = h*w,  k = 1 (det), 2 (ReID)
3. self relation  W_Tk = softmax_rows(Mk @ Mkᵀ)              [B, C, C]   (paper eq. 2)
   cross relation W_Sk = softmax_rows(Mk @ Mhᵀ), h != k      [B, C, C]   (paper eq. 3)
4. Wk = λk·W_Tk + (1 − λk)·W_Sk, λk learnable, 0.5 at init  (paper eq. 4)
5. Fk = reshape(Wk @ flatten(F)) + F                       [B, C, H, W]  (residual)

With ``detection_gate`` (networks whose detection head is pretrained, e.g. on YOLOX's COCO weights)
the detection branch is F1 = g·reshape(W1 @ flatten(F)) + F with a learned per-level g that starts
at 0: the pretrained head first sees exactly the features it was trained on.

The relation maps are computed on the pooled map, so their cost does not grow with the input size;
the two [C, C] x [C, H*W] products do (linearly). Works for any H, W (the pool repeats cells when a
map is smaller than the pool size).
"""
from __future__ import annotations

import torch
from torch import nn

REN_LEAKY_SLOPE = 0.3
LAMBDA_INIT = 0.5


def bin_average_matrix(size: int, bins: int, like: torch.Tensor) -> torch.Tensor:
    """[bins, size] matrix whose row i averages positions floor(i·size/bins) .. ceil((i+1)·size/bins) − 1.

    Those are exactly the bins of ``nn.AdaptiveAvgPool2d``. Built with tensor ops from the size, so a
    traced/exported graph recomputes it for the input size instead of baking in one size.
    """
    index = torch.arange(bins, device=like.device)
    start = (index * size) // bins
    end = ((index + 1) * size + bins - 1) // bins
    position = torch.arange(size, device=like.device)
    inside = ((position[None, :] >= start[:, None]) & (position[None, :] < end[:, None])).to(like.dtype)
    return inside / inside.sum(dim=1, keepdim=True)


class BinAveragePool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d(output_size)`` as two matrix products: [B, C, H, W] -> [B, C, h, w].

    Same numbers as the PyTorch module, but it exports to ONNX for every input size: the ONNX
    exporter refuses adaptive pooling unless the output size divides the input size, which 6 x 10
    does not for 1088x608 inputs (P3 is 76 x 136).
    """

    def __init__(self, output_size: tuple[int, int]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = bin_average_matrix(x.shape[-2], self.output_size[0], x)  # [h, H]
        cols = bin_average_matrix(x.shape[-1], self.output_size[1], x)  # [w, W]
        return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


class TaskProjection(nn.Sequential):
    """Conv3x3 (with bias) -> InstanceNorm (no affine) -> LeakyReLU(0.3): [B, C, h, w] -> [B, C, h, w]."""

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=True),
            nn.InstanceNorm2d(channels, affine=False),
            nn.LeakyReLU(REN_LEAKY_SLOPE, inplace=True),
        )


class ReciprocalNetwork(nn.Module):
    """Task-dependent decoupling of one level: [B, C, H, W] -> (detection [B, C, H, W], ReID [B, C, H, W]).

    ``relation_weights`` holds (λ1, λ2): the share of self relation in the detection and ReID
    weight maps; both are trained (the paper reports they converge to about 0.12 and 0.32).
    """

    def __init__(self, channels: int, pool_size: tuple[int, int] = (6, 10), detection_gate: bool = False) -> None:
        super().__init__()
        self.detection_gate = nn.Parameter(torch.zeros(1)) if detection_gate else None
        self.pool = BinAveragePool2d(pool_size)
        self.detection_projection = TaskProjection(channels)
        self.reid_projection = TaskProjection(channels)
        self.relation_weights = nn.Parameter(torch.full((2,), LAMBDA_INIT))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pool(features)
        m_det = self.detection_projection(pooled).flatten(2)  # [B, C, N']
        m_reid = self.reid_projection(pooled).flatten(2)
        self_det = torch.softmax(m_det @ m_det.transpose(1, 2), dim=-1)  # [B, C, C]
        self_reid = torch.softmax(m_reid @ m_reid.transpose(1, 2), dim=-1)
        cross_det = torch.softmax(m_det @ m_reid.transpose(1, 2), dim=-1)
        cross_reid = torch.softmax(m_reid @ m_det.transpose(1, 2), dim=-1)
        lambda_det, lambda_reid = self.relation_weights[0], self.relation_weights[1]
        weights_det = lambda_det * self_det + (1.0 - lambda_det) * cross_det
        weights_reid = lambda_reid * self_reid + (1.0 - lambda_reid) * cross_reid
        flat = features.flatten(2)  # [B, C, H*W]
        relation_det = (weights_det @ flat).view_as(features)
        if self.detection_gate is not None:
            relation_det = relation_det * self.detection_gate
        detection = relation_det + features
        reid = (weights_reid @ flat).view_as(features) + features
        return detection, reid


class PerLevelReciprocalNetworks(nn.Module):
    """One :class:`ReciprocalNetwork` per level: list of L maps -> (L detection maps, L ReID maps)."""

    def __init__(self, channels: tuple[int, ...], pool_size: tuple[int, int] = (6, 10),
                 detection_gate: bool = False) -> None:
        super().__init__()
        self.levels = nn.ModuleList(ReciprocalNetwork(c, pool_size, detection_gate) for c in channels)

    def forward(self, features: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        detection: list[torch.Tensor] = []
        reid: list[torch.Tensor] = []
        for ren, x in zip(self.levels, features):
            det_x, reid_x = ren(x)
            detection.append(det_x)
            reid.append(reid_x)
        return detection, reid
