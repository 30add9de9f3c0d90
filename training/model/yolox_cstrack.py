"""CSTrack on a YOLOX backbone: CSPDarknet + PAFPN + REN + SAAN + YOLOX's decoupled (anchor-free) head.

``build_model("cstrack_nano")`` gives the YOLOX-nano variant (width 0.25, depth 0.33, depthwise),
whose backbone, neck and detection head can start from YOLOX-nano's COCO weights
(:func:`~mottrack_training.model.yolox_onnx.load_yolox_onnx`), the person class kept as the one
pedestrian class. The forward contract is :class:`~mottrack_training.model.cstrack.OneShotNetwork`'s:
raw levels [B, 1, H_l, W_l, 5 + nc] (``tx, ty, tw, th, obj, cls`` logits, one "anchor" per cell) or
decoded [B, N, 4 + nc] with N = Σ_l H_l·W_l, and the SAAN embedding map [B, E, H/8, W/8].

Decoding differs from the anchor head (:mod:`.yolox_blocks`): ``cx = (tx + gx)·s``, ``w = exp(tw)·s``.
``detect.box_coding == "yolox"`` tells the loss and the exported metadata which formula applies.
"""
from __future__ import annotations

from mottrack_training.model.activations import set_activation
from mottrack_training.model.config import YoloxModelConfig
from mottrack_training.model.cstrack import OneShotNetwork
from mottrack_training.model.ren import PerLevelReciprocalNetworks
from mottrack_training.model.yolox_blocks import CSPDarknet, YoloxHead, YoloxPafpn

__all__ = ["YoloxCSTrack"]

STRIDES = (8, 16, 32)


class YoloxCSTrack(OneShotNetwork):
    """CSTrack with a YOLOX backbone / neck / head; see the module docstring."""

    def __init__(self, config: YoloxModelConfig) -> None:
        super().__init__()
        self.config = config
        width, depth = config.width_multiple, config.depth_multiple
        self.backbone = CSPDarknet(width, depth, config.depthwise)
        self.neck = YoloxPafpn(self.backbone.out_channels, depth, config.depthwise)
        self.level_channels = tuple(self.neck.out_channels)
        self.strides = STRIDES
        self.max_stride = max(STRIDES)
        self.num_classes = config.num_classes
        self.embedding_dim = config.embedding_dim
        self.ren = (PerLevelReciprocalNetworks(self.level_channels, config.ren_pool_size, config.ren_detection_gate)
                    if config.ren else None)
        self.detect = YoloxHead(self.level_channels, STRIDES, int(256 * width), config.num_classes,
                                config.assign_anchors, config.depthwise)
        self.num_anchors = self.detect.num_anchors
        self._build_embedding_path(config)
        if config.activation != "silu":
            for part in config.activation_parts:
                set_activation(getattr(self, part), config.activation)
