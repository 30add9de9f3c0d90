"""pytest-benchmark: association time per frame at N = 10, 50, 200 objects.

One round = one ``Tracker.update_detections`` call on the next frame of a deterministic synthetic
scene (constant-velocity objects with jitter, box noise, 5% misses, 2 false positives per frame,
occlusions); the tracker is warmed up on 30 frames first, so rounds see a steady-state track set.

Run: ``make bench`` (writes benchmarks/results/association.json).
"""
from __future__ import annotations

import pytest

from mottrack_sdk import Tracker
from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions
from mottrack_sdk.tracking.native import native_available

WARMUP, ROUNDS = 30, 300


@pytest.fixture(scope="module", params=[10, 50, 200], ids=lambda n: f"N{n}")
def scene_frames(request):
    opts = DetectionSceneOptions(num_objects=request.param, num_frames=WARMUP + ROUNDS, seed=1)
    return request.param, list(DetectionScene(opts))


CORES = ["python", pytest.param("native", marks=pytest.mark.skipif(not native_available(),
                                                                    reason="native core not built"))]


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("mode", ["motion", "embeddings"])
def test_association_per_frame(benchmark, scene_frames, mode, core):
    n_objects, scene_frames = scene_frames
    use_emb = mode == "embeddings"
    tracker = Tracker(core=core)
    frames = iter(scene_frames)
    for _ in range(WARMUP):
        fr = next(frames)
        tracker.update_detections(fr.det_xyxy, fr.det_scores, fr.det_embeddings if use_emb else None)

    def args():
        fr = next(frames)
        return (fr.det_xyxy, fr.det_scores, fr.det_embeddings if use_emb else None), {}

    benchmark.group = f"association N={n_objects}"
    benchmark.extra_info.update(objects=n_objects, mode=mode, core=core)
    benchmark.pedantic(tracker.update_detections, setup=args, rounds=ROUNDS, iterations=1, warmup_rounds=0)
