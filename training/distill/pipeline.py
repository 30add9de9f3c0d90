"""``mottrack pseudo-label``: label your own footage with teacher detectors, as MOTChallenge sequences.

Per source (:mod:`.sources`): read every ``stride``-th frame, run every teacher (:mod:`.teachers`),
fuse their boxes (:func:`.fusion.weighted_box_fusion`), band the fused scores into positives and
ignore regions and give them identities (:class:`.identities.SequenceLabeler`), and write the
sequence (:class:`.sequence_writer.MotSequenceWriter`). A finished sequence is skipped when the run
is repeated with the same settings (resume); other settings are refused unless ``overwrite``.
The same inputs and settings give byte-identical files (no timestamps; teachers and tracker are
deterministic on one machine).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from mottrack_sdk.io.output_paths import check_output_folder, removed_if_left_empty
from mottrack_training.distill.fusion import weighted_box_fusion
from mottrack_training.distill.identities import LabelThresholds, SequenceLabeler
from mottrack_training.distill.sequence_writer import MotSequenceWriter, finished_meta, finished_sources
from mottrack_training.distill.sources import LabelSource, resolve_sources
from mottrack_training.distill.specs import DEFAULT_TEACHERS, TeacherSpec, build_teachers, parse_teacher_specs
from mottrack_training.distill.teachers import Teacher

__all__ = ["PseudoLabelOptions", "SequenceReport", "pseudo_label"]

DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class PseudoLabelOptions:
    """Settings of a labelling run (the CLI's options).

    teachers: the teacher specs; teacher_dir: where short names resolve (None: the default folder);
    thresholds: fused-score bands (positive >= high, ignore in [low, high)); fusion_iou: WBF IoU;
    teacher_min_score: each teacher's own floor before fusion; stride: label every k-th frame;
    max_frames: at most this many labelled frames per source (None: all); jpeg_quality: 1-100;
    stills: None (automatic), True / False (force image folders to stills / video); fps: the frame
    rate of image folders (videos carry theirs); reid_model: a re-ID IR to link tracklets by
    appearance too (None: motion + IoU); threads: CPU threads per model; licence: a note stored
    with every sequence; overwrite: replace finished sequences made with other settings.
    """

    teachers: tuple[TeacherSpec, ...] = field(default_factory=lambda: parse_teacher_specs(DEFAULT_TEACHERS))
    teacher_dir: Path | None = None
    thresholds: LabelThresholds = field(default_factory=LabelThresholds)
    fusion_iou: float = 0.55
    teacher_min_score: float = 0.05
    stride: int = 1
    max_frames: int | None = None
    jpeg_quality: int = 95
    stills: bool | None = None
    fps: float | None = None
    reid_model: Path | None = None
    threads: int = 2
    licence: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"--stride must be >= 1, got {self.stride}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"--max-frames must be >= 1, got {self.max_frames}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"--jpeg-quality must be in 1..100, got {self.jpeg_quality}")
        if not 0.0 <= self.fusion_iou < 1.0:
            raise ValueError(f"--fusion-iou must be in [0, 1), got {self.fusion_iou}")
        if not 0.0 <= self.teacher_min_score < self.thresholds.low:
            raise ValueError(f"--teacher-min-score must be in [0, --low={self.thresholds.low}), "
                             f"got {self.teacher_min_score}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"--fps must be > 0, got {self.fps}")
        if self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}")


@dataclass(frozen=True)
class SequenceReport:
    """What happened to one source: its sequence folder, counts, whether it was skipped, seconds taken."""

    source: str
    sequence: Path
    counts: dict[str, int]
    skipped: bool
    seconds: float


def pseudo_label(sources: Sequence[str | Path], out: str | Path, options: PseudoLabelOptions | None = None,
                 progress: bool = True, log: Callable[[str], None] = print,
                 teachers: Sequence[Teacher] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[SequenceReport]:
    """Label ``sources`` into the dataset folder ``out`` (one sequence per source).

    Everything that can be checked cheaply is checked before the teachers load and the first frame is
    labelled: ``out`` (:func:`~mottrack_sdk.io.output_paths.check_output_folder`), every source (it
    exists, is given once, opens, and its first frame reads) and every finished sequence in ``out`` a
    source would go to (same settings: skipped; other settings: refused unless ``overwrite``).

    ``teachers`` replaces ``options.teachers`` with ready :class:`Teacher` objects (your own
    implementations); they are closed at the end either way. ``should_stop`` is asked between frames
    (e.g. ``StopSignals``: a Ctrl-C received): when it says True, the sequence being written is removed
    and ``KeyboardInterrupt`` is raised (finished sequences stay, and a rerun resumes after them).

    Raises:
        ValueError: bad options, ``out`` or sources, missing teacher files, a finished sequence made with
            other settings (without ``overwrite``), unreadable frames.
    """
    options = options or PseudoLabelOptions()
    out = check_output_folder(out, "--out")
    resolved = resolve_sources(sources, options.stills, finished_sources(out))
    if teachers is None:
        teachers = build_teachers(options.teachers, options.teacher_dir, options.threads, options.teacher_min_score)
    teachers = list(teachers)
    if not teachers:
        raise ValueError("--teachers: expected at least one teacher")
    stop = should_stop or (lambda: False)
    reports = []
    try:
        done = [_finished_with_same_settings(source, out, options, teachers) for source in resolved]
        for source, meta in zip(resolved, done):
            if meta is None:
                source.check_readable()
        with removed_if_left_empty(out):  # no empty --out folder left by a failed first run
            for teacher in teachers:  # a file that is no model fails here, before any output exists
                try:
                    teacher.load()
                except ValueError as exc:
                    raise ValueError(f"--teachers: {exc}") from None
            embedder = None
            if options.reid_model is not None:
                from mottrack_training.distill.reid import ReidEmbedder

                embedder = ReidEmbedder(options.reid_model, options.threads)
            for source, meta in zip(resolved, done):
                if stop():
                    raise KeyboardInterrupt(f"stopped before {source.name}")
                if meta is not None:
                    log(f"{source.name}: already done, skipped ({out / source.name})")
                    reports.append(SequenceReport(str(source.path), out / source.name, meta.get("counts", {}),
                                                  True, 0.0))
                else:
                    reports.append(_label_source(source, out, options, teachers, embedder, progress, log, stop))
    finally:
        for teacher in teachers:
            teacher.close()
    return reports


def _finished_with_same_settings(source: LabelSource, out: Path, options: PseudoLabelOptions,
                                 teachers: list[Teacher]) -> dict[str, Any] | None:
    """The ``pseudo_label.json`` of ``source``'s finished sequence in ``out`` when it was labelled with
    these settings (skip it); None when it is to be labelled (no sequence yet, or ``overwrite``).

    Raises:
        ValueError: naming ``--out``: the sequence folder exists but is not a finished one, or was
            labelled with other settings and ``overwrite`` is off.
    """
    meta = finished_meta(out / source.name)
    if meta is None:
        return None
    if meta.get("settings") == _settings(source, options, teachers):
        return meta
    if not options.overwrite:
        raise ValueError(f"--out: {out / source.name} was labelled with other settings or another source; "
                         "use another --out, or --overwrite to replace it")
    return None


def _settings(source: LabelSource, options: PseudoLabelOptions, teachers: list[Teacher]) -> dict[str, Any]:
    """Everything that decides a sequence's content (compared on resume)."""
    return {
        "source": str(source.path.resolve()), "mode": source.mode, "stride": options.stride,
        "max_frames": options.max_frames, "jpeg_quality": options.jpeg_quality,
        "teachers": [t.describe() for t in teachers],
        "fusion": {"method": "weighted box fusion", "iou": options.fusion_iou,
                   "score": "sum over teachers of each teacher's best score in the cluster / number of teachers",
                   "box": "score-weighted mean of the cluster's boxes"},
        "thresholds": asdict(options.thresholds),
        "identities": ("one per box (stills)" if source.mode == "stills" else
                       "mottrack_sdk.Tracker tracklets (" + ("re-ID " + options.reid_model.name if options.reid_model
                                                             else "motion + IoU") +
                       "); boxes on no confirmed track get fresh ids after the last track id"),
        "licence": options.licence,
    }


def _label_source(source: LabelSource, out: Path, options: PseudoLabelOptions, teachers: list[Teacher],
                  embedder: Any, progress: bool, log: Callable[[str], None],
                  stop: Callable[[], bool]) -> SequenceReport:
    """Label one source into ``out / source.name`` (all or nothing); ``KeyboardInterrupt`` when ``stop()``."""
    start = time.perf_counter()
    settings = _settings(source, options, teachers)
    images, fps, count = source.frames(options.stride, options.max_frames)
    frame_rate = (fps or options.fps or DEFAULT_FPS) / options.stride
    labeler = SequenceLabeler(options.thresholds, source.mode, frame_rate)
    from tqdm import tqdm

    with MotSequenceWriter(out, source.name, options.jpeg_quality) as writer, \
            tqdm(total=count, desc=source.name, unit="frame", disable=not progress, leave=False,
                 dynamic_ncols=True) as bar:
        for image in images:
            frame = writer.add_image(image, where=f"SOURCE {source.path}")
            fused = weighted_box_fusion([t.detect(image) for t in teachers], options.fusion_iou)
            embeddings = None
            if embedder is not None and source.mode == "video":
                keep = fused.scores >= options.thresholds.low
                embeddings = embedder.embed(image, fused.xyxy[keep])
                fused = type(fused)(fused.xyxy[keep], fused.scores[keep], fused.support[keep])
            labeler.add(frame, fused.xyxy, fused.scores, embeddings)
            bar.update(1)
            if stop():  # leaving the block removes the partial sequence
                raise KeyboardInterrupt(f"stopped while labelling {source.name}")
        counts = labeler.counts()
        meta = {"tool": "mottrack pseudo-label", "settings": settings, "frame_rate": round(frame_rate, 4),
                "source_fps": fps, "counts": counts}
        seq_dir = writer.finish(labeler.rows(), frame_rate, meta)
    seconds = time.perf_counter() - start
    log(f"{source.name}: {counts['frames']} frames, {counts['boxes']} boxes, {counts['ignore_boxes']} ignore, "
        f"{counts['identities']} ids ({source.mode}) in {seconds:.0f} s -> {seq_dir}")
    return SequenceReport(str(source.path), seq_dir, counts, False, seconds)
