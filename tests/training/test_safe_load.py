"""Weight files are data, never code: a crafted pickle is refused (naming the file) and runs nothing.

Each loading path (``mottrack export --weights``, ``package-weights --checkpoint``, ``train --resume``,
the packaged-model loader) is tried with a file whose unpickling would run ``touch MARKER``; the
marker must not appear. The files our own code writes still load.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training component needs PyTorch")

from mottrack_sdk.cli.main import main  # noqa: E402
from mottrack_training.engine import load_checkpoint, load_model_weights, save_checkpoint  # noqa: E402
from mottrack_training.engine.checkpoint import capture_rng_state  # noqa: E402
from mottrack_training.engine.release import load_packaged_model  # noqa: E402
from mottrack_training.engine.safe_load import UnsafeWeightsError, load_weights_file  # noqa: E402

pytestmark = pytest.mark.torch


class _RunsCommand:
    """Unpickling this calls ``os.system(command)`` (what a crafted weights file would do)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.fixture(params=["zip", "legacy"])
def crafted(request, tmp_path) -> tuple[Path, Path]:
    """(a .pt file whose unpickling would create ``marker``, marker), in both torch.save formats."""
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    payload = {"format": "mottrack-train-checkpoint", "version": 1, "model": _RunsCommand(f"touch {marker}")}
    torch.save(payload, path, _use_new_zipfile_serialization=request.param == "zip")
    return path, marker


@pytest.mark.parametrize("load", [load_weights_file, load_checkpoint, load_model_weights, load_packaged_model],
                         ids=["load_weights_file", "load_checkpoint (train --resume)", "load_model_weights",
                              "load_packaged_model"])
def test_a_crafted_pickle_is_refused_by_every_loader_and_runs_nothing(crafted, load):
    path, marker = crafted
    with pytest.raises(UnsafeWeightsError, match=rf"{path}.*refused.*posix\.system|{path}.*refused.*os\.system"):
        load(path)
    assert not marker.exists()


def test_export_loader_refuses_a_crafted_pickle(crafted):
    from mottrack_export.weights import TorchModelFromWeights

    path, marker = crafted
    with pytest.raises(UnsafeWeightsError, match=rf"--weights {path}: refused"):
        TorchModelFromWeights(path)()
    assert not marker.exists()


def test_trainer_resume_refuses_a_crafted_checkpoint(crafted, tiny_config):
    from mottrack_training.engine import Trainer, train_options_from_dict

    path, marker = crafted
    with pytest.raises(UnsafeWeightsError, match=rf"checkpoint {path}: refused"):
        Trainer(train_options_from_dict(tiny_config()), out_dir=path.parent / "run", resume=path)
    assert not marker.exists()


@pytest.mark.parametrize("argv", [
    ["export", "--weights", "{evil}", "--out", "{tmp}/m.onnx"],
    ["package-weights", "--checkpoint", "{evil}", "--out", "{tmp}/pkg"],
    ["train", "--resume", "{evil}", "--out", "{tmp}/run"],
], ids=["export", "package-weights", "train"])
def test_cli_refuses_a_crafted_pickle_with_a_one_line_error(crafted, tmp_path, capsys, argv):
    path, marker = crafted
    code = main([a.format(evil=path, tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and "refused" in err and "Traceback" not in err
    assert not marker.exists()
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "pkg").exists()


def test_our_own_files_load_under_the_allow_list(tmp_path):
    """A checkpoint with the RNG states (numpy arrays), packaged weights and a bare state dict."""
    payload = {"model": {"w": torch.ones(2)}, "rng": [capture_rng_state()], "best": {"value": 1.5},
               "options": {"a": [1, 2.0, "x", None, (3, 4)]}}
    save_checkpoint(tmp_path / "ckpt.pt", payload)
    state = load_checkpoint(tmp_path / "ckpt.pt")
    assert isinstance(state["rng"][0]["numpy"][1], np.ndarray) and state["best"] == {"value": 1.5}
    assert torch.equal(load_model_weights(tmp_path / "ckpt.pt")["w"], torch.ones(2))
    torch.save({"a": torch.zeros(3)}, tmp_path / "bare.pt")
    assert torch.equal(load_model_weights(tmp_path / "bare.pt")["a"], torch.zeros(3))
    shipped = Path(__file__).resolve().parents[2] / "training" / "weights" / "cstrack_s_demo" / "weights.pt"
    if shipped.is_file():
        assert load_weights_file(shipped)["format"] == "mottrack-weights"


def test_a_pickle_calling_eval_is_refused_as_code(tmp_path):
    """torch 2.x words this refusal "Unsupported global: GLOBAL builtins.eval"; it is a crafted file, not junk."""
    marker = tmp_path / "PWNED"
    torch.save({"model": _Evaluates(f"__import__('os').system('touch {marker}')")}, tmp_path / "eval.pt")
    with pytest.raises(UnsafeWeightsError, match=r"eval.pt: refused: the file contains a Python object \(.*eval\)"):
        load_weights_file(tmp_path / "eval.pt")
    assert not marker.exists()


class _Evaluates:
    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return eval, (self.code,)


def test_foreign_and_missing_files_are_named(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pt: not a PyTorch weights file \(it is empty\)"):
        load_checkpoint(tmp_path / "empty.pt")
    (tmp_path / "junk.pt").write_bytes(b"plain text, not a pickle")
    with pytest.raises(ValueError, match=r"checkpoint .*junk\.pt: not a PyTorch weights file"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
