"""YAML files the commands read (``--config``, ``--tracker-config``, training configs) through
``mottrack_sdk.config.read_yaml``: plain data only, and every bad file is one line naming it."""
from __future__ import annotations

import importlib.util

import pytest

from mottrack_sdk.cli.main import main
from mottrack_sdk.config import read_yaml


def test_read_yaml(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("a: 1\nb: [2, 3]\n")
    assert read_yaml(good) == {"a": 1, "b": [2, 3]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ValueError, match=r"^.*bad.yaml: not valid YAML \([^\n]*\)$"):  # one line
        read_yaml(bad)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: \xe3\x28\xa1\n")
    with pytest.raises(ValueError, match=r"bin.yaml: not a UTF-8 text file \(byte 3"):
        read_yaml(binary)
    code = tmp_path / "code.yaml"
    code.write_text("!!python/object/apply:os.system ['touch " + str(tmp_path / "PWNED") + "']\n")
    with pytest.raises(ValueError, match="code.yaml: not valid YAML"):
        read_yaml(code)
    assert not (tmp_path / "PWNED").exists()
    with pytest.raises(FileNotFoundError, match=r"it is a folder"):
        read_yaml(tmp_path)


@pytest.mark.parametrize("content", [b"a: [1,\n", b"\xe3\x28\xa1", b"!!python/object/apply:os.system ['true']\n"])
def test_a_bad_model_config_is_one_line_naming_it(capsys, tmp_path, content):
    pytest.importorskip("torch")
    config = tmp_path / "model.yaml"
    config.write_bytes(content)
    for argv in (["model-info", "--config", str(config)],
                 ["export", "--random-weights", "--config", str(config), "--out", str(tmp_path / "m.onnx")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"model config {config}: " in err and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_an_engine_without_tensorrt_is_one_line(capsys, tmp_path, sequence):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not an engine")
    assert main(["track", str(sequence), "--model", str(engine), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mottrack track: error: the tensorrt backend needs TensorRT") and "\n" not in err


def test_alias_bombs_huge_and_deep_files_are_refused_quickly(tmp_path):
    """A 'billion laughs' file parses cheaply (aliases stay shared) but expands to 10**9 values in any
    message or walk; a huge or deeply nested file costs the parser minutes or a RecursionError."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"bomb.yaml: holds more than 100,000 values once its shared parts \(YAML aliases"):
        read_yaml(bomb)
    loop = tmp_path / "loop.yaml"
    loop.write_text("&a [1, *a]\n")  # a list that contains itself
    with pytest.raises(ValueError, match="loop.yaml: holds more than"):
        read_yaml(loop)
    loop.write_text("a: &a [1, *a]\n")  # ... inside a mapping, which the parser refuses itself
    with pytest.raises(ValueError, match="loop.yaml: not valid YAML .*recursive"):
        read_yaml(loop)
    shared = tmp_path / "shared.yaml"  # aliases within reason are fine
    shared.write_text("base: &b {lr: 0.1, momentum: 0.9}\nfirst: *b\nsecond: *b\n")
    assert read_yaml(shared)["second"] == {"lr": 0.1, "momentum": 0.9}
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ValueError, match=r"deep.yaml: not valid YAML \(nested too deeply\)"):
        read_yaml(deep)
    big = tmp_path / "big.yaml"
    big.write_text("a: 1\n" + "# padding\n" * 120_000)
    with pytest.raises(ValueError, match=r"big.yaml: 1,200,005 bytes; an options file is at most 1,048,576"):
        read_yaml(big)


def test_messages_show_a_bounded_part_of_a_bad_value():
    from dataclasses import dataclass

    from mottrack_sdk.config import options_from_dict

    @dataclass
    class Opts:
        steps: tuple[int, ...] = ()

    huge = [["x"] * 1000] * 1000  # a million values behind two shared lists
    with pytest.raises(ValueError, match=r"^f.yaml.steps: expected an integer, got \[.*\.\.\.\]$") as info:
        options_from_dict(Opts, {"steps": huge}, where="f.yaml")
    assert len(str(info.value)) < 200


def test_a_key_given_twice_is_refused_and_merge_keys_still_work(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("seed: 5\noptim: {lr: 0.1}\nseed: 7\n")  # PyYAML alone keeps 7 silently
    with pytest.raises(ValueError, match=r"dup.yaml: not valid YAML \(key 'seed' is given twice.*line 3"):
        read_yaml(dup)
    nested = tmp_path / "nested.yaml"
    nested.write_text("optim:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(ValueError, match="key 'lr' is given twice"):
        read_yaml(nested)
    merge = tmp_path / "merge.yaml"
    merge.write_text("base: &b {lr: 0.1, momentum: 0.9}\nopt:\n  <<: *b\n  lr: 0.2\n")
    assert read_yaml(merge)["opt"] == {"lr": 0.2, "momentum": 0.9}


@pytest.mark.parametrize("text, value", [
    ("5e-3", 0.005), ("1E5", 100000.0), (".5", 0.5), ("-.inf", float("-inf")), ("12", 12), ("010", 10),
    ("1:30", "1:30"), ("0x10", "0x10"), ("1_000", "1_000"), ("0b11", "0b11"), ("9" * 400, "9" * 400),
])
def test_numbers_are_read_as_yaml_1_2_writes_them(tmp_path, text, value):
    """PyYAML's YAML 1.1 read "5e-3" as text and "1:30" as 90, "0x10" as 16, "010" as 8, "1_000" as 1000."""
    from mottrack_sdk.config import parse_yaml_value

    path = tmp_path / "n.yaml"
    path.write_text(f"lr: {text}\n")
    for got in (read_yaml(path)["lr"], parse_yaml_value(text, "--set lr")):
        assert got == value and type(got) is type(value)


def test_command_line_values_are_bounded_like_files():
    from mottrack_sdk.config import parse_yaml_value

    bomb = "[&a [1,1,1,1,1,1,1,1,1,1], " + ", ".join(
        f"&{b} [{', '.join([f'*{a}'] * 10)}]" for a, b in zip("abcdefgh", "bcdefghi")) + "]"
    with pytest.raises(ValueError, match=r"^--set anchors: holds more than 100,000 values"):
        parse_yaml_value(bomb, "--set anchors")
    with pytest.raises(ValueError, match=r"^--set x: not valid YAML \(nested too deeply\)$"):
        parse_yaml_value("[" * 50000 + "]" * 50000, "--set x")
    with pytest.raises(ValueError, match=r"^--set x: not valid YAML \([^\n]*\)$"):  # one line
        parse_yaml_value("[", "--set x")
    with pytest.raises(ValueError, match=r"^--set x: not valid YAML .*is not a decimal int"):
        parse_yaml_value("!!int 0x10", "--set x")
    with pytest.raises(ValueError, match="--set x: not valid YAML"):
        parse_yaml_value("!!python/object/apply:os.system ['true']", "--set x")


def test_messages_show_huge_integers_briefly():
    from mottrack_sdk.config import short_repr

    assert short_repr(10**5000) == "<an integer of about 5,001 digits>"  # str() would raise ValueError
    assert short_repr(12) == "12"


def test_a_device_is_not_an_options_file():
    with pytest.raises(ValueError, match="/dev/zero: is a device, expected a YAML file"):
        read_yaml("/dev/zero")  # is_file() is False: "file not found" before, and reading it never ends
