"""Averaging fine-tuned checkpoints (``mottrack average-weights``): the weighted mean, what it records,
packaging it, and every bad input named."""
from __future__ import annotations

import pytest
import torch

from mottrack_training.engine import Trainer, train_options_from_dict
from mottrack_training.engine.checkpoint import load_checkpoint, save_checkpoint
from mottrack_training.engine.soup import average_checkpoints, parse_mix

pytestmark = pytest.mark.torch


@pytest.fixture()
def two_runs(tiny_config, tmp_path_factory, one_thread):
    """A tiny run's last checkpoint and a second one whose EMA floats are shifted (another "fine-tune")."""
    out = tmp_path_factory.mktemp("run")
    Trainer(train_options_from_dict(tiny_config(optim={"epochs": 1})), out_dir=out).fit()
    first = out / "last.pt"
    state = load_checkpoint(first)
    generator = torch.Generator().manual_seed(0)
    shifted = {k: v + torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
               for k, v in state["ema"]["model"].items()}
    state["ema"]["model"] = shifted
    second = save_checkpoint(out / "other.pt", {k: v for k, v in state.items() if k not in ("format", "version")})
    return first, second


def test_the_weighted_mean_of_the_ema_weights_and_what_it_records(two_runs, tmp_path):
    first, second = two_runs
    record = average_checkpoints([first, second], tmp_path / "soup.pt", [0.25, 0.75])
    a, b = load_checkpoint(first)["ema"]["model"], load_checkpoint(second)["ema"]["model"]
    soup = load_checkpoint(tmp_path / "soup.pt")
    assert soup["optimizer"] is None and soup["scheduler"] is None
    assert soup["model"].keys() == a.keys()
    for name, value in soup["ema"]["model"].items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.25 * a[name] + 0.75 * b[name])
            assert not torch.equal(value, a[name]) or torch.equal(a[name], b[name])
        else:
            assert torch.equal(value, a[name])
        torch.testing.assert_close(soup["model"][name], value)
    assert [m["weight"] for m in record["averaged_from"]] == [0.25, 0.75]
    assert [m["checkpoint"] for m in soup["averaged_from"]] == [str(first), str(second)]
    assert soup["averaged_from"][0]["options"] == load_checkpoint(first)["options"]


def test_equal_weights_by_default_and_the_cli(two_runs, tmp_path, capsys):
    from mottrack_sdk.cli.main import main

    first, second = two_runs
    assert main(["average-weights", str(first), str(second), "--out", str(tmp_path / "soup.pt")]) == 0
    assert "0.500 x" in capsys.readouterr().out
    a, b = load_checkpoint(first)["ema"]["model"], load_checkpoint(second)["ema"]["model"]
    name = next(k for k, v in a.items() if v.is_floating_point())
    torch.testing.assert_close(load_checkpoint(tmp_path / "soup.pt")["ema"]["model"][name], (a[name] + b[name]) / 2)


def test_the_cli_checks_out_first(two_runs, tmp_path, capsys):
    from mottrack_sdk.cli.main import main

    first, second = two_runs
    (tmp_path / "afile").write_text("x")
    for out, message in ((tmp_path, "is a folder"), (tmp_path / "afile" / "s.pt", "is a file, so no folder")):
        assert main(["average-weights", str(first), str(second), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"--out {out}: " in err and message in err and "Traceback" not in err


def test_a_soup_packages_with_every_members_sources_and_is_not_resumable(two_runs, tmp_path, tiny_config):
    from mottrack_training.engine.release import package_weights

    first, second = two_runs
    average_checkpoints([first, second], tmp_path / "soup.pt")
    card = package_weights(tmp_path / "soup.pt", tmp_path / "pkg", test_seed=5, test_sequences=1,
                           test_root=tmp_path / "test")
    assert [m["weight"] for m in card["training"]["averaged_from"]] == [0.5, 0.5]
    assert any("synthetic scenes" in s["name"] for s in card["training_sources"])
    with pytest.raises(ValueError, match="averaged checkpoint"):
        Trainer(train_options_from_dict(tiny_config(optim={"epochs": 1})), out_dir=tmp_path / "again",
                resume=tmp_path / "soup.pt")


@pytest.mark.parametrize(("text", "message"), [
    ("0.5", "expected 2 weights"), ("0.5,x", "comma-separated numbers"), ("1.5,-0.5", r"in \[0, 1\]"),
    ("0.5,0.6", "sum to 1"), ("nan,0.5", r"in \[0, 1\]"),
])
def test_a_bad_mix_is_named(text, message):
    with pytest.raises(ValueError, match=f"--mix: .*{message}"):
        parse_mix(text, 2)
    assert parse_mix("0.3,0.7", 2) == [0.3, 0.7] and parse_mix(None, 4) == [0.25] * 4


def test_inputs_that_cannot_be_averaged_are_named_and_nothing_is_written(two_runs, tmp_path):
    first, second = two_runs
    out = tmp_path / "soup.pt"
    with pytest.raises(ValueError, match="at least two"):
        average_checkpoints([first], out)
    with pytest.raises(ValueError, match="would overwrite"):
        average_checkpoints([first, second], second)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "something else"}, foreign)
    with pytest.raises(ValueError, match="foreign.pt: not a mottrack training checkpoint"):
        average_checkpoints([first, foreign], out)
    state = load_checkpoint(second)
    name = next(k for k, v in state["ema"]["model"].items() if v.is_floating_point())
    state["ema"]["model"][name] = torch.zeros(3, 3, 3)
    bad_shape = save_checkpoint(tmp_path / "shape.pt", {k: v for k, v in state.items() if k not in ("format", "version")})
    with pytest.raises(ValueError, match=f"shape.pt: parameter {name} has shape"):
        average_checkpoints([first, bad_shape], out)
    state = load_checkpoint(second)
    state["model_config"] = {"config": "another", "overrides": {}}
    other_model = save_checkpoint(tmp_path / "model.pt", {k: v for k, v in state.items() if k not in ("format", "version")})
    with pytest.raises(ValueError, match="model.pt: model config"):
        average_checkpoints([first, other_model], out)
    with_index = []
    for i, path in enumerate((first, second)):  # an integer buffer that is not a step counter
        state = load_checkpoint(path)
        state["ema"]["model"]["head.index"] = torch.tensor([i])
        with_index.append(save_checkpoint(tmp_path / f"index{i}.pt",
                                          {k: v for k, v in state.items() if k not in ("format", "version")}))
    with pytest.raises(ValueError, match="index1.pt: integer buffer head.index differs"):
        average_checkpoints(with_index, out)
    assert not out.exists()


