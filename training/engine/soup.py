"""Weight averaging of fine-tuned runs that share one starting point (a "model soup").

Two fine-tunes of the same starting weights that learned different things (one stays close to a
reference detector on real footage, one learns the synthetic figures harder) often lie in one basin
of the loss: the weighted mean of their parameters keeps much of what each learned, which a single
schedule trading one for the other does not (Wortsman et al., "Model soups", ICML 2022; "Robust
fine-tuning of zero-shot models" (WiSE-FT), CVPR 2022). ``mottrack average-weights`` writes such a mean
as a training checkpoint that ``mottrack package-weights`` takes like any other.

The result is the first checkpoint with its model (and EMA) weights replaced by the weighted mean of
every input's EMA weights (its model weights when it has no EMA); BatchNorm step counters
(``num_batches_tracked``) take the largest, any other integer buffer must be equal. It
records ``averaged_from`` (file, weight, config name, options of each input) so the metrics card can
list what every member learned from. Optimizer, scheduler and scaler states are dropped: an averaged
checkpoint is a result, not a run to resume (``mottrack train --resume`` refuses it).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mottrack_training.engine.checkpoint import checkpoint_weights, load_checkpoint, save_checkpoint

__all__ = ["average_checkpoints", "check_mix", "parse_mix"]


def parse_mix(text: str | None, count: int) -> list[float]:
    """``"0.5,0.5"`` -> ``[0.5, 0.5]``: ``count`` numbers in [0, 1] that sum to 1; None -> equal weights."""
    if text is None:
        return check_mix(None, count)
    try:
        weights = [float(part) for part in str(text).split(",")]
    except ValueError:
        raise ValueError(f"--mix: expected {count} comma-separated numbers, got {text!r}") from None
    return check_mix(weights, count)


def check_mix(weights: Sequence[float] | None, count: int) -> list[float]:
    """``weights`` as floats after checking them (one per checkpoint, in [0, 1], sum 1); None -> equal."""
    if weights is None:
        return [1.0 / count] * count
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise ValueError(f"--mix: expected {count} weights (one per checkpoint), got {len(weights)}: {weights}")
    if any(not math.isfinite(w) or w < 0.0 or w > 1.0 for w in weights):
        raise ValueError(f"--mix: every weight must be in [0, 1], got {weights}")
    if abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(f"--mix: the weights must sum to 1, got {sum(weights):.6g} from {weights}")
    return weights


def average_checkpoints(checkpoints: Sequence[str | Path], out: str | Path,
                        mix: Sequence[float] | None = None) -> dict[str, Any]:
    """Write the weighted mean of ``checkpoints`` (training checkpoints of one model) to ``out``.

    Args:
        checkpoints: two or more ``best.pt`` / ``last.pt`` files of runs of the same model config.
        out: the checkpoint to write (atomically; never one of the inputs).
        mix: one weight per checkpoint, each in [0, 1], summing to 1 (default: equal).

    Returns:
        ``averaged_from`` as recorded in the output (file, weight, config name per input).

    Raises:
        ValueError: naming the file (and parameter) for fewer than two inputs, a bad ``mix``, ``out``
            equal to an input, a file that is not a training checkpoint, NaN / inf in its model or EMA
            weights, a different model config or a parameter whose name, shape or (integer buffers)
            value differs from the first input's.
    """
    paths = [Path(p) for p in checkpoints]
    if len(paths) < 2:
        raise ValueError(f"checkpoints: expected at least two to average, got {len(paths)}")
    weights = check_mix(mix, len(paths))
    out = Path(out)
    if any(out.resolve() == p.resolve() for p in paths):
        raise ValueError(f"--out {out}: would overwrite one of the input checkpoints")
    states = [load_checkpoint(p, require_finite=True) for p in paths]
    first, reference = states[0], checkpoint_weights(states[0])
    mean = {k: v.float() * weights[0] if v.is_floating_point() else v.clone() for k, v in reference.items()}
    for path, state, weight in zip(paths[1:], states[1:], weights[1:]):
        if state.get("model_config") != first.get("model_config"):
            raise ValueError(f"{path}: model config {state.get('model_config')!r} differs from {paths[0]}'s "
                             f"{first.get('model_config')!r}: only runs of one model can be averaged")
        params = checkpoint_weights(state)
        if params.keys() != reference.keys():
            extra = sorted(set(params) ^ set(reference))[:3]
            raise ValueError(f"{path}: its parameters differ from {paths[0]}'s (e.g. {extra})")
        for name, value in params.items():
            if value.shape != reference[name].shape:
                raise ValueError(f"{path}: parameter {name} has shape {tuple(value.shape)}, "
                                 f"{paths[0]} has {tuple(reference[name].shape)}")
            if value.is_floating_point():
                mean[name] += value.float() * weight
            elif name.endswith("num_batches_tracked"):  # a BatchNorm step counter: the longest run's
                mean[name] = torch.maximum(mean[name], value)
            elif not torch.equal(value, reference[name]):
                raise ValueError(f"{path}: integer buffer {name} differs from {paths[0]}'s")
    mean = {k: v.to(reference[k].dtype) for k, v in mean.items()}
    members = [{"checkpoint": str(p), "weight": w, "config": s.get("options", {}).get("name"),
                "epoch": s.get("epoch"), "options": s.get("options")} for p, s, w in zip(paths, states, weights)]
    payload = {k: v for k, v in first.items() if k not in ("format", "version")}
    payload.update(model=mean, ema={"model": mean, "updates": 0} if first.get("ema") else None,
                   optimizer=None, scheduler=None, scaler=None, averaged_from=members)
    save_checkpoint(out, payload)
    return {"averaged_from": [{k: m[k] for k in ("checkpoint", "weight", "config", "epoch")} for m in members]}
