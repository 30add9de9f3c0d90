"""Typed configuration of a CSTrack-family network, loaded from YAML.

A config names the layers of the backbone and the neck (YOLOv5 style, one mapping per layer), the
output levels, the anchors and the switches of the CSTrack parts (REN, SAAN). ``depth_multiple``
scales every repeat count and ``width_multiple`` every channel count (backbone, neck, REN, SAAN),
rounded up to a multiple of ``channel_divisor``; the embedding dimension and the head outputs are
never scaled.

A config may start from another with ``extends: <shipped name or path>``: the keys it sets replace
the parent's (top level only). Loading fails with :class:`ConfigError` (a ``ValueError``) naming the
file and the key for unknown keys, unknown blocks, bad multipliers and malformed values.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

# Blocks a layer may name, with the fields each one uses besides `block`, `name` and `inputs`.
BLOCK_FIELDS: dict[str, frozenset[str]] = {
    "Focus": frozenset({"channels", "kernel"}),
    "Conv": frozenset({"channels", "kernel", "stride"}),
    "BottleneckCSP": frozenset({"channels", "repeats", "shortcut"}),
    "SPP": frozenset({"channels", "pool_kernels"}),
    "Upsample": frozenset({"scale"}),
    "Concat": frozenset(),
}
PREVIOUS = "previous"  # the input name meaning "the layer just before"
# The activation every convolution of a YOLOX-family backbone, neck and head ends in (``activation``),
# and the parts of the network it applies to (``activation_parts``; the others keep SiLU).
YOLOX_ACTIVATIONS = ("silu", "relu", "hardswish")
YOLOX_PARTS = ("backbone", "neck", "detect")


class ConfigError(ValueError):
    """A model config that cannot be built; the message names the file and the offending key."""


def scaled_channels(unscaled: int, width_multiple: float, divisor: int) -> int:
    """``unscaled · width_multiple`` rounded *up* to a multiple of ``divisor`` (at least ``divisor``)."""
    # The epsilon keeps e.g. 640 * 0.3 = 192.00000000000003 at 192 instead of rounding up to 200.
    return max(math.ceil(unscaled * width_multiple / divisor - 1e-6), 1) * divisor


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the backbone or the neck.

    ``channels`` is the unscaled output channel count (``width_multiple`` applies at build time);
    ``repeats`` the unscaled number of bottlenecks; ``inputs`` names earlier layers (``previous`` =
    the layer just before; several inputs only for ``Concat``); ``name`` lets later layers refer here.
    """

    block: str
    channels: int | None = None
    kernel: int = 1
    stride: int = 1
    repeats: int = 1
    shortcut: bool = True
    pool_kernels: tuple[int, ...] = (5, 9, 13)
    scale: int = 2
    inputs: tuple[str, ...] = (PREVIOUS,)
    name: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a :class:`~mottrack_training.model.cstrack.CSTrack`.

    ``anchors[level][k] = (w, h)`` in input pixels, one list per output level (P3, P4, P5).
    ``ren``/``saan`` are the ablation switches of the paper's Table I: ``ren: false`` feeds the shared
    neck features to both tasks (JDE); ``saan: false`` replaces SAAN by per-level 1x1 embedding heads.
    """

    name: str
    backbone: tuple[LayerSpec, ...]
    neck: tuple[LayerSpec, ...]
    outputs: tuple[str, ...]
    anchors: tuple[tuple[tuple[float, float], ...], ...]
    depth_multiple: float = 1.0
    width_multiple: float = 1.0
    channel_divisor: int = 8
    num_classes: int = 1
    embedding_dim: int = 512
    ren: bool = True
    saan: bool = True
    ren_pool_size: tuple[int, int] = (6, 10)
    saan_channels: int = 256
    saan_attention_channels: int = 64
    source: str = field(default="<memory>", compare=False)

    def channels(self, unscaled: int) -> int:
        """Channel count after ``width_multiple``, rounded *up* to a multiple of ``channel_divisor``."""
        return scaled_channels(unscaled, self.width_multiple, self.channel_divisor)

    def repeats(self, unscaled: int) -> int:
        """Repeat count after ``depth_multiple`` (rounded, at least 1), as in YOLOv5."""
        return max(round(unscaled * self.depth_multiple), 1) if unscaled > 1 else unscaled


@dataclass(frozen=True)
class YoloxModelConfig:
    """A CSTrack network on a YOLOX backbone (CSPDarknet + PAFPN + decoupled head), e.g. ``cstrack_nano``.

    ``width_multiple`` / ``depth_multiple`` / ``depthwise`` follow YOLOX (nano: 0.25 / 0.33 / true),
    so the backbone, neck and head can load YOLOX's COCO weights (:mod:`.yolox_onnx`). REN and SAAN
    sit on the three PAFPN levels as in :class:`ModelConfig`; SAAN widths are scaled by
    ``width_multiple``. ``ren_detection_gate``: REN's relation term on the detection branch is
    multiplied by a learned per-level gate that starts at 0, so a pretrained head first sees its own
    features. ``assign_anchors``: one (w, h) per level (input pixels) for the training loss's
    positive assignment only (the head is anchor-free). ``activation``: what every convolution of the
    backbone, neck and head ends in (:data:`YOLOX_ACTIVATIONS`); YOLOX's own is ``silu`` (the COCO
    weights were trained with it), ``relu`` fuses into the convolution in ONNX Runtime's and TensorRT's
    kernels (1.16x inference at 640x352 here, benchmarks/README.md "Session 18") but needs training.
    ``activation_parts``: which of :data:`YOLOX_PARTS` take ``activation``; the others keep SiLU (e.g.
    ``[neck, detect]``: a SiLU backbone, where a ReLU one lost real people, benchmarks/README.md
    "Session 20").
    """

    name: str
    family: str = "yolox"
    width_multiple: float = 0.25
    depth_multiple: float = 0.33
    depthwise: bool = True
    channel_divisor: int = 8
    num_classes: int = 1
    embedding_dim: int = 128
    ren: bool = True
    saan: bool = True
    ren_pool_size: tuple[int, int] = (6, 10)
    ren_detection_gate: bool = True
    saan_channels: int = 128
    saan_attention_channels: int = 64
    assign_anchors: tuple[tuple[float, float], ...] = ((12.0, 30.0), (30.0, 75.0), (75.0, 190.0))
    activation: str = "silu"
    activation_parts: tuple[str, ...] = YOLOX_PARTS
    source: str = field(default="<memory>", compare=False)

    def channels(self, unscaled: int) -> int:
        """Channel count after ``width_multiple``, rounded up to a multiple of ``channel_divisor``."""
        return scaled_channels(unscaled, self.width_multiple, self.channel_divisor)


AnyModelConfig = ModelConfig | YoloxModelConfig


def resolve_config_path(name_or_path: str | Path) -> Path:
    """Path of a shipped config (``cstrack``, ``cstrack_s``) or of a YAML file given by path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or len(candidate.parts) > 1:
        if not candidate.is_file():
            from mottrack_sdk.io.path_components import special_file_kind

            kind = special_file_kind(candidate) or ("a folder" if candidate.is_dir() else None)
            if kind is None:
                raise FileNotFoundError(f"model config file not found: {candidate}")
            raise ConfigError(f"model config {candidate}: is {kind}, expected a YAML file")
        return candidate
    shipped = CONFIG_DIR / f"{name_or_path}.yaml"
    if not shipped.is_file():
        names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"unknown model config {str(name_or_path)!r}: give a YAML path or one of: {names}")
    return shipped


