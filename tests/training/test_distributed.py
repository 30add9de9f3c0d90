"""Distributed training: the sharded batch sampler, and a 2-process gloo DDP run on CPU that keeps
every rank's parameters identical (synchronised gradients) and matches a single process that
accumulates the same global batch."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training component needs PyTorch")

from mottrack_training.data import collate  # noqa: E402
from mottrack_training.engine import ShardedBatchSampler, Trainer, train_options_from_dict  # noqa: E402

pytestmark = pytest.mark.torch

WORLD = 2


def test_sharded_sampler_gives_each_rank_the_micro_batches_a_single_process_would_accumulate():
    single = list(ShardedBatchSampler(13, batch_size=2, world_size=1, rank=0, seed=3))
    ranks = [list(ShardedBatchSampler(13, batch_size=2, world_size=WORLD, rank=r, seed=3)) for r in range(WORLD)]
    assert len(single) == 6 and all(len(r) == 3 for r in ranks)  # 13 // 4 = 3 global micro-batches
    for k in range(3):
        for r in range(WORLD):
            assert ranks[r][k] == single[k * WORLD + r]
    assert sorted(i for r in ranks for b in r for i in b) == sorted(i for b in single[:6] for i in b)

    sampler = ShardedBatchSampler(13, batch_size=2, seed=3)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != single  # a new permutation per epoch ...
    sampler.set_epoch(1, start_batch=4)
    assert list(sampler) == epoch1[4:] and len(sampler) == 2  # ... and a mid-epoch restart point
    with pytest.raises(ValueError, match="fewer"):
        ShardedBatchSampler(3, batch_size=2, world_size=WORLD)


@pytest.mark.parametrize("env, message", [
    ({"WORLD_SIZE": "2", "RANK": "5"}, r"RANK='5': expected an integer from 0 to 1 \(.*below WORLD_SIZE=2\)"),
    ({"WORLD_SIZE": "2", "RANK": "-1"}, r"RANK='-1': expected an integer from 0 to 1"),
    ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "2"}, r"LOCAL_RANK='2': expected an integer from 0 to 1"),
    ({"WORLD_SIZE": "abc"}, r"WORLD_SIZE='abc': expected an integer from 1 to \d+ \(the number of processes"),
    ({"WORLD_SIZE": "-5", "LOCAL_RANK": "-7"}, r"WORLD_SIZE='-5': expected an integer from 1"),
    ({"WORLD_SIZE": "0"}, r"WORLD_SIZE='0'"),
    ({"WORLD_SIZE": "1_000"}, r"WORLD_SIZE='1_000'"),
    ({"WORLD_SIZE": "9" * 5000}, r"WORLD_SIZE='9999.*': expected an integer"),
    ({"LOCAL_RANK": "-7"}, r"LOCAL_RANK='-7': expected an integer 0 \(.*WORLD_SIZE, unset: 1 process\)"),
    ({"RANK": "1"}, r"RANK='1'"),
], ids=["rank_above", "rank_negative", "local_rank_above", "text", "negative", "zero", "underscore", "huge",
        "local_rank_alone", "rank_alone"])
def test_a_bad_launch_environment_is_one_line_naming_the_variable_before_any_rendezvous(monkeypatch, env, message):
    """WORLD_SIZE=2 RANK=5 waited 30 minutes in the rendezvous; WORLD_SIZE=abc said only "invalid literal";
    WORLD_SIZE=-5 LOCAL_RANK=-7 trained as one process without a word."""
    from mottrack_training.engine import distributed

    def rendezvous(*args, **kwargs):
        raise AssertionError("init_process_group reached")

    monkeypatch.setattr(distributed.dist, "init_process_group", rendezvous)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="^environment variable " + message) as info:
        distributed.init_distributed("cpu")
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_the_launch_environment_torchrun_sets_is_read():
    from mottrack_training.engine.distributed import MAX_WORLD_SIZE, launch_env

    assert launch_env({}) == (1, 0, 0)
    assert launch_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == (4, 3, 1)
    assert launch_env({"WORLD_SIZE": " 2\n", "RANK": "+1"}) == (2, 1, 0)
    assert launch_env({"WORLD_SIZE": str(MAX_WORLD_SIZE), "RANK": str(MAX_WORLD_SIZE - 1)})[1] == MAX_WORLD_SIZE - 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, port: int, raw: dict, out_dir: str) -> None:
    """One rank: train through the real Trainer (env:// init, gloo), then save its parameters and the
    gradients of one extra backward on this rank's own first batch."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    from mottrack_training.engine.distributed import shutdown_distributed

    try:
        trainer = Trainer(train_options_from_dict(raw), out_dir=Path(out_dir) / "ddp")
        summary = trainer.fit()
        trainer.sampler.set_epoch(0)
        loader = torch.utils.data.DataLoader(trainer.dataset, batch_sampler=trainer.sampler, collate_fn=collate)
        batch = next(iter(loader))
        trainer.optimizer.zero_grad()
        out = trainer.ddp(batch.images, batch.targets)
        out.total.backward()
        torch.save({"params": {k: v.detach().clone() for k, v in trainer.net.named_parameters()},
                    "grads": {k: v.grad.clone() for k, v in trainer.net.named_parameters() if v.grad is not None},
                    "local_loss": out.total.item(), "steps": summary.steps},
                   Path(out_dir) / f"rank{rank}.pt")
    finally:
        shutdown_distributed()


def test_two_process_gloo_ddp_matches_one_process(tiny_config, tmp_path, one_thread):
    import torch.multiprocessing as mp

    raw = tiny_config(optim={"epochs": 2}, val={"every_epochs": 0})  # batch 2, nominal 4
    mp.spawn(_ddp_worker, args=(_free_port(), raw, str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]

    # synchronised: after 6 optimizer steps every rank holds the same parameters, and one more
    # backward on different data (different local losses) leaves identical, all-reduced gradients
    assert ranks[0]["local_loss"] != ranks[1]["local_loss"]
    for name, value in ranks[0]["params"].items():
        assert torch.equal(value, ranks[1]["params"][name]), name
    assert set(ranks[0]["grads"]) == set(ranks[1]["grads"]) and ranks[0]["grads"]
    for name, grad in ranks[0]["grads"].items():
        assert torch.allclose(grad, ranks[1]["grads"][name], rtol=0, atol=1e-7), name

    # equivalent: one process with the same global batch (2 per micro-batch x accumulate 2)
    single = Trainer(train_options_from_dict(raw), out_dir=tmp_path / "single")
    assert (single.accumulate, WORLD * 1) == (2, 2)
    summary = single.fit()
    ddp_steps = ranks[0]["steps"]
    assert len(ddp_steps) == len(summary.steps) == 6
    for a, b in zip(ddp_steps, summary.steps):
        assert a["lr"] == b["lr"]
        np.testing.assert_allclose([a[k] for k in ("loss", "box", "obj", "id")],
                                   [b[k] for k in ("loss", "box", "obj", "id")], rtol=1e-4, atol=1e-6)
    worst = 0.0
    for name, param in single.net.named_parameters():
        diff = (param.detach() - ranks[0]["params"][name]).abs().max().item()
        worst = max(worst, diff / (param.detach().abs().max().item() + 1e-12))
    print(f"DDP vs one process: largest relative parameter difference {worst:.2e}")
    assert worst < 1e-4, f"largest relative parameter difference {worst:.2e}"
    assert (tmp_path / "ddp" / "last.pt").is_file()  # rank 0 checkpointed


def test_torchrun_launches_the_train_command(tiny_config, tmp_path, one_thread):
    """The documented launch: ``torchrun --nproc-per-node 2 -m mottrack_sdk.cli.main train ...`` (gloo);
    rank 0 alone logs and checkpoints, and the logged losses are the single-process ones."""
    import csv
    import subprocess
    import sys

    import yaml

    raw = tiny_config(val={"every_epochs": 0})
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(WORLD), "--master-addr",
           "127.0.0.1", "--master-port", str(_free_port()), "-m", "mottrack_sdk.cli.main", "train", "--config",
           str(config), "--out", str(tmp_path / "run")]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done:") == 1 and "on 2 x cpu" in done.stdout
    with open(tmp_path / "run" / "steps.csv", newline="") as fh:
        logged = [float(r["loss"]) for r in csv.DictReader(fh)]
    single = Trainer(train_options_from_dict(raw), out_dir=tmp_path / "single").fit()
    np.testing.assert_allclose(logged, [s["loss"] for s in single.steps], rtol=1e-5, atol=1e-7)
