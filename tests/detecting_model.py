"""A tiny CSTrack-S whose random detect head produces varied scores (shared by export and calibration tests).

With random weights CSTrack's detection features are tiny and nearly constant (REN's attention is
uniform), so every score would be the same and NMS would compare ties. :func:`make_detecting_model`
rescales each detect-head output conv so that, on a calibration batch, box logits have std 0.5 and
objectness logits mean -1 / std 2 (class logit +3): boxes survive the threshold with distinct scores.
"""
from __future__ import annotations

import torch

TINY = {"width_multiple": 0.0625, "embedding_dim": 32}


def make_detecting_model(size: tuple[int, int] = (128, 96), seed: int = 0, **overrides: object):
    """A fused tiny CSTrack-S (random, seeded) with a rescaled detect head, as a ``LoadedModel``;
    ``overrides`` replace :data:`TINY`'s config values (e.g. a wider network)."""
    from mottrack_export.weights import LoadedModel
    from mottrack_training.model import build_model

    torch.manual_seed(seed)
    model = build_model("cstrack_s", **{**TINY, **overrides}).fuse()
    inputs: list[torch.Tensor] = []
    hooks = [conv.register_forward_hook(lambda m, i, o: inputs.append(i[0])) for conv in model.detect.convs]
    with torch.no_grad():
        model(torch.rand(2, 3, size[1], size[0], generator=torch.Generator().manual_seed(seed)))
        per_anchor_std = torch.tensor([0.5, 0.5, 0.5, 0.5, 2.0, 0.0])
        per_anchor_mean = torch.tensor([0.0, 0.0, 0.0, 0.0, -1.0, 3.0])
        for conv, features in zip(model.detect.convs, inputs):
            logits = torch.nn.functional.conv2d(features, conv.weight)
            mean, std = logits.mean(dim=(0, 2, 3)), logits.std(dim=(0, 2, 3)).clamp(min=1e-20)
            gain = per_anchor_std.repeat(model.num_anchors) / std
            conv.weight.mul_(gain.view(-1, 1, 1, 1))
            conv.bias.copy_(per_anchor_mean.repeat(model.num_anchors) - mean * gain)
    for hook in hooks:
        hook.remove()
    return LoadedModel(model.eval(), "cstrack_s", "random-init")
