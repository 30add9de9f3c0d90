"""torch.distributed set-up for DDP training launched by ``torchrun``, and the batch sampler it uses.

Launch (one node, 4 GPUs; add ``--nnodes/--node-rank/--master-addr`` for several nodes)::

    torchrun --nproc-per-node 4 -m mottrack_sdk.cli.main train --config configs/x.yaml

``torchrun`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them (``env://``) and picks NCCL on CUDA, gloo on CPU. Without them
(or with ``WORLD_SIZE=1``) everything runs in one process and the helpers here are no-ops. The first
three are checked before any process-group set-up (:func:`launch_env`): a ``RANK`` outside
``0 .. WORLD_SIZE - 1`` would otherwise wait in the rendezvous for its whole timeout (30 minutes).
"""
from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from mottrack_sdk.config import short_repr

__all__ = ["DistContext", "MAX_WORLD_SIZE", "ShardedBatchSampler", "barrier", "gather_objects", "init_distributed",
           "launch_env", "resolve_device", "shutdown_distributed"]

MAX_WORLD_SIZE = 1 << 20  # processes in one job: far above any cluster, far below a typo's 10**20


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its node, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU raises ``ValueError``."""
    if choice not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {choice!r}")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device: cuda was requested but no CUDA GPU is available")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def launch_env(environ: Mapping[str, str] = os.environ) -> tuple[int, int, int]:
    """``(world_size, rank, local_rank)`` from ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` (unset: 1, 0, 0).

    Raises:
        ValueError: one line naming the variable and its value, unless each is a plain decimal integer with
            ``1 <= WORLD_SIZE <= MAX_WORLD_SIZE``, ``0 <= RANK < WORLD_SIZE`` and ``0 <= LOCAL_RANK < WORLD_SIZE``.
    """
    world = _env_int(environ, "WORLD_SIZE", 1, 1, MAX_WORLD_SIZE, "the number of processes, as torchrun sets it")
    below = f"below WORLD_SIZE={world}" if "WORLD_SIZE" in environ else "below WORLD_SIZE, unset: 1 process"
    rank = _env_int(environ, "RANK", 0, 0, world - 1, f"this process's index, {below}")
    local_rank = _env_int(environ, "LOCAL_RANK", 0, 0, world - 1, f"this process's index on its node, {below}")
    return world, rank, local_rank


def _env_int(environ: Mapping[str, str], name: str, default: int, least: int, most: int, meaning: str) -> int:
    text = environ.get(name)
    if text is None:
        return default
    digits = text.strip()
    value = int(digits) if re.fullmatch(r"[+-]?[0-9]{1,18}", digits) else None  # no "1_0", "\u0663", 5000 digits
    if value is None or not least <= value <= most:
        span = f"{least}" if least == most else f"from {least} to {most}"
        raise ValueError(f"environment variable {name}={short_repr(text)}: expected an integer {span} ({meaning})")
    return value


def init_distributed(device_choice: str = "auto", timeout_s: float = 1800.0) -> DistContext:
    """Join the process group described by torchrun's environment, or return a single-process context.

    The environment is checked first (:func:`launch_env`), so a bad one fails at once with a one-line error."""
    world, rank, local_rank = launch_env()
    device = resolve_device(device_choice, local_rank)
    if world <= 1:
        return DistContext(0, 1, 0, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://", world_size=world, rank=rank,
                                timeout=datetime.timedelta(seconds=timeout_s))
    return DistContext(rank, world, local_rank, device)


def shutdown_distributed() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (picklable objects; ``[obj]`` in one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


class ShardedBatchSampler(Sampler[list[int]]):
    """Per-rank batches of one seeded permutation per epoch; the distributed sampler of training.

    Epoch e shuffles ``range(num_samples)`` with ``numpy.random.default_rng([seed, e])`` and cuts it
    into global micro-batches of ``batch_size * world_size`` (an incomplete last one is dropped);
    rank r takes the r-th chunk of ``batch_size`` of each. So micro-batch k of rank r holds
    ``perm[(k·W + r)·b : (k·W + r + 1)·b]``, exactly the micro-batch ``k·W + r`` that a single
    process with the same ``batch_size`` sees: a W-process run equals a one-process run that
    accumulates W micro-batches, batch-norm statistics included. (torch's ``DistributedSampler``
    interleaves single indices across ranks instead, which groups images into other batches.)

    ``set_epoch(e)`` selects the permutation; ``start_batch`` skips micro-batches already consumed
    in that epoch (mid-epoch resume).
    """

    def __init__(self, num_samples: int, batch_size: int, world_size: int = 1, rank: int = 0, seed: int = 0,
                 shuffle: bool = True) -> None:
        if num_samples < batch_size * world_size:
            raise ValueError(f"{num_samples} training samples are fewer than one global micro-batch "
                             f"({batch_size} x {world_size} processes)")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.num_samples, self.batch_size = num_samples, batch_size
        self.world_size, self.rank, self.seed, self.shuffle = world_size, rank, seed, shuffle
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        """Micro-batches each rank gets per epoch (before ``start_batch``)."""
        return self.num_samples // (self.batch_size * self.world_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if not 0 <= start_batch <= self.batches_per_epoch:
            raise ValueError(f"start_batch {start_batch} outside 0..{self.batches_per_epoch}")
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def permutation(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_samples)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.num_samples)

    def __iter__(self) -> Iterator[list[int]]:
        perm = self.permutation()
        b, w = self.batch_size, self.world_size
        for k in range(self.start_batch, self.batches_per_epoch):
            start = (k * w + self.rank) * b
            yield perm[start:start + b].tolist()

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start_batch

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "start_batch": self.start_batch}
