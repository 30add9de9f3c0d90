"""The CSTrack training loop: data, model + loss, SGD schedule, EMA, AMP, DDP, validation, checkpoints.

>>> summary = Trainer(load_train_options("configs/tiny_test.yaml")).fit()

One optimizer step consumes ``accumulate = max(round(nominal_batch / (batch_size · world_size)), 1)``
micro-batches per process (the last group of an epoch may be shorter, so no gradient is ever
pending at an epoch boundary). Each micro-batch's loss is multiplied by ``batch_size · world_size``
before ``backward`` (DDP averages gradients over processes; see
:mod:`mottrack_training.losses.criterion`). Under DDP every micro-batch but the last of a group
runs in ``no_sync()``, so gradients are all-reduced once per step.

Resuming restores model, EMA, criterion (ID classifier / iHOIM memory), optimizer, scheduler,
scaler, counters, the sampler position and every rank's RNG states, so the resumed run's losses are
those of an uninterrupted one (bit-exact on CPU with the same thread count).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from mottrack_sdk.io import find_sequences
from mottrack_sdk.io.output_paths import check_output_folder
from mottrack_training.data import collate
from mottrack_training.engine.checkpoint import (capture_rng_state, load_checkpoint,
                                                 restore_rng_state, save_checkpoint)
from mottrack_training.engine.distributed import (DistContext, ShardedBatchSampler, barrier, gather_objects,
                                                  init_distributed)
from mottrack_training.engine.model_setup import build_training_model, distillation_reference, init_class_prior
from mottrack_training.engine.optimization import ModelEma, WarmupStepSchedule, build_optimizer
from mottrack_training.engine.options import TrainOptions
from mottrack_training.engine.run_log import RunLog
from mottrack_training.engine.sources import build_train_dataset, prepare_sources, sequence_dirs
from mottrack_training.engine.validation import ValidationResult, validate_sequences
from mottrack_training.losses import CSTrackCriterion, ModelWithLoss
from mottrack_training.losses.criterion import TERMS
from mottrack_training.model.activations import ActivationAnneal

__all__ = ["TrainSummary", "Trainer", "init_class_prior"]



@dataclasses.dataclass
class TrainSummary:
    """What a :meth:`Trainer.fit` call did: per-step and per-epoch log rows, where files went."""

    out_dir: Path
    steps: list[dict[str, float]]
    epochs: list[dict[str, float]]
    best: dict[str, Any]
    stopped_early: bool


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Set up a run from :class:`TrainOptions` (and optionally a checkpoint to resume), then :meth:`fit`.

    Args:
        options: the run. out_dir: output folder (default ``options.out_dir``, or the resumed
            checkpoint's folder). resume: a checkpoint written by a previous run.
        dist_context: for tests; default: from torchrun's environment (:func:`init_distributed`).
    """

    def __init__(self, options: TrainOptions, out_dir: str | Path | None = None, resume: str | Path | None = None,
                 dist_context: DistContext | None = None) -> None:
        self.options = options
        self.ctx = dist_context or init_distributed(options.device)
        if options.num_threads:
            torch.set_num_threads(options.num_threads)
        state = load_checkpoint(resume, map_location="cpu") if resume else None
        if state is not None and state.get("averaged_from"):
            raise ValueError(f"--resume {resume}: an averaged checkpoint (mottrack average-weights) has no "
                             "optimizer state to resume; start a new run from it with model.weights")
        self.out_dir = Path(out_dir) if out_dir else (Path(resume).parent if resume else options.out_dir)
        check_output_folder(self.out_dir, "output folder (--out / output_dir)")  # before any work
        self.device = self.ctx.device
        self.amp = options.optim.amp and self.device.type == "cuda"
        prepare_sources([*options.data.train, options.data.val], self.ctx.is_main, self._print)
        self.dataset = build_train_dataset(options.data, options.seed)
        if self.dataset.num_identities == 0:
            self._print("warning: the training sources label no identities (a gt.txt without boxes or ids?): "
                        "the identity embedding learns nothing in this run")
        self.val_sequences = sequence_dirs(options.data.val) if options.data.val and options.val.every_epochs else []
        self.extra_val = [(extra, find_sequences(extra.mot)) for extra in options.data.val_extra] \
            if options.val.every_epochs else []

        seed_everything(options.seed)  # identical model init on every rank
        self.model, frozen = build_training_model(options.model)
        if frozen:
            self._print(f"frozen (model.freeze): {frozen} parameter tensors")
        self.model.to(self.device)
        reference = distillation_reference(self.model, options.model) if options.loss.needs_reference else None
        self.criterion = CSTrackCriterion.for_model(self.model, self.dataset.num_identities, options.loss)
        self.criterion.to(self.device)
        self.net = ModelWithLoss(self.model, self.criterion, amp=self.amp, reference=reference)
        self.ddp: torch.nn.Module = self.net
        if self.ctx.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = torch.nn.parallel.DistributedDataParallel(self.net, device_ids=device_ids)

        opt, data = options.optim, options.data
        world_batch = data.batch_size * self.ctx.world_size
        self.accumulate = max(round(opt.nominal_batch / world_batch), 1)
        self.optimizer = build_optimizer(self.net, opt.lr, opt.momentum,
                                         opt.weight_decay * world_batch * self.accumulate / opt.nominal_batch,
                                         opt.nesterov, opt.optimizer)
        self.sampler = ShardedBatchSampler(len(self.dataset), data.batch_size, self.ctx.world_size, self.ctx.rank,
                                           options.seed)
        self.steps_per_epoch = math.ceil(self.sampler.batches_per_epoch / self.accumulate)
        warmup = max(round(opt.warmup_epochs * self.steps_per_epoch), opt.warmup_min_steps)
        self.schedule = WarmupStepSchedule(opt.lr, opt.momentum, warmup, opt.milestones, opt.gamma,
                                           opt.warmup_momentum, opt.warmup_bias_lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.anneal = None  # model.activation_anneal: activations blend to the network's own (set every step)
        if options.model.activation_anneal > 0:
            self.anneal = ActivationAnneal(self.model, options.model.reference_activation,  # of all epochs' steps
                                           round(options.model.activation_anneal * opt.epochs * self.steps_per_epoch))
        self.ema = ModelEma(self.model, opt.ema_decay, opt.ema_tau) if opt.ema else None
        seed_everything(options.seed + 7919 * self.ctx.rank)  # per-rank streams from here on
        self.epoch = self.batch_in_epoch = self.step = self.iteration = 0
        self.epoch_loss: list[float] = [0.0, 0]  # sum and count of step losses in the current epoch
        self.best: dict[str, Any] = {"metric": options.val.best_metric, "value": None, "epoch": None}
        if state is not None:
            self._restore(state)
        self.log = RunLog(self.out_dir, self.ctx.is_main, options.log.tensorboard,
                          resume_step=self.step if state else None, resume_epochs=self.epoch if state else None)
        if self.log.note:
            self._print(self.log.note)

    # ------------------------------------------------------------------ training
    def fit(self) -> TrainSummary:
        """Train until ``optim.epochs`` (or ``optim.max_steps``); returns the summary (main process logs)."""
        opt = self.options.optim
        steps: list[dict[str, float]] = []
        epochs: list[dict[str, float]] = []
        self._print(f"training {len(self.dataset)} frames, {self.dataset.num_identities} identities on "
                    f"{self.ctx.world_size} x {self.device}; batch {self.options.data.batch_size} x "
                    f"{self.ctx.world_size} x accumulate {self.accumulate}, {self.steps_per_epoch} steps/epoch")
        if opt.max_steps is not None and self.step >= opt.max_steps:
            self._print(f"nothing to do: step {self.step} >= optim.max_steps")
            self.log.close()
            return TrainSummary(self.out_dir, steps, epochs, self.best, True)
        try:
            while self.epoch < opt.epochs:
                epoch_start = time.perf_counter()
                stopped = self._train_epoch(steps)
                if stopped:
                    self._save(last=True)
                    return TrainSummary(self.out_dir, steps, epochs, self.best, True)
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
                epochs.append(self._end_epoch(time.perf_counter() - epoch_start))
        finally:
            self.log.close()
        return TrainSummary(self.out_dir, steps, epochs, self.best, False)

    def _train_epoch(self, steps: list[dict[str, float]]) -> bool:
        """Run the rest of ``self.epoch``; True when ``max_steps`` stopped it."""
        opt, data = self.options.optim, self.options.data
        self.sampler.set_epoch(self.epoch, self.batch_in_epoch)
        self.dataset.set_epoch(self.epoch)
        loader = DataLoader(self.dataset, batch_sampler=self.sampler, num_workers=data.num_workers,
                            collate_fn=collate, pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(self.options.seed * 1000 + self.epoch))
        total = self.sampler.batches_per_epoch
        bar = self._progress(total, self.batch_in_epoch)
        sums = torch.zeros(len(TERMS) + 1, device=self.device)
        group_size, group_start = 0, time.perf_counter()
        self.ddp.train()
        for micro, batch in enumerate(loader, start=self.batch_in_epoch):
            if self.anneal is not None and self.anneal.apply(self.step, self.ema.module if self.ema else None):
                self._print(f"step {self.step}: activation annealed to {self.model.config.activation}")
                self.anneal = None
            group_end = (micro + 1) % self.accumulate == 0 or micro + 1 == total
            batch = batch.to(self.device, non_blocking=True)
            sync = contextlib.nullcontext() if group_end or not self.ctx.distributed else self.ddp.no_sync()
            with sync:
                out = self.ddp(batch.images, batch.targets, batch.from_reference)
                scale = batch.images.shape[0] * self.ctx.world_size
                self.scaler.scale(out.total * scale).backward()
            sums += torch.stack([out.total.detach(), *(out.terms[k] for k in TERMS)])
            group_size += 1
            self.iteration += 1
            self.batch_in_epoch = micro + 1
            if not group_end:
                continue
            lr = self.schedule.apply(self.optimizer, self.step, self.epoch)
            if opt.clip_grad_norm is not None:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), opt.clip_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            if self.ema is not None:
                self.ema.update(self.model)
            self.step += 1
            row = self._step_row(sums / group_size, lr, group_size, time.perf_counter() - group_start)
            if not math.isfinite(row["loss"]) and not self.amp:  # (AMP's scaler skips such steps itself)
                raise ValueError(f"step {self.step}: the training loss is {row['loss']} (training diverged); "
                                 "no checkpoint is written from it: lower optim.lr or set optim.clip_grad_norm")
            self.epoch_loss = [self.epoch_loss[0] + row["loss"], self.epoch_loss[1] + 1]
            steps.append(row)
            self.log.step(row)
            if bar is not None:
                bar.update(group_size)
                bar.set_postfix(loss=f"{row['loss']:.4f}", box=f"{row['box']:.4f}", obj=f"{row['obj']:.4f}",
                                id=f"{row['id']:.3f}", img_s=f"{row['images_per_s']:.1f}")
            sums.zero_()
            group_size, group_start = 0, time.perf_counter()
            if opt.max_steps is not None and self.step >= opt.max_steps:
                if bar is not None:
                    bar.close()
                self._print(f"stopping at step {self.step} (optim.max_steps)")
                return True
        if bar is not None:
            bar.close()
        return False

    def _step_row(self, means: torch.Tensor, lr: float, group_size: int, seconds: float) -> dict[str, float]:
        if self.ctx.distributed:  # log the mean over ranks: the same numbers as one process would see
            dist.all_reduce(means)
            means = means / self.ctx.world_size
        values = means.tolist()
        images = group_size * self.options.data.batch_size * self.ctx.world_size
        row = {"epoch": self.epoch + 1, "step": self.step, "iteration": self.iteration, "lr": lr, "loss": values[0]}
        row.update({k: v for k, v in zip(TERMS, values[1:])})
        row["images_per_s"] = images / max(seconds, 1e-9)
        return row

    def _end_epoch(self, seconds: float) -> dict[str, float]:
        """Validate (main process), log epoch ``self.epoch`` (1-based, just finished), write last.pt / best.pt."""
        every = self.options.val.every_epochs
        loss = self.epoch_loss[0] / self.epoch_loss[1] if self.epoch_loss[1] else float("nan")
        self.epoch_loss = [0.0, 0]  # before the checkpoint: a resumed run starts the next epoch afresh
        row: dict[str, Any] = {"epoch": self.epoch, "step": self.step, "loss": loss, "epoch_seconds": seconds}
        result = None
        # every rank sees the same sequences, so every rank takes part in the (collective) early save
        due = bool(self.val_sequences or self.extra_val) and (self.epoch % every == 0 or
                                                              self.epoch == self.options.optim.epochs)
        if due:
            self._save(last=True)  # the epoch's weights are safe before validation runs (it may fail or be killed)
        if self.ctx.is_main and due and self.val_sequences:
            result = self.validate(self.out_dir / "val" / f"epoch_{self.epoch:03d}")
            row.update(result.metrics())
            row["val_seconds"] = result.seconds
            self._print(f"epoch {self.epoch}: loss {loss:.4f}  AP50 {result.ap50:.1f}  HOTA {result.hota:.1f}  "
                        f"MOTA {result.mota:.1f}  IDF1 {result.idf1:.1f}  ({result.seconds:.0f} s)")
        for extra, sequences in self.extra_val if self.ctx.is_main and due else ():
            extra_result = self.validate(self.out_dir / "val" / f"epoch_{self.epoch:03d}_{extra.name}", sequences)
            row.update({f"{extra.name}.{k}": v for k, v in extra_result.metrics().items()})
            self._print(f"epoch {self.epoch} [{extra.name}]: AP50 {extra_result.ap50:.1f}  HOTA "
                        f"{extra_result.hota:.1f}  MOTA {extra_result.mota:.1f}  IDF1 {extra_result.idf1:.1f}  "
                        f"({extra_result.seconds:.0f} s)")
        improved = self._update_best(row, result)
        self.log.epoch(row)
        self._save(last=True, best=improved)
        keep = self.options.log.keep_epochs
        if keep and self.epoch % keep == 0:
            self._save(extra=self.out_dir / f"epoch_{self.epoch:03d}.pt")
        barrier()
        return row

    def _update_best(self, row: dict[str, Any], result: ValidationResult | None) -> bool:
        metric = self.best["metric"]
        validated = bool(self.val_sequences or self.extra_val)
        if metric == "loss" or not validated:
            value, higher = row["loss"], False
        elif metric == "mean" or "." in metric:
            keys = [metric] if "." in metric else \
                (["hota"] if self.val_sequences else []) + [f"{e.name}.{m}" for e, _ in self.extra_val for m in e.select]
            if any(k not in row for k in keys):
                return False
            value, higher = sum(float(row[k]) for k in keys) / len(keys), True
        elif result is None:
            return False
        else:
            value, higher = result.metrics()[metric], True
        old = self.best["value"]
        if old is None or (value > old if higher else value < old):
            self.best.update(value=value, epoch=self.epoch, metric=metric if validated else "loss")
            return True
        return False

    def validate(self, results_dir: Path, sequences: list[Path] | None = None) -> ValidationResult:
        """Validate the EMA weights (or the model without EMA) on ``data.val`` (or on ``sequences``)."""
        model = self.ema.module if self.ema is not None else self.model
        data = self.options.data
        return validate_sequences(model, self.val_sequences if sequences is None else sequences, self.options.val,
                                  tuple(data.img_size), data.pad_value, results_dir, self.device, self.amp)

    # ------------------------------------------------------------------ checkpoints
    def _save(self, last: bool = False, best: bool = False, extra: Path | None = None) -> None:
        rng = gather_objects(capture_rng_state())  # collective: every rank calls it
        if not self.ctx.is_main:
            return
        payload = {
            "options": dataclasses.asdict(self.options),
            "model_config": {"config": self.options.model.config, "overrides": dict(self.options.model.overrides)},
            "model": self.model.state_dict(), "criterion": self.criterion.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(), "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "step": self.step, "iteration": self.iteration, "sampler": self.sampler.state_dict(),
            "world_size": self.ctx.world_size, "rng": rng, "best": dict(self.best),
            "num_identities": self.dataset.num_identities, "epoch_loss": list(self.epoch_loss),
        }
        targets = ([self.out_dir / "last.pt"] if last else []) + ([self.out_dir / "best.pt"] if best else [])
        targets += [extra] if extra is not None else []
        for path in targets:
            save_checkpoint(path, payload)

    def _restore(self, state: dict[str, Any]) -> None:
        if state["num_identities"] != self.dataset.num_identities:
            raise ValueError(f"the checkpoint was trained with {state['num_identities']} identities, the configured "
                             f"data has {self.dataset.num_identities}: resume needs the same training data")
        if state["sampler"]["seed"] != self.options.seed:
            raise ValueError(f"the checkpoint's seed is {state['sampler']['seed']}, the config's {self.options.seed}")
        self.model.load_state_dict(state["model"])
        self.criterion.load_state_dict(state["criterion"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batch_in_epoch = int(state["epoch"]), int(state["batch_in_epoch"])
        self.step, self.iteration = int(state["step"]), int(state["iteration"])
        self.best = dict(state["best"])
        self.epoch_loss = list(state["epoch_loss"])
        same_batches = (state["world_size"], state["options"]["data"]["batch_size"]) == \
            (self.ctx.world_size, self.options.data.batch_size)
        if self.batch_in_epoch and not same_batches:
            raise ValueError("a run stopped mid-epoch resumes only with the same batch size and number of processes")
        rng = state["rng"]
        restore_rng_state(rng[self.ctx.rank] if len(rng) == self.ctx.world_size else rng[0])
        self._print(f"resumed from step {self.step} (epoch {self.epoch}, batch {self.batch_in_epoch})")

    # ------------------------------------------------------------------ console
    def _print(self, message: str) -> None:
        if self.ctx.is_main:
            print(message, flush=True)

    def _progress(self, total: int, initial: int) -> Any:
        if not (self.ctx.is_main and self.options.log.progress):
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=f"epoch {self.epoch + 1}/{self.options.optim.epochs}",
                    unit="batch", dynamic_ncols=True, leave=True)
