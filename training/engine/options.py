"""Typed options of a training run, loaded from YAML (unknown keys are errors).

A config file has these sections (all optional except ``data.train``)::

    name: cstrack_s_synthetic        # run name; default output folder runs/<name>
    seed: 0                          # seeds model init, RNGs, sampler and augmentation
    device: auto                     # auto | cpu | cuda
    output_dir: null                 # default runs/<name>; `mottrack train --out` overrides
    model: {config: cstrack_s, overrides: {}, weights: null}
    data:  {train: [SOURCE, ...], val: SOURCE | null, img_size: [W, H], batch_size: 8, ...}
    loss:  {id_loss: ce | ihoim, ...}            # LossOptions
    optim: {epochs: 30, lr: 0.005, ...}          # OptimOptions
    val:   {score_thresh: 0.01, ...}             # ValOptions
    log:   {progress: true, tensorboard: true, ...}

A SOURCE is one of::

    {synthetic: {root: DIR, seed: 0, sequences: 8, scene: {SceneOptions fields except seed}}}
    {mot: PATH}                          # a MOTChallenge sequence folder or a root of them
    {jde: {list_file: FILE, root: DIR}}  # a JDE image list (root defaults to the list's folder)

Relative paths are resolved against the current working directory. ``extends: FILE`` (relative to
the config file) starts from another run config: mappings merge key by key, other values replace.

Every integer has an upper bound (:data:`INT_MAXIMA`, else :data:`MAX_COUNT`; seeds and the SDK's
scene and tracker options have their own), so a typo such as ``epochs: 1000000000000`` is an error
naming the file and key, not a run that never ends.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mottrack_sdk.backends.base import MAX_THREADS  # num_threads, data.num_workers
from mottrack_sdk.config import check_expanded_size, options_from_dict, short_repr
from mottrack_sdk.io.path_components import safe_path_component
from mottrack_sdk.preprocessing import ResizeMode
from mottrack_sdk.scenes.options import SceneOptions
from mottrack_sdk.tracking.options import TrackerOptions
from mottrack_training.data.options import DataOptions, check_number
from mottrack_training.engine.model_setup import ModelOptions
from mottrack_training.losses.options import LossOptions

__all__ = ["DataConfig", "INT_MAXIMA", "JdeListSource", "LogOptions", "MAX_BATCH", "MAX_COUNT", "MAX_EPOCHS",
           "MAX_SYNTHETIC_SEED", "MAX_THREADS", "ModelOptions", "OptimOptions", "SourceOptions", "SyntheticSource",
           "TrainOptions", "ValOptions", "load_train_options", "merge_config", "read_train_config",
           "train_options_from_dict"]

DeviceChoice = Literal["auto", "cpu", "cuda"]
METRICS = ("hota", "mota", "idf1", "ap50")
# "hota" | "mota" | "idf1" | "ap50" | "loss" (data.val), or "<name>.<metric>" of a data.val_extra set,
# or "mean" (the mean over every validation set of its `select` metrics).
BestMetric = str
MAX_EPOCHS = 100_000  # epochs and every epoch count (30 is the spec's run)
MAX_COUNT = 10**9  # any other integer of a run config (steps, sizes, boxes): beyond it, a typo
MAX_BATCH = 1 << 16  # images in one batch
MAX_SYNTHETIC_SEED = (2**63 - 1) // 10_000 - 1  # sequence i of a synthetic source gets seed * 10000 + i
INT_MAXIMA = {"optim.epochs": MAX_EPOCHS, "optim.milestones": MAX_EPOCHS, "val.every_epochs": MAX_EPOCHS,
              "log.keep_epochs": MAX_EPOCHS, "data.num_workers": MAX_THREADS,
              "data.batch_size": MAX_BATCH, "val.batch_size": MAX_BATCH, "optim.nominal_batch": MAX_BATCH,
              "loss.ihoim_queue_size": 1 << 20, "loss.ihoim_background_per_image": 1 << 16}


@dataclass(frozen=True)
class SyntheticSource:
    """Synthetic sequences ``<root>/SYNTH-<seed>-<i>`` (i < sequences), generated if missing or stale.

    ``scene`` holds :class:`~mottrack_sdk.scenes.SceneOptions` knobs (unset ones keep the generator's
    defaults, e.g. 1920x1080, 150 frames) except ``seed``: sequence i uses ``seed * 10000 + i``, so
    use different ``seed`` values for training and held-out sets.
    """

    root: str
    seed: int = 0
    sequences: int = 4
    scene: SceneOptions = field(default_factory=SceneOptions)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SYNTHETIC_SEED:
            raise ValueError(f"synthetic.seed must be an int in [0, {MAX_SYNTHETIC_SEED}] (seed * 10000 + i is a "
                             f"scene's 64-bit seed), got {short_repr(self.seed)}")
        if isinstance(self.sequences, bool) or not isinstance(self.sequences, int) or not 1 <= self.sequences <= 9999:
            raise ValueError(f"synthetic.sequences must be an int in [1, 9999], got {self.sequences!r}")
        if self.scene.seed != 0:
            raise ValueError("synthetic.scene.seed is not used: set synthetic.seed (sequence i gets seed*10000+i)")


@dataclass(frozen=True)
class JdeListSource:
    """A JDE "labels_with_ids" image list; ``root`` defaults to the list file's folder."""

    list_file: str
    root: str | None = None


