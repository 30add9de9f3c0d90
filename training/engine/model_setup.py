"""The model section of a training run: its options, the network built from them, and the frozen
distillation reference.

:class:`ModelOptions` is the ``model:`` section of a train config (:mod:`.options` holds the rest);
:func:`build_training_model` builds the network a run trains (config + overrides, YOLOX's COCO
weights, starting weights, frozen parameters) and :func:`distillation_reference` the frozen copy the
distillation terms compare it with (``loss.distill_weight`` / ``feature_distill_weight`` /
``embedding_distill_weight``).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from mottrack_sdk.config import short_repr
from mottrack_training.data.options import check_number
from mottrack_training.engine.checkpoint import load_model_weights
from mottrack_training.model import build_model
from mottrack_training.model.activations import set_activation

__all__ = ["ModelOptions", "build_training_model", "distillation_reference", "freeze_parameters", "init_class_prior"]


@dataclass(frozen=True)
class ModelOptions:
    """``config``: shipped model config name or YAML path; ``overrides``: its top-level keys to replace
    (e.g. ``{saan: false}``); ``weights``: optional state dict / checkpoint to start from;
    ``init_onnx``: a YOLOX ONNX file whose backbone / neck / head weights initialise a ``family: yolox``
    network (before ``weights``); ``freeze``: parameter-name patterns (``fnmatch``, e.g. ``backbone.*``,
    ``*.detection_gate``) that are not trained.

    Changing a ``family: yolox`` network's activation (``overrides: {activation: relu}``) on weights
    trained with another: ``reference_activation`` is the activation of the frozen reference network
    the distillation terms compare with (``loss.distill_weight`` / ``feature_distill_weight`` /
    ``embedding_distill_weight``; default: the network's own), i.e. the one the weights were trained
    with; ``activation_anneal`` (in [0, 1)) is the fraction of the run's optimizer steps over which
    every activation of the trained network blends from ``reference_activation`` to its own
    (:mod:`mottrack_training.model.activations`; 0: the new activation from the first step).
    ``reference_weights``: the reference's own weights (default: the network's starting weights), so a
    later stage that starts from an earlier stage's weights still distils from the original network."""

    config: str = "cstrack_s"
    overrides: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    init_onnx: str | None = None
    freeze: tuple[str, ...] = ()
    reference_activation: str | None = None
    activation_anneal: float = 0.0
    reference_weights: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.overrides, dict):
            raise ValueError(f"model.overrides must be a mapping of model config keys, got {self.overrides!r}")
        from mottrack_training.model.config import YOLOX_ACTIVATIONS, load_model_config

        config = load_model_config(self.config, **self.overrides)  # a bad config or override fails here
        own = getattr(config, "activation", None)
        if self.reference_activation is not None:
            if own is None:
                raise ValueError(f"model.reference_activation: model config {self.config!r} has no activation "
                                 "key (only family: yolox networks do)")
            if self.reference_activation not in YOLOX_ACTIVATIONS:
                raise ValueError(f"model.reference_activation must be one of {', '.join(YOLOX_ACTIVATIONS)}, "
                                 f"got {short_repr(self.reference_activation)}")
        check_number("model.activation_anneal", self.activation_anneal, 0.0, 1.0, open_high=True)
        if self.activation_anneal > 0 and (self.reference_activation is None or self.reference_activation == own):
            raise ValueError("model.activation_anneal blends from model.reference_activation to the network's own "
                             f"activation ({own}): set a reference_activation that differs from it")


def init_class_prior(model: torch.nn.Module) -> None:
    """YOLOv5's class-logit prior ``log(0.6 / (nc - 0.99))`` (σ ≈ 0.98 for one class).

    The decoded score is σ(obj)·σ(cls) and with one class the class logit gets no loss, so without
    this prior (the model's default bias init gives σ(cls) ≈ 0.5) no score could pass 0.5.
    Anchor-free (YOLOX) heads keep their own initialisation.
    """
    head = model.detect
    if not hasattr(head, "convs"):
        return
    with torch.no_grad():
        for conv in head.convs:
            bias = conv.bias.view(head.num_anchors, head.num_outputs)
            bias[:, 5:] = math.log(0.6 / (head.num_classes - 0.99))


def freeze_parameters(model: torch.nn.Module, patterns: tuple[str, ...]) -> int:
    """Stop training the parameters whose names match one of ``patterns`` (fnmatch); returns how many.

    A pattern that matches nothing is an error (a typo would silently train everything).
    """
    import fnmatch

    count = 0
    for pattern in patterns:
        matched = [p for name, p in model.named_parameters() if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            raise ValueError(f"model.freeze: pattern {pattern!r} matches no parameter of {model.config.name}")
        for param in matched:
            count += int(param.requires_grad)
            param.requires_grad_(False)
    return count


def build_training_model(options: ModelOptions) -> tuple[torch.nn.Module, int]:
    """The network a run trains, and how many parameter tensors ``options.freeze`` froze."""
    model = build_model(options.config, **options.overrides)
    init_class_prior(model)
    if options.init_onnx:
        from mottrack_training.model.yolox_onnx import load_yolox_onnx

        load_yolox_onnx(model, options.init_onnx)
    if options.weights:
        model.load_state_dict(load_model_weights(options.weights))
    return model, freeze_parameters(model, options.freeze)


def distillation_reference(model: torch.nn.Module, options: ModelOptions) -> torch.nn.Module:
    """The network as training starts (or with ``options.reference_weights``), with the activation its
    weights were trained with (``options.reference_activation``); frozen by the loss module."""
    reference = copy.deepcopy(model)
    if options.reference_weights:
        reference.load_state_dict(load_model_weights(options.reference_weights))
    if options.reference_activation is not None:
        set_activation(reference, options.reference_activation)
    return reference
