"""``mottrack pseudo-label`` (mottrack_training.distill): fusion, identities, ignore regions, MOT layout,
determinism, resume, errors, and the real teachers on a few shared frames (skipped when absent)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mottrack_sdk.io import read_mot_txt, read_seqinfo
from mottrack_training.distill import (LabelThresholds, PseudoLabelOptions, SequenceLabeler, parse_teacher_specs,
                                       pseudo_label, weighted_box_fusion)
from mottrack_training.distill.sources import resolve_sources, sanitize_name
from pseudo_label_fakes import BlockTeacher, dets, make_frames, run

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


# ---------------------------------------------------------------- weighted box fusion (hand-made clusters)

def test_wbf_two_models_agree_score_weighted_box_and_mean_of_best_scores():
    fused = weighted_box_fusion([dets([[0, 0, 10, 20]], [0.9]), dets([[1, 1, 11, 21]], [0.6])], 0.55)
    assert len(fused) == 1 and fused.support.tolist() == [2]
    np.testing.assert_allclose(fused.xyxy[0], (0.9 * np.array([0, 0, 10, 20]) + 0.6 * np.array([1, 1, 11, 21])) / 1.5,
                               rtol=1e-6)
    assert fused.scores[0] == pytest.approx((0.9 + 0.6) / 2)


def test_wbf_one_model_of_three_keeps_a_third_and_a_models_second_box_moves_only_the_box():
    a = dets([[0, 0, 10, 20], [0, 1, 10, 21]], [0.9, 0.3])  # model 0: two boxes on one person
    fused = weighted_box_fusion([a, dets([], []), dets([[50, 50, 60, 70]], [0.6])], 0.55)
    assert fused.scores.tolist() == pytest.approx([0.9 / 3, 0.6 / 3])  # best of model 0 only, / 3 models
    np.testing.assert_allclose(fused.xyxy[0], [0, 0.25, 10, 20.25], rtol=1e-6)  # (0.9*y + 0.3*(y+1)) / 1.2
    assert fused.support.tolist() == [1, 1]


def test_wbf_iou_must_exceed_threshold_and_output_is_sorted_by_score():
    # IoU([0,0,10,10], [5,0,15,10]) = 1/3: separate at 0.55, one cluster at 0.3
    per_model = [dets([[0, 0, 10, 10]], [0.5]), dets([[5, 0, 15, 10]], [0.8])]
    apart = weighted_box_fusion(per_model, 0.55)
    assert apart.scores.tolist() == pytest.approx([0.4, 0.25])
    np.testing.assert_allclose(apart.xyxy[0], [5, 0, 15, 10])
    assert len(weighted_box_fusion(per_model, 0.3)) == 1
    assert len(weighted_box_fusion(per_model, 1 / 3)) == 2  # equal IoU does not join


def test_wbf_weights_empty_and_errors():
    per_model = [dets([[0, 0, 10, 10]], [1.0]), dets([], [])]
    assert weighted_box_fusion(per_model, weights=[3, 1]).scores[0] == pytest.approx(0.75)
    empty = weighted_box_fusion([dets([], []), dets([], [])])
    assert empty.xyxy.shape == (0, 4) and empty.scores.dtype == np.float32
    with pytest.raises(ValueError, match="at least one"):
        weighted_box_fusion([])
    with pytest.raises(ValueError, match="weights"):
        weighted_box_fusion(per_model, weights=[1])
    with pytest.raises(ValueError, match="iou_threshold"):
        weighted_box_fusion(per_model, 1.0)


# ---------------------------------------------------------------- identities and ignore regions

def test_labeler_links_a_track_from_its_first_box_gives_fresh_ids_and_ignores_uncertain_boxes():
    lab = SequenceLabeler(LabelThresholds(high=0.5, low=0.2), "video", frame_rate=10)
    for f in range(1, 7):
        boxes = [[10 + 4 * f, 10, 40 + 4 * f, 80], [200, 10, 230, 80], [300, 10, 330, 80]]
        scores = [0.9, 0.3, 0.1]  # positive, ignore region, background
        if f == 3:
            boxes.append([400, 10, 430, 80])
            scores.append(0.8)  # a person in one frame only
        lab.add(f, np.array(boxes), np.array(scores))
    rows = lab.rows()
    walker = rows.xyxy[:, 1] == 10
    pos = (rows.conf == 1) & (rows.xyxy[:, 0] < 100)
    assert rows.frame[pos].tolist() == [1, 2, 3, 4, 5, 6] and set(rows.track_id[pos].tolist()) == {1}
    ignore = rows.conf == 0
    assert ignore.sum() == 6 and np.all(rows.xyxy[ignore, 0] == 200)
    single = rows.xyxy[:, 0] == 400
    assert rows.conf[single].tolist() == [1] and rows.track_id[single][0] > 1
    assert not np.any(rows.xyxy[:, 0] == 300) and walker.all()
    for f in range(1, 7):  # an id appears at most once per frame (MOTChallenge rule)
        ids = rows.track_id[rows.frame == f]
        assert len(ids) == len(set(ids.tolist()))
    counts = lab.counts()
    assert counts["boxes"] == 7 and counts["ignore_boxes"] == 6 and counts["tracked_identities"] == 1
    assert counts["untracked_boxes"] == 1


def test_labeler_stills_give_every_box_its_own_id_and_thresholds_are_checked():
    lab = SequenceLabeler(LabelThresholds(0.5, 0.2), "stills")
    for f in (1, 2):
        lab.add(f, np.array([[0, 0, 10, 20], [50, 0, 60, 20]]), np.array([0.9, 0.3]))
    rows = lab.rows()
    assert sorted(rows.track_id.tolist()) == [1, 2, 3, 4] and rows.conf.tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="--low"):
        LabelThresholds(high=0.3, low=0.5)


# ---------------------------------------------------------------- the whole command with a fake teacher

def test_writes_mot_layout_that_the_training_loader_reads(tmp_path, teacher_file):
    src = make_frames(tmp_path / "cam 1")
    out = tmp_path / "dataset"
    (report,) = run([src], out, teacher_file, licence="CC BY 4.0")
    seq = out / "cam_1"
    assert report.sequence == seq and report.counts["boxes"] == 6 and report.counts["ignore_boxes"] == 6
    assert sorted(p.name for p in (seq / "img1").iterdir()) == [f"{f:06d}.jpg" for f in range(1, 7)]
    info = read_seqinfo(seq)
    assert (info.name, info.seq_length, info.im_width, info.im_height, info.frame_rate) == ("cam_1", 6, 128, 96, 30)
    gt = read_mot_txt(seq / "gt" / "gt.txt")
    assert set(gt.class_id.tolist()) == {1} and set(gt.visibility.tolist()) == {1.0}
    assert sorted(set(gt.track_id[gt.conf == 1].tolist())) == [1]  # one identity, frames 1-6
    np.testing.assert_allclose(gt.tlwh[(gt.conf == 0)][0], [95, 20, 20, 40])
    meta = (seq / "pseudo_label.json").read_text()
    assert '"licence": "CC BY 4.0"' in meta and '"complete": true' in meta

    pytest.importorskip("torch")
    from mottrack_training.data.mot import MotSequenceDataset

    data = MotSequenceDataset(out)
    assert len(data.records) == 6 and data.num_identities == 1
    assert all(len(r.labels) == 1 for r in data.records)  # ignore regions are not targets


def test_deterministic_and_resumable(tmp_path, teacher_file):
    src = make_frames(tmp_path / "cam")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    for path in sorted(src.iterdir()):
        writer.write(cv2.imread(str(path)))
    writer.release()
    a, b = tmp_path / "a", tmp_path / "b"
    run([src, video], a, teacher_file, stride=2)
    run([src, video], b, teacher_file, stride=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 2 * (3 + 3) and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert read_seqinfo(a / "clip").frame_rate == 5  # 10 fps, every 2nd frame

    stamp = (a / "clip" / "gt" / "gt.txt").stat().st_mtime_ns
    (a / ".cam.partial" / "img1").mkdir(parents=True)  # left by an interrupted run
    reports = run([src, video], a, teacher_file, stride=2)
    assert [r.skipped for r in reports] == [True, True] and (a / "clip" / "gt" / "gt.txt").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other settings"):
        run([video], a, teacher_file, stride=1)
    (report,) = run([video], a, teacher_file, stride=1, overwrite=True)
    assert not report.skipped and report.counts["frames"] == 6


def test_interrupted_sequence_leaves_nothing_and_is_redone(tmp_path, teacher_file):
    src = make_frames(tmp_path / "cam")

    class Crash(BlockTeacher):
        def _detect(self, frame_bgr):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pseudo_label([str(src)], tmp_path / "out", PseudoLabelOptions(), progress=False, log=lambda _: None,
                     teachers=[Crash(teacher_file, (64, 64))])
    assert not (tmp_path / "out").exists()  # the sequence went, and so did the empty --out this run made
    (report,) = run([src], tmp_path / "out", teacher_file)
    assert not report.skipped and report.counts["frames"] == 6


def test_multi_scale_teacher_is_one_teacher_merged_by_nms(tmp_path, teacher_file):
    from mottrack_training.distill import MultiScaleTeacher

    (spec,) = parse_teacher_specs("pd0200@960x544+512x288")
    assert spec.input_sizes == ((960, 544), (512, 288)) and spec.label == "pd0200@960x544+512x288"
    image = np.zeros((96, 128, 3), np.uint8)
    image[20:70, 10:30] = 255
    both = MultiScaleTeacher([BlockTeacher(teacher_file, (128, 96)), BlockTeacher(teacher_file, (64, 48))])
    found = both.detect(image)
    assert len(found) == 1 and found.scores.tolist() == pytest.approx([0.9])
    assert both.describe()["input_size"] == "128x96+64x48"
    with pytest.raises(ValueError, match="same size twice"):
        parse_teacher_specs("yolox@640x352+640x352")


def test_sources_names_and_modes(tmp_path):
    numbered = make_frames(tmp_path / "street" / "img1", n=3)
    stills = make_frames(tmp_path / "photos", n=3, names=["beach.png", "park.png", "zoo.png"])
    video = tmp_path / "street.mp4"
    video.write_bytes(b"")
    other = make_frames(tmp_path / "elsewhere" / "photos", n=2, names=["a.png", "b.png"])  # another folder
    got = resolve_sources([numbered, stills, video, other])
    assert [(s.name, s.mode) for s in got] == [("street", "video"), ("photos", "stills"), ("street-mp4", "video"),
                                                ("photos-2", "stills")]
    assert resolve_sources([numbered], stills=True)[0].mode == "stills"
    assert resolve_sources([video], existing={"street": "/else/where"})[0].name == "street-mp4"
    assert sanitize_name("../../etc/passwd") == "_.._etc_passwd" and sanitize_name("..") == "sequence"
    assert sanitize_name("cam 1 (north)") == "cam_1__north_"


def test_bad_input_errors_name_the_argument(tmp_path, teacher_file):
    src = make_frames(tmp_path / "cam", n=2)
    with pytest.raises(ValueError, match="SOURCE .*missing"):
        run([tmp_path / "missing.mp4"], tmp_path / "out", teacher_file)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="SOURCE .*no images"):
        run([tmp_path / "empty"], tmp_path / "out", teacher_file)
    with pytest.raises(ValueError, match="--teachers: unknown teacher 'rcnn'"):
        parse_teacher_specs("pd0200@960x544,rcnn")
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_teacher_specs("yolox@960")
    with pytest.raises(ValueError, match="--stride"):
        PseudoLabelOptions(stride=0)
    with pytest.raises(ValueError, match="--teacher-dir"):
        pseudo_label([str(src)], tmp_path / "out", PseudoLabelOptions(teacher_dir=tmp_path / "nowhere"))
    (tmp_path / "out" / "cam").mkdir(parents=True)  # not made by this tool: never overwritten
    with pytest.raises(ValueError, match="not a finished pseudo-labelled sequence"):
        run([src], tmp_path / "out", teacher_file)
    mixed = make_frames(tmp_path / "mixed", n=1, names=["a.png"])
    cv2.imwrite(str(mixed / "b.png"), np.zeros((50, 60, 3), np.uint8))
    with pytest.raises(ValueError, match="image b.png is 60x50 but the first frame is 128x96"):  # before labelling
        run([mixed], tmp_path / "out3", teacher_file)
    assert not (tmp_path / "out3" / "mixed").exists()


def test_a_teacher_file_that_is_no_model_fails_before_any_output(tmp_path, teacher_file):
    """The teachers open before the first sequence: a corrupt model file is one ValueError naming
    ``--teachers`` and the file (whatever the runtime raised), and no ``--out`` folder is left."""
    class BrokenTeacher(BlockTeacher):
        def _load(self) -> None:
            raise RuntimeError("Exception from src/inference: cannot parse\nmore lines")

    src = make_frames(tmp_path / "cam", n=2)
    with pytest.raises(ValueError, match=r"^--teachers: teacher model .*fake.onnx: fake cannot open it "
                                         r"\(RuntimeError: Exception from src/inference: cannot parse\)$"):
        pseudo_label([str(src)], tmp_path / "out", PseudoLabelOptions(), progress=False, log=lambda _: None,
                     teachers=[BrokenTeacher(teacher_file, (128, 96), name="broken")])
    assert not (tmp_path / "out").exists()
    run([src], tmp_path / "out", teacher_file)  # an --out that existed before a failure is kept
    with pytest.raises(ValueError, match="--teachers"):
        pseudo_label([str(src)], tmp_path / "out", PseudoLabelOptions(overwrite=True), progress=False,
                     log=lambda _: None, teachers=[BrokenTeacher(teacher_file, (128, 96))])
    assert (tmp_path / "out" / "cam" / "gt" / "gt.txt").is_file()


def test_cli_prints_errors_in_one_line(tmp_path, capsys):
    from mottrack_sdk.cli.main import main

    assert main(["pseudo-label", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mottrack pseudo-label: error: SOURCE") and "\n" not in err


def test_every_distill_module_imports_without_the_teacher_runtimes_or_torch():
    import pkgutil
    import subprocess
    import sys

    import mottrack_training.distill as distill

    names = [m.name for m in pkgutil.walk_packages(distill.__path__, "mottrack_training.distill.")]
    assert "mottrack_training.distill.teachers" in names
    code = "import sys\n" + "\n".join(f"import {n}" for n in names) + "\nprint(' '.join(m for m in " \
           "('openvino', 'onnx', 'onnxruntime', 'torch', 'cv2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


# ---------------------------------------------------------------- the real teachers (shared data)

def _isolated(nodeid: str) -> bool:
    """Run test ``nodeid`` in a fresh interpreter and return True (the caller returns), unless this is
    that interpreter. OpenVINO's thread pool, once loaded in the pytest process, made a later fork()
    (a DataLoader worker in the training tests) crash the whole pytest process with a segfault."""
    if os.environ.get("MOTTRACK_ISOLATED_TEST") == nodeid:
        return False
    env = {**os.environ, "MOTTRACK_ISOLATED_TEST": nodeid}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::{nodeid}"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    return True


@pytest.mark.integration
def test_real_teachers_find_the_people_of_mot17_mini_frames():
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed (pip install 'mottrack-sdk[distill]')")
    seq = SHARED / "data" / "MOT17-mini" / "train" / "MOT17-04-FRCNN"
    if not (SHARED / "models" / "teachers").is_dir() or not seq.is_dir():
        pytest.skip(f"teachers / MOT17-mini not found under {SHARED} (they live in ../shared beside the repo)")
    if _isolated("test_real_teachers_find_the_people_of_mot17_mini_frames"):
        return
    from mottrack_sdk.tracking.matching import iou_matrix
    from mottrack_training.distill import build_teachers

    teachers = build_teachers(parse_teacher_specs("pd0200@640x352,pd0201@640x352,yolox@640x352"), threads=2)
    image_path = sorted((seq / "img1").glob("*.jpg"))[0]
    image = cv2.imread(str(image_path))
    gt = read_mot_txt(seq / "gt" / "gt.txt").at_frame(int(image_path.stem))
    gt_boxes = gt.xyxy[(gt.conf == 1) & (gt.class_id == 1) & (gt.visibility >= 0.5) & (gt.tlwh[:, 3] > 120)]
    per_model = [t.detect(image) for t in teachers]
    for t, d in zip(teachers, per_model):
        t.close()
        found = iou_matrix(gt_boxes, d.xyxy[d.scores > 0.5].astype(np.float64)).max(1) >= 0.5
        assert found.mean() >= 0.6, f"{t.name} found {found.sum()} of {len(gt_boxes)} tall people"
        assert d.xyxy.dtype == np.float32 and (d.xyxy[:, 2:] <= [image.shape[1], image.shape[0]]).all()
    fused = weighted_box_fusion(per_model, 0.55)
    hits = iou_matrix(gt_boxes, fused.xyxy[fused.scores >= 0.4].astype(np.float64)).max(1) >= 0.5
    assert len(gt_boxes) >= 20 and hits.mean() >= 0.8  # measured 0.88 (teachers alone 0.68-0.84)


@pytest.mark.integration
def test_reid_teacher_embeds_crops():
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed (pip install 'mottrack-sdk[distill]')")
    from mottrack_training.distill.reid import DEFAULT_REID, ReidEmbedder

    model = SHARED / "models" / "reid" / DEFAULT_REID
    if not model.is_file():
        pytest.skip(f"re-ID model not found at {model} (it lives in ../shared beside the repo)")
    if _isolated("test_reid_teacher_embeds_crops"):
        return
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    emb = ReidEmbedder(model, threads=1).embed(frame, np.array([[10, 10, 50, 110], [10, 10, 50, 110], [100, 0, 160, 120]]))
    assert emb.shape == (3, 256) and emb.dtype == np.float32
    np.testing.assert_allclose(emb[0], emb[1])
