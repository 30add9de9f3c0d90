"""Packaging a run: FP16 weights + config + metrics card measured on held-out synthetic sequences."""
from __future__ import annotations

import json

import pytest
import torch

from mottrack_training.engine import Trainer, train_options_from_dict
from mottrack_training.engine.release import load_packaged_model, package_weights
from mottrack_training.engine.safe_load import load_weights_file

pytestmark = pytest.mark.torch


@pytest.fixture()
def tiny_run(tiny_config, tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("run")
    Trainer(train_options_from_dict(tiny_config(optim={"epochs": 1})), out_dir=out).fit()
    return out / "last.pt", tiny_config


def test_package_writes_fp16_weights_config_and_a_held_out_metrics_card(tiny_run, tmp_path):
    ckpt, _ = tiny_run
    card = package_weights(ckpt, tmp_path / "pkg", test_seed=5, test_sequences=1, test_root=tmp_path / "test")
    assert {p.name for p in (tmp_path / "pkg").iterdir()} == {"weights.pt", "config.yaml", "metrics.json"}
    on_disk = json.loads((tmp_path / "pkg" / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(card))
    for key in ("ap50", "hota", "mota", "idf1"):
        assert isinstance(card[key], float)
    assert "seed 5" in card["measured_on"]["what"] and card["measured_on"]["frames"] > 0
    blob = load_weights_file(tmp_path / "pkg" / "weights.pt")
    assert blob["tracker"] == {} and "TrackerOptions()" in card["measured_on"]["pipeline"]
    assert all(v.dtype == torch.float16 for v in blob["model"].values() if v.is_floating_point())
    # the packaged model is the run's EMA model up to FP16 rounding
    state = load_weights_file(ckpt)
    model = load_packaged_model(tmp_path / "pkg" / "weights.pt")
    for name, value in model.state_dict().items():
        ref = state["ema"]["model"][name]
        if ref.is_floating_point():
            torch.testing.assert_close(value, ref.half().float())


def test_the_validation_tracker_settings_travel_with_the_weights(tiny_config):
    from mottrack_training.engine.release import tracker_defaults

    assert tracker_defaults(train_options_from_dict(tiny_config())) == {}
    options = train_options_from_dict(tiny_config(val={"tracker": {"det_thresh": 0.6, "frame_rate": 25.0}}))
    assert tracker_defaults(options) == {"det_thresh": 0.6}  # frame_rate belongs to each video


def test_tracker_settings_chosen_after_training_are_measured_and_stored(tiny_run, tmp_path):
    ckpt, _ = tiny_run
    card = package_weights(ckpt, tmp_path / "pkg", test_seed=5, test_sequences=1, test_root=tmp_path / "test",
                           tracker={"det_thresh": 0.7})
    assert "TrackerOptions(det_thresh=0.7)" in card["measured_on"]["pipeline"]
    assert load_weights_file(tmp_path / "pkg" / "weights.pt")["tracker"] == {"det_thresh": 0.7}
    with pytest.raises(ValueError, match="unknown option"):
        package_weights(ckpt, tmp_path / "pkg2", test_seed=5, test_sequences=1, test_root=tmp_path / "test",
                        tracker={"det_threshold": 0.7})
    assert not (tmp_path / "pkg2").exists()


def test_the_test_seed_must_be_held_out(tiny_run, tmp_path):
    ckpt, _ = tiny_run
    with pytest.raises(ValueError, match="test_seed 1: must differ"):
        package_weights(ckpt, tmp_path / "pkg", test_seed=1, test_root=tmp_path / "test")
    assert not (tmp_path / "pkg").exists()


def test_a_foreign_file_is_not_a_packaged_model(tmp_path):
    torch.save({"a": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a packaged mottrack weights file"):
        load_packaged_model(tmp_path / "x.pt")


def test_the_card_lists_every_training_source_with_its_licence(tmp_path, tiny_config):
    """Synthetic scenes, pseudo-labelled folders (licence from pseudo_label.json), init weights, a previous
    stage's own sources and --source notes all reach the card's training_sources."""
    import json

    from mottrack_training.engine.options import train_options_from_dict
    from mottrack_training.engine.release import training_sources

    seq = tmp_path / "pseudo" / "clip"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "gt" / "gt.txt").write_text("1,1,1,1,10,20,1,1,1\n")
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=clip\nimDir=img1\nframeRate=25\nseqLength=1\n"
                                     "imWidth=64\nimHeight=48\nimExt=.jpg\n")
    (seq / "pseudo_label.json").write_text(json.dumps({"licence": "CC BY 4.0, someone",
                                                       "settings": {"source": "/data/clip.mp4"}}))
    previous = tmp_path / "stage1"
    previous.mkdir()
    (previous / "metrics.json").write_text(json.dumps({"training_sources": [{"name": "old data", "licence": "MIT"}]}))
    raw = tiny_config(model={"weights": str(previous / "weights.pt"), "init_onnx": "teachers/yolox_nano.onnx"})
    raw["data"]["train"].append({"mot": str(tmp_path / "pseudo")})
    sources = training_sources(train_options_from_dict(raw), {"COCO": "CC BY 4.0"})
    by_name = {s["name"]: s["licence"] for s in sources}
    assert any(name.startswith("synthetic scenes") for name in by_name)
    assert by_name["clip (clip.mp4)"] == "CC BY 4.0, someone"
    assert by_name["initial weights yolox_nano.onnx"] == "see notes"
    assert by_name["old data"] == "MIT" and by_name["COCO"] == "CC BY 4.0"


def test_package_weights_checks_its_outputs_before_measuring(tiny_run, tmp_path, capsys):
    """A --out that cannot take the three files (a file, a folder where config.yaml goes, the checkpoint's
    own name) is one error before the held-out measurement, and nothing is written."""
    from mottrack_sdk.cli.main import main

    ckpt, _ = tiny_run
    (tmp_path / "pkg" / "config.yaml").mkdir(parents=True)
    for out, message in ((ckpt, "exists and is not a folder"), (tmp_path / "pkg", "config.yaml: is a folder")):
        assert main(["package-weights", "--checkpoint", str(ckpt), "--out", str(out), "--test-seed", "5"]) == 2
        captured = capsys.readouterr()
        assert message in captured.err and "Traceback" not in captured.err
        assert "synthetic" not in captured.out  # the held-out sequences were not even prepared
    assert not (tmp_path / "pkg" / "weights.pt").exists()


def test_the_nms_iou_chosen_after_training_is_measured_stored_and_exported(tiny_run, tmp_path):
    """``package-weights --nms-iou``: the card is measured with it, the weights carry it, and it is
    ``mottrack export``'s ``--iou-threshold`` default for them (a checkpoint gives its val.nms_iou)."""
    from mottrack_export.weights import validated_nms_iou

    ckpt, _ = tiny_run
    card = package_weights(ckpt, tmp_path / "pkg", test_seed=5, test_sequences=1, test_root=tmp_path / "test",
                           nms_iou=0.45)
    assert "NMS IoU 0.45" in card["measured_on"]["pipeline"]
    assert load_weights_file(tmp_path / "pkg" / "weights.pt")["nms_iou"] == 0.45
    assert validated_nms_iou(tmp_path / "pkg" / "weights.pt") == 0.45
    run_iou = train_options_from_dict(load_weights_file(ckpt)["options"]).val.nms_iou
    assert validated_nms_iou(ckpt) == run_iou
    with pytest.raises(ValueError, match="nms_iou"):
        package_weights(ckpt, tmp_path / "pkg2", test_seed=5, test_sequences=1, test_root=tmp_path / "test",
                        nms_iou=1.5)
    assert not (tmp_path / "pkg2" / "weights.pt").exists()
    blob = load_weights_file(tmp_path / "pkg" / "weights.pt")
    blob["nms_iou"] = "0.45"
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="nms_iou must be a number"):
        validated_nms_iou(tmp_path / "bad.pt")


def test_the_img_size_chosen_for_export_is_measured_stored_and_exported(tiny_run, tmp_path, capsys):
    """``package-weights --img-size``: the card is measured at that input, the weights carry it, and it is
    ``mottrack export``'s ``--size`` default for them (a checkpoint gives its data.img_size)."""
    import yaml

    from mottrack_export.weights import validated_export_defaults
    from mottrack_sdk.cli.main import main
    from mottrack_sdk.model_metadata import read_model_metadata

    ckpt, _ = tiny_run
    run_size = tuple(train_options_from_dict(load_weights_file(ckpt)["options"]).data.img_size)
    other = (run_size[0] + 32, run_size[1] + 32)
    pkg = tmp_path / "pkg"
    card = package_weights(ckpt, pkg, test_seed=5, test_sequences=1, test_root=tmp_path / "test", img_size=other)
    assert f"letterbox {other[0]}x{other[1]}" in card["measured_on"]["pipeline"]
    assert load_weights_file(pkg / "weights.pt")["img_size"] == list(other)
    assert yaml.safe_load((pkg / "config.yaml").read_text())["input_size"] == list(other)
    iou, size = validated_export_defaults(pkg / "weights.pt")
    assert size == other and iou == load_weights_file(pkg / "weights.pt")["nms_iou"]
    assert validated_export_defaults(ckpt)[1] == run_size
    assert main(["export", "--weights", str(pkg / "weights.pt"), "--out", str(tmp_path / "m.onnx")]) == 0
    assert read_model_metadata(tmp_path / "m.onnx").input_size == other  # no --size: the validated one
    capsys.readouterr()
    with pytest.raises(ValueError, match="multiples of 32"):
        package_weights(ckpt, tmp_path / "pkg2", test_seed=5, test_sequences=1, test_root=tmp_path / "test",
                        img_size=(100, 64))
    assert not (tmp_path / "pkg2" / "weights.pt").exists()
    assert main(["package-weights", "--checkpoint", str(ckpt), "--out", str(tmp_path / "pkg3"),
                 "--img-size", "big"]) == 2
    assert "--img-size must look like WIDTHxHEIGHT" in capsys.readouterr().err
    assert not (tmp_path / "pkg3").exists()
    blob = load_weights_file(pkg / "weights.pt")
    blob["img_size"] = "640x352"
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="img_size must be"):
        validated_export_defaults(tmp_path / "bad.pt")


