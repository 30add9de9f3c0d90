"""The in-graph tail in PyTorch: NMS rules, padding, ordering, embedding gather clamped at any size, and the
sparse embedding head (SAAN's last convolutions at the kept cells) against the dense map."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch")

from mottrack_export.options import TailOptions  # noqa: E402
from mottrack_export.tail import DetectionTail, greedy_nms  # noqa: E402

pytestmark = pytest.mark.torch


def _random_boxes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 60, (n, 2))
    boxes = torch.tensor(np.concatenate([xy, xy + wh], 1), dtype=torch.float32)
    return boxes, torch.tensor(rng.uniform(0, 1, n), dtype=torch.float32)


@pytest.mark.parametrize("seed", range(4))
def test_greedy_nms_matches_the_training_reference(seed):
    from mottrack_training.engine.inference import nms

    boxes, scores = _random_boxes(200, seed)
    keep = greedy_nms(boxes, scores, 0.6, 0.3, 1000)
    mask = (scores > 0.3).numpy()
    cand = np.nonzero(mask)[0]
    ref = cand[nms(boxes.numpy()[cand].astype(np.float64), scores.numpy()[cand].astype(np.float64), 0.6, 1000)]
    assert keep.tolist() == ref.tolist()


def test_greedy_nms_caps_output_and_ignores_zero_area_boxes():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [5, 5, 5, 20], [50, 50, 60, 60]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.95, 0.7])
    assert greedy_nms(boxes, scores, 0.5, 0.0, 10).tolist() == [2, 0, 3]  # zero-width box suppresses nothing
    assert greedy_nms(boxes, scores, 0.5, 0.0, 2).tolist() == [2, 0]
    assert greedy_nms(boxes, scores, 0.5, 0.99, 10).numel() == 0


def test_tail_pads_orders_and_normalises():
    boxes, scores = _random_boxes(50, 1)
    decoded = torch.cat([boxes, scores[:, None]], 1)[None]
    emb_map = torch.randn(1, 16, 4, 5)
    tail = DetectionTail(TailOptions(score_threshold=0.5, iou_threshold=0.6, top_k=40, max_det=30), 8)
    out_boxes, out_scores, out_emb, count = tail(decoded, emb_map)
    n = int(count)
    assert out_boxes.shape == (30, 4) and out_scores.shape == (30,) and out_emb.shape == (30, 16)
    assert count.dtype == torch.int64 and count.shape == (1,)
    assert 0 < n <= 30
    assert torch.all(out_scores[:n] > 0.5) and torch.all(out_scores[:n][:-1] >= out_scores[:n][1:])
    assert torch.all(out_boxes[n:] == 0) and torch.all(out_scores[n:] == 0) and torch.all(out_emb[n:] == 0)
    assert torch.allclose(out_emb[:n].norm(dim=1), torch.ones(n), atol=1e-5)


def test_embedding_gather_clamps_centres_outside_the_map():
    # a 3x5 map (stride 8 -> 40x24 px); centres far outside on every side
    emb_map = torch.arange(2 * 3 * 5, dtype=torch.float32).view(1, 2, 3, 5) + 1.0
    boxes = torch.tensor([[-100, -100, -80, -80], [500, 500, 520, 520], [10, 10, 14, 14]], dtype=torch.float32)
    tail = DetectionTail(TailOptions(score_threshold=0.1, top_k=3, max_det=3), 8)
    rows, cols = tail.cells(boxes, 3, 5)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0), (2, 4), (1, 1)]
    decoded = torch.cat([boxes, torch.tensor([[0.9], [0.8], [0.7]])], 1)[None]
    out_boxes, _, out_emb, count = tail(decoded, emb_map)
    assert int(count) == 3 and torch.equal(out_boxes, boxes)
    for row, (y, x) in zip(out_emb, [(0, 0), (2, 4), (1, 1)]):
        vector = emb_map[0, :, y, x]
        assert torch.allclose(row, vector / vector.norm())


@pytest.mark.parametrize("config", ["cstrack_nano", "cstrack_s"])
def test_sparse_embedding_head_equals_the_dense_map_at_every_cell(config):
    """SAAN.embeddings_at (the sparse head) against SAAN.forward's map, border cells (zero padding) included,
    with BatchNorms as trained (eval) and folded."""
    from mottrack_training.model import build_model

    torch.manual_seed(0)
    model = build_model(config, width_multiple=0.125) if config == "cstrack_s" else build_model(config)
    for module in model.modules():  # non-trivial running statistics, so an unapplied BatchNorm would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model.eval()
    images = torch.rand(1, 3, 96, 160)
    for fused in (False, True):
        if fused:
            model.fuse()
        with torch.no_grad():
            _, reid = model.raw_and_reid_features(images)
            dense = model.saan(reid)[0]  # [E, h, w]
            levels = model.saan.attended_levels(reid)
            height, width = dense.shape[1:]
            rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
            sparse = model.saan.embeddings_at(levels, rows.reshape(-1), cols.reshape(-1))
        expected = dense.reshape(dense.shape[0], -1).transpose(0, 1)
        assert sparse.shape == expected.shape
        assert torch.allclose(sparse, expected, atol=1e-5, rtol=1e-4), (fused, (sparse - expected).abs().max())


def test_sparse_embedding_head_refuses_a_batch():
    from mottrack_training.model import build_model

    model = build_model("cstrack_nano").eval()
    levels = torch.zeros(2, 96, 4, 5)
    with pytest.raises(ValueError, match="batch 1"):
        model.saan.embeddings_at(levels, torch.zeros(1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64))
    with pytest.raises(ValueError, match="both rows and cols"):  # checked before any feature is read
        model.saan([], rows=torch.zeros(1, dtype=torch.int64))


def test_end_to_end_heads_agree_and_unknown_head_is_refused(detecting_model):
    from mottrack_export.tail import EndToEndModel

    loaded = detecting_model((128, 96))
    options = TailOptions(score_threshold=0.3)
    images = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        sparse = EndToEndModel(loaded.model, options, "sparse").eval()(images)
        dense = EndToEndModel(loaded.model, options, "dense").eval()(images)
    assert int(sparse[3]) > 0, "the test model must keep boxes, or nothing is compared"
    assert torch.equal(sparse[0], dense[0]) and torch.equal(sparse[1], dense[1]) and torch.equal(sparse[3], dense[3])
    assert torch.allclose(sparse[2], dense[2], atol=1e-5)
    with pytest.raises(ValueError, match="embedding_head"):
        EndToEndModel(loaded.model, options, "map")


def test_tail_options_are_validated():
    with pytest.raises(ValueError, match="top_k"):
        TailOptions(top_k=4000)
    with pytest.raises(ValueError, match="max_det"):
        TailOptions(top_k=100, max_det=200)
    with pytest.raises(ValueError, match="score_threshold"):
        TailOptions(score_threshold=1.0)
