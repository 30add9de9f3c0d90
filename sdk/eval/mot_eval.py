"""HOTA / CLEAR (MOTA) / Identity (IDF1) with TrackEval, MOTChallenge preprocessing included.

TrackEval's own ``MotChallenge2DBox`` dataset loads and preprocesses each sequence (only
pedestrians are scored; tracker boxes matched to distractor classes 2, 7, 8, 12 and ignored gt rows
(conf 0) are neither matched nor counted), and TrackEval's ``HOTA``, ``CLEAR`` and ``Identity``
metrics score it. Nothing here re-implements a metric.

Layout: ``gt_root/<seq>/gt/gt.txt`` (+ ``seqinfo.ini``) and ``results_dir/<seq>.txt``.

Benchmarks: ``MOT16`` / ``MOT17`` / ``MOT20`` score class 1 and ignore the distractor classes;
``MOT15`` files have no class column (class -1 on every gt row): every row with conf 1 is a
pedestrian. ``"auto"`` (the default) picks MOT15 when every gt row of every sequence has class -1,
else MOT17.

Before TrackEval sees them, both files are checked (:func:`mottrack_sdk.io.motchallenge.check_rows`:
frames within the sequence, ids >= 0, positive sizes, one box per id and frame; errors name
``file:line``), and ids are renumbered densely per sequence, so memory follows the number of ids
and frames, never the largest id (TrackEval indexes arrays by id). TrackEval then reads temporary
copies of the rows as checked, ten columns each: every form :func:`read_mot_txt` accepts (a UTF-8
byte-order mark, blank lines, 6 to 10 columns, spaces) scores the same, and TrackEval's own reader
never sees a form it would choke on. TrackEval is told the sequence ends at the last frame holding a
row (frames after it score nothing), so its per-frame work follows the rows, not ``seqLength``.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mottrack_sdk.config import short_repr
from mottrack_sdk.io.motchallenge import MotRows, check_rows, find_sequences, read_mot_txt, sequence_length
from mottrack_sdk.io.output_paths import check_input_folder

# Reported per sequence and for COMBINED, in percent (counts stay counts).
# TrackEval field name -> reported name.
_PERCENT = {"HOTA": "HOTA", "DetA": "DetA", "AssA": "AssA", "LocA": "LocA", "DetRe": "DetRe", "DetPr": "DetPr",
            "AssRe": "AssRe", "AssPr": "AssPr", "MOTA": "MOTA", "MOTP": "MOTP", "IDF1": "IDF1", "IDR": "IDR",
            "IDP": "IDP", "CLR_Re": "Recall", "CLR_Pr": "Precision"}
_COUNTS = {"IDSW": "IDSW", "Frag": "Frag", "CLR_FP": "FP", "CLR_FN": "FN", "CLR_TP": "TP", "MT": "MT",
           "ML": "ML", "IDTP": "IDTP", "IDFP": "IDFP", "IDFN": "IDFN"}
BENCHMARKS = ("auto", "MOT15", "MOT16", "MOT17", "MOT20")
_CLASSES = range(1, 14)  # TrackEval's MOTChallenge gt classes (pedestrian .. crowd)


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
                 benchmark: str = "auto", names: tuple[str, str] = ("gt_root", "results_dir")) -> EvalResult:
    """Score every sequence of ``gt_root`` (or the named ``sequences``) against ``results_dir``.

    ``benchmark``: one of :data:`BENCHMARKS` (see the module docstring). ``names``: what errors call
    the two folders (``mottrack eval`` passes its flags, ``("--gt", "--results")``). A name repeated
    in ``sequences`` is scored once.

    Raises:
        FileNotFoundError: a gt folder, gt file or result file is missing (named).
        ValueError: a folder that is a file (or a FIFO, a device); a malformed gt, seqinfo.ini or result
            file (``file:line`` and what was expected).
    """
    trackeval = _require_trackeval()
    if benchmark not in BENCHMARKS:
        raise ValueError(f"benchmark: expected one of {list(BENCHMARKS)}, got {benchmark!r}")
    gt_root = check_input_folder(gt_root, f"{names[0]} {gt_root}")
    results_dir = check_input_folder(results_dir, f"{names[1]} {results_dir}")
    if isinstance(sequences, str):
        raise ValueError(f"sequences: expected a list of sequence names, got the string {short_repr(sequences)}")
    seq_dirs = find_sequences(gt_root)
    if sequences is not None:
        wanted = _unique_names(sequences)
        known = {p.name: p for p in seq_dirs}
        missing = [s for s in wanted if s not in known]
        if missing:
            raise FileNotFoundError(f"{names[0]} {gt_root}: no ground truth for {len(missing)} sequence(s): "
                                    f"{short_repr(missing)}")
        seq_dirs = [known[s] for s in wanted]
    seq_info: dict[str, int] = {}
    gt_rows: dict[str, tuple[Path, MotRows]] = {}
    result_rows: dict[str, MotRows] = {}
    for seq in seq_dirs:
        gt_path = seq / "gt" / "gt.txt"
        gt = read_mot_txt(gt_path)
        length = sequence_length(seq, gt, gt_path)
        check_rows(gt, gt_path, "gt", length)
        result_file = results_dir / f"{seq.name}.txt"
        if not result_file.is_file():
            raise FileNotFoundError(f"{result_file}: no results for sequence {seq.name}")
        result_rows[seq.name] = read_mot_txt(result_file)
        check_rows(result_rows[seq.name], result_file, "results", length)
        seq_info[seq.name] = _frames_to_score(gt, result_rows[seq.name])
        gt_rows[seq.name] = (gt_path, gt)
    if not any(len(gt) for _, gt in gt_rows.values()):  # MOTA etc. are undefined: refuse, do not print -100
        raise ValueError(f"{names[0]} {gt_root}: the ground truth of {', '.join(gt_rows)} holds no boxes, so "
                         "there is nothing to score")
    benchmark = _choose_benchmark(benchmark, gt_rows)

    quiet = {"PRINT_CONFIG": False}
    metrics = [trackeval.metrics.HOTA(quiet), trackeval.metrics.CLEAR(quiet), trackeval.metrics.Identity(quiet)]
    folders = _trackeval_folders({name: gt for name, (_, gt) in gt_rows.items()}, result_rows)
    with folders as (gt_folder, trackers_folder, tracker), contextlib.redirect_stdout(io.StringIO()):
        config = {
            "GT_FOLDER": gt_folder, "TRACKERS_FOLDER": trackers_folder, "TRACKERS_TO_EVAL": [tracker],
            "TRACKER_SUB_FOLDER": "", "OUTPUT_FOLDER": None, "SKIP_SPLIT_FOL": True, "SEQ_INFO": seq_info,
            "BENCHMARK": benchmark, "PRINT_CONFIG": False, "CLASSES_TO_EVAL": ["pedestrian"], "DO_PREPROC": True,
        }
        dataset = trackeval.datasets.MotChallenge2DBox(config)
        raw_scores: dict[str, dict[str, Any]] = {}
        for seq in seq_info:
            try:
                raw = _dense_ids(dataset.get_raw_seq_data(tracker, seq))
                data = dataset.get_preprocessed_seq_data(raw, "pedestrian")
            except trackeval.utils.TrackEvalException as exc:
                raise ValueError(f"{results_dir / (seq + '.txt')} or its ground truth: {exc}") from exc
            raw_scores[seq] = {m.get_name(): m.eval_sequence(data) for m in metrics}
        combined = {m.get_name(): m.combine_sequences({s: r[m.get_name()] for s, r in raw_scores.items()})
                    for m in metrics}
    result = EvalResult({seq: _flatten(r) for seq, r in raw_scores.items()})
    result.per_sequence["COMBINED"] = _flatten(combined)
    return result


def _unique_names(sequences: Any) -> list[str]:
    """``sequences`` in order, each name once (a repeated name would be read and checked again, for nothing)."""
    try:
        items = list(sequences)
    except TypeError:
        raise ValueError(f"sequences: expected a list of sequence names, got {type(sequences).__name__}") from None
    bad = next((s for s in items if not isinstance(s, str)), None)
    if bad is not None:
        raise ValueError(f"sequences: expected sequence names (text), got {short_repr(bad)}")
    return list(dict.fromkeys(items))


@contextlib.contextmanager
def _trackeval_folders(gt: dict[str, MotRows], results: dict[str, MotRows]) -> Iterator[tuple[str, str, str]]:
    """TrackEval's ``GT_FOLDER``, ``TRACKERS_FOLDER`` and tracker name for these checked rows: a temporary
    folder (removed on exit) with ``gt/<seq>/gt/gt.txt`` and ``trackers/results/<seq>.txt``."""
    with tempfile.TemporaryDirectory(prefix="mottrack-eval-") as tmp:
        for seq, rows in gt.items():
            _write_ten_columns(rows, Path(tmp, "gt", seq, "gt", "gt.txt"))
        for seq, rows in results.items():
            _write_ten_columns(rows, Path(tmp, "trackers", "results", f"{seq}.txt"))
        yield str(Path(tmp, "gt")), str(Path(tmp, "trackers")), "results"


def _write_ten_columns(rows: MotRows, path: Path) -> None:
    """``frame,id,l,t,w,h,conf,class,visibility,-1`` with every value as read (17 significant digits)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = np.column_stack([rows.frame, rows.track_id, rows.tlwh, rows.conf, rows.class_id, rows.visibility,
                             np.full(len(rows), -1.0)]) if len(rows) else np.zeros((0, 10))
    np.savetxt(path, table, fmt=["%d", "%d", *["%.17g"] * 5, "%d", "%.17g", "%d"], delimiter=",")