def load_model_config(name_or_path: str | Path, **overrides: Any) -> AnyModelConfig:
    """Load and validate a config; ``overrides`` replace top-level keys (e.g. ``ren=False``)."""
    from mottrack_sdk.config import check_expanded_size

    path = resolve_config_path(name_or_path)
    raw = _load_with_parents(path, seen=())
    check_expanded_size(overrides, f"model config {path} overrides")  # e.g. a checkpoint's shared lists
    raw.update(overrides)
    source = f"{path} with overrides {{{', '.join(map(str, overrides))}}}" if overrides else str(path)
    if _family(raw, source) == "yolox":
        return parse_yolox_config(raw, source=source)
    return parse_model_config({k: v for k, v in raw.items() if k != "family"}, source=source)


def config_from_dict(stored: dict[str, Any], source: str = "<memory>") -> AnyModelConfig:
    """A config stored as ``dataclasses.asdict`` (packaged weights, checkpoints) -> the config object:
    a :class:`YoloxModelConfig` when ``family: yolox``, else a :class:`ModelConfig` (both validated)."""
    from mottrack_sdk.config import check_expanded_size, options_from_dict

    if not isinstance(stored, dict):
        raise ConfigError(f"{source}: a model config must be a mapping, got {type(stored).__name__}")
    check_expanded_size(stored, source)
    if _family(stored, source) == "yolox":
        return parse_yolox_config(stored, source)
    values = {k: v for k, v in stored.items() if k not in ("source", "family")}  # provenance, not settings
    try:
        return dataclasses.replace(options_from_dict(ModelConfig, values, where=source), source=source)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def _family(raw: dict[str, Any], source: str) -> str:
    family = raw.get("family", "yolov5")
    if family not in ("yolov5", "yolox"):
        raise ConfigError(f"{source}: family must be yolov5 or yolox, got {family!r}")
    return family


