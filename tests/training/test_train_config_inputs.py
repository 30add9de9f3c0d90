"""Hostile training configs: a non-string ``extends:`` and integers far beyond any run are one-line errors
naming the file and the key, before any work."""
from __future__ import annotations

import pytest
import yaml

pytest.importorskip("torch", reason="the training component needs PyTorch")

from mottrack_training.engine.options import (MAX_COUNT, MAX_EPOCHS, MAX_SYNTHETIC_SEED,  # noqa: E402
                                              load_train_options, train_options_from_dict)

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("parent, kind", [(["a", "b"], "a list"), ({"a": 1}, "a mapping"), (5, "a number"),
                                          (True, "true/false"), ("", "an empty name")],
                         ids=["list", "mapping", "number", "bool", "empty"])
def test_extends_must_be_a_file_name(tmp_path, parent, kind):
    """``extends: [a, b]`` was looked up as the file "['a', 'b']" ("training config .../['a', 'b'] not found")."""
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"extends": parent, "name": "x"}))
    with pytest.raises(ValueError) as info:
        load_train_options(config)
    assert str(info.value).startswith(f"{config}: extends: expected a file name (a string), got {kind}"), info.value
    assert "not found" not in str(info.value)


def test_extends_still_reads_its_parent(tiny_config, tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(tiny_config()))
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"extends": "base.yaml", "optim": {"epochs": 7}}))
    assert load_train_options(tmp_path / "run.yaml").optim.epochs == 7


@pytest.mark.parametrize("section, changes, key, most", [
    ("optim", {"epochs": 10**21}, "optim.epochs", MAX_EPOCHS),
    ("optim", {"epochs": 10**3999}, "optim.epochs", MAX_EPOCHS),  # 4000 digits
    ("optim", {"milestones": [20, 10**6]}, r"optim.milestones\[1\]", MAX_EPOCHS),
    ("optim", {"max_steps": 10**12}, "optim.max_steps", MAX_COUNT),
    ("optim", {"nominal_batch": 10**9}, "optim.nominal_batch", 1 << 16),
    ("data", {"num_workers": 10**6}, "data.num_workers", 1024),
    ("data", {"batch_size": 10**7}, "data.batch_size", 1 << 16),
    ("loss", {"ihoim_queue_size": 10**9}, "loss.ihoim_queue_size", 1 << 20),
    ("val", {"max_det": 10**10}, "val.max_det", MAX_COUNT),
    ("log", {"keep_epochs": 10**6}, "log.keep_epochs", MAX_EPOCHS),
], ids=["epochs", "epochs_4000_digits", "milestones", "max_steps", "nominal_batch", "num_workers", "batch_size",
        "ihoim_queue_size", "max_det", "keep_epochs"])
def test_integers_of_a_run_config_have_an_upper_bound(tiny_config, section, changes, key, most):
    """``optim.epochs`` of 10**21 or 4000 digits was accepted, and training started."""
    with pytest.raises(ValueError, match=rf"^run\.yaml: {key}: expected an integer of at most {most:,}, got ") as info:
        train_options_from_dict(tiny_config(**{section: changes}), where="run.yaml")
    assert len(str(info.value)) < 200 and "\n" not in str(info.value)


def test_the_bounds_themselves_and_the_synthetic_seed(tiny_config):
    options = train_options_from_dict(tiny_config(optim={"epochs": MAX_EPOCHS, "milestones": [MAX_EPOCHS],
                                                         "max_steps": MAX_COUNT}))
    assert options.optim.epochs == MAX_EPOCHS
    raw = tiny_config()
    raw["data"]["train"][0]["synthetic"]["seed"] = MAX_SYNTHETIC_SEED
    train_options_from_dict(raw)
    raw["data"]["train"][0]["synthetic"]["seed"] = 2**63  # sequence seeds seed * 10000 + i would pass 64 bits
    with pytest.raises(ValueError, match=rf"synthetic\.seed must be an int in \[0, {MAX_SYNTHETIC_SEED}\]"):
        train_options_from_dict(raw, where="run.yaml")


def test_shared_lists_in_stored_options_are_refused_unexpanded():
    """A checkpoint's pickled options can share one list 10**9 times in a few MB; validating them walked it."""
    from mottrack_training.engine.options import train_options_from_dict

    leaf: list = [1] * 10
    for _ in range(8):
        leaf = [leaf] * 10
    with pytest.raises(ValueError, match=r"ckpt \[options\]: holds more than 100,000 values"):
        train_options_from_dict({"data": {}, "optim": {"milestones": leaf}}, where="ckpt [options]")