@dataclass(frozen=True)
class SourceOptions:
    """One data source: exactly one of ``synthetic``, ``mot``, ``jde``.

    ``detection``: ``labels`` (its boxes train detection and identities) or ``reference`` (its boxes
    train identities only; detection on its frames follows the frozen network training started
    from, through ``loss.distill_weight``: fine-tuning keeps what the detector knew of them).
    ``zoom_out_prob``: this source's own ``data.zoom_out_prob`` (None: the data section's).
    """

    synthetic: SyntheticSource | None = None
    mot: str | None = None
    jde: JdeListSource | None = None
    detection: Literal["labels", "reference"] = "labels"
    zoom_out_prob: float | None = None

    def __post_init__(self) -> None:
        chosen = [k for k in ("synthetic", "mot", "jde") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(f"a data source needs exactly one of synthetic, mot, jde; got {chosen or 'none'}")
        if self.detection not in ("labels", "reference"):
            raise ValueError(f"a data source's detection must be 'labels' or 'reference', got {self.detection!r}")
        if self.zoom_out_prob is not None:
            check_number("a data source's zoom_out_prob (or unset)", self.zoom_out_prob, 0.0, 1.0)

    @property
    def kind(self) -> str:
        return next(k for k in ("synthetic", "mot", "jde") if getattr(self, k) is not None)


@dataclass(frozen=True)
class ExtraValSet:
    """One more validation set (e.g. real labelled frames): MOTChallenge sequences under ``mot``.

    ``select``: the metrics of this set that count towards ``val.best_metric: mean``.
    """

    name: str
    mot: str
    select: tuple[str, ...] = ("hota",)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"data.val_extra name must be letters, digits, _ or -, got {self.name!r}")
        if not self.select or any(m not in METRICS for m in self.select):
            raise ValueError(f"data.val_extra[{self.name}].select must be some of {METRICS}, got {self.select!r}")


