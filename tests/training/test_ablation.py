"""The ablation runner: every arm trains from the same base config and is measured on held-out sequences."""
from __future__ import annotations

import json

import pytest

from mottrack_training.engine.ablation import ARMS, run_ablation
from mottrack_training.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.torch


def test_arms_differ_only_in_architecture_and_id_loss(tiny_config, tmp_path, one_thread):
    base = tiny_config(optim={"epochs": 1})
    messages: list[str] = []
    rows = run_ablation(base, tmp_path / "abl", ["jde", "ren_saan_ihoim"], test_seed=5, test_sequences=1,
                        test_root=tmp_path / "test", log=messages.append)
    assert [r.arm for r in rows] == ["jde", "ren_saan_ihoim"]
    jde, full = rows
    assert jde.params_m < full.params_m  # REN + SAAN add parameters
    assert all(r.epochs == 1 and isinstance(r.hota, float) and isinstance(r.mota, float) for r in rows)
    saved = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert [r["arm"] for r in saved["rows"]] == ["jde", "ren_saan_ihoim"] and saved["held_out"]["seed"] == 5
    table = (tmp_path / "abl" / "ablation.md").read_text().splitlines()
    assert table[0].startswith("| arm |") and table[2].startswith("| jde |") and len(table) == 4
    ckpt = load_checkpoint(tmp_path / "abl" / "jde" / "last.pt")  # weights_only=True
    assert ckpt["options"]["model"]["overrides"] == {**base["model"]["overrides"], "ren": False, "saan": False}
    assert ckpt["options"]["loss"]["id_loss"] == "ce"

    # finished arms are reused (an interrupted ablation continues), giving the same numbers
    again = run_ablation(base, tmp_path / "abl", ["jde"], test_seed=5, test_sequences=1,
                         test_root=tmp_path / "test", log=messages.append)
    assert any("[jde] reusing" in m for m in messages)
    assert (again[0].hota, again[0].mota, again[0].idf1) == (jde.hota, jde.mota, jde.idf1)


def test_unknown_arms_are_refused(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="arms: expected a non-empty subset"):
        run_ablation(tiny_config(), tmp_path, ["jde", "yolo"])
    assert set(ARMS) == {"jde", "ren", "ren_saan", "ren_saan_ihoim"}
