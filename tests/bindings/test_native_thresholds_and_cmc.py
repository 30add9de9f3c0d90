"""The native core against the Python reference on the options added with adaptive thresholds and
birth hysteresis (``min_hits``, ``det_quantile``, ``low_score_quantile``, ``score_window``), and on
camera-motion compensation (``apply_camera_motion``): the same IDs, hits, ages and scores every frame,
boxes within 1e-9; plus the defaults, the checks on warps and what adaptive thresholds promise."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from core_differ import LEGACY, TIGHT_BOX_TOL, Differ, random_warp, run_stream, streams
from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions
from mottrack_sdk.tracking.native import NativeAssociationCore, native_available
from mottrack_sdk.tracking.options import TrackerOptions
from mottrack_sdk.tracking.validation import check_embeddings

pytestmark = pytest.mark.skipif(not native_available(), reason="mottrack_sdk._native is not built")


def _scene(num_objects: int = 30, num_frames: int = 60, seed: int = 3, embedding_dim: int = 0) -> list:
    return list(DetectionScene(DetectionSceneOptions(num_objects=num_objects, num_frames=num_frames, seed=seed,
                                                     embedding_dim=embedding_dim)))


def _run(options: TrackerOptions, frames: list, embeddings: bool = False, warps: int | None = None) -> Differ:
    """Both cores over a scene; with ``warps`` (a seed) a random camera warp before every frame."""
    d = Differ(options)
    rng = None if warps is None else np.random.default_rng(warps)
    for f in frames:
        if rng is not None:
            d.warp(random_warp(rng))
        emb = check_embeddings(f.det_embeddings, len(f.det_scores), None) if embeddings else None
        d.step(f.det_xyxy, f.det_scores, emb)
    assert d.max_box_diff <= TIGHT_BOX_TOL, d.max_box_diff
    return d


def test_native_defaults_are_tracker_options_defaults():
    """Options{} (also what mottrack_options_init fills in) = TrackerOptions(), field by field."""
    from mottrack_sdk import _native

    assert _native.default_options() == asdict(TrackerOptions())


# -- the new options on synthetic scenes ----------------------------------------------------------
SCENE = _scene()  # about 35 detections per frame: more than a window of 7 scores per frame


@pytest.mark.parametrize("score_window", [7, 64, 2048])
@pytest.mark.parametrize("det_quantile", [None, 0.0, 0.15, 0.5, 1.0])
@pytest.mark.parametrize("min_hits", [2, 3, 5])
def test_min_hits_and_adaptive_thresholds_same_tracks(min_hits, det_quantile, score_window):
    d = _run(TrackerOptions(min_hits=min_hits, det_quantile=det_quantile, score_window=score_window), SCENE)
    if det_quantile != 1.0:  # (1.0: only the window's best score counts as high)
        assert d.tracks > 0


@pytest.mark.parametrize("crowd", [dict(crowd_drop=0.1), dict(crowd_drop=0.3, crowd_low=20.0, crowd_high=50.0),
                                   dict(crowd_drop=0.2, crowd_low=30.0, crowd_high=40.0, crowd_frames=1),
                                   dict(crowd_drop=0.25, crowd_low=0.0, crowd_high=1e-3, crowd_frames=10000)],
                         ids=["defaults", "ramp", "one-frame", "step"])
@pytest.mark.parametrize("low_score_thresh", [None, 0.1])
@pytest.mark.parametrize("embeddings", [False, True], ids=["motion", "embeddings"])
def test_crowd_drop_same_tracks(crowd, low_score_thresh, embeddings):
    """The crowd drop's thresholds (a mean of integer counts, then the ramp) are the same doubles in
    both cores; some frames of the scene drop and some do not (more or fewer tracks than without)."""
    frames = _scene(num_objects=45, num_frames=60, seed=8, embedding_dim=32 if embeddings else 0)
    options = TrackerOptions(det_quantile=None, low_score_thresh=low_score_thresh, min_hits=3, **crowd)
    d = _run(options, frames, embeddings)
    plain = _run(options.replace(crowd_drop=0.0), frames, embeddings)
    assert d.tracks != plain.tracks


@pytest.mark.parametrize("low_score_thresh, low_score_quantile", [(None, 0.0), (None, 0.1), (0.1, 0.0),
                                                                  (0.1, 0.05), (0.1, 0.15), (-3.0, 0.1)])
@pytest.mark.parametrize("embeddings", [False, True], ids=["motion", "embeddings"])
def test_low_score_rescue_with_adaptive_floor_same_tracks(low_score_thresh, low_score_quantile, embeddings):
    """low_score_thresh only switches the rescue on or off; the floor is the low_score_quantile."""
    frames = _scene(num_frames=50, seed=6, embedding_dim=32 if embeddings else 0)
    options = TrackerOptions(low_score_thresh=low_score_thresh, low_score_quantile=low_score_quantile,
                             score_window=64, min_hits=3)
    _run(options, frames, embeddings)


@pytest.mark.parametrize("options", [TrackerOptions(), LEGACY], ids=["defaults", "legacy"])
def test_frames_without_detections_keep_the_window(options):
    """Empty frames (the window keeps its scores; none seen yet: the fixed thresholds)."""
    d = Differ(options)
    empty = (np.zeros((0, 4)), np.zeros(0))
    for k, f in enumerate(SCENE[:30]):
        if k % 4 in (0, 1):
            d.step(*empty)
        else:
            d.step(f.det_xyxy, f.det_scores)


def test_adaptive_thresholds_ignore_the_score_scale():
    """With det_quantile set, scores 4x larger (an exact, monotone change) give the same tracks."""
    options = TrackerOptions(score_window=256)
    a, b = NativeAssociationCore(options), NativeAssociationCore(options)
    for f in SCENE:
        ta, tb = a.step(f.det_xyxy, f.det_scores, None, None), b.step(f.det_xyxy, 4.0 * f.det_scores, None, None)
        np.testing.assert_array_equal(ta.track_id, tb.track_id)
        np.testing.assert_array_equal(ta.xyxy, tb.xyxy)
        np.testing.assert_array_equal(4.0 * ta.score, tb.score)


@pytest.mark.parametrize("min_hits", [2, 3, 5])
def test_a_track_is_confirmed_after_min_hits_consecutive_matches(min_hits):
    """Frame 1 confirms at once; later a new object needs min_hits matches in a row: one frame
    short and a miss drop it unconfirmed; a full run confirms it on its min_hits-th frame."""
    d = Differ(TrackerOptions(min_hits=min_hits, det_quantile=None))
    first, second = np.array([[0.0, 0.0, 40.0, 100.0]]), np.array([[300.0, 0.0, 340.0, 100.0]])
    assert d.step(first, np.ones(1)).track_id.tolist() == [1]
    for k in range(min_hits - 1):
        assert d.step(np.concatenate([first, second + 2.0 * k]), np.ones(2)).track_id.tolist() == [1]
    assert d.step(first, np.ones(1)).track_id.tolist() == [1]
    assert d.native.live_tracks == 1  # the tentative track missed a frame: dropped
    for k in range(min_hits):
        out = d.step(np.concatenate([first, second + 2.0 * k]), np.ones(2))
        assert out.track_id.tolist() == ([1, 2] if k == min_hits - 1 else [1])
        assert d.native.live_tracks == 2
    assert out.hits[1] == min_hits


# -- stage 1 without the gate (the default): the bound the native core derives changes nothing -----
@pytest.mark.parametrize("scale", [1.0, 3.0], ids=["unit", "not-normalised"])
@pytest.mark.parametrize("fusion_weight, embedding_thresh", [(0.0, 0.4), (0.5, 0.99), (0.98, 0.4), (0.999, 0.2),
                                                             (1.0, 0.4)])
def test_ungated_embedding_stage_same_tracks(fusion_weight, embedding_thresh, scale):
    """Without the chi^2 gate the native core skips the pairs whose Mahalanobis^2 alone rules them out
    (the cosine part cannot go below 1 - |t| |e|): with unit and with non-normalised embeddings
    (|e| = 3, so costs can go negative) the tracks stay the Python core's."""
    frames = _scene(num_objects=40, num_frames=50, seed=12, embedding_dim=16)
    d = Differ(TrackerOptions(fusion_weight=fusion_weight, embedding_thresh=embedding_thresh))
    for f in frames:
        emb = check_embeddings(f.det_embeddings, len(f.det_scores), None) * np.float32(scale)
        d.step(f.det_xyxy, f.det_scores, emb)
    assert d.tracks > 0 and d.max_box_diff <= TIGHT_BOX_TOL


