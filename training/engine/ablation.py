"""The ablation of the training issue on the synthetic benchmark, the same budget for every arm.

Arms (the paper's Table I idea, plus the identity loss of the second paper):

==================  ==========================================================================
``jde``             no REN, no SAAN: the shared neck feeds detection and per-level 1x1 embedding
                    heads (JDE), cross-entropy ID loss
``ren``             + REN (reciprocal network), per-level 1x1 embedding heads, cross-entropy
``ren_saan``        + REN + SAAN (CSTrack), cross-entropy
``ren_saan_ihoim``  CSTrack with the iHOIM identity loss instead of cross-entropy
==================  ==========================================================================

Every arm trains from scratch from one base run config (same seed, data, input size, epochs and
schedule; only ``model.overrides`` / ``loss.id_loss`` differ), and its **last** EMA weights (no
checkpoint selection on the validation seed, so the budget is the same) are measured on held-out
synthetic sequences (:func:`~mottrack_training.engine.release.evaluate_held_out`: AP50, HOTA, MOTA,
IDF1, IDSW). ``run_ablation`` writes ``ablation.json`` and ``ablation.md`` into ``out_dir``; each
arm's run folder is ``out_dir/<arm>`` and a finished arm is reused when its ``last.pt`` reached the
budget, so an interrupted ablation continues where it stopped.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["ARMS", "AblationRow", "run_ablation", "write_ablation"]

ARMS: dict[str, dict[str, Any]] = {
    "jde": {"model": {"overrides": {"ren": False, "saan": False}}, "loss": {"id_loss": "ce"}},
    "ren": {"model": {"overrides": {"ren": True, "saan": False}}, "loss": {"id_loss": "ce"}},
    "ren_saan": {"model": {"overrides": {"ren": True, "saan": True}}, "loss": {"id_loss": "ce"}},
    "ren_saan_ihoim": {"model": {"overrides": {"ren": True, "saan": True}}, "loss": {"id_loss": "ihoim"}},
}


@dataclass
class AblationRow:
    """One arm's held-out result (metrics in percent)."""

    arm: str
    params_m: float
    ap50: float
    hota: float
    mota: float
    idf1: float
    idsw: int
    epochs: int
    train_minutes: float


def run_ablation(base: dict[str, Any], out_dir: str | Path, arms: Sequence[str] = tuple(ARMS),
                 test_seed: int = 2, test_sequences: int = 2, test_root: str | Path | None = None,
                 log: Callable[[str], None] = print) -> list[AblationRow]:
    """Train and measure every arm of ``arms`` from the run config mapping ``base``; see the module doc."""
    import torch

    from mottrack_training.engine.checkpoint import load_checkpoint
    from mottrack_training.engine.options import merge_config, train_options_from_dict
    from mottrack_training.engine.release import evaluate_held_out
    from mottrack_training.engine.trainer import Trainer

    unknown = sorted(set(arms) - set(ARMS))
    if unknown or not arms:
        raise ValueError(f"arms: expected a non-empty subset of {sorted(ARMS)}, got {list(arms)}")
    out_dir = Path(out_dir)
    rows = []
    for arm in arms:
        options = train_options_from_dict(merge_config(base, {**ARMS[arm], "name": f"ablation_{arm}"}),
                                          where=f"ablation arm {arm}")
        run_dir = out_dir / arm
        last = run_dir / "last.pt"
        start = time.perf_counter()
        if last.is_file() and load_checkpoint(last).get("epoch") == options.optim.epochs:
            log(f"[{arm}] reusing {last}")
        else:
            log(f"[{arm}] training {options.optim.epochs} epochs -> {run_dir}")
            Trainer(options, out_dir=run_dir, resume=last if last.is_file() else None).fit()
        minutes = (time.perf_counter() - start) / 60.0
        result, _, seeds, model = evaluate_held_out(last, test_seed, test_sequences, test_root)
        combined = result.per_sequence.get("COMBINED", {})
        rows.append(AblationRow(arm, round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
                                round(result.ap50, 2), round(result.hota, 2), round(result.mota, 2),
                                round(result.idf1, 2), int(combined.get("IDSW", -1)), int(seeds["epoch"]),
                                round(minutes, 1)))
        log(f"[{arm}] {asdict(rows[-1])}")
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    write_ablation(rows, out_dir, base, test_seed, test_sequences)
    return rows


def write_ablation(rows: Sequence[AblationRow], out_dir: Path, base: dict[str, Any], test_seed: int,
                   test_sequences: int) -> None:
    """``ablation.json`` (rows + the base config) and ``ablation.md`` (a table), written atomically."""
    from mottrack_sdk.io import atomic_write, write_json

    write_json(out_dir / "ablation.json", {"rows": [asdict(r) for r in rows], "base_config": base,
                                           "held_out": {"seed": test_seed, "sequences": test_sequences},
                                           "weights": "last EMA weights of each arm (equal budget)"})
    lines = ["| arm | params (M) | AP50 | HOTA | MOTA | IDF1 | IDSW | epochs | train min |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.arm} | {r.params_m:.2f} | {r.ap50:.1f} | {r.hota:.1f} | {r.mota:.1f} | {r.idf1:.1f} | "
              f"{r.idsw} | {r.epochs} | {r.train_minutes:.1f} |" for r in rows]
    with atomic_write(out_dir / "ablation.md") as fh:
        fh.write("\n".join(lines) + "\n")