@dataclass(frozen=True)
class DataConfig(DataOptions):
    """Training / validation data: the sources, the loader's batching, and the input pipeline, whose
    fields (``img_size``, ``resize_mode``, ``pad_value``, ``augment``, ``hsv_gains``, ``flip_prob``,
    ``zoom_out_prob``, ``zoom_out_min``, ``mosaic_prob``, ``mosaic_max_grid``, ``blur_prob``,
    ``blur_sigma``, ``noise_prob``, ``noise_std``, ``min_visibility``,
    ``min_box_px``, ``skip_bad``) and checks are
    ``DataOptions``' own. Augmentation is seeded by the run's top-level ``seed``, so ``data.seed`` must
    stay unset."""

    train: tuple[SourceOptions, ...] = ()
    val: SourceOptions | None = None
    val_extra: tuple[ExtraValSet, ...] = ()
    batch_size: int = 8
    num_workers: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seed != 0:
            raise ValueError("data.seed: augmentation is seeded by the run's top-level 'seed'; remove data.seed")
        if not self.train:
            raise ValueError("data.train needs at least one source")
        if any(v % 32 for v in self.img_size):
            raise ValueError(f"data.img_size must be multiples of 32 (width, height), got {self.img_size}")
        if self.batch_size < 1 or self.num_workers < 0:
            raise ValueError(f"data.batch_size must be >= 1 and num_workers >= 0, got {self.batch_size}, "
                             f"{self.num_workers}")


