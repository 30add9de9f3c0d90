"""SGD (or AdamW) with YOLOv5 parameter groups, the warm-up + step learning-rate schedule, and weight EMA.

Parameter groups (YOLOv5): ``decay`` (conv / linear weights, weight decay on), ``no_decay``
(BatchNorm weights and everything 1-D that is not a bias, e.g. REN's λ), ``bias`` (biases, no
decay). Weight decay is scaled by ``batch · accumulate / nominal_batch`` so it stays per-64-images
when the nominal batch is not reached exactly.

Schedule, evaluated before optimizer step ``s`` (0-based) of epoch ``e``::

    target_lr   = lr · gamma^(number of milestones <= e)
    s < W:  lr_g = interp(s, [0, W], [start_g, target_lr])   start = warmup_bias_lr for biases, else 0
            momentum = interp(s, [0, W], [warmup_momentum, momentum])
    else:   lr_g = target_lr, momentum = momentum

with W = max(round(warmup_epochs · steps_per_epoch), warmup_min_steps).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["ModelEma", "WarmupStepSchedule", "build_optimizer"]


def build_optimizer(module: nn.Module, lr: float, momentum: float, weight_decay: float,
                    nesterov: bool = True, kind: str = "sgd") -> torch.optim.Optimizer:
    """SGD (``kind="adamw"``: AdamW, beta1 = ``momentum``) over ``module``'s trainable parameters in three
    groups: decay, no_decay, bias (see module doc)."""
    decay, no_decay, bias = [], [], []
    for mod in module.modules():
        for name, param in mod.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if name == "bias":
                bias.append(param)
            elif isinstance(mod, nn.modules.batchnorm._NormBase) or param.ndim <= 1:
                no_decay.append(param)
            else:
                decay.append(param)
    groups = [{"params": decay, "weight_decay": weight_decay, "name": "decay"},
              {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
              {"params": bias, "weight_decay": 0.0, "name": "bias"}]
    groups = [g for g in groups if g["params"]]
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))
    if kind != "sgd":
        raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {kind!r}")
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov)


@dataclass
class WarmupStepSchedule:
    """Learning rate and momentum per optimizer step (see module doc); stateless apart from its settings."""

    lr: float
    momentum: float
    warmup_steps: int
    milestones: Sequence[int] = (20,)
    gamma: float = 0.1
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1

    def target_lr(self, epoch: int) -> float:
        """The post-warm-up learning rate of ``epoch`` (0-based)."""
        return self.lr * self.gamma ** sum(1 for m in self.milestones if epoch >= m)

    def values(self, step: int, epoch: int, group: str) -> tuple[float, float]:
        """``(lr, momentum)`` of parameter group ``group`` at optimizer step ``step`` in ``epoch``."""
        target = self.target_lr(epoch)
        if step >= self.warmup_steps:
            return target, self.momentum
        start = self.warmup_bias_lr if group == "bias" else 0.0
        points = [0.0, float(self.warmup_steps)]
        return (float(np.interp(step, points, [start, target])),
                float(np.interp(step, points, [self.warmup_momentum, self.momentum])))

    def apply(self, optimizer: torch.optim.Optimizer, step: int, epoch: int) -> float:
        """Set every group's lr / momentum for this step; returns the lr of the weight group."""
        lr = self.lr
        for group in optimizer.param_groups:
            group["lr"], momentum = self.values(step, epoch, group.get("name", "decay"))
            if "betas" in group:  # AdamW: momentum is beta1
                group["betas"] = (momentum, group["betas"][1])
            else:
                group["momentum"] = momentum
            if group.get("name", "decay") == "decay":
                lr = group["lr"]
        return lr

    def state_dict(self) -> dict[str, object]:
        return {"lr": self.lr, "momentum": self.momentum, "warmup_steps": self.warmup_steps,
                "milestones": list(self.milestones), "gamma": self.gamma,
                "warmup_momentum": self.warmup_momentum, "warmup_bias_lr": self.warmup_bias_lr}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore the warm-up length of the interrupted run (the rest comes from the options)."""
        self.warmup_steps = int(state["warmup_steps"])  # type: ignore[arg-type]


class ModelEma:
    """Exponential moving average of a model's parameters and buffers (YOLOv5's ModelEMA).

    After each optimizer step: ``ema = d · ema + (1 - d) · model`` for floating-point entries
    (integer buffers are copied), with ``d = decay · (1 - exp(-updates / tau))`` so the average
    follows the model closely early on. ``module`` is an eval-mode copy used for validation.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0) -> None:
        self.module = copy.deepcopy(model).eval()
        for param in self.module.parameters():
            param.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    def current_decay(self) -> float:
        return self.decay * (1.0 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        source = model.state_dict()
        for name, value in self.module.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(source[name].detach(), alpha=1.0 - d)
            else:
                value.copy_(source[name])

    def state_dict(self) -> dict[str, object]:
        return {"model": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.module.load_state_dict(state["model"])  # type: ignore[arg-type]
        self.updates = int(state["updates"])  # type: ignore[arg-type]
