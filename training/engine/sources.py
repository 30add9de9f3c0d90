"""Data sources of a training run -> datasets / sequence folders (synthetic scenes generated on demand).

Synthetic sources are a cache: sequence ``<root>/SYNTH-<seed>-<i>`` is (re)generated when its
``seqinfo.ini`` is missing (an interrupted write) or its ``synthetic.json`` records other scene
options. Only the main process generates; the others wait (call :func:`prepare_sources` on every
rank, it synchronises).
"""
from __future__ import annotations

import dataclasses

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from mottrack_training.data import ConcatFrameDataset, DataOptions, FrameDataset, JdeDataset, JdeSource, \
    MotSequenceDataset
from mottrack_training.engine.distributed import barrier
from mottrack_training.engine.options import DataConfig, SourceOptions, SyntheticSource

__all__ = ["build_train_dataset", "data_options", "prepare_sources", "sequence_dirs", "synthetic_sequences"]


def data_options(config: DataConfig, seed: int, augment: bool | None = None) -> DataOptions:
    """The loader options of ``config`` (augmentation seeded with ``seed``)."""
    pipeline = {f.name: getattr(config, f.name) for f in dataclasses.fields(DataOptions)}
    pipeline.update(seed=seed, augment=config.augment if augment is None else augment)
    return DataOptions(**pipeline)


def synthetic_sequences(source: SyntheticSource, generate: bool = True,
                        log: Callable[[str], None] = print) -> list[Path]:
    """Folders of a synthetic source, writing the missing or stale ones when ``generate``."""
    from mottrack_sdk.scenes import sequence_name, sequence_seed, write_sequence

    root = Path(source.root)
    folders = []
    for i in range(source.sequences):
        options = source.scene.with_changes(seed=sequence_seed(source.seed, i))
        folder = root / sequence_name(source.seed, i)
        if generate and not _is_current(folder, asdict(options)):
            if (folder / "synthetic.json").is_file():
                shutil.rmtree(folder)  # a stale sequence of this cache (a partial one is simply overwritten)
            log(f"generating synthetic sequence {folder} ({options.num_frames} frames, "
                f"{options.width}x{options.height})")
            write_sequence(root, options, folder.name)
        folders.append(folder)
    return folders


def _is_current(folder: Path, options: dict) -> bool:
    if not (folder / "seqinfo.ini").is_file() or not (folder / "synthetic.json").is_file():
        return False
    try:
        recorded = json.loads((folder / "synthetic.json").read_text()).get("options")
    except (OSError, ValueError):
        return False
    return recorded == json.loads(json.dumps(options))


def sequence_dirs(source: SourceOptions) -> list[Path]:
    """MOTChallenge folders of a synthetic or mot source (no generation); ``ValueError`` for jde."""
    if source.synthetic is not None:
        return synthetic_sequences(source.synthetic, generate=False)
    if source.mot is not None:
        from mottrack_sdk.io import find_sequences

        return find_sequences(source.mot)
    raise ValueError("validation needs MOTChallenge sequences (a synthetic or mot source), not a JDE list")


def prepare_sources(sources: Sequence[SourceOptions | None], is_main: bool,
                    log: Callable[[str], None] = print) -> None:
    """Generate missing synthetic sequences on the main process; every rank returns when they exist."""
    if is_main:
        for source in sources:
            if source is not None and source.synthetic is not None:
                synthetic_sequences(source.synthetic, generate=True, log=log)
    barrier()


def build_train_dataset(config: DataConfig, seed: int) -> FrameDataset | ConcatFrameDataset:
    """One dataset over every training source, identities numbered globally across them."""
    options = data_options(config, seed)
    datasets: list[FrameDataset] = []
    for source in config.train:
        own = options if source.zoom_out_prob is None else \
            dataclasses.replace(options, zoom_out_prob=float(source.zoom_out_prob))
        if source.jde is not None:
            root = Path(source.jde.root) if source.jde.root else None
            datasets.append(JdeDataset([JdeSource(Path(source.jde.list_file), root)], own))
        else:
            datasets.append(MotSequenceDataset(sequence_dirs(source), own))
        datasets[-1].detection_from_reference = source.detection == "reference"
    return datasets[0] if len(datasets) == 1 else ConcatFrameDataset(datasets)
