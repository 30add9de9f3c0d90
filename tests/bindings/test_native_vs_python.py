"""The native (C++) core against the Python reference core: the same track IDs every frame, boxes
within 1e-5, on synthetic scenes, the real MOT17 DPM detections and hypothesis-generated streams,
with the default options (adaptive thresholds, birth hysteresis, no gate) and the legacy ones (fixed
thresholds, min_hits=2, the chi^2 gate); and the native JV solver against ``lap.lapjv`` with cost
limits. The new options one by one and camera motion: test_native_thresholds_and_cmc.py."""
from __future__ import annotations

from pathlib import Path

import lap
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core_differ import LEGACY, Differ, run_stream, streams
from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions
from mottrack_sdk.tracking.core import AssociationCore
from mottrack_sdk.tracking.native import NativeAssociationCore, make_core, native_available
from mottrack_sdk.tracking.options import TrackerOptions
from mottrack_sdk.tracking.validation import check_embeddings

pytestmark = pytest.mark.skipif(
    not native_available(),
    reason="mottrack_sdk._native is not built (pip install needs a C++17 compiler and pybind11==3.1.0)")

OPTION_SETS = {"defaults": TrackerOptions(), "legacy": LEGACY}


# -- synthetic scenes -------------------------------------------------------------------------
@pytest.mark.parametrize("options", OPTION_SETS.values(), ids=OPTION_SETS.keys())
@pytest.mark.parametrize("embeddings", [False, True], ids=["motion", "embeddings"])
@pytest.mark.parametrize("num_objects", [10, 50, 200])
def test_synthetic_scene_same_tracks(num_objects, embeddings, options):
    scene = DetectionScene(DetectionSceneOptions(num_objects=num_objects, num_frames=120, seed=3,
                                                 embedding_dim=512 if embeddings else 0))
    d = Differ(options)
    for f in scene:
        emb = check_embeddings(f.det_embeddings, len(f.det_scores), None) if embeddings else None
        d.step(f.det_xyxy, f.det_scores, emb)
    assert d.frames == 120


def test_synthetic_scene_with_classes_and_no_gating():
    scene = DetectionScene(DetectionSceneOptions(num_objects=50, num_frames=80, seed=5, embedding_dim=64))
    d = Differ(TrackerOptions(gating=False, low_score_thresh=None, max_aspect_ratio=None, track_buffer=10))
    for f in scene:
        classes = (np.abs(f.det_gt_ids) % 3).astype(np.int64)  # false positives get class 1
        emb = check_embeddings(f.det_embeddings, len(f.det_scores), None) if f.frame % 4 else None
        d.step(f.det_xyxy, f.det_scores, emb, classes)


# -- MOT17 public detections (DPM) -------------------------------------------------------------
def _mot_frames(det_file: Path):
    """Yield (xyxy, scores) per frame from a MOTChallenge det.txt (frame, -1, left, top, w, h, score, ...)."""
    det = np.loadtxt(det_file, delimiter=",", ndmin=2)
    det = det[np.argsort(det[:, 0], kind="stable")]
    n_frames = int(det[:, 0].max())
    bounds = np.searchsorted(det[:, 0], np.arange(1, n_frames + 2))
    for k in range(n_frames):
        d = det[bounds[k]:bounds[k + 1]]
        xyxy = np.stack([d[:, 2], d[:, 3], d[:, 2] + d[:, 4], d[:, 3] + d[:, 5]], axis=1)
        yield xyxy, np.ascontiguousarray(d[:, 6])


MOT17_OPTIONS = {
    # the defaults: thresholds from the scores' quantiles, whatever DPM's scale (about [-0.5, 5])
    "defaults": TrackerOptions(),
    # fixed thresholds on DPM's scale, so that every stage of the cascade runs (the old behaviour)
    "legacy-fixed": LEGACY.replace(det_thresh=0.0, low_score_thresh=-0.5),
}


@pytest.mark.parametrize("options", MOT17_OPTIONS.values(), ids=MOT17_OPTIONS.keys())
def test_mot17_dpm_same_tracks(mot17_root, options):
    sequences = sorted(p for p in mot17_root.iterdir() if (p / "det" / "det.txt").is_file())
    assert sequences, f"no det/det.txt under {mot17_root}"
    frames = 0
    for seq in sequences:
        d = Differ(options)
        for xyxy, scores in _mot_frames(seq / "det" / "det.txt"):
            d.step(xyxy, scores)
        frames += d.frames
    assert frames > 5000  # the 7 train sequences


