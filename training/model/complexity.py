"""Parameters and GFLOPs of a :class:`CSTrack`, per top-level block and in total.

GFLOPs = 2 × multiply-accumulates of convolutions (transposed and grouped included), linear layers and
matrix products (REN's relation maps and re-weighting), counted by ``torch.utils.flop_counter`` for a
batch-1 forward at the given input size. Pooling, normalisation, activations, softmax, element-wise
ops and box decoding are not counted (YOLOv5 and the CSTrack reference count the same way). The
forward runs on the ``meta`` device, so counting is fast and allocates no activations.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from mottrack_training.model.cstrack import CSTrack


@dataclass(frozen=True)
class BlockComplexity:
    """Size and cost of one block: ``params`` (count) and ``gflops`` (2·MACs / 1e9, batch 1)."""

    params: int
    gflops: float


@dataclass(frozen=True)
class ModelComplexity:
    """Per-block and total complexity at one input size (``width`` x ``height`` pixels)."""

    model_name: str
    width: int
    height: int
    params: int
    gflops: float
    blocks: dict[str, BlockComplexity] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"params", "gflops", "blocks": {name: {"params", "gflops"}}, "model", "input_size"}``."""
        return {
            "params": self.params,
            "gflops": round(self.gflops, 3),
            "blocks": {name: {"params": b.params, "gflops": round(b.gflops, 3)} for name, b in self.blocks.items()},
            "model": self.model_name,
            "input_size": {"width": self.width, "height": self.height},
            "flops_counted": "2 x MACs of conv, conv-transpose, linear and matmul (batch 1)",
        }

    def format_table(self) -> str:
        """A fixed-width table: one row per block, then the total."""
        lines = [f"{self.model_name} at {self.width}x{self.height} (batch 1; GFLOPs = 2 x MACs)",
                 f"{'block':<16}{'params':>14}{'params %':>10}{'GFLOPs':>10}{'GFLOPs %':>10}"]
        rows = [*self.blocks.items(), ("total", BlockComplexity(self.params, self.gflops))]
        for name, block in rows:
            lines.append(f"{name:<16}{block.params:>14,}{100 * block.params / max(self.params, 1):>9.1f}%"
                         f"{block.gflops:>10.2f}{100 * block.gflops / max(self.gflops, 1e-12):>9.1f}%")
        return "\n".join(lines)


def count_parameters(module: torch.nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN statistics excluded)."""
    return sum(p.numel() for p in module.parameters())


def measure_complexity(model: CSTrack, width: int, height: int) -> ModelComplexity:
    """Count parameters and FLOPs of ``model`` for one [1, 3, height, width] input.

    ``model`` may live on any device (a ``meta`` model is fastest to build); it is not modified.
    Raises ``ValueError`` when the size is not a multiple of ``model.max_stride``.
    """
    if width <= 0 or height <= 0 or width % model.max_stride or height % model.max_stride:
        raise ValueError(f"input size {width}x{height} must be positive multiples of {model.max_stride}")
    meta_model = model if _on_meta(model) else copy.deepcopy(model).to("meta")
    meta_model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        meta_model(torch.empty(1, 3, height, width, device="meta"), decode=False)
    by_module = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    root = type(meta_model).__name__
    blocks = {
        name: BlockComplexity(count_parameters(module), by_module.get(f"{root}.{name}", 0) / 1e9)
        for name, module in model.block_modules().items()
    }
    return ModelComplexity(model.config.name, width, height, count_parameters(model),
                           counter.get_total_flops() / 1e9, blocks)


def _on_meta(model: torch.nn.Module) -> bool:
    return all(p.device.type == "meta" for p in model.parameters())