def parse_yolox_config(raw: dict[str, Any], source: str = "<memory>") -> YoloxModelConfig:
    """Validate a ``family: yolox`` mapping and turn it into a :class:`YoloxModelConfig`."""
    from mottrack_sdk.config import options_from_dict

    values = {k: v for k, v in raw.items() if k not in ("source", "family")}
    if "name" not in values:
        raise ConfigError(f"{source}: missing required key 'name'")
    try:
        config = options_from_dict(YoloxModelConfig, values, where=source)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    for key in ("width_multiple", "depth_multiple"):
        value = getattr(config, key)
        if not 0.0 < float(value) <= 4.0:
            raise ConfigError(f"{source}: {key} must be a number in (0, 4], got {value!r}")
    for key in ("channel_divisor", "num_classes", "embedding_dim", "saan_channels", "saan_attention_channels"):
        _positive_int(getattr(config, key), f"{source}: {key}")
    if len(config.assign_anchors) != 3 or any(len(a) != 2 or min(a) <= 0 for a in config.assign_anchors):
        raise ConfigError(f"{source}: assign_anchors must be three [w, h] > 0 (P3, P4, P5), "
                          f"got {config.assign_anchors!r}")
    from mottrack_sdk.config import short_repr

    if config.activation not in YOLOX_ACTIVATIONS:
        raise ConfigError(f"{source}: activation must be one of {', '.join(YOLOX_ACTIVATIONS)}, "
                          f"got {short_repr(config.activation)}")
    parts = config.activation_parts
    if not parts or any(p not in YOLOX_PARTS for p in parts) or len(set(parts)) != len(parts):
        raise ConfigError(f"{source}: activation_parts must be a non-empty list of distinct parts among "
                          f"{', '.join(YOLOX_PARTS)}, got {short_repr(list(parts))}")
    return dataclasses.replace(config, source=source, activation_parts=tuple(parts))


def _load_with_parents(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    from mottrack_sdk.config import read_yaml, short_repr

    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'extends' forms a cycle")
    try:
        raw = read_yaml(path)
    except ValueError as exc:  # an unreadable file, not a config error: callers pass it on as it is
        raise ValueError(f"model config {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a model config must be a YAML mapping, got {type(raw).__name__}")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends: expected a config name or a YAML file name, got "
                          f"{type(parent).__name__} {short_repr(parent)}")
    parent_path = Path(parent) if Path(parent).suffix else None
    if parent_path is not None and not parent_path.is_absolute():
        parent_path = path.parent / parent_path
    merged = _load_with_parents(parent_path or resolve_config_path(parent), seen + (path.resolve(),))
    merged.update(raw)
    return merged


