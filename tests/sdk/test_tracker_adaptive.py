"""Issue-13 tracker options: adaptive score thresholds, birth hysteresis, model defaults, CMC hook."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mottrack_sdk import Tracker, TrackerOptions
from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions
from mottrack_sdk.tracking.options import MODEL_BASE


def box(x: float, y: float = 100.0, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [x, y, x + w, y + h]


def _run(tracker: Tracker, frames, transform=lambda s: s) -> list[tuple]:
    out = []
    for xyxy, scores in frames:
        ft = tracker.update_detections_arrays(xyxy, transform(scores))
        out.append((ft.track_id.tolist(), np.round(ft.xyxy, 6).tolist()))
    return out


def _scene(n: int = 30, frames: int = 120):
    scene = DetectionScene(DetectionSceneOptions(num_objects=n, num_frames=frames, seed=4))
    return [(fr.det_xyxy, fr.det_scores) for fr in scene]


def test_adaptive_thresholds_give_the_same_tracks_for_any_monotone_score_scale(core):
    frames = _scene()
    base = _run(Tracker(core=core), frames)
    assert sum(len(ids) for ids, _ in base) > 500
    for transform in (lambda s: 1 / (1 + np.exp(-(8 * s - 3))), lambda s: 100.0 * s - 40.0, lambda s: s ** 3):
        assert _run(Tracker(core=core), frames, transform) == base


def test_fixed_thresholds_depend_on_the_scale(core):
    frames = _scene()
    fixed = TrackerOptions(det_quantile=None)
    base = _run(Tracker(fixed, core=core), frames)
    assert _run(Tracker(fixed, core=core), frames, lambda s: s ** 3) != base


def test_quantile_threshold_is_an_order_statistic_of_the_window(core):
    # window of 4 scores; det_quantile 0.5 -> element int(0.5 * 3) = 1 of the sorted window
    opts = TrackerOptions(det_quantile=0.5, score_window=4, min_hits=2, low_score_thresh=None)
    tr = Tracker(opts, core=core)
    # frame 1: scores [0.1, 0.2, 0.3, 0.4] -> threshold 0.2: three tracks start (first frame: confirmed)
    out = tr.update_detections([box(0), box(100), box(200), box(300)], [0.1, 0.2, 0.3, 0.4])
    assert len(out) == 3
    # frame 2: the window now holds [0.35, 8, 9, 10] -> threshold 8: the score-0.35 box is low and
    # (rescue off) cannot continue track 3; score 8 continues track 2; 9 and 10 start candidates
    out = tr.update_detections([box(300), box(200), box(600), box(700)], [0.35, 8.0, 9.0, 10.0])
    assert [t.track_id for t in out] == [2]


def test_min_hits_delays_confirmation_and_one_miss_drops_the_candidate(core):
    tr = Tracker(TrackerOptions(min_hits=4, det_quantile=None), core=core)
    tr.update_detections(np.zeros((0, 4)), np.zeros(0))  # not the first frame any more
    for k in range(3):
        assert tr.update_detections([box(10 + k)], [0.9]) == []
    assert [t.track_id for t in tr.update_detections([box(13)], [0.9])] == [1]  # 4th hit
    tr.update_detections([box(400)], [0.9])
    tr.update_detections([box(401)], [0.9])
    tr.update_detections(np.zeros((0, 4)), np.zeros(0))  # missed: the candidate is dropped
    assert tr.update_detections([box(402)], [0.9]) == []


def test_options_validate_the_new_fields():
    for bad in ({"min_hits": 1}, {"min_hits": 2.0}, {"score_window": 0}, {"score_window": 2**21},
                {"det_quantile": 1.5}, {"det_quantile": float("nan")}, {"low_score_quantile": -0.1},
                {"det_quantile": 0.1, "low_score_quantile": 0.2}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrackerOptions(**bad)
    assert TrackerOptions(det_quantile=None, low_score_quantile=0.9).det_quantile is None


def test_model_options_are_the_fixed_jde_cascade():
    opts = TrackerOptions.for_model(det_thresh=0.6)
    assert opts.det_quantile is None and opts.min_hits == 2 and opts.gating is True and opts.det_thresh == 0.6
    assert TrackerOptions.for_model() == TrackerOptions(det_quantile=None, min_hits=2, gating=True)
    assert set(MODEL_BASE) == {"det_quantile", "min_hits", "gating"}


def test_a_failed_frame_leaves_the_score_window_unchanged(core):
    frames = _scene(10, 40)
    a, b = Tracker(core=core), Tracker(core=core)
    for k, (xyxy, scores) in enumerate(frames):
        if k == 20:
            with pytest.raises(ValueError):
                a.update_detections(xyxy, np.full(len(scores) + 1, 5.0))  # wrong length: refused
        assert _run(a, [(xyxy, scores)]) == _run(b, [(xyxy, scores)])


def test_cmc_argument_is_checked():
    for bad in ("on", 1, None):
        with pytest.raises(ValueError, match="cmc"):
            Tracker(cmc=bad)


def test_update_detections_with_frames_compensates_camera_shake(core):
    """The view jumps by up to 32 px between frames (a shaking camera); a person standing still in
    the world jumps with it in the image. Without CMC the constant-velocity prediction loses them
    (new ids); with frames given, the estimated shake moves the track and the id stays."""
    rng = np.random.default_rng(0)
    texture = (rng.random((70, 170)) * 255).astype(np.uint8)
    texture = cv2.resize(texture, (1020, 420), interpolation=cv2.INTER_NEAREST)
    shifts = [0, 30, -2, 32, -28, 6, 31, -30, 0, 29, -31, 3]
    results = {}
    for cmc in ("off", "auto"):
        tr = Tracker(TrackerOptions(min_hits=2, det_quantile=None), core=core, cmc=cmc)
        seen, offset = [], 0
        for shift in shifts:
            offset += shift
            frame = np.dstack([np.ascontiguousarray(texture[30:390, 200 - offset:200 - offset + 640])] * 3)
            out = tr.update_detections(np.array([box(300 + offset, 100, 40, 100)]), np.array([0.9]),
                                       frame=frame if cmc != "off" else None)
            seen += [t.track_id for t in out]
        results[cmc] = set(seen)
    assert results["auto"] == {1}
    assert len(results["off"]) > 1


def test_a_bad_frame_is_refused_before_anything_changes(core):
    tr = Tracker(core=core)
    tr.update_detections([box(0)], [0.9], frame=np.zeros((120, 160, 3), np.uint8))
    for bad in (np.zeros((120, 160, 4), np.uint8), np.zeros((120, 160, 3), np.float32), "frame.jpg"):
        with pytest.raises(ValueError, match="frame"):
            tr.update_detections([box(2)], [0.9], frame=bad)
    assert tr.frame_id == 1 and tr.last_camera_warp is not None
    with pytest.raises(ValueError, match="boxes"):  # boxes are checked before the frame is looked at
        tr.update_detections([[5, 5, 1, 1]], [0.9], frame=np.zeros((120, 160, 3), np.uint8))
    assert tr.frame_id == 1


def test_a_det_thresh_keyword_means_fixed_thresholds():
    assert Tracker().options.det_quantile == 0.15
    assert Tracker(det_thresh=0.4).options.det_quantile is None
    assert Tracker(det_thresh=0.4, det_quantile=0.2).options.det_quantile == 0.2
    assert Tracker(TrackerOptions(det_thresh=0.4)).options.det_quantile == 0.15  # explicit options: as given


# -- crowd drop (crowd_drop > 0: both thresholds drop in a crowd) -------------------------------
def _crowd_frame(confident: int, extra_score: float):
    """``confident`` boxes at 0.9 in a row, then one box of ``extra_score``: (xyxy, scores)."""
    boxes = [box(100.0 * k) for k in range(confident + 1)]
    return np.array(boxes), np.array([0.9] * confident + [extra_score])


@pytest.mark.parametrize("confident, extra_score, tracks", [
    (2, 0.45, 2),   # mean 2 <= crowd_low: no drop, 0.45 < 0.5
    (6, 0.45, 7),   # mean 6 >= crowd_high: the whole 0.1 drop, 0.45 >= 0.4 starts a track
    (4, 0.46, 5),   # half way: 0.05, 0.46 >= 0.45
    (4, 0.44, 4),   # half way, 0.44 < 0.45
])
def test_crowd_drop_lowers_the_threshold_by_the_crowd_ramp(core, confident, extra_score, tracks):
    opts = TrackerOptions(det_quantile=None, det_thresh=0.5, low_score_thresh=None, min_hits=2,
                          crowd_drop=0.1, crowd_low=2.0, crowd_high=6.0, crowd_frames=1)
    out = Tracker(opts, core=core).update_detections(*_crowd_frame(confident, extra_score))
    assert len(out) == tracks  # the first frame confirms every track it starts
    assert len(Tracker(opts.replace(crowd_drop=0.0), core=core).update_detections(
        *_crowd_frame(confident, extra_score))) == confident


def test_crowd_drop_follows_the_mean_count_over_crowd_frames():
    from mottrack_sdk.tracking.score_window import ScoreWindow

    opts = TrackerOptions(det_quantile=None, det_thresh=0.5, low_score_thresh=0.2, crowd_drop=0.1,
                          crowd_low=2.0, crowd_high=6.0, crowd_frames=3)
    window = ScoreWindow(opts)
    seen = []
    for confident in (6, 0, 0, 6, 6, 6, 9):  # means 6, 3, 2, 2, 4, 6, 7
        seen.append(window.thresholds(_crowd_frame(confident, 0.1)[1]))
    expected_drop = [0.1, 0.025, 0.0, 0.0, 0.05, 0.1, 0.1]
    np.testing.assert_allclose([hi for hi, _ in seen], [0.5 - d for d in expected_drop], atol=1e-12)
    np.testing.assert_allclose([lo for _, lo in seen], [0.2 - d for d in expected_drop], atol=1e-12)
    state = window.snapshot()
    hi = window.thresholds(_crowd_frame(0, 0.1)[1])  # mean (6 + 9 + 0) / 3 = 5
    window.restore(state)
    assert window.thresholds(_crowd_frame(0, 0.1)[1]) == hi == pytest.approx((0.425, 0.125))


def test_crowd_options_are_checked():
    for bad, name in (({"crowd_drop": 0.1}, "crowd_drop: expected 0 with det_quantile set"),
                      ({"crowd_drop": -0.1, "det_quantile": None}, "crowd_drop"),
                      ({"crowd_low": 5.0, "crowd_high": 5.0}, "crowd_high"),
                      ({"crowd_low": -1.0}, "crowd_low"), ({"crowd_frames": 0}, "crowd_frames"),
                      ({"crowd_frames": 30.0}, "crowd_frames")):
        with pytest.raises(ValueError, match=name):
            TrackerOptions(**bad)
    assert TrackerOptions.for_model(crowd_drop=0.15).crowd_drop == 0.15


def test_a_crowd_drop_keyword_means_fixed_thresholds_too():
    """Like det_thresh, crowd_drop is on the score scale: by keyword (or --set) it implies det_quantile=None."""
    from mottrack_sdk.cli.common import tracker_changes

    assert Tracker(crowd_drop=0.1).options.det_quantile is None
    assert Tracker(crowd_drop=0.0).options.det_quantile == 0.15
    with pytest.raises(ValueError, match="crowd_drop: expected 0 with det_quantile set"):
        Tracker(crowd_drop=0.1, det_quantile=0.2)
    assert tracker_changes(["crowd_drop=0.125"], "--set") == {"crowd_drop": 0.125}
    with pytest.raises(ValueError, match="--set.*crowd_drop"):
        tracker_changes(["crowd_drop=0.125", "det_quantile=0.15"], "--set")
