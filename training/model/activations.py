"""The activation of a YOLOX-family network's convolutions, and a blend for switching it during training.

YOLOX ends every convolution of its backbone, neck and head in SiLU (``ConvAct``), and its COCO weights
were trained with it. ReLU fuses into the convolution in ONNX Runtime's and TensorRT's CPU / GPU
kernels, where SiLU is a pass of its own: a ReLU copy of the default network infers 1.16x faster at
640x352 on the 2-core CPU (benchmarks/README.md, "Session 18"). A network's ``activation`` model
config key picks it (:func:`set_activation` applies it to a built network).

Swapping the activation of trained weights at once breaks them (real-footage AP50 55 -> 9 without
training, and distillation from there learnt the synthetic figures back but not real people), so
training can switch it gradually: :func:`blend_activations` makes every activation
``(1 - alpha)·first(x) + alpha·second(x)``, and the trainer raises ``alpha`` from 0 to 1 over the first
part of the run (``model.activation_anneal``), after which the plain second activation replaces the
blend (:func:`set_activation`).
"""
from __future__ import annotations

import torch
from torch import nn

from mottrack_training.model.config import YOLOX_ACTIVATIONS
from mottrack_training.model.yolox_blocks import ConvAct

__all__ = ["ACTIVATIONS", "ActivationAnneal", "BlendedActivation", "blend_activations", "set_activation",
           "set_blend_alpha"]

# the config's names (model config key ``activation``), in its order
ACTIVATIONS: dict[str, type[nn.Module]] = dict(zip(YOLOX_ACTIVATIONS, (nn.SiLU, nn.ReLU, nn.Hardswish), strict=True))


def _check_name(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")


def _replace_activations(module: nn.Module, make) -> int:
    """``child.act = make()`` for every :class:`ConvAct` inside ``module``; returns how many."""
    count = 0
    for child in module.modules():
        if isinstance(child, ConvAct):
            child.act = make()
            count += 1
    return count


def set_activation(module: nn.Module, name: str) -> int:
    """Give every :class:`ConvAct` inside ``module`` the activation ``name`` (a key of ``ACTIVATIONS``);
    returns how many were set (0 for a network without YOLOX blocks). The weights are untouched: a
    network trained with another activation computes something else until it is trained again."""
    _check_name(name)
    return _replace_activations(module, lambda: ACTIVATIONS[name](inplace=True))


class BlendedActivation(nn.Module):
    """``(1 - alpha)·first(x) + alpha·second(x)``; ``alpha`` in [0, 1] is set from outside
    (:func:`set_blend_alpha`). At 0 and 1 only one activation is computed."""

    def __init__(self, first: str, second: str, alpha: float = 0.0) -> None:
        super().__init__()
        _check_name(first)
        _check_name(second)
        self.names = (first, second)
        self.first, self.second = ACTIVATIONS[first](), ACTIVATIONS[second]()
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.alpha <= 0.0:
            return self.first(x)
        if self.alpha >= 1.0:
            return self.second(x)
        return torch.lerp(self.first(x), self.second(x), self.alpha)

    def extra_repr(self) -> str:
        return f"{self.names[0]} -> {self.names[1]}, alpha={self.alpha:.4f}"


def blend_activations(module: nn.Module, first: str, second: str) -> int:
    """Give every :class:`ConvAct` inside ``module`` a :class:`BlendedActivation` from ``first`` to
    ``second`` at alpha 0 (computing exactly ``first``); returns how many."""
    return _replace_activations(module, lambda: BlendedActivation(first, second))


def set_blend_alpha(module: nn.Module, alpha: float) -> int:
    """Set ``alpha`` (clipped to [0, 1]) of every :class:`BlendedActivation` inside ``module``; returns
    how many there are."""
    alpha = min(max(float(alpha), 0.0), 1.0)
    count = 0
    for child in module.modules():
        if isinstance(child, BlendedActivation):
            child.alpha = alpha
            count += 1
    return count


class ActivationAnneal:
    """A network's activations switched from ``first`` to the network's own (``model.config.activation``)
    over its first ``steps`` optimizer steps, in the parts its config names (``activation_parts``; the
    others stay SiLU, as built): built, every such activation is a blend at alpha 0; before each step,
    :meth:`apply` sets alpha = step / steps, and from the step where that reaches 1 puts the plain
    activation in (the blend is gone; checkpoints hold no trace of it, the weights are all there is)."""

    def __init__(self, model: nn.Module, first: str, steps: int) -> None:
        self.model, self.final, self.steps = model, model.config.activation, max(1, int(steps))
        self.parts = tuple(getattr(model.config, "activation_parts", ())) or ("",)
        if sum(blend_activations(part, first, self.final) for part in self._parts(model)) == 0:
            raise ValueError(f"{type(model).__name__} has no YOLOX convolution whose activation could change")

    def apply(self, step: int, copy: nn.Module | None = None) -> bool:
        """Set this step's blend on the network (and ``copy``, e.g. its EMA, which must hold the same
        blends); True once the activation is the plain final one."""
        alpha = step / self.steps
        for model in (self.model, copy) if copy is not None else (self.model,):
            if alpha >= 1.0:
                for part in self._parts(model):
                    set_activation(part, self.final)
            else:
                set_blend_alpha(model, alpha)
        return alpha >= 1.0

    def _parts(self, model: nn.Module) -> list[nn.Module]:
        """The parts of ``model`` named by its config's ``activation_parts`` ("" : the whole network)."""
        found = [model if not name else getattr(model, name, None) for name in self.parts]
        return [part for part in found if isinstance(part, nn.Module)]
