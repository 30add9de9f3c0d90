"""``mottrack export``: one-line errors (exit 2) for every refused input, a working export, cheap registration."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mottrack_sdk.cli.main import main


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["export", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("argv, message", [
    (["--random-weights", "--size", "100x96"], "multiples of 32"),
    (["--random-weights", "--size", "big"], "WIDTHxHEIGHT"),
    (["--random-weights", "--opset", "19"], "opset 19 is not supported"),
    (["--random-weights", "--precision", "int8"], "needs calibration data"),
    (["--random-weights", "--precision", "int8", "--calib", "/no/such/folder"], "not found"),
    (["--random-weights", "--top-k", "5000"], "TopK limit"),
    (["--weights", "/no/such/weights.pt"], "not found"),
    (["--random-weights", "--seed", str(10**23)], r"--seed: expected an integer in [0, 2**63 - 1]"),
    (["--random-weights", "--set", "name=["], "--set name: not valid YAML ("),
    (["--random-weights", "--set", "anchors=" + "[" * 5000 + "]" * 5000], "--set anchors: not valid YAML (nested too"),
    (["--random-weights", "--set", "anchors=[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], "
      "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]]"],
     "--set anchors: holds more than 100,000 values"),  # 10**5 leaves: expanded in an error message before
    (["--random-weights", "--set", "embedding_dim=100000000"], "embedding_dim: expected an integer in [1, 4,096]"),
    (["--random-weights", "--set", "repeats=1000000000"], "unknown key(s) 'repeats'"),
])
def test_refused_inputs_are_one_line_errors(capsys, tmp_path, argv, message):
    code, text = _run(capsys, *argv, "--out", str(tmp_path / "m.onnx"))
    assert code == 2 and message in text and "Traceback" not in text
    assert not (tmp_path / "m.onnx").exists()


def test_corrupt_onnx_input(capsys, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    code, text = _run(capsys, "--weights", str(bad), "--precision", "fp16", "--out", str(tmp_path / "m.onnx"))
    assert code == 2 and "not a loadable ONNX model" in text


def test_engine_without_tensorrt_says_it_is_needed_on_the_target(capsys, tmp_path):
    pytest.importorskip("torch")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    code, text = _run(capsys, "--random-weights", "--format", "engine", "--out", str(tmp_path / "m.engine"))
    assert code == 2 and "TensorRT is needed" in text and "target" in text


@pytest.mark.torch
def test_random_weights_export_then_fp16_from_the_onnx(capsys, tmp_path):
    pytest.importorskip("torch")
    from mottrack_sdk.model_metadata import read_model_metadata

    out = tmp_path / "m.onnx"
    code, text = _run(capsys, "--random-weights", "--set", "width_multiple=0.0625", "--set", "embedding_dim=16",
                      "--size", "96x64", "--raw-heads", "--out", str(out))
    assert code == 0, text
    meta = read_model_metadata(out)
    assert meta.output_layout == "raw_heads" and meta.embedding_dim == 16 and meta.input_size == (96, 64)
    code, text = _run(capsys, "--weights", str(out), "--precision", "fp16", "--out", str(tmp_path / "m16.onnx"))
    assert code == 0, text
    assert read_model_metadata(tmp_path / "m16.onnx").precision == "fp16"


@pytest.mark.torch
@pytest.mark.parametrize("head", ["sparse", "dense"])
def test_both_embedding_heads_export_and_convert_to_fp16(capsys, tmp_path, head):
    pytest.importorskip("torch")
    import numpy as np
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    code, text = _run(capsys, "--random-weights", "--config", "cstrack_nano", "--embedding-head", head,
                      "--size", "96x64", "--out", str(out))
    assert code == 0, text
    code, text = _run(capsys, "--weights", str(out), "--precision", "fp16", "--out", str(tmp_path / "m16.onnx"))
    assert code == 0, text
    session = ort.InferenceSession(str(tmp_path / "m16.onnx"), providers=["CPUExecutionProvider"])
    boxes, scores, embeddings, count = session.run(None, {"images": np.random.default_rng(0).random(
        (1, 3, 64, 96), dtype=np.float32)})
    assert embeddings.shape == (300, 128) and np.isfinite(embeddings).all()


def test_unknown_embedding_head_is_refused():
    from mottrack_export.options import ExportOptions

    with pytest.raises(ValueError, match="embedding_head must be one of"):
        ExportOptions(embedding_head="map")


def test_registering_the_commands_imports_nothing_heavy():
    code = ("import sys, argparse\nimport mottrack_export.cli as e, mottrack_calibration.cli as c\n"
            "p = argparse.ArgumentParser(); s = p.add_subparsers(); e.register(s); c.register(s)\n"
            "print(' '.join(m for m in ('torch', 'onnx', 'onnxruntime', 'tensorrt', 'mottrack_training') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_every_export_and_calibration_module_imports_without_tensorrt():
    import pkgutil

    pytest.importorskip("torch", reason="mottrack_export.tail needs PyTorch")

    import mottrack_calibration
    import mottrack_export

    names = [m.name for pkg in (mottrack_export, mottrack_calibration)
             for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    code = "import sys\n" + "\n".join(f"import {n}" for n in names) + "\nprint('tensorrt' in sys.modules, " \
           "'mottrack_training' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # export/tail imports torch (export needs it); nothing may need TensorRT, calibration never needs training
    assert out.stdout.split()[0] == "False"
    calib = "\n".join(f"import {n}" for n in names if n.startswith("mottrack_calibration"))
    out = subprocess.run([sys.executable, "-c", f"import sys\n{calib}\nprint('torch' in sys.modules, "
                                                "'mottrack_training' in sys.modules)"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("out, extra, message", [
    ("{tmp}", [], "--out {tmp}: is a folder (expected a file name ending in .onnx)"),
    ("{tmp}/m.txt", [], "--out {tmp}/m.txt: expected a file name ending in .onnx"),
    ("{tmp}/afile/m.onnx", [], "is a file, so no folder can be created below it"),
    ("{tmp}/m.onnx", ["--format", "engine"], "--out {tmp}/m.onnx: expected a file name ending in .engine or .plan"),
    ("{tmp}/m.engine", ["--format", "engine", "--onnx-out", "{tmp}/b.txt"], "--onnx-out {tmp}/b.txt: expected"),
    ("{tmp}/m.onnx", ["--calib-cache", "{tmp}"], "--calib-cache {tmp}: is a folder"),
])
def test_output_paths_are_checked_before_the_export(capsys, tmp_path, out, extra, message):
    (tmp_path / "afile").write_text("x")
    argv = ["--random-weights", "--set", "width_multiple=0.0625", "--set", "embedding_dim=16", "--size", "64x64",
            *[a.format(tmp=tmp_path) for a in extra], "--out", out.format(tmp=tmp_path)]
    code, text = _run(capsys, *argv)
    assert code == 2 and message.format(tmp=tmp_path) in text and "Traceback" not in text
    assert not list(tmp_path.rglob("*.onnx")) and not list(tmp_path.rglob(".*"))


@pytest.mark.torch
def test_an_export_never_writes_over_its_input(capsys, tmp_path):
    """``--out`` naming the ``--weights`` file (here an ONNX converted to FP16), or a file inside the
    ``--calib`` folder, is refused before anything runs; the input stays as it was."""
    import hashlib

    pytest.importorskip("torch")
    tiny = ["--set", "width_multiple=0.0625", "--set", "embedding_dim=16", "--size", "64x64"]
    model = tmp_path / "m.onnx"
    assert _run(capsys, "--random-weights", *tiny, "--out", str(model))[0] == 0
    before = hashlib.sha256(model.read_bytes()).hexdigest()
    code, text = _run(capsys, "--weights", str(model), "--precision", "fp16", "--out", str(tmp_path / "." / "m.onnx"))
    assert code == 2 and "is the input" in text and "m.onnx" in text and "Traceback" not in text
    assert hashlib.sha256(model.read_bytes()).hexdigest() == before
    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "old.onnx").write_bytes(b"keep")
    code, text = _run(capsys, "--random-weights", *tiny, "--precision", "int8", "--calib", str(calib),
                      "--out", str(calib / "old.onnx"))
    assert code == 2 and "would overwrite a file inside the input" in text and (calib / "old.onnx").read_bytes() == b"keep"


@pytest.mark.torch
def test_tracker_set_writes_defaults_over_the_weights_own(capsys, tmp_path):
    """``--tracker-set`` changes the file's tracker_defaults field by field over what the weights were
    validated with (the rest stays), so a file exported at another --size carries its own thresholds."""
    pytest.importorskip("torch")
    import dataclasses

    from mottrack_export.onnx_export import build_metadata
    from mottrack_export.options import ExportOptions
    from mottrack_export.weights import TorchModelFromConfig
    from mottrack_sdk.model_metadata import read_model_metadata

    small = {"width_multiple": 0.0625, "embedding_dim": 16}
    loaded = dataclasses.replace(TorchModelFromConfig("cstrack_s", small)(),
                                 tracker_defaults={"det_thresh": 0.4, "min_hits": 6})
    names = ("boxes", "scores", "embeddings", "count")
    own = build_metadata(loaded, ExportOptions(size=(96, 64)), names).tracker_defaults
    assert own == {"det_thresh": 0.4, "min_hits": 6}
    changed = build_metadata(loaded, ExportOptions(size=(96, 64), tracker_defaults={
        "det_thresh": 0.45, "crowd_drop": 0.1}), names).tracker_defaults
    assert changed == {"det_thresh": 0.45, "min_hits": 6, "crowd_drop": 0.1}

    out = tmp_path / "m.onnx"
    code, text = _run(capsys, "--random-weights", "--set", "width_multiple=0.0625", "--set", "embedding_dim=16",
                      "--size", "96x64", "--tracker-set", "det_thresh=0.45", "--tracker-set", "crowd_drop=0.1",
                      "--out", str(out))
    assert code == 0, text
    assert read_model_metadata(out).tracker_defaults == {"det_thresh": 0.45, "crowd_drop": 0.1}


@pytest.mark.parametrize("items, message", [
    (["nope=1"], "unknown tracker option"),
    (["det_thresh"], "expected KEY=VALUE"),
    (["det_thresh=high"], "det_thresh"),
    (["frame_rate=30"], "frame_rate belongs to each video"),
])
def test_tracker_set_refuses_bad_changes_by_name(capsys, tmp_path, items, message):
    argv = [a for item in items for a in ("--tracker-set", item)]
    code, text = _run(capsys, "--random-weights", *argv, "--out", str(tmp_path / "m.onnx"))
    assert code == 2 and "--tracker-set" in text and message in text and "Traceback" not in text
    assert not (tmp_path / "m.onnx").exists()


def test_tracker_set_is_refused_for_an_onnx_source(capsys, tmp_path):
    source = tmp_path / "m.onnx"
    source.write_bytes(b"not read")
    code, text = _run(capsys, "--weights", str(source), "--precision", "fp16", "--tracker-set", "det_thresh=0.5",
                      "--out", str(tmp_path / "m16.onnx"))
    assert code == 2 and "keeps its own metadata" in text
