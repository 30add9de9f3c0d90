"""A backbone or neck built from a list of :class:`LayerSpec`: layers run in order, read earlier outputs by name.

Wiring, channel counts and strides are resolved once at build time, so ``forward`` is a fixed
sequence of module calls (no data-dependent control flow; traces and exports as a static graph).
Strides are tracked symbolically: a ``Concat`` of maps at different strides, or an input size
that is not a multiple of the largest stride, is a build error rather than a shape error at run time.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from mottrack_training.model.common import BottleneckCSP, Concat, ConvBlock, Focus, SpatialPyramidPooling
from mottrack_training.model.config import PREVIOUS, ConfigError, LayerSpec, ModelConfig


@dataclass(frozen=True)
class FeatureInfo:
    """A feature map known at build time: its channel count and its stride w.r.t. the input image."""

    channels: int
    stride: int


def build_layer(spec: LayerSpec, inputs: Sequence[FeatureInfo], config: ModelConfig, where: str
                ) -> tuple[nn.Module, FeatureInfo]:
    """One module for ``spec`` and the feature it produces (width/depth multiples applied)."""
    first = inputs[0]
    if spec.block != "Concat" and len(inputs) != 1:
        raise ConfigError(f"{where}: block {spec.block} takes one input, got {len(inputs)}")
    out_channels = config.channels(spec.channels) if spec.channels is not None else first.channels
    module: nn.Module
    if spec.block == "Focus":
        module, stride = Focus(first.channels, out_channels, spec.kernel), first.stride * 2
    elif spec.block == "Conv":
        module, stride = ConvBlock(first.channels, out_channels, spec.kernel, spec.stride), first.stride * spec.stride
    elif spec.block == "BottleneckCSP":
        module = BottleneckCSP(first.channels, out_channels, config.repeats(spec.repeats), spec.shortcut)
        stride = first.stride
    elif spec.block == "SPP":
        module, stride = SpatialPyramidPooling(first.channels, out_channels, spec.pool_kernels), first.stride
    elif spec.block == "Upsample":
        if first.stride % spec.scale:
            raise ConfigError(f"{where}: upsampling a stride-{first.stride} map by {spec.scale}")
        module, stride = nn.Upsample(scale_factor=float(spec.scale), mode="nearest"), first.stride // spec.scale
    elif spec.block == "Concat":
        if len({info.stride for info in inputs}) != 1:
            raise ConfigError(f"{where}: Concat of maps at different strides {[i.stride for i in inputs]}")
        module, stride = Concat(), first.stride
        out_channels = sum(info.channels for info in inputs)
    else:  # config parsing already rejects unknown blocks
        raise ConfigError(f"{where}: unknown block {spec.block!r}")
    return module, FeatureInfo(out_channels, stride)


class FeatureGraph(nn.Module):
    """Run ``layers`` in order; inputs are named feature maps, outputs the maps named in ``exports``.

    Args:
        layers: the layer specs (backbone or neck section of a config).
        inputs: name -> :class:`FeatureInfo` of the maps passed to ``forward``, in that order; the
            last one is what the first layer's ``previous`` refers to.
        exports: names (of inputs or layers) that ``forward`` returns, in that order.
        config: supplies the width/depth multiples.
        section: used in error messages and default layer names (``<section>.<index>``).

    ``forward(features)`` takes the input maps as a list ([B, C_i, H/s_i, W/s_i]) and returns the
    exported maps as a list; ``export_info`` gives their channels and strides.
    """

    def __init__(self, layers: Sequence[LayerSpec], inputs: dict[str, FeatureInfo], exports: Sequence[str],
                 config: ModelConfig, section: str) -> None:
        super().__init__()
        names = list(inputs)
        infos = list(inputs.values())
        wiring: list[tuple[int, ...]] = []
        self.layers = nn.ModuleList()
        for index, spec in enumerate(layers):
            where = f"{config.source}: {section}[{index}] ({spec.block})"
            sources = tuple(self._resolve(name, names, where) for name in spec.inputs)
            module, info = build_layer(spec, [infos[s] for s in sources], config, where)
            name = spec.name or f"{section}.{index}"
            if name in names:
                raise ConfigError(f"{where}: layer name {name!r} is already used")
            self.layers.append(module)
            wiring.append(sources)
            names.append(name)
            infos.append(info)
        where = f"{config.source}: {section}"
        self._export_slots = tuple(self._resolve(name, names, where) for name in exports)
        self._wiring = tuple(wiring)
        self._num_inputs = len(inputs)
        # Slots read by a later layer or exported: the only outputs kept alive during forward.
        self._kept = frozenset(s for srcs in wiring for s in srcs) | frozenset(self._export_slots)
        self.export_info = tuple(infos[s] for s in self._export_slots)
        self.layer_names = tuple(names)

    @staticmethod
    def _resolve(name: str, names: list[str], where: str) -> int:
        if name == PREVIOUS:
            return len(names) - 1
        if name not in names:
            raise ConfigError(f"{where}: unknown input {name!r}; defined so far: {', '.join(names)}")
        return names.index(name)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        slots: list[torch.Tensor | None] = [*features] + [None] * len(self.layers)
        for index, (layer, sources) in enumerate(zip(self.layers, self._wiring)):
            if isinstance(layer, Concat):
                output = layer([self._slot(slots, s) for s in sources])
            else:
                output = layer(self._slot(slots, sources[0]))
            slot = self._num_inputs + index
            if slot in self._kept:  # drop maps nobody reads again (lower peak memory in inference)
                slots[slot] = output
        return [self._slot(slots, s) for s in self._export_slots]

    @staticmethod
    def _slot(slots: list[torch.Tensor | None], index: int) -> torch.Tensor:
        value = slots[index]
        assert value is not None, f"feature slot {index} was not kept"  # a wiring bug, not an input error
        return value