def test_nan_weights_and_held_out_flags_out_of_bounds_are_named_before_measuring(tmp_path, capsys):
    """NaN / inf weights used to be packaged silently ("AP50 0.0"); --test-sequences beyond the held-out
    source's bound used to name its internal field (synthetic.sequences)."""
    from mottrack_sdk.cli.main import main
    from mottrack_training.engine.checkpoint import save_checkpoint

    bad = save_checkpoint(tmp_path / "nan.pt", {"model": {"head.bias": torch.tensor([0.0, float("nan")])},
                                                "ema": None, "options": {}})
    for argv, message in (
            (["--checkpoint", str(bad)], "nan.pt: model parameter head.bias holds NaN or inf (1 of 2 values)"),
            (["--checkpoint", str(bad), "--test-sequences", "1000000000"],
             "--test-sequences must be an int in [1, 9999], got 1000000000"),
            (["--checkpoint", str(bad), "--test-seed", "-1"], "--test-seed must be an int in [0, ")):
        assert main(["package-weights", *argv, "--out", str(tmp_path / "pkg")]) == 2
        captured = capsys.readouterr()
        assert message in captured.err and "synthetic." not in captured.err and "\n" not in captured.err.strip()
        assert "synthetic" not in captured.out  # nothing was measured
    assert main(["ablate", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "abl"),
                 "--test-sequences", "0"]) == 2
    assert "--test-sequences must be an int in [1, 9999], got 0" in capsys.readouterr().err


def test_weights_beyond_fp16_range_are_named_not_packaged_as_inf(tiny_run, tmp_path):
    """A finite FP32 weight above 65504 became inf in the FP16 weights.pt, silently."""
    from mottrack_training.engine.checkpoint import load_checkpoint, save_checkpoint

    ckpt, _ = tiny_run
    state = load_checkpoint(ckpt)
    name = next(k for k, v in state["ema"]["model"].items() if v.is_floating_point() and v.numel() > 1)
    state["ema"]["model"][name].view(-1)[0] = 1e6
    big = save_checkpoint(tmp_path / "big.pt", state)
    with pytest.raises(ValueError, match=rf"big.pt: parameter {name} reaches 1e\+06, beyond FP16's range"):
        package_weights(big, tmp_path / "pkg", test_seed=5, test_sequences=1, test_root=tmp_path / "test")
    assert not (tmp_path / "pkg" / "weights.pt").exists()