@dataclass(frozen=True)
class OptimOptions:
    """SGD and its schedule (spec: Nesterov, lr 5e-3, momentum 0.95, wd 5e-4, batch 64, 30 epochs).

    ``warmup_epochs`` / ``warmup_min_steps``: linear warm-up over max(warmup_epochs · steps per
    epoch, warmup_min_steps) optimizer steps (the reference's 1000 iterations of 8 images are 125
    steps of 64): lr from 0 (biases: from ``warmup_bias_lr``), momentum from ``warmup_momentum``.
    After it, lr · gamma^(number of ``milestones`` <= epoch). ``max_steps`` stops the run after that
    many optimizer steps in total (a checkpoint is written there; resuming continues exactly).
    ``amp``: float16 autocast + GradScaler, used on CUDA only. ``clip_grad_norm``: clip the global
    gradient norm of each optimizer step to this (None: no clipping, the reference's setting).
    ``optimizer``: ``sgd`` (the spec's) or ``adamw`` (AdamW with beta1 = ``momentum``, the same groups
    and schedule, ``weight_decay`` decoupled as AdamW applies it; ``nesterov`` unused), e.g. for
    distilling a network into a copy of another activation.
    """

    optimizer: Literal["sgd", "adamw"] = "sgd"
    epochs: int = 30
    lr: float = 5e-3
    momentum: float = 0.95
    nesterov: bool = True
    weight_decay: float = 5e-4
    nominal_batch: int = 64
    milestones: tuple[int, ...] = (20,)
    gamma: float = 0.1
    warmup_epochs: float = 3.0
    warmup_min_steps: int = 125
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    ema: bool = True
    ema_decay: float = 0.9999
    ema_tau: float = 2000.0
    amp: bool = True
    max_steps: int | None = None
    clip_grad_norm: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.nominal_batch < 1 or self.warmup_min_steps < 0:
            raise ValueError(f"optim.epochs and optim.nominal_batch must be >= 1, warmup_min_steps >= 0; got "
                             f"{self.epochs}, {self.nominal_batch}, {self.warmup_min_steps}")
        # every float finite: an inf learning rate or a NaN EMA time constant trains to NaN weights silently
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optim.optimizer must be 'sgd' or 'adamw', got {short_repr(self.optimizer)}")
        check_number("optim.lr", self.lr, 0.0, math.inf, open_low=True)
        check_number("optim.momentum", self.momentum, 0.0, 1.0, open_high=True)
        check_number("optim.weight_decay", self.weight_decay, 0.0, math.inf)
        check_number("optim.gamma", self.gamma, 0.0, 1.0, open_low=True)
        check_number("optim.warmup_epochs", self.warmup_epochs, 0.0, math.inf)
        check_number("optim.warmup_momentum", self.warmup_momentum, 0.0, 1.0, open_high=True)
        check_number("optim.warmup_bias_lr", self.warmup_bias_lr, 0.0, math.inf)
        check_number("optim.ema_decay", self.ema_decay, 0.0, 1.0, open_low=True, open_high=True)
        check_number("optim.ema_tau", self.ema_tau, 0.0, math.inf, open_low=True)
        if any(m < 1 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"optim.milestones must be epochs >= 1 in increasing order, got {list(self.milestones)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"optim.max_steps must be >= 1 or null, got {self.max_steps}")
        if self.clip_grad_norm is not None:
            check_number("optim.clip_grad_norm", self.clip_grad_norm, 0.0, math.inf, open_low=True)


@dataclass(frozen=True)
class ValOptions:
    """Per-epoch validation on ``data.val``: AP50 of the detector, HOTA/MOTA/IDF1 of the tracker.

    Frames are resized with ``resize_mode`` (letterbox, the runtime's), decoded, kept above
    ``score_thresh``, NMS'ed at ``nms_iou`` (at most ``max_det`` boxes; ``max_candidates`` best
    scores enter NMS). AP50 uses all of them; the tracker gets those above ``track_min_score``.
    GT rows below ``ap_min_visibility`` are ignore regions for AP50 (TrackEval has its own rules).
    ``every_epochs``: validate every n epochs (and after the last); 0 disables validation.
    """

    every_epochs: int = 1
    resize_mode: ResizeMode = "letterbox"
    batch_size: int = 4
    score_thresh: float = 0.01
    nms_iou: float = 0.6
    max_det: int = 300
    max_candidates: int = 3000
    track_min_score: float = 0.1
    ap_min_visibility: float = 0.0
    tracker: TrackerOptions = field(default_factory=TrackerOptions.for_model)
    best_metric: BestMetric = "hota"

    def __post_init__(self) -> None:
        if self.every_epochs < 0 or self.batch_size < 1 or self.max_det < 1 or self.max_candidates < 1:
            raise ValueError("val: every_epochs must be >= 0; batch_size, max_det, max_candidates >= 1")
        if not (0 <= self.score_thresh <= 1 and 0 < self.nms_iou <= 1 and 0 <= self.track_min_score <= 1):
            raise ValueError("val: score_thresh and track_min_score must be in [0, 1], nms_iou in (0, 1]")
        metric = self.best_metric.rsplit(".", 1)[-1]
        if metric not in METRICS + ("loss", "mean") or (metric in ("loss", "mean") and "." in self.best_metric):
            raise ValueError(f"val.best_metric must be one of {METRICS + ('loss', 'mean')} or <val_extra name>.<metric>"
                             f", got {self.best_metric!r}")


@dataclass(frozen=True)
class LogOptions:
    """``progress``: tqdm bar on rank 0; ``tensorboard``: also write TensorBoard events when the
    ``tensorboard`` package is installed; ``keep_epochs``: also keep ``epoch_XXX.pt`` every n epochs
    (0: only ``last.pt`` / ``best.pt``)."""

    progress: bool = True
    tensorboard: bool = True
    keep_epochs: int = 0


@dataclass(frozen=True)
class TrainOptions:
    """A complete training run. ``num_threads``: CPU intra-op threads (null: torch's default)."""

    data: DataConfig
    name: str = "train"
    seed: int = 0
    device: DeviceChoice = "auto"
    output_dir: str | None = None
    num_threads: int | None = None
    model: ModelOptions = field(default_factory=ModelOptions)
    loss: LossOptions = field(default_factory=LossOptions)
    optim: OptimOptions = field(default_factory=OptimOptions)
    val: ValOptions = field(default_factory=ValOptions)
    log: LogOptions = field(default_factory=LogOptions)

    def __post_init__(self) -> None:
        _check_int_maxima(self)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63 - 1], got {short_repr(self.seed)}")
        if self.num_threads is not None and not 1 <= self.num_threads <= MAX_THREADS:
            raise ValueError(f"num_threads must be 1 to {MAX_THREADS} CPU threads or null (torch's default), "
                             f"got {self.num_threads!r}")
        if self.output_dir is None:
            safe_path_component(self.name, "name (the run's folder under runs/)")
        if "." in self.val.best_metric:
            name = self.val.best_metric.rsplit(".", 1)[0]
            if name not in {v.name for v in self.data.val_extra}:
                raise ValueError(f"val.best_metric {self.val.best_metric!r}: no data.val_extra set named {name!r}")
        if any(s.detection == "reference" for s in self.data.train) and self.loss.distill_weight <= 0:
            raise ValueError("a data.train source with detection: reference needs loss.distill_weight > 0 "
                             "(its frames' detection is learnt from the reference network only)")
        for key in ("reference_activation", "reference_weights"):
            if getattr(self.model, key) is not None and not self.loss.needs_reference:
                raise ValueError(f"model.{key} is the distillation reference's: it needs loss.distill_weight, "
                                 "feature_distill_weight or embedding_distill_weight > 0")

    @property
    def out_dir(self) -> Path:
        return Path(self.output_dir) if self.output_dir else Path("runs") / self.name


