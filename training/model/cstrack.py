"""CSTrack / CSTrack-S: YOLOv5 backbone + PAN neck, REN, SAAN and JDE heads, built from a config.

Build: ``build_model("cstrack_s")`` (a shipped config name), ``build_model("my.yaml")`` or
``build_model(config)``; keyword overrides replace config keys (``build_model("cstrack", saan=False)``).

Forward API (what training/ and export/ rely on), input ``images`` [B, 3, H, W] float, RGB in [0, 1],
H and W multiples of ``model.max_stride`` (32)::

    model(images, decode=None) -> (predictions, embeddings)

- ``decode`` defaults to ``not model.training``: ``model.train()`` gives raw outputs, ``model.eval()``
  decoded ones; pass ``decode=True/False`` to choose explicitly.
- raw (``decode=False``): ``predictions`` is a list of L = 3 tensors [B, A, H_l, W_l, 5 + nc] (logits
  ``tx, ty, tw, th, obj, cls...``; H_l = H / strides[l], A = 3).
- decoded (``decode=True``): ``predictions`` is [B, N, 4 + nc]: ``x1, y1, x2, y2`` in input pixels,
  then per class σ(obj)·σ(cls) (nc = 1: column 4 is the score); N = Σ_l A·H_l·W_l (40,698 at
  1088x608), ordered level, anchor, row, column (see :mod:`.heads`). No NMS, no thresholding.
- ``embeddings``: with SAAN, one map [B, E, H/8, W/8] (not normalised; L2-normalise after gathering
  the cell of a box centre); with ``saan: false`` a list of L maps [B, E, H_l, W_l] (JDE).
  ``model.embedding_strides`` is (8,) or the level strides accordingly.

Attributes: ``strides`` (8, 16, 32), ``anchors`` [L, A, 2] float32 buffer (w, h input pixels),
``num_anchors``, ``num_classes``, ``embedding_dim``, ``embedding_strides``, ``level_channels``,
``max_stride``, ``config``. Top-level blocks (the units of :mod:`.complexity`): ``backbone``, ``neck``,
``ren`` (absent with ``ren: false``), ``saan`` or ``embedding_heads``, ``detect``.

``model.fuse()`` folds every BatchNorm into its convolution and switches to eval mode (inference only).
Forward has no data-dependent control flow: shapes depend only on the input size. It passes
``torch.export`` and the TorchScript ONNX exporter (opset 17) at any size that is a multiple of 32;
REN's adaptive pooling is written as matrix products for that reason (see :mod:`.ren`).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mottrack_training.model.common import fold_space_to_depth_stems, fuse_batch_norms
from mottrack_training.model.config import PREVIOUS, ConfigError, ModelConfig, YoloxModelConfig, load_model_config
from mottrack_training.model.feature_graph import FeatureGraph, FeatureInfo
from mottrack_training.model.heads import DetectionHead
from mottrack_training.model.ren import PerLevelReciprocalNetworks
from mottrack_training.model.saan import PerLevelEmbeddingHeads, ScaleAwareAttention

# YOLOv5's BatchNorm settings (its COCO-pretrained backbones were trained with them).
BATCH_NORM_EPS = 1e-3
BATCH_NORM_MOMENTUM = 0.03

Predictions = list[torch.Tensor] | torch.Tensor
Embeddings = torch.Tensor | list[torch.Tensor]


class OneShotNetwork(nn.Module):
    """What every CSTrack-family network shares: the forward contract of the module docstring.

    Subclasses build ``backbone`` (``[images] -> maps``), ``neck`` (maps -> L level maps), ``ren``
    (or None), ``detect`` (``forward`` -> raw levels, ``decode``, ``anchors``), ``saan`` or
    ``embedding_heads`` and set ``strides``, ``max_stride``, ``num_classes``, ``num_anchors``,
    ``embedding_dim``, ``embedding_strides``, ``level_channels`` and ``config``.
    """

    ren: nn.Module | None
    saan: nn.Module | None
    embedding_heads: nn.Module | None

    def _build_embedding_path(self, config: Any) -> None:
        """The last step of a subclass's ``__init__`` (after ``level_channels`` / ``strides``): SAAN
        (one embedding map at the finest stride) or JDE's per-level embedding heads, then every
        BatchNorm set to the reference's eps / momentum."""
        self.saan = None
        self.embedding_heads = None
        if config.saan:
            self.saan = ScaleAwareAttention(self.level_channels, self.strides, config.channels(config.saan_channels),
                                            config.channels(config.saan_attention_channels), config.embedding_dim)
            self.embedding_strides: tuple[int, ...] = (self.strides[0],)
        else:
            self.embedding_heads = PerLevelEmbeddingHeads(self.level_channels, config.embedding_dim)
            self.embedding_strides = tuple(self.strides)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps, module.momentum = BATCH_NORM_EPS, BATCH_NORM_MOMENTUM

    @property
    def anchors(self) -> torch.Tensor:
        """[L, A, 2] anchor (w, h) in input pixels, per level of ``strides``."""
        return self.detect.anchors

    def forward(self, images: torch.Tensor, decode: bool | None = None) -> tuple[Predictions, Embeddings]:
        """images [B, 3, H, W] -> (raw levels or decoded [B, N, 4 + nc], embeddings); see module docstring."""
        raw, reid_features = self.raw_and_reid_features(images)
        embeddings: Embeddings
        if self.saan is not None:
            embeddings = self.saan(reid_features)
        else:
            assert self.embedding_heads is not None
            embeddings = self.embedding_heads(reid_features)
        if decode is None:
            decode = not self.training
        return (self.detect.decode(raw) if decode else raw), embeddings

    def raw_and_reid_features(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """images -> (raw detection levels, the L ReID maps SAAN or the JDE heads read): the part of
        :meth:`forward` before the embedding path (the export's sparse embedding head starts here)."""
        height, width = images.shape[-2:]
        if not torch.jit.is_tracing() and (height % self.max_stride or width % self.max_stride):
            raise ValueError(f"{type(self).__name__} input size {width}x{height} (WxH) must be a multiple of "
                             f"{self.max_stride}")
        features = self.neck(self.backbone([images]))
        if self.ren is not None:
            detection_features, reid_features = self.ren(features)
        else:  # JDE-style ablation: both tasks share the neck features
            detection_features, reid_features = features, features
        return self.detect(detection_features), reid_features

    def fuse(self) -> "OneShotNetwork":
        """Fold all BatchNorms into their convolutions and every Focus stem into one strided convolution,
        switch to eval mode; returns ``self`` (inference only: the stems' state dict changes)."""
        self.eval()
        fuse_batch_norms(self)
        fold_space_to_depth_stems(self)
        return self

    def block_modules(self) -> dict[str, nn.Module]:
        """The top-level blocks by report name: backbone, neck, ren, saan | embedding_heads, detect."""
        blocks: dict[str, nn.Module] = {"backbone": self.backbone, "neck": self.neck}
        if self.ren is not None:
            blocks["ren"] = self.ren
        if self.saan is not None:
            blocks["saan"] = self.saan
        if self.embedding_heads is not None:
            blocks["embedding_heads"] = self.embedding_heads
        blocks["detect"] = self.detect
        return blocks


class CSTrack(OneShotNetwork):
    """The CSTrack network family (YOLOv5 backbone + PAN neck); see the module docstring."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        backbone_exports = _backbone_exports(config)
        self.backbone = FeatureGraph(config.backbone, {"image": FeatureInfo(3, 1)}, backbone_exports,
                                     config, "backbone")
        self.neck = FeatureGraph(config.neck, dict(zip(backbone_exports, self.backbone.export_info)),
                                 config.outputs, config, "neck")
        levels = self.neck.export_info
        self.level_channels = tuple(info.channels for info in levels)
        self.strides = tuple(info.stride for info in levels)
        _check_strides(self.strides, config)
        self.max_stride = max(max(self.strides), max(i.stride for i in self.backbone.export_info))
        self.num_classes = config.num_classes
        self.embedding_dim = config.embedding_dim

        self.ren = PerLevelReciprocalNetworks(self.level_channels, config.ren_pool_size) if config.ren else None
        self.detect = DetectionHead(self.level_channels, self.strides, config.anchors, config.num_classes)
        self.num_anchors = self.detect.num_anchors
        self._build_embedding_path(config)

def build_model(config: str | Path | ModelConfig | YoloxModelConfig, **overrides: Any) -> OneShotNetwork:
    """A freshly initialised network from a shipped config name, a YAML path or a config object.

    ``family: yolox`` configs give a :class:`~mottrack_training.model.yolox_cstrack.YoloxCSTrack`,
    all others a :class:`CSTrack`.
    """
    from mottrack_training.model.config_bounds import check_model_bounds, check_parameter_count

    if not isinstance(config, (ModelConfig, YoloxModelConfig)):
        config = load_model_config(config, **overrides)
    elif overrides:
        import dataclasses

        from mottrack_sdk.config import check_expanded_size

        check_expanded_size(overrides, f"{config.source} overrides")
        try:
            config = dataclasses.replace(config, **overrides)
        except TypeError as exc:  # an unknown key
            raise ConfigError(f"{config.source}: {exc}") from None
    check_model_bounds(config)  # before anything is allocated: bounded loops, sizes and parameters
    check_parameter_count(config, _network)
    return _network(config)


def _network(config: ModelConfig | YoloxModelConfig) -> OneShotNetwork:
    if isinstance(config, YoloxModelConfig):
        from mottrack_training.model.yolox_cstrack import YoloxCSTrack

        return YoloxCSTrack(config)
    return CSTrack(config)


def _backbone_exports(config: ModelConfig) -> list[str]:
    """Backbone maps the neck reads (by name), then the backbone's last map (the neck's ``previous``)."""
    names = [spec.name or f"backbone.{i}" for i, spec in enumerate(config.backbone)]
    referenced = [n for spec in config.neck for n in spec.inputs if n != PREVIOUS] + list(config.outputs)
    exports = [n for n in dict.fromkeys(referenced) if n in names and n != names[-1]]
    return exports + [names[-1]]


def _check_strides(strides: Sequence[int], config: ModelConfig) -> None:
    if list(strides) != sorted(set(strides)):
        raise ConfigError(f"{config.source}: outputs must have increasing strides, got {list(strides)}")
    ratios = [s / strides[0] for s in strides[1:]]
    if config.saan and any(r != int(r) or int(r) % 2 for r in ratios):
        raise ConfigError(f"{config.source}: SAAN needs level strides that are even multiples of the first, "
                          f"got {list(strides)}")
