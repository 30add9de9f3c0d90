"""End-to-end runtime benchmark: frames in, tracks out, timed per stage (``mottrack bench`` and benchmarks/).

Frames are a synthetic 1920x1080 scene with ``tracks`` people (``mottrack_sdk.scenes``), rendered and
JPEG-encoded once, decoded outside the timed region. Each configuration runs ``warmup`` untimed frames,
then ``frames`` timed ``Tracker.update`` calls; ``Tracker.last_timings`` gives the stages. At most
:data:`POOL_FRAMES` frames and :data:`POOL_PIXELS` pixels are kept (500 frames at 1920x1080, about
180 MB of JPEG): a longer run plays them forward, then backward, and so on (the scene stays
continuous: people turn around at either end), so memory does not grow with ``frames``.

Random-weight models detect nothing useful, so with ``detections="scene"`` the network still runs (and
is timed as ``inference``) but its outputs are replaced by the scene's ground truth in the model's own
output layout (boxes mapped into the network input, scores 0.9, one embedding per identity): decoding,
host NMS and association then see ``tracks`` real, persistent objects. ``"auto"`` does that for models whose
metadata says ``weights_sha256 == "random-init"``. The JSON records name which was used.

Comparing models on a shared machine (:func:`run_interleaved`, ``mottrack bench --interleave N``): the
models take turns in blocks of N timed frames (the order flips every round), so all of them see the
same phases of the machine; each record then also gives ``ratio_to_first``, the median over rounds of
the first model's block time over its own (above 1: faster than the first model).
"""
from __future__ import annotations

import resource
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np

from mottrack_sdk.backends.base import Backend, LoadedModelInfo
from mottrack_sdk.detector import StageTimings
from mottrack_sdk.machine import cpu_info

__all__ = ["PAPER_FPS", "BenchFrames", "BenchRecord", "percentiles", "plot_records", "records_table", "run_benchmark",
           "run_interleaved"]

PAPER_FPS = 34.6  # CSTrack paper, CSTrack-S end to end (RTX 2080 Ti)
POOL_FRAMES = 500  # frames kept in memory by BenchFrames.render, and at most POOL_PIXELS (module docstring)
POOL_PIXELS = POOL_FRAMES * 1920 * 1080
STAGES = StageTimings.STAGES + ("total",)


def percentiles(values_ms: list[float] | np.ndarray) -> dict[str, float]:
    values = np.asarray(values_ms, np.float64)
    p50, p90, p99 = np.percentile(values, [50, 90, 99]) if values.size else (0.0, 0.0, 0.0)
    return {"p50": round(float(p50), 3), "p90": round(float(p90), 3), "p99": round(float(p99), 3),
            "mean": round(float(values.mean()) if values.size else 0.0, 3)}