def _check_int_maxima(options: Any, shown: str = "", key: str = "") -> None:
    """Every integer field below ``options`` is at most its :data:`INT_MAXIMA` entry (else :data:`MAX_COUNT`).

    ``shown``: the dotted name so far, list indices included; ``key``: the same without them (INT_MAXIMA's).
    Seeds and the SDK's :class:`SceneOptions` / :class:`TrackerOptions` check their own ranges."""
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        items = value if isinstance(value, tuple) else (value,)
        for i, item in enumerate(items):
            name = f"{shown}{f.name}" + (f"[{i}]" if isinstance(value, tuple) else "")
            if dataclasses.is_dataclass(item) and not isinstance(item, (SceneOptions, TrackerOptions)):
                _check_int_maxima(item, f"{name}.", f"{key}{f.name}.")
            elif isinstance(item, int) and not isinstance(item, bool) and f.name != "seed":
                most = INT_MAXIMA.get(f"{key}{f.name}", MAX_COUNT)
                if item > most:
                    raise ValueError(f"{name}: expected an integer of at most {most:,}, got {short_repr(item)}")


def train_options_from_dict(data: dict[str, Any], where: str = "train config") -> TrainOptions:
    """Validate a mapping (a parsed YAML file) into :class:`TrainOptions`; errors name the key."""
    if not isinstance(data, dict) or "data" not in data:
        raise ValueError(f"{where}: expected a mapping with a 'data:' section")
    check_expanded_size(data, where)  # a checkpoint's pickled options can share one list 10**9 times
    return options_from_dict(TrainOptions, data, where=where)


def load_train_options(path: str | Path) -> TrainOptions:
    """Read a training YAML file into :class:`TrainOptions` (unknown keys raise ``ValueError``)."""
    return train_options_from_dict(read_train_config(path), where=str(path))


def read_train_config(path: str | Path) -> dict[str, Any]:
    """The mapping of a training YAML file with its ``extends:`` chain merged in (not yet validated)."""
    return _read_with_parents(Path(path), ())


def merge_config(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in (nested mappings merge, everything else is replaced)."""
    return _merge(base, changes)


def _read_with_parents(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    from mottrack_sdk.config import read_yaml

    if not path.is_file():
        raise FileNotFoundError(f"training config {path} not found")
    if path.resolve() in seen:
        raise ValueError(f"{path}: 'extends' forms a cycle")
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a training config must be a YAML mapping")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent.strip():
        kinds = {list: "a list", dict: "a mapping", bool: "true/false", str: "an empty name"}
        kind = kinds.get(type(parent), "a number")
        raise ValueError(f"{path}: extends: expected a file name (a string), got {kind} {short_repr(parent)}")
    return _merge(_read_with_parents(path.parent / parent, seen + (path.resolve(),)), data)


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out
