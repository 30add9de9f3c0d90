"""The train loop: resume equivalence (max_steps stop and a killed process), logs, checkpoints,
validation pieces (NMS, AP50, embedding look-up), run configs and the ``mottrack train`` command."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training component needs PyTorch")

from mottrack_training.engine import (DetectionAP, Trainer, average_precision, load_checkpoint,  # noqa: E402
                                      load_train_options, match_detections, nms, train_options_from_dict)
from mottrack_training.engine.inference import _box_embeddings  # noqa: E402

pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[2]
NO_VAL = {"val": {"every_epochs": 0}}


def _steps(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _losses(rows: list[dict[str, float]]) -> np.ndarray:
    return np.array([[r["step"], r["loss"], r["box"], r["obj"], r["id"], r["lr"]] for r in rows])


def _params(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


# ----------------------------------------------------------------------------------- resume
@pytest.mark.parametrize("id_loss, workers", [("ce", 0), ("ihoim", 1)])
def test_resume_after_a_max_steps_stop_continues_the_loss_curve_exactly(tiny_config, tmp_path, one_thread,
                                                                        id_loss, workers):
    raw = tiny_config(optim={"epochs": 3}, loss={"id_loss": id_loss}, data={"num_workers": workers}, **NO_VAL)
    options = train_options_from_dict(raw)
    full = Trainer(options, out_dir=tmp_path / "full").fit()
    assert [int(s["step"]) for s in full.steps] == list(range(1, 10))  # 12 frames / 2 per batch / 2 = 3 per epoch

    split = tiny_config(optim={"epochs": 3, "max_steps": 4}, loss={"id_loss": id_loss}, data={"num_workers": workers},
                        **NO_VAL)
    stopped = Trainer(train_options_from_dict(split), out_dir=tmp_path / "split").fit()
    assert stopped.stopped_early and len(stopped.steps) == 4  # mid-epoch 2
    state = load_checkpoint(tmp_path / "split" / "last.pt")
    assert (state["epoch"], state["batch_in_epoch"], state["step"]) == (1, 2, 4)
    resumed = Trainer(options, resume=tmp_path / "split" / "last.pt").fit()
    assert [int(s["step"]) for s in resumed.steps] == list(range(5, 10))

    np.testing.assert_allclose(_losses(stopped.steps + resumed.steps), _losses(full.steps), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(_losses(_steps(tmp_path / "split" / "steps.csv")), _losses(full.steps))
    assert [e["loss"] for e in stopped.epochs + resumed.epochs] == [e["loss"] for e in full.epochs]  # epoch means
    a, b = _params(tmp_path / "full" / "last.pt"), _params(tmp_path / "split" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ema_a = load_checkpoint(tmp_path / "full" / "last.pt")["ema"]["model"]
    ema_b = load_checkpoint(tmp_path / "split" / "last.pt")["ema"]["model"]
    assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)


def test_resume_of_a_killed_process_from_its_first_epoch_checkpoint(tiny_config, tmp_path, one_thread):
    """``mottrack train`` in a subprocess is killed once its epoch-1 checkpoint exists; resuming from
    that checkpoint drops the log rows written after it and reproduces the uninterrupted run."""
    import yaml

    raw = tiny_config(optim={"epochs": 4}, **NO_VAL)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw))
    full = Trainer(train_options_from_dict(raw), out_dir=tmp_path / "full").fit()

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mottrack_sdk.cli.main", "train", "--config", str(config), "--out", str(out)]
    log = open(tmp_path / "stderr.txt", "wb")
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log)
    saved = tmp_path / "epoch1.pt"
    try:
        deadline = time.monotonic() + 120
        while not (out / "last.pt").exists():
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        shutil.copy(out / "last.pt", saved)  # the epoch-1 checkpoint (epoch 2 takes far longer than a copy)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()
    state = load_checkpoint(saved)
    assert (state["epoch"], state["batch_in_epoch"], state["step"]) == (1, 0, 3)
    shutil.copy(saved, out / "last.pt")
    resumed = Trainer(train_options_from_dict(raw), out_dir=out, resume=out / "last.pt").fit()
    assert [int(s["step"]) for s in resumed.steps] == list(range(4, 13))
    np.testing.assert_allclose(_losses(_steps(out / "steps.csv")), _losses(full.steps), rtol=0, atol=1e-6)
    epochs = list(csv.DictReader(open(out / "epochs.csv")))
    assert [int(r["epoch"]) for r in epochs] == [1, 2, 3, 4]
    np.testing.assert_allclose([float(r["loss"]) for r in epochs], [e["loss"] for e in full.epochs], atol=1e-6)


def test_a_run_validates_logs_and_writes_checkpoints(tiny_config, tmp_path, one_thread):
    summary = Trainer(train_options_from_dict(tiny_config(optim={"epochs": 1})), out_dir=tmp_path).fit()
    assert {p.name for p in tmp_path.iterdir()} >= {"last.pt", "best.pt", "steps.csv", "epochs.csv", "val"}
    row = summary.epochs[0]
    for key in ("ap50", "hota", "idf1"):
        assert 0.0 <= row[key] <= 100.0
    assert row["mota"] <= 100.0  # MOTA may be negative
    assert (tmp_path / "val" / "epoch_001" / "SYNTH-1-000.txt").is_file()
    state = load_checkpoint(tmp_path / "last.pt")
    assert set(state) >= {"model", "ema", "optimizer", "scheduler", "scaler", "rng", "sampler", "criterion"}
    assert state["best"]["metric"] == "hota" and state["best"]["epoch"] == 1
    header = (tmp_path / "steps.csv").read_text().splitlines()[0]
    assert header == "epoch,step,iteration,lr,loss,box,obj,cls,id,distill,feature,embedding,images_per_s"
    # the saved weights load into a fresh model of the run's config
    from mottrack_training.model import build_model

    model = build_model(state["model_config"]["config"], **state["model_config"]["overrides"])
    model.load_state_dict(state["ema"]["model"])


def test_the_jde_ablation_trains_and_validates_with_per_level_embeddings(tiny_config, tmp_path, one_thread):
    raw = tiny_config(optim={"epochs": 1}, model={"overrides": {"ren": False, "saan": False}})
    trainer = Trainer(train_options_from_dict(raw), out_dir=tmp_path)
    assert len(trainer.model.embedding_strides) == 3
    summary = trainer.fit()
    assert np.isfinite(summary.steps[-1]["id"]) and 0.0 <= summary.epochs[0]["ap50"] <= 100.0


def test_a_yolox_run_freezes_validates_extra_sets_and_picks_the_best_by_their_mean(tiny_config, tmp_path,
                                                                                   one_thread):
    raw = tiny_config(optim={"epochs": 1},
                      model={"config": "cstrack_nano", "overrides": {"embedding_dim": 16, "saan_channels": 32},
                             "freeze": ["backbone.stem.*", "*.detection_gate"]},
                      data={"ignore_regions": True, "img_size": [96, 64], "resize_mode": "letterbox"},
                      loss={"score_targets": "yolox", "distill_weight": 1.0}, val={"best_metric": "mean"})
    raw["optim"]["clip_grad_norm"] = 5.0
    raw["data"]["train"].append({**raw["data"]["train"][0], "detection": "reference"})
    cache = raw["data"]["val"]["synthetic"]["root"]
    raw["data"]["val_extra"] = [{"name": "real-like", "mot": cache, "select": ["ap50", "idf1"]}]
    trainer = Trainer(train_options_from_dict(raw), out_dir=tmp_path)
    stem = trainer.model.backbone.stem.conv.conv.weight.detach().clone()
    start = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    summary = trainer.fit()
    # the distillation reference: the network as it started, frozen, never updated
    reference = trainer.net.reference
    assert reference is not None and not any(p.requires_grad for p in reference.parameters())
    assert all(torch.equal(v, start[k]) for k, v in reference.state_dict().items())
    assert not all(torch.equal(v, start[k]) for k, v in trainer.model.state_dict().items())
    with open(tmp_path / "steps.csv") as fh:
        distill = [float(r["distill"]) for r in csv.DictReader(fh)]
    assert distill and all(d > 0 for d in distill)
    row = summary.epochs[0]
    assert {"real-like.ap50", "real-like.hota", "real-like.mota", "real-like.idf1"} <= set(row)
    expected = (row["hota"] + row["real-like.ap50"] + row["real-like.idf1"]) / 3
    assert summary.best["metric"] == "mean" and summary.best["value"] == pytest.approx(expected)
    assert torch.equal(trainer.model.backbone.stem.conv.conv.weight, stem)  # frozen
    assert (tmp_path / "val" / "epoch_001_real-like").is_dir()


def test_a_reference_taught_source_needs_the_distillation_term(tiny_config):
    raw = tiny_config()
    raw["data"]["train"][0]["detection"] = "reference"
    with pytest.raises(ValueError, match="distill_weight"):
        train_options_from_dict(raw)
    raw["data"]["train"][0]["detection"] = "teacher"
    with pytest.raises(ValueError, match="detection"):
        train_options_from_dict(raw)


def test_zoom_out_is_set_for_the_data_section_and_per_source(tiny_config):
    from mottrack_training.engine.sources import build_train_dataset, data_options, prepare_sources
    raw = tiny_config(data={"zoom_out_prob": 0.25, "zoom_out_min": 0.7})
    raw["data"]["train"] = [raw["data"]["train"][0], {**raw["data"]["train"][0], "zoom_out_prob": 1.0}]
    options = train_options_from_dict(raw)
    assert data_options(options.data, seed=3).zoom_out_prob == 0.25
    prepare_sources(options.data.train, is_main=True, log=lambda _: None)
    dataset = build_train_dataset(options.data, seed=3)
    first, second = (d.options for d in dataset.datasets)
    assert (first.zoom_out_prob, second.zoom_out_prob) == (0.25, 1.0)
    assert first.zoom_out_min == second.zoom_out_min == 0.7 and second.seed == 3
    raw["data"]["train"][1]["zoom_out_prob"] = 1.5
    with pytest.raises(ValueError, match="zoom_out_prob"):
        train_options_from_dict(raw)
    with pytest.raises(ValueError, match="zoom_out_min"):
        train_options_from_dict(tiny_config(data={"zoom_out_min": 0.0}))


@pytest.mark.parametrize("section, changes, message", [
    ("optim", {"lr": float("inf")}, r"optim.lr must be a finite number in \(0, inf\), got inf"),
    ("optim", {"weight_decay": float("inf")}, "optim.weight_decay must be a finite number"),
    ("optim", {"ema_tau": float("nan")}, "optim.ema_tau must be a finite number"),  # every EMA tensor went NaN
    ("optim", {"warmup_momentum": float("nan")}, r"optim.warmup_momentum must be a finite number in \[0, 1\)"),
    ("optim", {"warmup_bias_lr": float("inf")}, "optim.warmup_bias_lr must be a finite number"),
    ("optim", {"warmup_epochs": -5.0}, "optim.warmup_epochs must be a finite number"),
    ("optim", {"milestones": [-1, 0]}, r"optim.milestones must be epochs >= 1 in increasing order, got \[-1, 0\]"),
    ("optim", {"epochs": 0}, r"optim.epochs and optim.nominal_batch must be >= 1.*got 0"),
    ("data", {"img_size": [100000, 100000]}, r"img_size must be \(width, height\) ints in \[1, 8192\]"),
    ("model", {"overrides": {"width_multiple": "big"}}, r"with overrides \{width_multiple, embedding_dim\}: width_multiple must be"),
])
def test_bad_values_are_refused_before_any_work_naming_the_file_and_key(tiny_config, section, changes, message):
    with pytest.raises(ValueError, match=message) as info:
        train_options_from_dict(tiny_config(**{section: changes}), where="run.yaml")
    assert str(info.value).startswith(f"run.yaml.{section}: ")


@pytest.mark.parametrize("changes, message", [
    ({"seed": 2**80}, r"seed must be an integer in \[0, 2\*\*63 - 1\]"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*63 - 1\], got -1"),
    ({"num_threads": -4}, "num_threads must be 1 to 1024"),
    ({"name": "../elsewhere"}, r"name \(the run's folder under runs/\): '../elsewhere' is not one plain"),
])
def test_bad_top_level_values_are_refused(tiny_config, changes, message):
    with pytest.raises(ValueError, match=message):
        train_options_from_dict(tiny_config(**changes), where="run.yaml")


def test_an_output_folder_that_is_a_file_is_refused_before_work(tiny_config, tmp_path):
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(ValueError, match="taken: exists and is not a folder"):
        Trainer(train_options_from_dict(tiny_config(**NO_VAL)), out_dir=tmp_path / "taken")


def test_a_diverging_run_stops_without_a_checkpoint(tiny_config, tmp_path, one_thread):
    options = train_options_from_dict(tiny_config(optim={"lr": 1e30, "warmup_min_steps": 0, "warmup_epochs": 0.0,
                                                         "max_steps": 3}, **NO_VAL))
    with pytest.raises(ValueError, match=r"step \d: the training loss is (nan|inf) \(training diverged\)"):
        Trainer(options, out_dir=tmp_path / "run").fit()
    assert not list((tmp_path / "run").glob("*.pt"))


def test_the_run_log_writes_nothing_before_its_first_row(tmp_path):
    """A run that fails before its first step (a corrupt first image, say) leaves no header-only logs."""
    from mottrack_training.engine.run_log import STEP_FIELDS, RunLog

    log = RunLog(tmp_path / "run", tensorboard=False)
    log.close()
    assert not (tmp_path / "run").exists()
    log = RunLog(tmp_path / "run", tensorboard=False)
    log.step({k: 1.0 for k in STEP_FIELDS})
    assert len(_steps(tmp_path / "run" / "steps.csv")) == 1 and (tmp_path / "run" / "epochs.csv").is_file()


def test_best_metric_names_must_exist(tiny_config):
    with pytest.raises(ValueError, match="no data.val_extra set named 'tud'"):
        train_options_from_dict(tiny_config(val={"best_metric": "tud.idf1"}))
    with pytest.raises(ValueError, match="best_metric"):
        train_options_from_dict(tiny_config(val={"best_metric": "speed"}))


# ----------------------------------------------------------------------------------- validation pieces
def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10.5]], float)
    scores = np.array([0.8, 0.9, 0.3, 0.85])
    assert nms(boxes, scores, 0.6, 300).tolist() == [1, 2]
    assert nms(boxes, scores, 0.96, 300).tolist() == [1, 3, 0, 2]  # IoU(0, 3) = 100/105 = 0.952
    assert nms(boxes, scores, 0.6, 1).tolist() == [1]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.6, 300).tolist() == []


def test_ap50_worked_example():
    # image 1: two GT; detections .9 (hit), .8 (miss), .7 (hit). image 2: one GT; .6 (hit), .5 (duplicate).
    # PR points: (1/3, 1), (1/3, .5), (2/3, .67), (1, .75), (1, .6); envelope 1, .75, .75 -> AP = 0.8333
    acc = DetectionAP()
    acc.add(np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 0, 30, 10]]), np.array([0.9, 0.8, 0.7]),
            np.array([[0, 0, 10, 10], [20, 0, 30, 10]]))
    acc.add(np.array([[0, 0, 10, 10], [1, 1, 10, 10]]), np.array([0.6, 0.5]), np.array([[0, 0, 10, 10]]))
    assert acc.ap50() == pytest.approx((1 + 0.75 + 0.75) / 3)
    assert average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0
    # a detection on an ignore region is neither true nor false positive
    labels = match_detections(np.array([[0, 0, 10, 10], [40, 40, 50, 50]]), np.array([0.9, 0.8]),
                              np.zeros((0, 4)), ignore_xyxy=np.array([[40, 40, 50, 51]]))
    assert labels.tolist() == [0, -1]


def test_ap50_by_height_counts_only_people_of_that_height():
    gt = np.array([[0, 0, 10, 20], [100, 0, 110, 80]], float)  # heights 20 and 80 (x scale 0.5: 10 and 40)
    dets = np.array([[0, 0, 10, 20],        # finds the short person
                     [200, 0, 210, 16],     # nothing there, short
                     [300, 0, 310, 90]])    # nothing there, tall
    scores = np.array([0.9, 0.8, 0.7])
    short, tall = DetectionAP((0, 50)), DetectionAP((50, 1000))
    for acc in (short, tall):
        acc.add(dets, scores, gt)
    # short: gt 1 (the tall one ignored); det 0 hit, det 1 a false positive, det 2 (tall, unmatched) not counted
    assert short.num_gt == 1 and short.ap50() == pytest.approx(1.0)
    # tall: gt 1, missed; det 0 matches the short person, now an ignore box; det 1 (short) not counted;
    # det 2 a false positive
    assert tall.num_gt == 1 and tall.ap50() == 0.0
    # heights as the network sees them: at scale 0.5 both people are under 50
    scaled = DetectionAP((0, 50))
    scaled.add(dets, scores, gt, scale=0.5)
    assert scaled.num_gt == 2 and scaled.ap50() == pytest.approx(0.5)  # one of two found, first in rank
    # ranked first, a tall false positive does not count for the short people, a short one does
    for first, expected in ((2, 1.0), (1, 0.5)):
        ranked = DetectionAP((0, 50))
        ranked.add(dets[[first, 0]], np.array([0.95, 0.9]), gt)
        assert ranked.ap50() == pytest.approx(expected)
    with pytest.raises(ValueError, match="height_range"):
        DetectionAP((10, 5))


def test_box_embeddings_use_the_clamped_stride_8_cell_at_any_input_size():
    emb = torch.zeros(1, 2, 8, 12)  # a 96x64 input: stride-8 grid 12 x 8
    emb[0, 0] = torch.arange(96, dtype=torch.float32).view(8, 12) + 1
    emb[0, 1] = 1.0
    boxes = np.array([[0, 0, 16, 16], [80, 50, 100, 70], [-10, -10, 2, 2], [40, 20, 48, 30]], float)
    out = _box_embeddings([emb], 0, boxes, np.zeros(4, np.int64), [8])
    cells = [(1, 1), (7, 11), (0, 0), (3, 5)]  # centres (8, 8), (90 -> clamped 11, 60 -> 7), (-4 -> 0), (44, 25)
    for row, (gy, gx) in zip(out, cells):
        value = gy * 12 + gx + 1
        np.testing.assert_allclose(row, np.array([value, 1.0]) / np.hypot(value, 1.0), rtol=1e-6)

    # per-level maps (saan: false): each box reads the map of the level that predicted it
    p4 = torch.zeros(1, 2, 4, 6)
    p4[0, 0] = -(torch.arange(24, dtype=torch.float32).view(4, 6) + 1)
    p4[0, 1] = 1.0
    out = _box_embeddings([emb, p4, torch.zeros(1, 2, 2, 3)], 0, boxes[[3, 1]], np.array([1, 0]), [8, 16, 32])
    value = -(1 * 6 + 2 + 1)  # box 3 on P4: centre (44, 25) -> cell (row 1, column 2)
    np.testing.assert_allclose(out[0], np.array([value, 1.0]) / np.hypot(value, 1.0), rtol=1e-6)
    np.testing.assert_allclose(out[1], np.array([96.0, 1.0]) / np.hypot(96.0, 1.0), rtol=1e-6)  # P3 (7, 11)


# ----------------------------------------------------------------------------------- configs and CLI
@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_run_configs_load(path):
    options = load_train_options(path)
    assert options.data.train and options.optim.nominal_batch >= options.data.batch_size


def test_unknown_config_keys_are_errors(tiny_config):
    with pytest.raises(ValueError, match="learning_rate"):
        train_options_from_dict(tiny_config(optim={"learning_rate": 0.1}))
    with pytest.raises(ValueError, match="exactly one of"):
        train_options_from_dict(tiny_config(data={"val": {"mot": "elsewhere"}}))  # synthetic and mot
    with pytest.raises(ValueError, match="id_loss"):
        train_options_from_dict(tiny_config(loss={"id_loss": "triplet"}))


def test_train_command(tiny_config, tmp_path, one_thread, capsys):
    import yaml

    from mottrack_sdk.cli.main import main

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_config(**NO_VAL)))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--max-steps", "1",
                 "--no-progress"]) == 0
    assert "done: 1 steps" in capsys.readouterr().out
    assert main(["train", "--resume", str(tmp_path / "run" / "last.pt"), "--max-steps", "2", "--no-progress"]) == 0
    assert len(_steps(tmp_path / "run" / "steps.csv")) == 2
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_the_cli_plugin_imports_without_torch():
    code = ("import sys, mottrack_training.cli as c, argparse; p = argparse.ArgumentParser(); "
            "c.register(p.add_subparsers()); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
