"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint (``torch.save`` of a dict, written to a temp file and renamed) holds::

    format, version        "mottrack-train-checkpoint", 1
    options                the TrainOptions as a plain dict (what produced the run)
    model                  CSTrack state dict (loadable by build_model(config).load_state_dict)
    model_config           {"config": name or path, "overrides": {...}}
    criterion              ID classifier weights / iHOIM memory
    ema                    {"model": state dict, "updates": n} or None
    optimizer, scheduler, scaler
    epoch                  epoch to run next (or the one in progress when batch_in_epoch > 0)
    batch_in_epoch         micro-batches of that epoch already consumed per rank (mid-epoch stop)
    step, iteration        optimizer steps and micro-batches done so far
    sampler                {"seed", "epoch", "start_batch"} of the sharded batch sampler
    rng                    per rank: torch CPU / CUDA, numpy and python RNG states
    best                   {"metric", "value", "epoch"}; num_identities; metrics of the last validation

Data augmentation needs no state: each sample's randomness depends only on (seed, epoch, index).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mottrack_sdk.io import atomic_path
from mottrack_training.engine.safe_load import load_weights_file

__all__ = ["CHECKPOINT_FORMAT", "WEIGHTS_FORMAT", "capture_rng_state", "check_finite_weights", "checkpoint_weights",
           "load_checkpoint", "load_model_weights", "restore_rng_state", "save_checkpoint"]

CHECKPOINT_FORMAT = "mottrack-train-checkpoint"
CHECKPOINT_VERSION = 1
WEIGHTS_FORMAT = "mottrack-weights"  # packaged weights (mottrack_training.engine.release.package_weights)


def capture_rng_state() -> dict[str, Any]:
    """This process's RNG states: torch CPU, every CUDA device (if any), numpy global, python ``random``."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only when the device count matches)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus format / version) atomically to ``path``; returns the path."""
    path = Path(path)
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    require_finite: bool = False) -> dict[str, Any]:
    """Read a training checkpoint; ``ValueError`` naming the file when it is not one
    (:class:`~mottrack_training.engine.safe_load.UnsafeWeightsError` when it holds anything but
    tensors and plain data: nothing of it is run). ``require_finite``: also refuse NaN / inf in its
    model or EMA weights (:func:`check_finite_weights`), for tools that turn them into a result."""
    path = Path(path)
    state = load_weights_file(path, map_location, what="checkpoint")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a mottrack training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {state.get('version')} is not supported "
                         f"(expected {CHECKPOINT_VERSION})")
    if require_finite:
        check_finite_weights(state, path)
    return state


def check_finite_weights(state: dict[str, Any], path: str | Path) -> None:
    """Every floating-point tensor of a loaded checkpoint's model and EMA weights is finite (one
    ``torch.isfinite(...).all()`` per tensor).

    Raises:
        ValueError: naming ``path`` and the first parameter holding NaN or inf (a diverged run, or a
            damaged file: averaging or packaging it would give a model that finds nothing).
    """
    ema = state.get("ema")
    parts = (("model", state.get("model")), ("EMA", ema.get("model") if isinstance(ema, dict) else None))
    for part, weights in parts:
        if not isinstance(weights, dict):
            continue
        for name, value in weights.items():
            if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()) \
                    and not bool(torch.isfinite(value).all()):
                bad = int((~torch.isfinite(value)).sum())
                raise ValueError(f"{path}: {part} parameter {name} holds NaN or inf ({bad} of {value.numel()} "
                                 "values): the run diverged or the file is damaged; use an earlier checkpoint")


def checkpoint_weights(state: dict[str, Any], use_ema: bool = True) -> dict[str, torch.Tensor]:
    """The state dict a loaded training checkpoint stands for: its EMA weights when it has them and
    ``use_ema``, else its model weights."""
    return state["ema"]["model"] if use_ema and state.get("ema") else state["model"]


def load_model_weights(path: str | Path, use_ema: bool = True) -> dict[str, torch.Tensor]:
    """A CSTrack state dict from a training checkpoint (its EMA weights when present and ``use_ema``),
    from packaged weights (``mottrack package-weights``; FP16 turned back to FP32) or from a file
    holding a bare state dict."""
    state = load_weights_file(path, what="weights")
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        return checkpoint_weights(state, use_ema)
    if isinstance(state, dict) and state.get("format") == WEIGHTS_FORMAT and isinstance(state.get("model"), dict):
        return {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()}
    if isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()):
        return state
    raise ValueError(f"{path}: expected a training checkpoint, packaged weights ({WEIGHTS_FORMAT}) or a state "
                     "dict of tensors")
