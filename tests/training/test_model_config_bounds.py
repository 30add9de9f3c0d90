"""Model configs from untrusted files are bounded before anything is allocated (``config_bounds``):
values that loop, crash the build or size huge tensors are ConfigErrors naming the file and key."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the training component needs PyTorch")

from mottrack_training.model import ConfigError, build_model, load_model_config  # noqa: E402
from mottrack_training.model.config import CONFIG_DIR, config_from_dict  # noqa: E402
from mottrack_training.model.config_bounds import MAX_PARAMETERS, check_parameter_count  # noqa: E402

pytestmark = pytest.mark.torch


def _variant(tmp_path: Path, old: str, new: str, name: str = "variant.yaml") -> Path:
    """cstrack.yaml with its first ``old`` replaced by ``new``."""
    text = (CONFIG_DIR / "cstrack.yaml").read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("overrides, message", [
    ({"embedding_dim": 100_000_000}, r"embedding_dim: expected an integer in \[1, 4,096\], got 100000000"),
    ({"channel_divisor": 10**9}, r"channel_divisor: expected an integer in \[1, 256\]"),
    ({"saan_channels": 10**9}, r"saan_channels: expected an integer in \[1, 16,384\]"),
    ({"num_classes": 10**8}, r"num_classes: expected an integer in \[1, 1,024\]"),
    ({"ren_pool_size": [100000, 6]}, r"ren_pool_size: expected an integer in \[1, 32\]"),
    ({"name": 5}, "name must be a string"),
    ({"anchors": [[[10, 13], [16, 30], [33, True]]] * 3}, r"anchors.*finite numbers > 0"),
    ({"anchors": [[[10, 13], [16, 30], [33, float("inf")]]] * 3}, r"anchors.*finite numbers > 0"),
])
def test_overrides_beyond_the_bounds_are_named_before_anything_is_built(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_model("cstrack_s", **overrides)


def test_bounds_hold_for_config_objects_changed_in_code_and_stored_dicts():
    config = load_model_config("cstrack_s")
    with pytest.raises(ConfigError, match="embedding_dim: expected an integer"):
        build_model(config, embedding_dim=10**8)  # dataclasses.replace: no parser in between
    with pytest.raises(ConfigError, match="unexpected keyword"):
        build_model(config, no_such_key=1)
    stored = dataclasses.asdict(dataclasses.replace(config, embedding_dim=10**8))
    with pytest.raises(ConfigError, match="embedding_dim"):
        build_model(config_from_dict(stored, "ckpt [config]"))
    nano = load_model_config("cstrack_nano")
    with pytest.raises(ConfigError, match="saan_channels"):
        build_model(nano, saan_channels=10**9)


@pytest.mark.parametrize("old, new, message", [
    ("repeats: 9, name: c3", "repeats: 1000000000, name: c3", r"repeats: expected an integer in \[1, 64\]"),
    ("kernel: 3}", "kernel: 4}", "expected an odd kernel"),
    ("pool_kernels: [5, 9, 13]", "pool_kernels: [-5, 0, 100000]", r"pool_kernels: expected an integer in \[1, 31\]"),
    ("pool_kernels: [5, 9, 13]", "pool_kernels: [4]", "pool_kernels: expected odd sizes"),
])
def test_layer_values_that_loop_or_crash_the_build_are_named(tmp_path, old, new, message):
    with pytest.raises(ConfigError, match=message):
        build_model(_variant(tmp_path, old, new))


def test_the_parameter_count_bounds_every_width_together(tmp_path):
    """Each value within its own bound, the network too big together: counted on the meta device."""
    with pytest.raises(ConfigError, match=rf"parameters; at most {MAX_PARAMETERS:,}"):
        build_model("cstrack", width_multiple=4.0)  # 16x CSTrack's 79 M
    config = load_model_config("cstrack_s")
    assert check_parameter_count(config, lambda c: build_model(c)) == sum(
        p.numel() for p in build_model(config).parameters())


def test_extends_must_name_a_file(tmp_path):
    for value, kind in (("[a, b]", "list"), ("{a: 1}", "dict"), ("5", "int")):
        path = tmp_path / "child.yaml"
        path.write_text(f"extends: {value}\nembedding_dim: 64\n")
        with pytest.raises(ConfigError, match=f"extends: expected a config name or a YAML file name, got {kind}"):
            load_model_config(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_fifo_or_folder_is_not_a_config_file(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"is a named pipe \(FIFO\), expected a YAML file"):
        load_model_config(fifo)  # does not block
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        load_model_config(tmp_path / "dir.yaml")


def test_shared_lists_in_overrides_are_refused_unexpanded():
    """A checkpoint's pickled overrides can share one list 10**9 times in a few MB (an alias bomb)."""
    leaf: list = [1.0] * 10
    for _ in range(8):
        leaf = [leaf] * 10
    with pytest.raises(ValueError, match="holds more than 100,000 values"):
        load_model_config("cstrack_s", anchors=leaf)
    with pytest.raises(ValueError, match="holds more than 100,000 values"):
        config_from_dict({"name": "x", "anchors": leaf}, "ckpt [config]")
