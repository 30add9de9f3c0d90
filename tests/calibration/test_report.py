"""``mottrack calibrate`` end to end on a tiny random CSTrack-S and synthetic MOTChallenge sequences."""
from __future__ import annotations

import json

import pytest

from mottrack_sdk.cli.main import main


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    from mottrack_sdk.scenes import SceneOptions, write_sequences

    root = tmp_path_factory.mktemp("synth")
    write_sequences(root, 2, 5, SceneOptions(width=192, height=108, num_frames=6, density=5))
    return root


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    torch = pytest.importorskip("torch", reason="exporting the test model needs PyTorch")
    from detecting_model import make_detecting_model

    from mottrack_export import ExportOptions, TailOptions, export_onnx

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = tmp_path_factory.mktemp("model") / "tiny.onnx"
        export_onnx(make_detecting_model((128, 96)), path, ExportOptions(size=(128, 96),
                                                                          tail=TailOptions(score_threshold=0.4)))
    finally:
        torch.set_num_threads(before)
    return path


@pytest.mark.torch
@pytest.mark.integration
def test_calibrate_writes_json_markdown_and_chart(tiny_export, synthetic_root, tmp_path, capsys):
    report_dir = tmp_path / "report"
    code = main(["calibrate", "--model", str(tiny_export), "--data", str(synthetic_root), "--report", str(report_dir),
                 "--frames", "8", "--latency-runs", "2", "--warmup", "1", "--threads", "1",
                 "--cache", str(tmp_path / "ranges.json")])
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads((report_dir / "report.json").read_text())
    assert set(report["variants"]) == {"fp32", "int8", "fp16"}
    for name, v in report["variants"].items():
        assert 0.0 <= v["ap50"] <= 1.0 and v["latency"]["median_ms"] > 0 and len(v["latency"]["runs_ms"]) == 2
        assert {"HOTA", "MOTA", "IDF1"} <= set(v["tracking"]) and v["size_mb"] > 0
        assert v["detections_per_frame"] > 0, f"{name}: the test model must detect something"
    assert report["variants"]["int8"]["embedding_cosine"]["matched"] > 0
    assert report["quantization"]["calibration_frames"] == 8 and report["random_weights"] is True
    assert {"mota_loss", "idf1_loss", "median_cosine", "int8_speedup"} <= set(report["targets"])
    assert report["evaluation"]["sequences"] and report["evaluation"]["frames"] == 12
    markdown = (report_dir / "report.md").read_text()
    assert "| int8 |" in markdown and "random weights" in markdown
    assert (report_dir / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report_dir / "tiny_int8.onnx").is_file() and (report_dir / "tiny_fp16.onnx").is_file()
    # the detect-head convs and the embedding head's last conv stayed float
    float_nodes = report["quantization"]["float_nodes"]
    assert sum("detect/convs" in n for n in float_nodes) == 3 and any("saan/embed" in n for n in float_nodes)
    # second run: ranges come from the cache
    code = main(["calibrate", "--model", str(tiny_export), "--data", str(synthetic_root), "--report", str(report_dir),
                 "--frames", "8", "--latency-runs", "1", "--warmup", "0", "--threads", "1", "--no-fp16",
                 "--cache", str(tmp_path / "ranges.json")])
    assert code == 0
    assert json.loads((report_dir / "report.json").read_text())["quantization"]["cache_hit"] is True
    code = main(["calibrate", "--model", str(tiny_export), "--data", str(synthetic_root), "--report", str(report_dir),
                 "--method", "minmax", "--frames", "8", "--cache", str(tmp_path / "ranges.json")])
    assert code == 2 and "other settings" in capsys.readouterr().err


def test_calibrate_refuses_bad_inputs(tmp_path, capsys):
    assert main(["calibrate", "--model", str(tmp_path / "none.onnx"), "--data", str(tmp_path), "--report",
                 str(tmp_path / "r")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk")
    assert main(["calibrate", "--model", str(bad), "--data", str(tmp_path), "--report", str(tmp_path / "r")]) == 2
    assert "not a loadable ONNX model" in capsys.readouterr().err
    for flag, value, least in (("--frames", "0", 1), ("--threads", "-1", 1), ("--latency-runs", "0", 1),
                               ("--warmup", "-1", 0)):  # each names itself and its value
        assert main(["calibrate", "--model", str(bad), "--data", str(tmp_path), "--report", str(tmp_path / "r"),
                     flag, value]) == 2
        assert f"{flag} must be >= {least}, got {value}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_calibrate_checks_the_report_folder_and_ground_truth_before_writing_models(tiny_export, synthetic_root,
                                                                                   tmp_path, capsys):
    common = ["calibrate", "--model", str(tiny_export), "--data", str(synthetic_root), "--frames", "4",
              "--latency-runs", "1", "--warmup", "0", "--threads", "1"]
    a_file = tmp_path / "report.txt"
    a_file.write_text("not a folder")
    assert main([*common, "--report", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert f"--report {a_file}: exists and is not a folder" in err and "Traceback" not in err
    assert main([*common, "--report", str(a_file / "sub")]) == 2
    assert "is a file, so no folder can be created below it" in capsys.readouterr().err
    (tmp_path / "r2" / "report.json").mkdir(parents=True)
    assert main([*common, "--report", str(tmp_path / "r2")]) == 2
    assert "report.json: is a folder" in capsys.readouterr().err
    assert main([*common, "--report", str(tmp_path / "r3"), "--cache", str(tmp_path)]) == 2
    assert f"--cache {tmp_path}: is a folder" in capsys.readouterr().err
    binary = tmp_path / "ranges.bin"
    binary.write_bytes(b"\xe3\x28\xa1 binary")
    assert main([*common, "--report", str(tmp_path / "r4"), "--cache", str(binary)]) == 2
    assert "ranges.bin: unreadable calibration cache" in capsys.readouterr().err
    assert not (tmp_path / "r4").exists()  # refused before the report folder was made
    corrupt = tmp_path / "corrupt_frames"
    corrupt.mkdir()
    for i in range(3):
        (corrupt / f"{i:06d}.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    assert main([*common[:3], "--data", str(corrupt), *common[5:], "--report", str(tmp_path / "r5")]) == 2
    assert "000000.jpg" in capsys.readouterr().err
    assert not (tmp_path / "r5").exists()  # no empty report folder left behind

    no_gt = tmp_path / "frames_only"
    (no_gt / "img1").mkdir(parents=True)
    report_dir = tmp_path / "report"
    assert main([*common, "--report", str(report_dir), "--eval", str(no_gt)]) == 2
    err = capsys.readouterr().err
    assert f"--eval {no_gt}: no MOTChallenge sequence with ground truth" in err
    assert not list(report_dir.glob("*.onnx"))  # found before quantizing: no model written
