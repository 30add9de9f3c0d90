"""Model configs: the shipped YAMLs load, and wrong configs fail with a clear message."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the training component needs PyTorch")

from mottrack_training.model import ConfigError, build_model, load_model_config  # noqa: E402

pytestmark = pytest.mark.torch


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    return path


def test_shipped_configs_load() -> None:
    full = load_model_config("cstrack")
    small = load_model_config("cstrack_s")
    assert (full.depth_multiple, full.width_multiple) == (1.0, 1.0)
    assert (small.depth_multiple, small.width_multiple) == (0.33, 0.30)
    assert small.backbone == full.backbone and small.neck == full.neck  # same architecture, other multiples
    assert small.embedding_dim == 512 and small.ren and small.saan


def test_channel_and_repeat_scaling() -> None:
    small = load_model_config("cstrack_s")
    assert [small.channels(c) for c in (64, 128, 256, 512, 768, 1024)] == [24, 40, 80, 160, 232, 312]
    assert small.channels(640) == 192  # 640 * 0.3 is 192.00000000000003 in floating point
    assert [small.repeats(n) for n in (1, 3, 9)] == [1, 1, 3]


def test_user_config_extends_a_shipped_one(tmp_path: Path) -> None:
    config = load_model_config(_write(tmp_path, "extends: cstrack_s\nname: no_ren\nren: false\n"))
    assert config.name == "no_ren" and not config.ren and config.width_multiple == 0.30


@pytest.mark.parametrize("text, message", [
    ("extends: cstrack_s\nwidth_multiplier: 0.5\n", "unknown key.*'width_multiplier'"),
    ("extends: cstrack_s\nwidth_multiple: 0\n", "width_multiple must be a number in"),
    ("extends: cstrack_s\nwidth_multiple: -0.5\n", "width_multiple must be a number in"),
    ("extends: cstrack_s\ndepth_multiple: half\n", "depth_multiple must be a number in"),
    ("extends: cstrack_s\nren: 'yes'\n", "ren must be true or false"),
    ("extends: cstrack_s\nbackbone:\n  - {block: Fokus, channels: 64}\n", "unknown block 'Fokus'"),
    ("extends: cstrack_s\nbackbone:\n  - {block: Conv, channels: 64, kernal: 3}\n", "unknown key.*'kernal'"),
    ("extends: cstrack_s\nbackbone:\n  - {block: Conv}\n", "needs 'channels'"),
    ("extends: cstrack_s\nbackbone:\n  - {block: Upsample, stride: 2}\n", "takes no stride"),
    ("extends: cstrack_s\nbackbone:\n  - {block: Conv, channels: -8}\n", "positive integer"),
    ("extends: cstrack_s\nanchors: [[[8, 24]]]\n", "3 outputs but anchors for 1 levels"),
    ("extends: cstrack_s\nembedding_dim: 0\n", "embedding_dim: expected a positive integer"),
    ("name: x\n", "missing required key 'backbone'"),
    ("- just\n- a list\n", "must be a YAML mapping"),
])
def test_wrong_config_gives_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_model_config(path)
    assert str(path) in str(info.value)  # the message names the file


@pytest.mark.parametrize("neck_line, message", [
    ("  - {block: Concat, inputs: [previous, c9]}", "unknown input 'c9'"),
    ("  - {block: Concat, inputs: [previous, c3]}", "Concat of maps at different strides"),
    ("  - {block: Conv, channels: 8, inputs: [previous, c3]}", "takes one input"),
])
def test_wrong_wiring_gives_a_clear_error(tmp_path: Path, neck_line: str, message: str) -> None:
    path = _write(tmp_path, f"extends: cstrack_s\nneck:\n{neck_line}\noutputs: [c3, c4, neck.0]\n")
    with pytest.raises(ConfigError, match=message):
        build_model(path)


def test_unknown_config_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="cstrack, cstrack_nano, cstrack_s"):
        load_model_config("cstrack_xl")
    with pytest.raises(FileNotFoundError):
        load_model_config("/nonexistent/model.yaml")


def test_config_errors_are_value_errors() -> None:
    """The main CLI turns ValueError into a one-line message with exit code 2."""
    assert issubclass(ConfigError, ValueError)
