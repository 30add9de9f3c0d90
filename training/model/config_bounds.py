"""Upper bounds of a network config, checked before anything is allocated (``build_model``).

A model config comes from files a user may not have written: a YAML file, ``--set`` values, a
training checkpoint's stored config and overrides. Its parser checks types and lower bounds; this
module bounds what building would cost, in two steps:

1. :func:`check_model_bounds`, field by field: the values that loop while building (``repeats``, the
   layer count, the SPP kernels), that crash it with a PyTorch traceback instead of an error (even or
   oversized kernels: the convolutions pad ``kernel // 2``, so only odd kernels keep the map sizes the
   graph expects; negative pool kernels), and that size activations rather than parameters
   (``embedding_dim``, ``ren_pool_size``, strides and upsampling scales). ``repeats: 1000000000`` built
   for minutes and ``embedding_dim: 100000000`` asked for 6.4 GB before this check.
2. :func:`check_parameter_count`: the network built on PyTorch's ``meta`` device (shapes only, no
   memory; ~50-80 ms) must hold at most :data:`MAX_PARAMETERS` parameters, which bounds every width,
   kernel and divisor together (one ``channels: 1000000000`` is 10^18 weights).

Errors are :class:`~mottrack_training.model.config.ConfigError` naming the config's source and key.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from mottrack_training.model.config import ConfigError, ModelConfig, YoloxModelConfig

__all__ = ["MAX_NETWORK_EMBEDDING_DIM", "MAX_PARAMETERS", "check_model_bounds", "check_parameter_count"]

MAX_PARAMETERS = 300_000_000   # ~4x the full CSTrack (79 M); 1.2 GB of FP32 weights before any gradient
# CSTrack: 512; the map is embedding_dim x (H/8) x (W/8) floats per image. Lower than what the runtime
# accepts from a model file (mottrack_sdk.model_metadata.MAX_EMBEDDING_DIM, 65536): this bounds a network
# that is built and trained here.
MAX_NETWORK_EMBEDDING_DIM = 4096
MAX_LAYERS = 256               # per backbone / neck (YOLOv5-L: 10 + 14)
MAX_REPEATS = 64               # bottlenecks of one CSP layer before depth_multiple (YOLOv5-X: 12)
MAX_KERNEL = 31
MAX_STRIDE = 8                 # one layer's stride or upsampling scale
MAX_POOL_KERNELS = 8
MAX_REN_POOL_SIDE = 32         # REN relates every pooled cell to every other: (h·w)² per level
MAX_CLASSES = 1024
MAX_DIVISOR = 256
MAX_ANCHOR = 8192.0            # pixels: the largest input side


def check_model_bounds(config: ModelConfig | YoloxModelConfig) -> None:
    """ConfigError naming ``config.source`` and the key for a value beyond the bounds above (or of a
    wrong type: a config object may come from ``dataclasses.replace`` with unchecked overrides)."""
    where = config.source
    if not isinstance(config.name, str):
        raise ConfigError(f"{where}: name must be a string, got {type(config.name).__name__}")
    _int(config.channel_divisor, f"{where}: channel_divisor", 1, MAX_DIVISOR)
    _int(config.num_classes, f"{where}: num_classes", 1, MAX_CLASSES)
    _int(config.embedding_dim, f"{where}: embedding_dim", 1, MAX_NETWORK_EMBEDDING_DIM)
    _int(config.saan_channels, f"{where}: saan_channels", 1, 1 << 14)
    _int(config.saan_attention_channels, f"{where}: saan_attention_channels", 1, 1 << 14)
    pool = config.ren_pool_size
    if not (isinstance(pool, (tuple, list)) and len(pool) == 2):
        raise ConfigError(f"{where}: ren_pool_size must be [height, width], got {pool!r}")
    for side in pool:
        _int(side, f"{where}: ren_pool_size", 1, MAX_REN_POOL_SIDE)
    for key in ("width_multiple", "depth_multiple"):
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 4.0:
            raise ConfigError(f"{where}: {key} must be a number in (0, 4], got {value!r}")
    if isinstance(config, YoloxModelConfig):
        _anchors((config.assign_anchors,), f"{where}: assign_anchors")
        return
    _anchors(config.anchors, f"{where}: anchors")
    for part in ("backbone", "neck"):
        layers = getattr(config, part)
        if len(layers) > MAX_LAYERS:
            raise ConfigError(f"{where}: {part} has {len(layers)} layers; at most {MAX_LAYERS}")
        for index, layer in enumerate(layers):
            _layer(layer, f"{where}: {part}[{index}]")


def check_parameter_count(config: ModelConfig | YoloxModelConfig, build: Callable[[Any], Any]) -> int:
    """The number of parameters of ``build(config)`` built on the ``meta`` device (no memory);
    ConfigError when it exceeds :data:`MAX_PARAMETERS` or the shapes cannot even be formed."""
    import torch

    try:
        with torch.device("meta"):
            network = build(config)
        count = sum(p.numel() for p in network.parameters())
    except ConfigError:
        raise
    except (RuntimeError, ValueError, OverflowError, MemoryError) as exc:  # e.g. sizes that overflow int64
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ConfigError(f"{config.source}: this network cannot be built ({first})") from None
    if count > MAX_PARAMETERS:
        raise ConfigError(f"{config.source}: the network would hold {count:,} parameters; at most "
                          f"{MAX_PARAMETERS:,} (check channels, kernels, width_multiple and channel_divisor)")
    return count


def _layer(layer: Any, at: str) -> None:
    if layer.channels is not None:
        _int(layer.channels, f"{at}.channels", 1, 1 << 16)
    for key, high in (("kernel", MAX_KERNEL), ("stride", MAX_STRIDE), ("repeats", MAX_REPEATS),
                      ("scale", MAX_STRIDE)):
        _int(getattr(layer, key), f"{at}.{key}", 1, high)
    if layer.block in ("Focus", "Conv") and layer.kernel % 2 == 0:
        raise ConfigError(f"{at}.kernel: expected an odd kernel (the layer pads kernel // 2 on each side), "
                          f"got {layer.kernel}")
    kernels = layer.pool_kernels
    if not isinstance(kernels, (tuple, list)) or not 1 <= len(kernels) <= MAX_POOL_KERNELS:
        raise ConfigError(f"{at}.pool_kernels: expected 1 to {MAX_POOL_KERNELS} kernel sizes, got {kernels!r}")
    for kernel in kernels:
        _int(kernel, f"{at}.pool_kernels", 1, MAX_KERNEL)
        if kernel % 2 == 0:
            raise ConfigError(f"{at}.pool_kernels: expected odd sizes (each pools with padding kernel // 2), "
                              f"got {kernel}")


def _anchors(levels: Any, where: str) -> None:
    for level in levels:
        for pair in level:
            if not all(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
                       and 0 < v <= MAX_ANCHOR for v in pair):
                raise ConfigError(f"{where}: each anchor must be [w, h], finite numbers in (0, {MAX_ANCHOR:g}] "
                                  f"pixels, got {pair!r}")


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        from mottrack_sdk.config import short_repr

        raise ConfigError(f"{where}: expected an integer in [{low}, {high:,}], got {short_repr(value)}")
    return value
