"""The run's logs on the main process: per-step and per-epoch CSV files, optional TensorBoard events.

``steps.csv``: epoch, step, iteration, lr, loss, box, obj, cls, id, distill, feature, embedding,
images_per_s (one row per optimizer step; losses are per-image means over the step's images, before
any batch scaling).
``epochs.csv``: epoch, step, loss, ap50, hota, mota, idf1, val_seconds, epoch_seconds.
On resume, rows beyond the checkpoint (written after it by the interrupted run) are dropped first,
so the files read as one uninterrupted run. TensorBoard is used only if ``tensorboard`` is installed.
"""
from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path
from typing import Any

from mottrack_sdk.io import atomic_write
from mottrack_training.losses.criterion import TERMS

__all__ = ["EPOCH_FIELDS", "STEP_FIELDS", "RunLog"]

STEP_FIELDS = ("epoch", "step", "iteration", "lr", "loss", *TERMS, "images_per_s")
EPOCH_FIELDS = ("epoch", "step", "loss", "ap50", "hota", "mota", "idf1", "val_seconds", "epoch_seconds")


class RunLog:
    """CSV (and TensorBoard) logging; every method is a no-op when ``enabled`` is False (other ranks).
    Nothing is written until the first row: a run that fails before its first step leaves no log files."""

    def __init__(self, out_dir: Path, enabled: bool = True, tensorboard: bool = True,
                 resume_step: int | None = None, resume_epochs: int | None = None) -> None:
        self.enabled = enabled
        self.out_dir = out_dir
        self.steps_path = out_dir / "steps.csv"
        self.epochs_path = out_dir / "epochs.csv"
        self.note = ""
        self._tb: Any = None
        self._resume = (resume_step, resume_epochs)
        self._opened = not enabled
        self._tensorboard = tensorboard and enabled
        if self._tensorboard and importlib.util.find_spec("tensorboard") is None:
            self.note = "TensorBoard not installed: logging to CSV only"
            self._tensorboard = False

    def _open(self) -> None:
        """Write the headers (on resume: keep the rows up to the checkpoint) and start TensorBoard."""
        if self._opened:
            return
        self._opened = True
        self.out_dir.mkdir(parents=True, exist_ok=True)
        _start(self.steps_path, STEP_FIELDS, "step", self._resume[0])
        _start(self.epochs_path, EPOCH_FIELDS, "epoch", self._resume[1])
        if self._tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=self._resume[0])

    def step(self, row: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._open()
        _append(self.steps_path, STEP_FIELDS, row)
        if self._tb is not None:
            for key in STEP_FIELDS[3:]:  # lr, loss, the loss terms, images_per_s
                self._tb.add_scalar(f"train/{key}", row[key], int(row["step"]))

    def epoch(self, row: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._open()
        _append(self.epochs_path, EPOCH_FIELDS, row)
        if self._tb is not None:
            for key in ("loss", "ap50", "hota", "mota", "idf1"):
                value = row.get(key)
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    self._tb.add_scalar(f"val/{key}" if key != "loss" else "epoch/loss", value, int(row["epoch"]))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _start(path: Path, fields: tuple[str, ...], key: str, keep_up_to: int | None) -> None:
    """New run: write the header. Resume: keep rows with ``key <= keep_up_to`` (rewritten atomically)."""
    rows: list[dict[str, str]] = []
    if keep_up_to is not None and path.is_file():
        with open(path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get(key) and int(float(r[key])) <= keep_up_to]
    with atomic_write(path, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _append(path: Path, fields: tuple[str, ...], row: dict[str, Any]) -> None:
    with open(path, "a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore").writerow(
            {k: _format(row.get(k)) for k in fields})


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest exact round-trip: resumed and uninterrupted logs compare exactly
    return str(value)
