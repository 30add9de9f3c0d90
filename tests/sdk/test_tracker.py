"""Behaviour of Tracker.update_detections: IDs, lifecycle, cascade stages, classes, memory."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from mottrack_sdk import Track, Tracker, TrackerOptions, TrackState
from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions

# Every behaviour test takes the `core` fixture (tests/sdk/conftest.py): Python and, when built, native.


def box(x: float, y: float = 100.0, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [x, y, x + w, y + h]


def ids(tracks: list[Track]) -> list[int]:
    return sorted(t.track_id for t in tracks)


def test_ids_start_at_one_per_instance_and_reset_restarts(core):
    a, b = Tracker(core=core), Tracker(core=core)
    out_a = a.update_detections([box(0), box(200)], [0.9, 0.9])
    out_b = b.update_detections([box(500)], [0.9])
    assert ids(out_a) == [1, 2] and ids(out_b) == [1]  # no class-level counter
    a.reset()
    assert a.frame_id == 0
    assert ids(a.update_detections([box(300)], [0.9])) == [1]


def test_track_fields_are_plain_data(core):
    t = Tracker(core=core).update_detections([box(10, 20, 30, 60)], [0.8], classes=[3])[0]
    assert isinstance(t, Track) and t.track_id == 1 and t.class_id == 3 and t.state is TrackState.TRACKED
    assert t.xyxy == pytest.approx((10, 20, 40, 80)) and t.tlwh == pytest.approx((10, 20, 30, 60))
    assert t.score == pytest.approx(0.8) and t.hits == 1 and t.age == 0
    assert all(isinstance(v, float) for v in t.xyxy)


def test_constant_velocity_track_keeps_its_id_through_misses(core):
    tr = Tracker(core=core)
    seen = []
    for f in range(40):
        dets = [] if f in (15, 16, 17) else [box(100 + 4 * f)]
        out = tr.update_detections(np.array(dets).reshape(-1, 4), [0.9] * len(dets))
        seen += ids(out)
    assert set(seen) == {1}
    assert len(seen) == 37


def test_new_tracks_need_a_second_match_after_the_first_frame(core):
    tr = Tracker(TrackerOptions.for_model(), core=core)  # JDE's two-hit birth (defaults: min_hits 4)
    tr.update_detections([box(0)], [0.9])
    assert ids(tr.update_detections([box(2), box(600)], [0.9, 0.9])) == [1]  # 600: tentative
    assert ids(tr.update_detections([box(4), box(602)], [0.9, 0.9])) == [1, 2]


def test_low_score_detections_continue_tracks_but_never_start_them(core):
    tr = Tracker(TrackerOptions.for_model(det_thresh=0.5, low_score_thresh=0.1), core=core)
    tr.update_detections([box(0)], [0.9])
    out = tr.update_detections([box(3), box(700)], [0.3, 0.3])
    assert ids(out) == [1] and out[0].score == pytest.approx(0.3)
    for _ in range(3):
        out = tr.update_detections([box(700)], [0.3])
    assert out == []  # the lone low-score box never became a track


def test_rescue_off_loses_the_track(core):
    tr = Tracker(TrackerOptions.for_model(low_score_thresh=None), core=core)
    tr.update_detections([box(0)], [0.9])
    assert tr.update_detections([box(3)], [0.3]) == []


def test_a_track_never_takes_a_detection_of_another_class(core):
    tr = Tracker(TrackerOptions.for_model(), core=core)
    tr.update_detections([box(0)], [0.9], classes=[0])
    out = tr.update_detections([box(1)], [0.9], classes=[1])
    assert out == []  # the class-1 box is a new tentative track, track 1 is lost
    out = tr.update_detections([box(2)], [0.9], classes=[1])
    assert [(t.track_id, t.class_id) for t in out] == [(2, 1)]


def test_lost_tracks_are_re_identified_by_appearance_after_a_jump(core):
    rng = np.random.default_rng(0)
    e1, e2 = rng.normal(size=(2, 64))
    tr = Tracker(core=core)
    for f in range(5):
        tr.update_detections([box(100 + f), box(900 + f)], [0.9, 0.9], [e1, e2])
    for _ in range(5):  # both occluded
        tr.update_detections(np.zeros((0, 4)), [], np.zeros((0, 64)))
    # they reappear swapped in order and moved, close enough for the gate but with no IoU to the prediction
    out = tr.update_detections([box(960), box(160)], [0.9, 0.9], [e2, e1])
    assert len(out) == 2
    assert {t.track_id for t in out if t.xyxy[0] > 500} == {2}
    assert {t.track_id for t in out if t.xyxy[0] < 500} == {1}


def test_lost_buffer_scales_with_frame_rate(core):
    def frames_kept(frame_rate: float) -> int:
        tr = Tracker(core=core, frame_rate=frame_rate, track_buffer=30)
        tr.update_detections([box(0)], [0.9])
        n = 0
        while tr._core.live_tracks and n < 500:
            tr.update_detections(np.zeros((0, 4)), [])
            n += 1
        return n

    assert frames_kept(30.0) == 31
    assert frames_kept(60.0) == 61
    assert TrackerOptions(frame_rate=15.0).max_time_lost == 15


def test_memory_stays_bounded_on_an_endless_stream(core):
    scene = DetectionScene(DetectionSceneOptions(num_objects=5, num_frames=20_000, embedding_dim=0,
                                                 max_speed=12.0, seed=3))
    tr = Tracker(core=core)
    sizes, max_id = [], 0
    for fr in scene:
        out = tr.update_detections_arrays(fr.det_xyxy, fr.det_scores)
        max_id = max(max_id, int(out.track_id.max(initial=0)))
        if fr.frame % 1000 == 0:
            sizes.append(tr._core.live_tracks)
    assert max_id > 200  # many identities came and went
    assert max(sizes) < 5 * 5 + 20  # live tracks stay near the number of objects present


def test_thousands_of_detections_work(core):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 4000, (3000, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 60, (3000, 2))], axis=1)
    tr = Tracker(core=core, max_aspect_ratio=None, min_box_area=0, max_detections=3000)
    tr.update_detections(boxes, np.full(3000, 0.9))
    out = tr.update_detections(boxes + 0.5, np.full(3000, 0.9))
    assert len(out) == 3000 and len({t.track_id for t in out}) == 3000


def test_a_frame_over_max_detections_keeps_the_best_and_warns_once(core):
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 4000, (1500, 2))
    boxes = np.concatenate([xy, xy + 40], axis=1)
    scores = rng.uniform(0.5, 1.0, 1500)
    tr = Tracker(core=core, max_aspect_ratio=None, min_box_area=0, det_thresh=0.5)
    with pytest.warns(RuntimeWarning, match="1500 detections: the tracker keeps the 1000 highest scores"):
        out = tr.update_detections(boxes, scores)
    assert len(out) == 1000 and min(t.score for t in out) >= np.sort(scores)[-1000]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per tracker
        tr.update_detections(boxes, scores)


def test_empty_inputs_give_empty_results(core):
    tr = Tracker(core=core)
    assert tr.update_detections([], []) == []
    assert tr.update_detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 128)), np.zeros(0, int)) == []
    assert tr.frame_id == 2


def test_output_filter_drops_small_and_wide_boxes_without_touching_state(core):
    tr = Tracker(core=core, min_box_area=100, max_aspect_ratio=1.6)
    out = tr.update_detections([box(0, w=5, h=5), box(100, w=200, h=50), box(400)], [0.9, 0.9, 0.9])
    assert [t.xyxy[0] for t in out] == [400]
    assert tr._core.live_tracks == 3


def test_synthetic_scene_is_tracked_with_few_id_switches(core):
    scene = DetectionScene(DetectionSceneOptions(num_objects=20, num_frames=200, seed=11))
    tr = Tracker(core=core)
    switches, last = 0, {}
    for fr in scene:
        ft = tr.update_detections_arrays(fr.det_xyxy, fr.det_scores, fr.det_embeddings)
        # map each output track to the gt id of the detection it sits on (nearest box centre)
        if len(ft.track_id) == 0 or len(fr.gt_ids) == 0:
            continue
        c_t = (ft.xyxy[:, :2] + ft.xyxy[:, 2:]) / 2
        c_g = (fr.gt_xyxy[:, :2] + fr.gt_xyxy[:, 2:]) / 2
        near = np.linalg.norm(c_t[:, None] - c_g[None], axis=2).argmin(axis=1)
        for tid, g in zip(ft.track_id.tolist(), fr.gt_ids[near].tolist()):
            switches += last.get(g, tid) != tid
            last[g] = tid
    assert switches < 15
