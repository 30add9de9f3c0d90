"""Weight files accepted by ``mottrack export``: training checkpoints, {"model", "config"} dicts, bare state dicts."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch")

from mottrack_export.weights import TorchModelFromConfig, TorchModelFromWeights, validated_export_defaults  # noqa: E402

pytestmark = pytest.mark.torch
TINY = {"width_multiple": 0.0625, "embedding_dim": 32}


@pytest.fixture(scope="module")
def reference():
    return TorchModelFromConfig("cstrack_s", TINY, seed=7)()


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_bare_state_dict_with_config_overrides(reference, tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(reference.model.state_dict(), path)
    loaded = TorchModelFromWeights(path, "cstrack_s", TINY)()
    assert _same_weights(loaded.model, reference.model) and len(loaded.weights_sha256) == 64
    assert not loaded.model.training


def test_model_and_config_dict(reference, tmp_path):
    path = tmp_path / "dict.pt"
    torch.save({"model": reference.model.state_dict(), "config": {"config": "cstrack_s", "overrides": TINY}}, path)
    assert _same_weights(TorchModelFromWeights(path)().model, reference.model)
    import dataclasses

    torch.save({"model": reference.model.state_dict(), "config": dataclasses.asdict(reference.model.config)}, path)
    assert _same_weights(TorchModelFromWeights(path)().model, reference.model)


def test_training_checkpoint_prefers_ema(reference, tmp_path):
    from mottrack_training.engine.checkpoint import save_checkpoint

    ema = {k: v + 1 if v.is_floating_point() else v for k, v in reference.model.state_dict().items()}
    path = save_checkpoint(tmp_path / "last.pt", {"model": reference.model.state_dict(), "ema": {"model": ema, "updates": 3},
                                                  "model_config": {"config": "cstrack_s", "overrides": TINY}})
    loaded = TorchModelFromWeights(path)()
    assert torch.equal(loaded.model.state_dict()["detect.convs.0.bias"], ema["detect.convs.0.bias"])
    plain = TorchModelFromWeights(path, use_ema=False)()
    assert _same_weights(plain.model, reference.model)


def test_packaged_release_weights(reference, tmp_path):
    """``package-weights`` output: full model config + FP16 state dict (the demo weights' format)."""
    import dataclasses

    half = {k: v.half() if v.is_floating_point() else v for k, v in reference.model.state_dict().items()}
    path = tmp_path / "weights.pt"
    torch.save({"format": "mottrack-weights", "config": dataclasses.asdict(reference.model.config), "model": half,
                "tracker": {"det_thresh": 0.6}}, path)
    loaded = TorchModelFromWeights(path, config="cstrack")()  # the file's own config wins
    assert loaded.model.embedding_dim == 32 and loaded.model_name == "cstrack_s"
    assert loaded.tracker_defaults == {"det_thresh": 0.6}  # -> ONNX metadata tracker_defaults
    got = loaded.model.state_dict()["detect.convs.0.weight"]
    assert got.dtype == torch.float32 and torch.equal(got, half["detect.convs.0.weight"].float())


def test_weights_for_another_config_are_refused(reference, tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(reference.model.state_dict(), path)
    with pytest.raises(ValueError, match="do not fit model config"):
        TorchModelFromWeights(path, "cstrack_s", {"width_multiple": 0.0625, "embedding_dim": 64})()


def test_unreadable_and_foreign_files(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        TorchModelFromWeights(tmp_path / "junk.pt")()
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="expected a mottrack training checkpoint"):
        TorchModelFromWeights(tmp_path / "list.pt")()
    with pytest.raises(FileNotFoundError):
        TorchModelFromWeights(tmp_path / "missing.pt")()


def test_the_shipped_default_model_is_the_packaged_weights_with_their_tracker_settings():
    """``make default-model`` exports ``training/weights/cstrack_nano_real_ft``: the ONNX file names
    those weights by hash and carries the tracker settings their card was measured with (a forgotten
    re-export after ``package-weights --tracker-set`` fails here)."""
    import hashlib
    from pathlib import Path

    import yaml
    from mottrack_sdk.detector import default_model_path
    from mottrack_sdk.model_metadata import read_model_metadata

    onnx_path = default_model_path()
    if not onnx_path.is_file():
        pytest.skip("no default model shipped in this build")
    weights = Path(__file__).resolve().parents[2] / "training" / "weights" / "cstrack_nano_real_ft"
    meta = read_model_metadata(onnx_path)
    assert meta.weights_sha256 == hashlib.sha256((weights / "weights.pt").read_bytes()).hexdigest()
    card = yaml.safe_load((weights / "config.yaml").read_text())
    assert (meta.tracker_defaults or {}) == card["tracker"]
    assert meta.iou_threshold == pytest.approx(card["nms_iou"])  # the NMS the card was measured with
    # the input the card was measured at is stored with the weights: `mottrack export` without --size
    # rebuilds this file's size (weights packaged before session 14 said nothing and gave 1088x608)
    nms_iou, img_size = validated_export_defaults(weights / "weights.pt")
    assert img_size == tuple(card["input_size"]) == tuple(meta.input_size) and nms_iou == card["nms_iou"]


def test_checkpoint_model_configs_of_the_wrong_shape_are_named(tmp_path):
    """A training checkpoint is untrusted input: a string model_config, or overrides sharing one list
    10**9 times (a few MB pickled), are one ValueError each, never walked or printed in full."""
    from mottrack_training.engine.checkpoint import save_checkpoint

    state = {"w": torch.zeros(1)}
    bad = save_checkpoint(tmp_path / "str.pt", {"model": state, "model_config": "hello"})
    with pytest.raises(ValueError, match=r"str.pt: model_config must be \{'config'"):
        TorchModelFromWeights(bad)()
    leaf: list = [1.0] * 10
    for _ in range(8):
        leaf = [leaf] * 10
    bomb = save_checkpoint(tmp_path / "bomb.pt", {"model": state, "model_config": {"config": "cstrack_s",
                                                                                   "overrides": {"anchors": leaf}}})
    with pytest.raises(ValueError, match=r"bomb.pt: model_config overrides: holds more than 100,000 values"):
        TorchModelFromWeights(bomb)()