@dataclass
class BenchFrames:
    """Synthetic frames (JPEG bytes) with their ground truth, rendered once and shared by every configuration."""

    encoded: list[np.ndarray]
    ids: list[np.ndarray]
    tlwh: list[np.ndarray]
    frame_size: tuple[int, int]

    @staticmethod
    def pool_size(count: int, frame_size: tuple[int, int] = (1920, 1080)) -> int:
        """How many of ``count`` frames :meth:`render` renders and keeps (at least 1)."""
        return max(1, min(count, POOL_FRAMES, POOL_PIXELS // (frame_size[0] * frame_size[1])))

    @classmethod
    def render(cls, count: int, tracks: int = 50, frame_size: tuple[int, int] = (1920, 1080), seed: int = 11,
               progress: Any = None) -> "BenchFrames":
        """Frames for a run of ``count`` frames: the first :meth:`pool_size` frames of the scene (all of
        them when they fit), read back and forth by :meth:`index`; ``progress(1)`` per rendered frame."""
        import cv2

        from mottrack_sdk.scenes import SceneGenerator, SceneOptions

        options = SceneOptions(width=frame_size[0], height=frame_size[1], num_frames=cls.pool_size(count, frame_size),
                               seed=seed, density=tracks, noise=2.0)
        encoded, ids, tlwh = [], [], []
        for frame in SceneGenerator(options):
            ok, data = cv2.imencode(".jpg", frame.image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise OSError("JPEG encoding failed")
            encoded.append(data)
            ids.append(frame.ids)
            tlwh.append(frame.tlwh)
            if progress is not None:
                progress(1)
        return cls(encoded, ids, tlwh, frame_size)

    def index(self, i: int) -> int:
        """The rendered frame shown as frame ``i`` of a run: ``i`` itself while frames last, then the
        frames backward, forward again, ... (0, 1, .., n-1, n-2, .., 1, 0, 1, ..)."""
        n = len(self.encoded)
        if n == 1:
            return 0
        k = i % (2 * n - 2)
        return k if k < n else 2 * n - 2 - k

    def image(self, i: int) -> np.ndarray:
        import cv2

        return cv2.imdecode(self.encoded[self.index(i)], cv2.IMREAD_COLOR)


class SceneOutputs(Backend):
    """Runs ``inner`` (timed as inference) but returns the scene's ground truth in ``inner``'s output layout."""

    name = "scene-outputs"

    def __init__(self, inner: Backend, frames: BenchFrames, count: int, seed: int = 0) -> None:
        super().__init__(inner.model)
        self.inner, self.frames, self.count, self.seed = inner, frames, count, seed
        self.name = inner.name
        self._prepared: list[dict[str, np.ndarray]] = []
        self._emb_map: np.ndarray | None = None  # raw layout: one map, the same every frame
        self._next = 0

    def _load_impl(self) -> LoadedModelInfo:
        info = self.inner.load().info  # one set of outputs per rendered frame (BenchFrames.index)
        self._prepared = [self._outputs(info, i) for i in range(min(self.count, len(self.frames.tlwh)))]
        return info

    def reset(self) -> None:
        self._next = 0

    def _outputs(self, info: LoadedModelInfo, i: int) -> dict[str, np.ndarray]:
        from mottrack_sdk.preprocessing import letterbox

        md = info.metadata
        width, height = self.frames.frame_size
        _, transform = letterbox(np.zeros((height, width, 3), np.uint8), md.input_size)
        tlwh = self.frames.tlwh[i % len(self.frames.tlwh)]
        boxes = transform.frame_to_network_xyxy(np.concatenate([tlwh[:, :2], tlwh[:, :2] + tlwh[:, 2:]], axis=1))
        ids = self.frames.ids[i % len(self.frames.ids)]
        dim = md.embedding_dim
        identity = np.random.default_rng([self.seed, 1]).normal(size=(int(ids.max(initial=0)) + 1, dim))
        noise = np.random.default_rng([self.seed, 2, i]).normal(scale=0.05, size=(len(ids), dim))
        emb = (identity[ids] + noise).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        scores = np.full(len(ids), 0.9, np.float32)
        if md.output_layout == "nms":
            n_boxes, n_scores, n_emb, n_count = md.outputs
            max_det = md.max_det or len(ids)
            n = min(len(ids), max_det)
            out = {n_boxes: np.zeros((max_det, 4), np.float32), n_scores: np.zeros(max_det, np.float32),
                   n_emb: np.zeros((max_det, dim), np.float32), n_count: np.array([n], np.int64)}
            out[n_boxes][:n], out[n_scores][:n], out[n_emb][:n] = boxes[:n], scores[:n], emb[:n]
            return out
        n_pred, n_map = md.outputs
        stride = md.embedding_stride
        w, h = md.input_size
        candidates = sum(len(md.anchors[0]) * (h // s) * (w // s) for s in md.strides) if md.anchors else 1000
        predictions = np.zeros((1, candidates, 4 + md.num_classes), np.float32)
        predictions[0, :len(ids), :4], predictions[0, :len(ids), 4] = boxes, scores
        if self._emb_map is None:
            emb_map = np.random.default_rng([self.seed, 3]).normal(size=(1, dim, h // stride, w // stride))
            self._emb_map = emb_map.astype(np.float32)
        return {n_pred: predictions, n_map: self._emb_map}

    def _infer_impl(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.inner.infer(inputs)
        out = self._prepared[self.frames.index(self._next) % len(self._prepared)]
        self._next += 1
        return out

    def _close_impl(self) -> None:
        self.inner.close()


@dataclass
class BenchRecord:
    """One (backend, precision, size) result; ``to_json`` is the documented record."""

    backend: str
    precision: str
    size: str
    fps: float
    ms: dict[str, dict[str, float]]
    layout: str = ""
    device: str = ""
    model: str = ""
    frames: int = 0
    detections: str = "model"
    tracks_mean: float = 0.0
    outside_network_share: float = 0.0
    ratio_to_paper: float = 0.0
    ratio_to_torch_fp32: float | None = None
    process_peak_rss_mb: float = 0.0  # peak RSS of the whole benchmark process so far (every model it opened)
    machine: dict[str, Any] = field(default_factory=dict)  # mottrack_sdk.machine.cpu_info().to_json()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "extra"}
        return {**data, **self.extra}


def _process_peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1 << 20) if sys.platform == "darwin" else rss / 1024.0


def run_benchmark(tracker: Any, frames: BenchFrames, count: int, warmup: int = 5, detections: str = "model",
                  progress: Any = None) -> BenchRecord:
    """Time ``count`` frames through a tracker whose model is loaded (``tracker.load_model()``).

    ``detections``: ``"model"`` (the network's own outputs) or ``"scene"`` (see the module docstring).
    """
    return run_interleaved([tracker], frames, count, warmup, [detections], max(count, 1), progress)[0]


def run_interleaved(trackers: list[Any], frames: BenchFrames, count: int, warmup: int, detections: list[str],
                    block: int, progress: Any = None) -> list[BenchRecord]:
    """Time ``count`` frames through each tracker, the trackers taking turns in blocks of ``block``
    frames (order flipped every round; warm-up frames first, one tracker after the other). Every
    tracker sees the same frames in the same order as :func:`run_benchmark` alone would give it.
    With several trackers each record's ``extra["interleaved"]`` holds the block size, the rounds and
    ``ratio_to_first`` (module docstring)."""
    if block < 1:
        raise ValueError(f"block must be >= 1 frame, got {block}")
    if len(detections) != len(trackers):
        raise ValueError(f"{len(trackers)} trackers but {len(detections)} detection modes")
    runs = [_BenchRun(tracker, frames, warmup + count, mode) for tracker, mode in zip(trackers, detections)]
    for run in runs:
        run.step(warmup, timed=False, progress=progress)
    blocks: list[list[float]] = [[] for _ in runs]
    rounds = 0
    while runs[0].done < warmup + count:
        order = range(len(runs)) if rounds % 2 == 0 else range(len(runs) - 1, -1, -1)
        for k in order:
            blocks[k].append(runs[k].step(block, timed=True, progress=progress))
        rounds += 1
    records = [run.record(count) for run in runs]
    if len(runs) > 1:
        first = np.asarray(blocks[0])
        for record, own in zip(records, blocks):
            own = np.asarray(own)
            record.extra["interleaved"] = {"block": block, "rounds": rounds,
                                           "ratio_to_first": round(float(np.median(first / own)), 3),
                                           "blocks_faster_than_first": int((own < first).sum())}
    return records


class _BenchRun:
    """One tracker's pass over the benchmark frames, a block at a time (:func:`run_interleaved`)."""

    def __init__(self, tracker: Any, frames: BenchFrames, total: int, detections: str) -> None:
        self.tracker, self.frames, self.total, self.detections = tracker, frames, total, detections
        self.detector = tracker.load_model()
        if detections == "scene":
            self.detector.backend = SceneOutputs(self.detector.backend, frames, total).load()
        self.done = 0
        self.timings: list[StageTimings] = []
        self.live: list[int] = []

    def step(self, n: int, timed: bool, progress: Any = None) -> float:
        """Run the next ``n`` frames (fewer at the end); returns their mean total ms (0 if none)."""
        start = len(self.timings)
        for _ in range(min(n, self.total - self.done)):
            tracks = self.tracker.update(self.frames.image(self.done))
            self.done += 1
            if timed:
                self.timings.append(self.tracker.last_timings)
                self.live.append(len(tracks))
            if progress is not None:
                progress(1)
        new = self.timings[start:]
        return float(np.mean([t.total for t in new])) if new else 0.0

    def record(self, count: int) -> BenchRecord:
        detector, timings = self.detector, self.timings
        if isinstance(detector.backend, SceneOutputs):
            detector.backend = detector.backend.inner
        ms = {stage: percentiles([getattr(t, stage) if stage != "total" else t.total for t in timings])
              for stage in STAGES}
        total_mean = ms["total"]["mean"]
        md = detector.metadata
        width, height = md.input_size
        outside = float(np.mean([t.outside_network for t in timings]))
        return BenchRecord(
            backend=detector.backend.name, precision=md.precision, size=f"{width}x{height}",
            fps=round(1000.0 / total_mean, 2) if total_mean > 0 else 0.0, ms=ms, layout=md.output_layout,
            device=detector.backend.device + (f"; {detector.backend.load_note}" if detector.backend.load_note else ""),
            model=str(getattr(detector.backend, "model", "")), frames=count, detections=self.detections,
            tracks_mean=round(float(np.mean(self.live)), 1), outside_network_share=round(outside / total_mean, 4),
            ratio_to_paper=round(1000.0 / total_mean / PAPER_FPS, 3),
            process_peak_rss_mb=round(_process_peak_rss_mb(), 1), machine=cpu_info().to_json())


def add_torch_ratios(records: list[BenchRecord]) -> None:
    """Fill ``ratio_to_torch_fp32``: FPS over the PyTorch FP32 record of the same size (when one exists)."""
    torch_fps = {r.size: r.fps for r in records if r.backend == "torch" and r.precision == "fp32"}
    for r in records:
        if r.size in torch_fps and torch_fps[r.size] > 0:
            r.ratio_to_torch_fp32 = round(r.fps / torch_fps[r.size], 3)


def records_table(records: list[BenchRecord]) -> str:
    """A text table: one row per record, p50 ms per stage, FPS and the ratios."""
    head = (f"{'backend':<12}{'prec':<6}{'layout':<10}{'size':<10}{'FPS':>7}{'x34.6':>7}{'xTorch':>7}"
            f"{'pre':>8}{'infer':>9}{'post':>7}{'cmc':>7}{'assoc':>7}{'outside':>9}{'tracks':>8}")
    lines = [head, "-" * len(head)]
    for r in records:
        p = {s: r.ms[s]["p50"] if s in r.ms else 0.0 for s in STAGES}  # (records from before camera_motion)
        torch_ratio = f"{r.ratio_to_torch_fp32:.2f}" if r.ratio_to_torch_fp32 is not None else "-"
        lines.append(f"{r.backend:<12}{r.precision:<6}{r.layout or '-':<10}{r.size:<10}{r.fps:>7.1f}"
                     f"{r.ratio_to_paper:>7.2f}{torch_ratio:>7}"
                     f"{p['preprocess']:>8.2f}{p['inference']:>9.1f}{p['postprocess']:>7.2f}{p['camera_motion']:>7.2f}"
                     f"{p['association']:>7.2f}"
                     f"{r.outside_network_share * 100:>8.1f}%{r.tracks_mean:>8.1f}")
    lines.append("stage columns: p50 ms (cmc: camera-motion estimation); outside = share of mean frame time spent "
                 "outside the network")
    return "\n".join(lines)


def plot_records(records: list[BenchRecord], path: Any) -> None:
    """PNG: end-to-end FPS per configuration (with the paper's 34.6 FPS) and p50 ms per stage, stacked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mottrack_sdk.io import atomic_path

    labels = [f"{r.backend}\n{r.precision} {r.layout} {r.size}" for r in records]
    x = np.arange(len(records))
    fig, (ax_fps, ax_ms) = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(records) + 4), 4.5))
    ax_fps.bar(x, [r.fps for r in records], color="#4C72B0")
    ax_fps.axhline(PAPER_FPS, color="#C44E52", linestyle="--", label=f"paper {PAPER_FPS} FPS")
    ax_fps.set_xticks(x, labels, fontsize=8)
    ax_fps.set_ylabel("end-to-end FPS (frame in -> tracks out)")
    ax_fps.legend()
    bottom = np.zeros(len(records))
    for stage, colour in zip(StageTimings.STAGES, ("#55A868", "#4C72B0", "#DD8452", "#937860", "#8172B3")):
        values = np.array([r.ms[stage]["p50"] for r in records])
        ax_ms.bar(x, values, bottom=bottom, label=stage, color=colour)
        bottom += values
    ax_ms.set_xticks(x, labels, fontsize=8)
    ax_ms.set_ylabel("ms per frame (p50 per stage)")
    ax_ms.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def iter_json(records: list[BenchRecord]) -> Iterator[dict[str, Any]]:
    return (r.to_json() for r in records)