# -- camera motion ------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [TrackerOptions(), LEGACY], ids=["defaults", "legacy"])
@pytest.mark.parametrize("embeddings", [False, True], ids=["motion", "embeddings"])
def test_camera_warps_between_frames_same_tracks(options, embeddings):
    frames = _scene(num_objects=40, num_frames=80, seed=11, embedding_dim=32 if embeddings else 0)
    d = _run(options, frames, embeddings, warps=5)
    assert d.tracks > 0


def test_identity_warp_changes_nothing():
    a, b = NativeAssociationCore(TrackerOptions()), NativeAssociationCore(TrackerOptions())
    identity = np.array([[1.0, -0.0, 0.0], [0.0, 1.0, -0.0]])  # signed zeros: still the identity
    for f in SCENE[:20]:
        b.apply_camera_motion(identity)
        ta, tb = a.step(f.det_xyxy, f.det_scores, None, None), b.step(f.det_xyxy, f.det_scores, None, None)
        np.testing.assert_array_equal(ta.track_id, tb.track_id)
        np.testing.assert_array_equal(ta.xyxy, tb.xyxy)  # bit for bit


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(warps=True))
def test_random_streams_with_camera_warps_same_tracks(stream):
    options, frames = stream
    run_stream(Differ(options), frames)


@pytest.mark.parametrize("warp, match", [
    (np.eye(3), "(2, 3)"), (np.zeros(6), "(2, 3)"), ("identity", "(2, 3)"), ([[1, 0], [0, 1]], "(2, 3)"),
    ([[1.0, 0.0, np.nan], [0.0, 1.0, 0.0]], "finite"), ([[1.0, 0.0, 0.0], [0.0, np.inf, 0.0]], "finite"),
    ([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]], "det R > 0"), ([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "det R > 0"),
])
def test_bad_warps_are_refused_and_change_nothing(warp, match):
    tested, control = NativeAssociationCore(TrackerOptions()), NativeAssociationCore(TrackerOptions())
    for f in SCENE[:5]:
        tested.step(f.det_xyxy, f.det_scores, None, None)
        control.step(f.det_xyxy, f.det_scores, None, None)
    with pytest.raises(ValueError, match=r"^warp: .*" + match.replace("(", r"\(").replace(")", r"\)")):
        tested.apply_camera_motion(warp)
    for f in SCENE[5:15]:
        a = tested.step(f.det_xyxy, f.det_scores, None, None)
        b = control.step(f.det_xyxy, f.det_scores, None, None)
        np.testing.assert_array_equal(a.track_id, b.track_id)
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
