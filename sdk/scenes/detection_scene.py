"""A deterministic synthetic *detection-level* MOT scene: what a detector would output, plus truth.

Used by the tracker benchmarks, the comparison with other trackers and ``make demo``. Objects move
with constant velocity (plus a small per-frame jitter), leave the frame and are replaced by new
identities, hide one another (depth order = lower box bottom is nearer), and the simulated
detector adds box noise, misses, low scores under occlusion, false positives and appearance
embeddings (a fixed unit vector per identity plus noise).

Everything is a pure function of :class:`DetectionSceneOptions` (``seed`` included).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from mottrack_sdk.scenes.options import require_int

# Each frame compares every object with every other (visibility, then the tracker's association): the
# detection-level demo peaks at 283 MB with 1000 objects (595 MB with 2000). Frames stream (the scene
# keeps nothing per frame), but whoever keeps a whole scene
# (its ground truth, its evaluation) grows with num_objects x num_frames; 10**6 frames is the longest
# sequence MOTChallenge files are read with (mottrack_sdk.io.motchallenge.MAX_SEQUENCE_FRAMES).
MAX_OBJECTS = 1000
MAX_FRAMES = 1_000_000


@dataclass(frozen=True)
class DetectionSceneOptions:
    """Knobs of the synthetic scene (pixels, per-frame rates)."""

    num_objects: int = 50          # objects present at any time (exits are replaced by new ids)
    num_frames: int = 300
    width: int = 1920
    height: int = 1080
    frame_rate: int = 30
    seed: int = 0
    min_height: float = 50.0       # object heights are drawn from [min_height, max_height]
    max_height: float = 220.0
    max_speed: float = 5.0         # px / frame, per axis
    box_noise: float = 0.04        # std of box corner noise, as a fraction of the box height
    miss_rate: float = 0.05        # chance a visible object is not detected
    false_positives: float = 2.0   # mean false positives per frame (Poisson)
    occluded_visibility: float = 0.4  # below this visibility an object is not detected
    embedding_dim: int = 512       # 0: no embeddings
    embedding_noise: float = 0.35  # noise norm relative to the unit identity vector

    def __post_init__(self) -> None:
        require_int(self, "num_objects", 1, MAX_OBJECTS)
        require_int(self, "num_frames", 1, MAX_FRAMES)
        for name in ("width", "height"):
            require_int(self, name, 1, 65536)
        require_int(self, "frame_rate", 1, 1000)
        require_int(self, "seed", 0, 2**62)  # a second stream is seeded with seed + 1_000_003
        if not 0 < self.min_height <= self.max_height:
            raise ValueError("DetectionSceneOptions: expected 0 < min_height <= max_height")


@dataclass(frozen=True)
class SceneFrame:
    """One frame: ground truth (G rows) and detections (N rows)."""

    frame: int                      # 1-based
    gt_ids: np.ndarray              # (G,) int64, identities present in the frame
    gt_xyxy: np.ndarray             # (G, 4) float64, true boxes (clipped to the frame)
    gt_visibility: np.ndarray       # (G,) float64 in [0, 1]
    det_xyxy: np.ndarray            # (N, 4) float64
    det_scores: np.ndarray          # (N,) float64 in (0, 1)
    det_embeddings: np.ndarray | None  # (N, D) float32 or None
    det_gt_ids: np.ndarray          # (N,) int64, source identity or -1 for a false positive


class DetectionScene:
    """Iterate frames with ``for frame in DetectionScene(options)``; the same options give the same frames."""

    def __init__(self, options: DetectionSceneOptions | None = None):
        self.options = options or DetectionSceneOptions()

    def __len__(self) -> int:
        return self.options.num_frames

    def __iter__(self) -> Iterator[SceneFrame]:
        o = self.options
        rng = np.random.default_rng(o.seed)
        n = o.num_objects
        ident_rng = np.random.default_rng(o.seed + 1_000_003)
        next_id = 1
        ids = np.arange(next_id, next_id + n)
        next_id += n
        pos, vel, size = self._spawn(rng, n, anywhere=True)
        id_vectors: dict[int, np.ndarray] = {}
        for f in range(1, o.num_frames + 1):
            if f > 1:
                vel += rng.normal(0.0, 0.05, vel.shape)
                pos += vel
                gone = self._outside(pos, size)
                if gone.any():
                    k = int(gone.sum())
                    pos[gone], vel[gone], size[gone] = self._spawn(rng, k, anywhere=False)
                    ids[gone] = np.arange(next_id, next_id + k)
                    next_id += k
            xyxy = np.concatenate([pos - size / 2, pos + size / 2], axis=1)
            clipped = np.clip(xyxy, 0, [o.width, o.height, o.width, o.height])
            vis = self._visibility(xyxy, clipped)
            yield self._detect(rng, ident_rng, id_vectors, f, ids.copy(), xyxy, clipped, vis)

    # -- pieces -------------------------------------------------------------------------
    def _spawn(self, rng: np.random.Generator, k: int, anywhere: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        o = self.options
        h = rng.uniform(o.min_height, o.max_height, k)
        size = np.stack([0.4 * h, h], axis=1)
        vel = rng.uniform(-o.max_speed, o.max_speed, (k, 2)) * [1.0, 0.3]
        if anywhere:
            pos = rng.uniform([0, 0], [o.width, o.height], (k, 2))
        else:  # enter through the left or right border, moving inwards
            left = rng.random(k) < 0.5
            x = np.where(left, -0.4 * size[:, 0], o.width + 0.4 * size[:, 0])
            pos = np.stack([x, rng.uniform(0.2 * o.height, o.height, k)], axis=1)
            vel[:, 0] = np.where(left, np.abs(vel[:, 0]) + 0.5, -np.abs(vel[:, 0]) - 0.5)
        return pos, vel, size

    def _outside(self, pos: np.ndarray, size: np.ndarray) -> np.ndarray:
        o = self.options
        return ((pos[:, 0] + size[:, 0] < 0) | (pos[:, 0] - size[:, 0] > o.width)
                | (pos[:, 1] + size[:, 1] / 2 < 0) | (pos[:, 1] - size[:, 1] / 2 > o.height))

    @staticmethod
    def _visibility(xyxy: np.ndarray, clipped: np.ndarray) -> np.ndarray:
        """Visible fraction: inside the frame, minus the largest cover by one nearer object."""
        area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
        inside = (clipped[:, 2] - clipped[:, 0]).clip(0) * (clipped[:, 3] - clipped[:, 1]).clip(0) / area
        iw = np.minimum(clipped[:, None, 2], clipped[None, :, 2]) - np.maximum(clipped[:, None, 0], clipped[None, :, 0])
        ih = np.minimum(clipped[:, None, 3], clipped[None, :, 3]) - np.maximum(clipped[:, None, 1], clipped[None, :, 1])
        cover = iw.clip(0) * ih.clip(0) / area[:, None]
        nearer = xyxy[None, :, 3] > xyxy[:, None, 3]  # j is nearer than i
        cover = np.where(nearer, cover, 0.0).max(axis=1, initial=0.0)
        return np.clip(inside - cover, 0.0, 1.0)

    def _detect(self, rng: np.random.Generator, ident_rng: np.random.Generator, id_vectors: dict[int, np.ndarray],
                f: int, ids: np.ndarray, xyxy: np.ndarray, clipped: np.ndarray, vis: np.ndarray) -> SceneFrame:
        o = self.options
        present = vis > 0
        seen = (vis >= o.occluded_visibility) & (rng.random(len(ids)) >= o.miss_rate)
        d_idx = np.nonzero(seen)[0]
        h = (clipped[d_idx, 3] - clipped[d_idx, 1])[:, None]
        boxes = clipped[d_idx] + rng.normal(0.0, o.box_noise, (len(d_idx), 4)) * h
        scores = np.clip(0.35 + 0.6 * vis[d_idx] + rng.normal(0, 0.08, len(d_idx)), 0.05, 0.99)
        n_fp = int(rng.poisson(o.false_positives))
        fp_h = rng.uniform(o.min_height, o.max_height, n_fp)
        fp_c = rng.uniform([0, 0], [o.width, o.height], (n_fp, 2))
        fp = np.concatenate([fp_c - np.stack([0.2 * fp_h, fp_h / 2], 1), fp_c + np.stack([0.2 * fp_h, fp_h / 2], 1)], 1)
        boxes = np.concatenate([boxes, fp])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 2.0)  # noise never flips a box
        scores = np.concatenate([scores, rng.uniform(0.1, 0.6, n_fp)])
        det_ids = np.concatenate([ids[d_idx], -np.ones(n_fp, np.int64)])
        emb = None
        if o.embedding_dim:
            for i in ids[d_idx].tolist():
                if i not in id_vectors:
                    v = ident_rng.normal(size=o.embedding_dim)
                    id_vectors[i] = v / np.linalg.norm(v)
            base = np.stack([id_vectors[i] for i in ids[d_idx].tolist()] +
                            [np.zeros(o.embedding_dim)] * n_fp) if len(det_ids) else np.zeros((0, o.embedding_dim))
            noise = rng.normal(size=base.shape)
            noise *= o.embedding_noise / np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
            emb = (base + noise).astype(np.float32)
        alive = set(ids.tolist())
        for old in [k for k in id_vectors if k not in alive]:
            del id_vectors[old]  # bounded memory on long scenes
        return SceneFrame(f, ids[present], clipped[present], vis[present], boxes, scores, emb, det_ids)
