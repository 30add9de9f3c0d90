"""Loaders of the PyTorch network to export: deferred callables ``TorchModelFrom<Input>`` (Polygraphy style).

Accepted weight files (read with ``torch.load(weights_only=True)`` through
``mottrack_training.engine.safe_load``: a file holding anything but tensors and plain data is refused
before any of it is built, so a crafted file cannot run code):

0. a packaged release ``weights.pt`` of ``mottrack train``'s ``package-weights``
   (``format: mottrack-weights``: full model config + FP16 state dict), loaded with
   ``mottrack_training.engine.release.load_packaged_model`` (weights back to FP32);
1. a training checkpoint of ``mottrack_training.engine`` (``format: mottrack-train-checkpoint``): the
   network is rebuilt from its ``model_config`` (``{"config": name|path, "overrides": {...}}``) and its
   EMA weights are used when present (``use_ema``), else ``model``;
2. ``{"model": state_dict, "config": name | path | {"config": ..., "overrides": {...}} | ModelConfig dict}``;
3. a bare ``state_dict`` (name -> tensor): the network comes from the ``config`` argument
   (default ``cstrack_s``) and ``overrides``.

A state dict that does not fit the network is an error naming the first mismatching keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mottrack_sdk.config import check_expanded_size, short_repr

__all__ = ["LoadedModel", "TorchModelFromConfig", "TorchModelFromWeights", "RANDOM_WEIGHTS_HASH"]

RANDOM_WEIGHTS_HASH = "random-init"
CHECKPOINT_FORMAT = "mottrack-train-checkpoint"  # mottrack_training.engine.checkpoint.CHECKPOINT_FORMAT
PACKAGED_FORMAT = "mottrack-weights"  # mottrack_training.engine.release.WEIGHTS_FORMAT


@dataclass
class LoadedModel:
    """A network ready to export: ``model`` in eval mode, its name and the hash of its weights file."""

    model: Any  # mottrack_training.model.CSTrack
    model_name: str
    weights_sha256: str
    config_source: dict[str, Any] = field(default_factory=dict)
    tracker_defaults: dict[str, Any] = field(default_factory=dict)  # TrackerOptions fields validated with


@dataclass
class TorchModelFromConfig:
    """A freshly initialised network (``torch.manual_seed(seed)``): for testing deployment chains."""

    config: str = "cstrack_s"
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __call__(self) -> LoadedModel:
        import torch

        from mottrack_training.model import build_model

        torch.manual_seed(self.seed)
        model = _build(self.config, self.overrides)
        return LoadedModel(model.eval(), model.config.name, RANDOM_WEIGHTS_HASH,
                           {"config": str(self.config), "overrides": dict(self.overrides), "seed": self.seed})


@dataclass
class TorchModelFromWeights:
    """A network with weights from ``path`` (formats in the module docstring)."""

    path: str | Path
    config: str = "cstrack_s"
    overrides: dict[str, Any] = field(default_factory=dict)
    use_ema: bool = True

    def __call__(self) -> LoadedModel:
        from mottrack_sdk.engine_sidecar import file_sha256
        from mottrack_training.engine.safe_load import load_weights_file

        path = Path(self.path)
        payload = load_weights_file(path, what="--weights")
        if isinstance(payload, dict) and payload.get("format") == PACKAGED_FORMAT:
            from mottrack_training.engine.release import load_packaged_model

            model = load_packaged_model(path)
            return LoadedModel(model.eval(), model.config.name, file_sha256(path), {"config": "packaged"},
                               dict(payload.get("tracker") or {}))
        state_dict, config, overrides = self._unpack(payload, path)
        check_expanded_size(overrides, f"--weights {path}: model_config overrides")
        model = _build(config, overrides)
        missing, unexpected = _diff_keys(model.state_dict(), state_dict)
        if missing or unexpected:
            raise ValueError(f"--weights {path}: weights do not fit model config {short_repr(config)} "
                             f"{short_repr(overrides) if overrides else ''}: "
                             f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, unexpected "
                             f"{unexpected[:3]}{'...' if len(unexpected) > 3 else ''} (wrong --config?)")
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as exc:  # shape mismatches
            first = str(exc).splitlines()[1:2] or [str(exc)]
            raise ValueError(f"--weights {path}: weights do not fit model config {short_repr(config)}: {first[0].strip()} "
                             "(wrong --config or embedding_dim?)") from exc
        return LoadedModel(model.eval(), model.config.name, file_sha256(path),
                           {"config": str(config), "overrides": dict(overrides)}, _checkpoint_tracker(payload, path))

    def _unpack(self, payload: Any, path: Path) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        import torch

        if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
            ema = payload.get("ema")
            state = ema["model"] if self.use_ema and ema else payload["model"]
            source = payload.get("model_config") or {}
            overrides = source.get("overrides") or {} if isinstance(source, dict) else None
            if not isinstance(overrides, dict) or not isinstance(source.get("config", self.config), (str, dict)):
                raise ValueError(f"--weights {path}: model_config must be {{'config': name or path, 'overrides': "
                                 f"{{...}}}}, got {short_repr(source)}")
            return state, source.get("config", self.config), dict(overrides)
        if isinstance(payload, dict) and isinstance(payload.get("model"), dict):
            source = payload.get("config", self.config)
            if isinstance(source, dict) and ("backbone" in source or source.get("family") == "yolox"):
                from mottrack_training.model.config import config_from_dict  # a full model config as a dict

                return payload["model"], config_from_dict(source, source=f"{path} [config]"), {}
            if isinstance(source, dict):
                overrides = source.get("overrides") or {}
                if not isinstance(overrides, dict):
                    raise ValueError(f"--weights {path}: config overrides must be a mapping, got {short_repr(overrides)}")
                return payload["model"], source.get("config", self.config), dict(overrides)
            if not isinstance(source, str):
                raise ValueError(f"--weights {path}: config must be a name, a path or a mapping, got "
                                 f"{short_repr(source)}")
            return payload["model"], source, dict(self.overrides)
        if isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
            return payload, self.config, dict(self.overrides)
        raise ValueError(f"--weights {path}: expected a mottrack training checkpoint, {{'model': state_dict, "
                         f"'config': ...}} or a bare state_dict, got {type(payload).__name__}")


def validated_nms_iou(path: str | Path) -> float | None:
    """The NMS IoU a weights file was validated with (:func:`validated_export_defaults`)."""
    return validated_export_defaults(path)[0]


def validated_export_defaults(path: str | Path) -> tuple[float | None, tuple[int, int] | None]:
    """``(nms_iou, (width, height))`` a weights file was validated with: a packaged file's ``nms_iou``
    and ``img_size`` (``mottrack package-weights --nms-iou / --img-size``), a training checkpoint's
    ``val.nms_iou`` and ``data.img_size``; None for what a file does not say (other files, and packaged
    files written before it was stored). ValueError names the file and the malformed entry."""
    from mottrack_training.engine.safe_load import load_weights_file

    path = Path(path)
    payload = load_weights_file(path, what="--weights")
    if not isinstance(payload, dict):
        return None, None
    if payload.get("format") == PACKAGED_FORMAT:
        iou, size = payload.get("nms_iou"), payload.get("img_size")
        if iou is not None and (isinstance(iou, bool) or not isinstance(iou, (int, float)) or not 0 < iou <= 1):
            raise ValueError(f"--weights {path}: nms_iou must be a number in (0, 1], got {iou!r}")
        if size is not None and not (isinstance(size, (list, tuple)) and len(size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 8192 and v % 32 == 0 for v in size)):
            raise ValueError(f"--weights {path}: img_size must be [width, height], multiples of 32, got {size!r}")
        return (None if iou is None else float(iou)), (None if size is None else (int(size[0]), int(size[1])))
    options = _checkpoint_options(payload, path)
    if options is None:
        return None, None
    return options.val.nms_iou, (int(options.data.img_size[0]), int(options.data.img_size[1]))


def _checkpoint_options(payload: Any, path: Path) -> Any:
    """A training checkpoint's run options (``TrainOptions``; None for other files)."""
    if not (isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT and payload.get("options")):
        return None
    from mottrack_training.engine.options import train_options_from_dict

    return train_options_from_dict(payload["options"], where=f"--weights {path} [options]")


def _checkpoint_tracker(payload: Any, path: Path) -> dict[str, Any]:
    """A training checkpoint's validation tracker settings ({} for other files)."""
    options = _checkpoint_options(payload, path)
    if options is None:
        return {}
    from mottrack_training.engine.release import tracker_defaults

    return tracker_defaults(options)


def _build(config: Any, overrides: dict[str, Any]) -> Any:
    from mottrack_training.model import ConfigError, build_model

    try:  # build_model refuses overrides with shared lists unexpanded; messages show them bounded
        return build_model(config, **overrides)
    except (ConfigError, TypeError) as exc:
        shown = f"{short_repr(config)} {short_repr(overrides) if overrides else ''}".rstrip()
        raise ValueError(f"model config {shown}: {exc}") from exc


def _diff_keys(expected: dict[str, Any], given: dict[str, Any]) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