def _frames_to_score(gt: MotRows, results: MotRows) -> int:
    """The sequence length handed to TrackEval: the last frame holding a gt or result row (at least 1).

    TrackEval keeps state for every frame up to the length it is given, rows or not (a seqLength of
    10**6 with one row each costs minutes and gigabytes). A later frame has no gt and no predictions,
    so it adds nothing to any reported metric (only CLEAR's unreported frame count would grow)."""
    return max(1, int(gt.frame.max(initial=0)), int(results.frame.max(initial=0)))


def _choose_benchmark(benchmark: str, gt_rows: dict[str, tuple[Path, MotRows]]) -> str:
    """``auto`` -> MOT15 when no gt row has a class (class -1 everywhere), else MOT17; a class-less
    gt file under another benchmark's rules (which score class 1 only) is an error naming it."""
    classless = {name: bool(len(gt)) and bool((gt.class_id == -1).all()) for name, (_, gt) in gt_rows.items()}
    if benchmark == "auto":
        return "MOT15" if classless and all(classless.values()) else "MOT17"
    if benchmark != "MOT15":
        for name, (path, gt) in gt_rows.items():
            bad = np.nonzero(~np.isin(gt.class_id, _CLASSES))[0]
            if len(bad):
                hint = " (no class column: the MOT15 layout; use --benchmark MOT15)" if classless[name] else ""
                raise ValueError(f"{path}:{gt.line[bad[0]]}: class {gt.class_id[bad[0]]} is not a {benchmark} class "
                                 f"(1-13){hint}")
    return benchmark


def _dense_ids(raw: dict[str, Any]) -> dict[str, Any]:
    """Renumber the gt and tracker ids of TrackEval's raw sequence data 0..K-1 (TrackEval then maps
    ids through arrays as long as the largest id)."""
    for key in ("gt_ids", "tracker_ids"):
        per_frame = raw[key]
        every = np.unique(np.concatenate([np.asarray(ids, np.int64) for ids in per_frame])) if per_frame else []
        raw[key] = [np.searchsorted(every, ids).astype(int) for ids in per_frame]
    return raw


def _flatten(metric_results: dict[str, dict[str, Any]]) -> dict[str, float]:
    out: dict[str, Any] = {}
    for res in metric_results.values():
        for key, value in res.items():
            if key in _PERCENT:  # HOTA-family values are arrays over IoU thresholds: their mean
                out[_PERCENT[key]] = 100.0 * float(np.mean(value))
            elif key in _COUNTS:
                out[_COUNTS[key]] = int(value)
    return out