def test_batchnorm_step_counters_take_the_longest_run(two_runs, tmp_path):
    first, second = two_runs
    state = load_checkpoint(second)
    counters = [k for k in state["ema"]["model"] if k.endswith("num_batches_tracked")]
    assert counters, "the tiny model has BatchNorm layers"
    for name in counters:
        state["ema"]["model"][name] = state["ema"]["model"][name] + 7
    longer = save_checkpoint(tmp_path / "longer.pt", {k: v for k, v in state.items() if k not in ("format", "version")})
    average_checkpoints([first, longer], tmp_path / "soup.pt")
    soup = load_checkpoint(tmp_path / "soup.pt")["ema"]["model"]
    for name in counters:
        assert int(soup[name]) == int(state["ema"]["model"][name])


def _weights_only_checkpoint(path, model, ema=None):
    """A checkpoint with just weights (enough for the checks that run before anything is averaged)."""
    return save_checkpoint(path, {"model": model, "ema": None if ema is None else {"model": ema, "updates": 1},
                                  "model_config": {"config": "cstrack_s", "overrides": {}}, "options": {}})


def test_nan_or_inf_weights_are_named_with_the_file_and_parameter(tmp_path, capsys):
    from mottrack_sdk.cli.main import main

    good = {"conv.weight": torch.ones(2, 2), "bn.num_batches_tracked": torch.tensor(3)}
    first = _weights_only_checkpoint(tmp_path / "a.pt", good, good)
    nan = {**good, "conv.weight": torch.tensor([[1.0, float("nan")]])}
    bad_ema = _weights_only_checkpoint(tmp_path / "nan.pt", good, nan)
    bad_model = _weights_only_checkpoint(tmp_path / "inf.pt", {**good, "conv.weight": torch.full((2, 2), float("inf"))})
    out = tmp_path / "soup.pt"
    with pytest.raises(ValueError, match=r"nan.pt: EMA parameter conv.weight holds NaN or inf \(1 of 2 values\)"):
        average_checkpoints([first, bad_ema], out)
    with pytest.raises(ValueError, match=r"inf.pt: model parameter conv.weight holds NaN or inf \(4 of 4 values\)"):
        average_checkpoints([bad_model, first], out)
    assert main(["average-weights", str(first), str(bad_ema), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "nan.pt: EMA parameter conv.weight holds NaN" in err and "\n" not in err and not out.exists()


def test_a_negative_mix_reaches_the_mix_check(tmp_path, capsys):
    """``--mix -1,2`` (a value starting with '-') used to be argparse's "expected one argument"."""
    from mottrack_sdk.cli.main import main

    for argv in (["--mix", "-1,2"], ["--mix", "-.5,1.5"], ["--mix=-1,2"]):
        assert main(["average-weights", "a.pt", "b.pt", "--out", str(tmp_path / "soup.pt"), *argv]) == 2
        err = capsys.readouterr().err
        assert r"--mix: every weight must be in [0, 1]" in err and "expected one argument" not in err