# -- randomized streams (hypothesis; core_differ.streams) ---------------------------------------
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_random_streams_same_tracks(stream):
    options, frames = stream
    run_stream(Differ(options), frames)


# -- the memory bounds (capped windows, greedy conflicts): the same rules in both cores -----------
def test_both_cores_share_the_memory_bounds():
    from mottrack_sdk import _native
    from mottrack_sdk.tracking import matching

    assert (_native.MAX_WINDOW_PAIRS, _native.MAX_SOLVER_SIDE) == (matching.MAX_WINDOW_PAIRS, matching.MAX_SOLVER_SIDE)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.sampled_from([1, 3, 8, 20]), st.sampled_from([2, 3, 5, 8]))
def test_random_streams_same_tracks_with_tiny_memory_bounds(stream, max_window_pairs, max_solver_side):
    """Bounds low enough that windows are cut and conflicts assigned greedily in most frames."""
    options, frames = stream
    run_stream(Differ(options, max_window_pairs=max_window_pairs, max_solver_side=max_solver_side), frames)


@pytest.mark.parametrize("options", OPTION_SETS.values(), ids=OPTION_SETS.keys())
@pytest.mark.parametrize("embeddings", [False, True], ids=["motion", "embeddings"])
def test_crowded_scene_same_tracks_with_cut_windows_and_greedy_conflicts(embeddings, options):
    scene = DetectionScene(DetectionSceneOptions(num_objects=120, num_frames=60, seed=8, width=640, height=360,
                                                 embedding_dim=32 if embeddings else 0))
    d = Differ(options, max_window_pairs=400, max_solver_side=4)
    for f in scene:
        emb = check_embeddings(f.det_embeddings, len(f.det_scores), None) if embeddings else None
        d.step(f.det_xyxy, f.det_scores, emb)
    assert d.frames == 60


@pytest.mark.parametrize("options", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_thousands_of_identical_boxes_same_tracks(options):
    """Every centre equal: one bucket of the sorted centres, every window cut, every conflict greedy."""
    d = Differ(options, max_window_pairs=5000, max_solver_side=64)
    box = np.tile([[100.0, 100.0, 150.0, 220.0]], (2000, 1))
    scores = np.linspace(0.55, 0.95, 2000)
    for shift in (0.0, 0.0, 1.0, 2.0):
        d.step(box + shift, scores)


# -- the JV solver against lap.lapjv -----------------------------------------------------------
def _total(cost: np.ndarray, x: np.ndarray, limit: float) -> float:
    r = np.nonzero(x >= 0)[0]
    return float((cost[r, x[r]] - limit).sum())


@pytest.mark.parametrize("kind", ["uniform", "ties", "sparse", "integers"])
def test_lapjv_matches_lap_with_cost_limit(kind):
    from mottrack_sdk import _native

    rng = np.random.default_rng(11)
    for it in range(1500):
        r, c = (int(v) for v in rng.integers(1, 14, 2))
        if kind == "uniform":
            cost = rng.random((r, c))
        elif kind == "ties":
            cost = rng.integers(0, 4, (r, c)) / 4.0
        elif kind == "sparse":  # forbidden entries as the tracker builds them
            cost = np.full((r, c), 1e6)
            m = rng.random((r, c)) < 0.3
            cost[m] = rng.integers(0, 6, int(m.sum())) / 10.0
        else:
            cost = rng.integers(0, 3, (r, c)).astype(float)
        limit = [0.5, 0.25, 1.0, 0.8, 2.0][it % 5]
        _, x, y = lap.lapjv(cost, extend_cost=True, cost_limit=limit)
        xn, yn = _native.lapjv(cost, limit)
        assert _total(cost, xn, limit) == pytest.approx(_total(cost, x, limit), abs=1e-12)
        assert np.all(cost[np.nonzero(xn >= 0)[0], xn[xn >= 0]] <= limit)
        # the same steps in the same order: even among equal-cost optima the same assignment
        np.testing.assert_array_equal(xn, x)
        np.testing.assert_array_equal(yn, y)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.floats(0.05, 1.5), st.data())
