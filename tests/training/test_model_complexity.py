"""Parameter and GFLOP targets of issue 3, the per-block report and `mottrack model-info`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the training component needs PyTorch")

from mottrack_training import cli  # noqa: E402
from mottrack_training.model import build_model  # noqa: E402
from mottrack_training.model.complexity import measure_complexity  # noqa: E402

pytestmark = pytest.mark.torch


def _meta_model(name: str):
    with torch.device("meta"):  # no weights allocated: construction and FLOP counting take < 2 s
        return build_model(name)


def test_cstrack_matches_the_reference_size() -> None:
    """Architecture check: the reference measures 78.9 M parameters and 260.2 GFLOPs at 1088x608."""
    report = measure_complexity(_meta_model("cstrack"), 1088, 608)
    assert 78e6 <= report.params <= 80e6
    assert 255 <= report.gflops <= 265
    assert 58 <= report.blocks["saan"].gflops <= 66  # spec: SAAN alone is 62 GFLOPs


def test_cstrack_s_meets_the_flop_budget() -> None:
    report = measure_complexity(_meta_model("cstrack_s"), 1088, 608)
    assert report.gflops <= 20.0
    assert list(report.blocks) == ["backbone", "neck", "ren", "saan", "detect"]
    assert sum(b.params for b in report.blocks.values()) == report.params
    assert sum(b.gflops for b in report.blocks.values()) == pytest.approx(report.gflops, rel=1e-9)


def test_counting_leaves_a_real_model_untouched() -> None:
    model = build_model("cstrack_s")
    before = next(model.parameters()).clone()
    report = measure_complexity(model, 576, 320)
    assert next(model.parameters()).device.type == "cpu" and torch.equal(next(model.parameters()), before)
    assert report.params == sum(p.numel() for p in model.parameters())


def _model_info_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mottrack")
    cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_model_info_prints_a_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "info.json"
    args = _model_info_parser().parse_args(
        ["model-info", "--config", "cstrack_s", "--size", "576x320", "--json", str(target)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    for block in ("backbone", "neck", "ren", "saan", "detect", "total"):
        assert block in printed
    payload = json.loads(target.read_text())
    assert isinstance(payload["params"], int) and isinstance(payload["gflops"], float)
    assert set(payload["blocks"]) == {"backbone", "neck", "ren", "saan", "detect"}
    assert all(set(v) == {"params", "gflops"} for v in payload["blocks"].values())


@pytest.mark.parametrize("size", ["1088", "1088x600", "axb", "0x608"])
def test_model_info_rejects_bad_sizes(size: str) -> None:
    args = _model_info_parser().parse_args(["model-info", "--size", size])
    with pytest.raises(ValueError, match="--size"):
        args.func(args)


def test_model_info_checks_json_before_counting(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    for target, message in ((tmp_path, "is a folder"), (tmp_path / "afile" / "x.json", "is a file, so no folder"),
                            (tmp_path / "info.txt", "ending in .json")):
        args = _model_info_parser().parse_args(["model-info", "--size", "576x320", "--json", str(target)])
        with pytest.raises(ValueError, match=f"--json .*{message}"):
            args.func(args)


def test_cli_module_imports_without_torch_at_import_time() -> None:
    """`mottrack --help` loads every plugin's register(); the training one must not pull in torch."""
    import subprocess
    import sys

    code = "import sys, mottrack_training.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
