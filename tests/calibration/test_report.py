"""``mottrack calibrate`` end to end on a tiny random CSTrack-S and synthetic MOTChallenge sequences."""
from __future__ import annotations

import json

import pytest

from mottrack_calibration.report import MAX_LATENCY_RUNS, MAX_THREADS, MAX_WARMUP, ReportOptions
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
    assert report["variants"]["int8"]["path"] == str(report_dir / "tiny_int8.onnx")  # not where it was written
    assert not list(report_dir.glob(".*"))  # the hidden folder it was written in is gone
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
    data = tmp_path / "frames"  # the report folder is outside it
    data.mkdir()
    assert main(["calibrate", "--model", str(tmp_path / "none.onnx"), "--data", str(data), "--report",
                 str(tmp_path / "r")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk")
    assert main(["calibrate", "--model", str(bad), "--data", str(data), "--report", str(tmp_path / "r")]) == 2
    assert "not a loadable ONNX model" in capsys.readouterr().err
    for flag, value, least in (("--frames", "0", 1), ("--threads", "-1", 1), ("--latency-runs", "0", 1),
                               ("--warmup", "-1", 0)):  # each names itself and its value
        assert main(["calibrate", "--model", str(bad), "--data", str(data), "--report", str(tmp_path / "r"),
                     flag, value]) == 2
        assert f"{flag} must be >= {least}, got {value}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag, value, most", [("--threads", "1000000000", MAX_THREADS),
                                               ("--latency-runs", str(10 ** 12), MAX_LATENCY_RUNS),
                                               ("--warmup", str(10 ** 12), MAX_WARMUP)])
def test_calibrate_bounds_threads_and_timed_runs_before_any_work(tmp_path, capsys, flag, value, most):
    """--threads 1e9 failed as a bad_alloc blamed on the model; 10**12 latency runs ran for ever."""
    bad = tmp_path / "bad.onnx"  # never opened: the flag is refused first
    bad.write_bytes(b"junk")
    assert main(["calibrate", "--model", str(bad), "--data", str(bad), "--report", str(tmp_path / "r"),
                 flag, value]) == 2
    assert f"error: {flag} must be <= {most}, got {value}\n" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    ReportOptions(threads=MAX_THREADS, latency_runs=MAX_LATENCY_RUNS, warmup=MAX_WARMUP)  # the bounds themselves


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
    assert "ranges.bin: not a calibration cache written by mottrack" in capsys.readouterr().err
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


@pytest.mark.torch
@pytest.mark.parametrize("interrupt", [ValueError("latency failed"), KeyboardInterrupt()], ids=["error", "ctrl_c"])
def test_a_failed_calibrate_leaves_the_report_folder_as_it_was(tiny_export, synthetic_root, tmp_path, capsys,
                                                               monkeypatch, interrupt):
    """It used to leave the INT8 model and eval/ but no report behind (e.g. --threads 1e9, a Ctrl-C)."""
    import mottrack_calibration.report as report_module

    def fail(*args, **kwargs):
        raise interrupt

    monkeypatch.setattr(report_module, "measure_latency", fail)  # after the models and eval/ are written
    common = ["calibrate", "--model", str(tiny_export), "--data", str(synthetic_root), "--frames", "4",
              "--max-eval-frames", "2", "--latency-runs", "1", "--warmup", "0", "--threads", "1", "--no-fp16"]
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    (existing / "report.json").write_text('{"an": "earlier run"}')
    (existing / "tiny_int8.onnx").write_bytes(b"earlier model")
    new = tmp_path / "new" / "report"
    for report_dir in (existing, new):
        if isinstance(interrupt, KeyboardInterrupt):
            with pytest.raises(KeyboardInterrupt):
                main([*common, "--report", str(report_dir)])
        else:
            assert main([*common, "--report", str(report_dir)]) == 2
            assert "latency failed" in capsys.readouterr().err
    assert sorted(p.name for p in existing.iterdir()) == ["notes.txt", "report.json", "tiny_int8.onnx"]
    assert (existing / "report.json").read_text() == '{"an": "earlier run"}'
    assert (existing / "tiny_int8.onnx").read_bytes() == b"earlier model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]  # the folders the run made are gone


@pytest.mark.torch
def test_calibrate_refuses_the_model_as_cache_and_a_report_inside_the_data(tiny_export, synthetic_root, tmp_path,
                                                                          capsys):
    common = ["calibrate", "--model", str(tiny_export), "--data", str(synthetic_root), "--frames", "4",
              "--latency-runs", "1", "--warmup", "0", "--threads", "1"]
    model_bytes = tiny_export.read_bytes()
    assert main([*common, "--report", str(tmp_path / "r"), "--cache", str(tiny_export)]) == 2
    err = capsys.readouterr().err
    assert f"error: --cache {tiny_export}: is the input" in err and "--model" in err and "delete" not in err
    assert tiny_export.read_bytes() == model_bytes and not (tmp_path / "r").exists()

    before = sorted(synthetic_root.rglob("*"))
    sequence = next(p for p in sorted(synthetic_root.iterdir()) if p.is_dir())
    for report_dir in (synthetic_root, sequence, sequence / "calibration"):  # the --data folder, or inside it
        assert main([*common, "--report", str(report_dir)]) == 2
        err = capsys.readouterr().err
        where = "is the" if report_dir == synthetic_root else "is inside the"
        assert f"error: --report {report_dir}: {where} --data folder {synthetic_root}" in err, err
    out = synthetic_root / "calibration"  # outside the --data sequence, inside the --eval root
    assert main([*common[:3], "--data", str(sequence), *common[5:], "--eval", str(synthetic_root),
                 "--report", str(out)]) == 2
    assert f"error: --report {out}: is inside the --eval folder {synthetic_root}" in capsys.readouterr().err
    assert sorted(synthetic_root.rglob("*")) == before  # nothing written into the input


def test_a_killed_calibrate_s_hidden_folder_is_removed_by_the_next_run(tmp_path, capsys):
    """A SIGKILLed run cannot clean up: the next run into the same --report removes its hidden folder, and
    only that: a live run's folder, another host's, a look-alike file and the user's files stay."""
    import os
    import subprocess
    import sys

    from mottrack_calibration.report_writer import _host, staged_outputs

    report_dir = tmp_path / "report"
    report_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(dead.stdout)  # exited and reaped: no such process now
    killed = report_dir / f".calibrate.{_host()}.{dead_pid}.abc123.partial"
    (killed / "eval").mkdir(parents=True)
    (killed / "half_int8.onnx").write_bytes(b"half written")
    live = report_dir / f".calibrate.{_host()}.{os.getpid()}.def456.partial"
    other_host = report_dir / f".calibrate.elsewhere-{_host()}.{dead_pid}.ghi789.partial"
    old_style = report_dir / ".calibrate.jkl012.partial"  # no host or pid in its name: left alone
    for folder in (live, other_host, old_style):
        folder.mkdir()
    (report_dir / f".calibrate.{_host()}.{dead_pid}.file.partial").write_text("a file, not a run's folder")
    (report_dir / "notes.txt").write_text("mine")
    with staged_outputs(report_dir) as work:
        assert work.name.startswith(f".calibrate.{_host()}.{os.getpid()}.") and work.name.endswith(".partial")
        (work / "report.json").write_text("{}")
    assert not killed.exists()
    assert f"calibrate: removed {killed}, left by an earlier run that was killed" in capsys.readouterr().err
    assert sorted(p.name for p in report_dir.iterdir()) == sorted(
        [live.name, other_host.name, old_style.name, f".calibrate.{_host()}.{dead_pid}.file.partial", "notes.txt",
         "report.json"])