def parse_model_config(raw: dict[str, Any], source: str = "<memory>") -> ModelConfig:
    """Validate a plain mapping (as read from YAML) and turn it into a :class:`ModelConfig`."""
    known = {f.name for f in dataclasses.fields(ModelConfig)} - {"source"}
    _reject_unknown(raw, known, source)
    for required in ("name", "backbone", "neck", "outputs", "anchors"):
        if required not in raw:
            raise ConfigError(f"{source}: missing required key {required!r}")
    values = dict(raw)
    values["backbone"] = _parse_layers(raw["backbone"], f"{source}: backbone")
    values["neck"] = _parse_layers(raw["neck"], f"{source}: neck")
    values["outputs"] = tuple(_as_list(raw["outputs"], f"{source}: outputs", str))
    values["anchors"] = _parse_anchors(raw["anchors"], f"{source}: anchors")
    for key in ("depth_multiple", "width_multiple"):
        value = values.get(key, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 4.0:
            raise ConfigError(f"{source}: {key} must be a number in (0, 4], got {value!r}")
        values[key] = float(value)
    for key in ("channel_divisor", "num_classes", "embedding_dim", "saan_channels", "saan_attention_channels"):
        if key in values:
            values[key] = _positive_int(values[key], f"{source}: {key}")
    for key in ("ren", "saan"):
        if key in values and not isinstance(values[key], bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {values[key]!r}")
    if "ren_pool_size" in values:
        pool = _as_list(values["ren_pool_size"], f"{source}: ren_pool_size", int)
        if len(pool) != 2 or min(pool) < 1:
            raise ConfigError(f"{source}: ren_pool_size must be [height, width] >= 1, got {pool!r}")
        values["ren_pool_size"] = (pool[0], pool[1])
    if len(values["anchors"]) != len(values["outputs"]):
        raise ConfigError(f"{source}: {len(values['outputs'])} outputs but anchors for "
                          f"{len(values['anchors'])} levels")
    return ModelConfig(**values, source=source)


def _parse_layers(raw: Any, where: str) -> tuple[LayerSpec, ...]:
    items = _as_list(raw, where, dict)
    if not items:
        raise ConfigError(f"{where}: needs at least one layer")
    known = {f.name for f in dataclasses.fields(LayerSpec)}
    layers = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        block = item.get("block")
        if block not in BLOCK_FIELDS:
            raise ConfigError(f"{at}: unknown block {block!r}; known blocks: {', '.join(BLOCK_FIELDS)}")
        _reject_unknown(item, known, at)
        unused = set(item) - BLOCK_FIELDS[block] - {"block", "name", "inputs"}
        if unused:
            raise ConfigError(f"{at}: block {block} takes no {', '.join(sorted(unused))}")
        values = dict(item)
        for key in ("channels", "kernel", "stride", "repeats", "scale"):
            if key in values:
                values[key] = _positive_int(values[key], f"{at}.{key}")
        if block not in ("Upsample", "Concat") and "channels" not in values:
            raise ConfigError(f"{at}: block {block} needs 'channels'")
        if "pool_kernels" in values:
            values["pool_kernels"] = tuple(_as_list(values["pool_kernels"], f"{at}.pool_kernels", int))
        if "inputs" in values:
            values["inputs"] = tuple(_as_list(values["inputs"], f"{at}.inputs", str))
        if "shortcut" in values and not isinstance(values["shortcut"], bool):
            raise ConfigError(f"{at}.shortcut must be true or false")
        layers.append(LayerSpec(**values))
    return tuple(layers)


def _parse_anchors(raw: Any, where: str) -> tuple[tuple[tuple[float, float], ...], ...]:
    levels = []
    for level_index, level in enumerate(_as_list(raw, where, list)):
        pairs = []
        for pair in level:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf for v in pair)):
                from mottrack_sdk.config import short_repr

                raise ConfigError(f"{where}[{level_index}]: each anchor must be [w, h], finite numbers > 0, "
                                  f"got {short_repr(pair)}")
            pairs.append((float(pair[0]), float(pair[1])))
        levels.append(tuple(pairs))
    if len({len(level) for level in levels}) != 1 or not levels[0]:
        raise ConfigError(f"{where}: every level needs the same, non-zero number of anchors")
    return tuple(levels)


def _reject_unknown(mapping: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"known keys: {', '.join(sorted(known))}")


def _as_list(value: Any, where: str, item_type: type) -> list[Any]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, item_type) for v in value):
        from mottrack_sdk.config import short_repr

        raise ConfigError(f"{where}: expected a list of {item_type.__name__}, got {short_repr(value)}")
    return list(value)


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: expected a positive integer, got {value!r}")
    return value
