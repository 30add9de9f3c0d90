"""HOTA / CLEAR (MOTA) / Identity (IDF1) with TrackEval, MOTChallenge preprocessing included.

TrackEval's own ``MotChallenge2DBox`` dataset loads and preprocesses each sequence (only
pedestrians are scored; tracker boxes matched to distractor classes 2, 7, 8, 12 and ignored gt rows
(conf 0) are neither matched nor counted), and TrackEval's ``HOTA``, ``CLEAR`` and ``Identity``
metrics score it. Nothing here re-implements a metric.

Layout: ``gt_root/<seq>/gt/gt.txt`` (+ ``seqinfo.ini``) and ``results_dir/<seq>.txt``.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.io.motchallenge import find_sequences, read_mot_txt, read_seqinfo

# Reported per sequence and for COMBINED, in percent (counts stay counts).
# TrackEval field name -> reported name.
_PERCENT = {"HOTA": "HOTA", "DetA": "DetA", "AssA": "AssA", "LocA": "LocA", "DetRe": "DetRe", "DetPr": "DetPr",
            "AssRe": "AssRe", "AssPr": "AssPr", "MOTA": "MOTA", "MOTP": "MOTP", "IDF1": "IDF1", "IDR": "IDR",
            "IDP": "IDP", "CLR_Re": "Recall", "CLR_Pr": "Precision"}
_COUNTS = {"IDSW": "IDSW", "Frag": "Frag", "CLR_FP": "FP", "CLR_FN": "FN", "CLR_TP": "TP", "MT": "MT",
           "ML": "ML", "IDTP": "IDTP", "IDFP": "IDFP", "IDFN": "IDFN"}


@dataclass
class EvalResult:
    """Metrics per sequence name and ``COMBINED``: name -> {metric -> value}."""

    per_sequence: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def combined(self) -> dict[str, float]:
        return self.per_sequence["COMBINED"]

    def to_json(self) -> dict[str, dict[str, float]]:
        return self.per_sequence

    def table(self, metrics: tuple[str, ...] = ("HOTA", "MOTA", "IDF1", "DetA", "AssA", "IDSW", "FP", "FN")) -> str:
        """A fixed-width text table, one row per sequence and COMBINED last."""
        head = f"{'sequence':<16}" + "".join(f"{m:>9}" for m in metrics)
        lines = [head, "-" * len(head)]
        for name, row in self.per_sequence.items():
            cells = "".join(f"{row[m]:>9d}" if m in _COUNTS.values() else f"{row[m]:>9.1f}" for m in metrics)
            lines.append(f"{name:<16}{cells}")
        return "\n".join(lines)


def _require_trackeval() -> Any:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import trackeval
    except ImportError as exc:
        raise ImportError("evaluation needs TrackEval: pip install 'mottrack-sdk[eval]' "
                          "(see README, Dependencies)") from exc
    return trackeval


def evaluate_mot(gt_root: str | Path, results_dir: str | Path, sequences: list[str] | None = None,
                 benchmark: str = "MOT17") -> EvalResult:
    """Score every sequence of ``gt_root`` (or the named ``sequences``) against ``results_dir``.

    Raises:
        FileNotFoundError: a gt folder, gt file, seqinfo.ini or result file is missing (named).
        ValueError: a result file is malformed (e.g. an id repeated within a frame), named.
    """
    trackeval = _require_trackeval()
    gt_root, results_dir = Path(gt_root), Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"--results {results_dir}: folder not found")
    seq_dirs = find_sequences(gt_root)
    if sequences is not None:
        known = {p.name: p for p in seq_dirs}
        missing = [s for s in sequences if s not in known]
        if missing:
            raise FileNotFoundError(f"{gt_root}: no ground truth for sequence(s) {missing}")
        seq_dirs = [known[s] for s in sequences]
    seq_info: dict[str, int] = {}
    for seq in seq_dirs:
        length = _sequence_length(seq)
        result_file = results_dir / f"{seq.name}.txt"
        if not result_file.is_file():
            raise FileNotFoundError(f"{result_file}: no results for sequence {seq.name}")
        _check_results(result_file)
        seq_info[seq.name] = length

    config = {
        "GT_FOLDER": str(seq_dirs[0].parent), "TRACKERS_FOLDER": str(results_dir.parent),
        "TRACKERS_TO_EVAL": [results_dir.name], "TRACKER_SUB_FOLDER": "", "OUTPUT_FOLDER": None,
        "SKIP_SPLIT_FOL": True, "SEQ_INFO": seq_info, "BENCHMARK": benchmark, "PRINT_CONFIG": False,
        "CLASSES_TO_EVAL": ["pedestrian"], "DO_PREPROC": True,
    }
    quiet = {"PRINT_CONFIG": False}
    metrics = [trackeval.metrics.HOTA(quiet), trackeval.metrics.CLEAR(quiet), trackeval.metrics.Identity(quiet)]
    with contextlib.redirect_stdout(io.StringIO()):
        dataset = trackeval.datasets.MotChallenge2DBox(config)
        raw_scores: dict[str, dict[str, Any]] = {}
        for seq in seq_info:
            try:
                raw = dataset.get_raw_seq_data(results_dir.name, seq)
                data = dataset.get_preprocessed_seq_data(raw, "pedestrian")
            except trackeval.utils.TrackEvalException as exc:
                raise ValueError(f"{results_dir / (seq + '.txt')} or its ground truth: {exc}") from exc
            raw_scores[seq] = {m.get_name(): m.eval_sequence(data) for m in metrics}
        combined = {m.get_name(): m.combine_sequences({s: r[m.get_name()] for s, r in raw_scores.items()})
                    for m in metrics}
    result = EvalResult({seq: _flatten(r) for seq, r in raw_scores.items()})
    result.per_sequence["COMBINED"] = _flatten(combined)
    return result


def _sequence_length(seq: Path) -> int:
    if (seq / "seqinfo.ini").is_file():
        return read_seqinfo(seq).seq_length
    gt = read_mot_txt(seq / "gt" / "gt.txt")
    return int(gt.frame.max()) if len(gt) else 1


def _check_results(path: Path) -> None:
    rows = read_mot_txt(path)
    if len(rows) == 0:
        return
    pairs = rows.frame * (int(rows.track_id.max()) + 1) + rows.track_id
    if len(np.unique(pairs)) != len(pairs):
        raise ValueError(f"{path}: a track id appears twice in one frame")
    if (rows.tlwh[:, 2:] <= 0).any():
        raise ValueError(f"{path}: expected positive box widths and heights")


def _flatten(metric_results: dict[str, dict[str, Any]]) -> dict[str, float]:
    out: dict[str, Any] = {}
    for res in metric_results.values():
        for key, value in res.items():
            if key in _PERCENT:  # HOTA-family values are arrays over IoU thresholds: their mean
                out[_PERCENT[key]] = 100.0 * float(np.mean(value))
            elif key in _COUNTS:
                out[_COUNTS[key]] = int(value)
    return out