def test_lapjv_matches_lap_random(rows, cols, limit, data):
    from mottrack_sdk import _native

    values = data.draw(st.lists(st.floats(0, 2, allow_nan=False), min_size=rows * cols, max_size=rows * cols))
    cost = np.array(values).reshape(rows, cols)
    _, x, y = lap.lapjv(cost, extend_cost=True, cost_limit=limit)
    xn, yn = _native.lapjv(cost, limit)
    assert _total(cost, xn, limit) == pytest.approx(_total(cost, x, limit), abs=1e-9)
    np.testing.assert_array_equal(xn, x)
    np.testing.assert_array_equal(yn, y)


def test_lapjv_without_limit_pads_like_lap():
    from mottrack_sdk import _native

    cost = np.random.default_rng(2).random((5, 8))
    _, x, y = lap.lapjv(cost, extend_cost=True)
    xn, yn = _native.lapjv(cost)
    np.testing.assert_array_equal(xn, x)
    np.testing.assert_array_equal(yn, y)


# -- the Python face of the native core ----------------------------------------------------------
def test_make_core_selects_by_name(monkeypatch):
    from mottrack_sdk.tracking import native

    options = TrackerOptions()
    assert isinstance(make_core(options, "python"), AssociationCore)
    assert isinstance(make_core(options, "native"), NativeAssociationCore)
    assert isinstance(make_core(options, "auto"), NativeAssociationCore)
    with pytest.raises(ValueError, match="core"):
        make_core(options, "cuda")
    monkeypatch.setattr(native, "_native", None)
    monkeypatch.setattr(native, "_import_error", "No module named 'mottrack_sdk._native'")
    assert isinstance(make_core(options, "auto"), AssociationCore)
    with pytest.raises(RuntimeError, match="not available"):
        make_core(options, "native")


def test_native_core_refuses_bad_arrays_and_resets():
    core = NativeAssociationCore(TrackerOptions())
    good = np.array([[0.0, 0.0, 10.0, 30.0]])
    with pytest.raises(ValueError, match="xyxy"):
        core.step(np.zeros((2, 3)), np.zeros(2), None, None)
    with pytest.raises(ValueError, match="scores"):
        core.step(good, np.zeros(2), None, None)
    with pytest.raises(ValueError, match="finite"):
        core.step(np.array([[0.0, np.nan, 10.0, 30.0]]), np.ones(1), None, None)
    with pytest.raises(ValueError, match="positive width"):
        core.step(np.array([[10.0, 0.0, 10.0, 30.0]]), np.ones(1), None, None)
    assert core.frame_id == 0
    out = core.step(good, np.ones(1), np.ones((1, 8), np.float32) / np.sqrt(8), None)
    assert out.track_id.tolist() == [1] and core.frame_id == 1
    with pytest.raises(ValueError, match="D=8"):
        core.step(good, np.ones(1), np.ones((1, 4), np.float32) / 2, None)
    core.reset()
    assert core.frame_id == 0 and core.live_tracks == 0
    assert core.step(good, np.ones(1), np.ones((1, 4), np.float32) / 2, None).track_id.tolist() == [1]
    with pytest.raises(ValueError, match="unknown option"):
        from mottrack_sdk import _native
        _native.NativeCore({"det_tresh": 0.5})


def test_native_core_memory_is_bounded():
    core = NativeAssociationCore(TrackerOptions(track_buffer=30))
    rng = np.random.default_rng(0)
    for _ in range(5000):
        xy = rng.uniform(0, 1800, (20, 2))
        core.step(np.concatenate([xy, xy + [40.0, 100.0]], axis=1), rng.uniform(0.5, 1.0, 20), None, None)
    assert core.live_tracks <= 20 * 32


def test_native_core_is_safe_to_share_between_threads():
    # step() runs without the GIL; a lock inside keeps calls on one core apart
    import threading

    scene = list(DetectionScene(DetectionSceneOptions(num_objects=30, num_frames=50, seed=4, embedding_dim=0)))
    shared = NativeAssociationCore(TrackerOptions())
    own = [NativeAssociationCore(TrackerOptions()) for _ in range(3)]
    results: list[list] = [[] for _ in own]

    def work(k: int) -> None:
        for f in scene:
            shared.step(f.det_xyxy, f.det_scores, None, None)
            results[k].append(own[k].step(f.det_xyxy, f.det_scores, None, None).track_id.tolist())

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared.frame_id == 3 * len(scene)
    assert results[0] == results[1] == results[2]  # independent cores are unaffected by each other
