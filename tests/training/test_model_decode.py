"""Box decoding against the spec's formulas, on hand-made head outputs; Detect head layout and bias init."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="the training component needs PyTorch")

from mottrack_training.model.heads import DetectionHead, decode_level, decode_predictions  # noqa: E402

pytestmark = pytest.mark.torch

ANCHORS = [[(8.0, 24.0), (11.0, 34.0), (16.0, 48.0)],
           [(32.0, 96.0), (45.0, 135.0), (64.0, 192.0)],
           [(128.0, 384.0), (180.0, 540.0), (256.0, 640.0)]]


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _expected_row(logits: list[float], gx: int, gy: int, anchor: tuple[float, float],
                  stride: int) -> list[float]:
    """The spec's decode by hand: xy = (2σ − 0.5 + grid)·s, wh = (2σ)²·anchor, score = σ(obj)σ(cls)."""
    tx, ty, tw, th, t_obj, t_cls = logits
    cx = (2 * _sigmoid(tx) - 0.5 + gx) * stride
    cy = (2 * _sigmoid(ty) - 0.5 + gy) * stride
    w = (2 * _sigmoid(tw)) ** 2 * anchor[0]
    h = (2 * _sigmoid(th)) ** 2 * anchor[1]
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, _sigmoid(t_obj) * _sigmoid(t_cls)]


def test_decode_level_matches_the_formulas_cell_by_cell() -> None:
    generator = torch.Generator().manual_seed(0)
    raw = torch.randn(2, 3, 4, 5, 6, generator=generator, dtype=torch.float64) * 2
    anchors = torch.tensor(ANCHORS[1], dtype=torch.float64)
    decoded = decode_level(raw, anchors, stride=16)
    assert decoded.shape == (2, 3 * 4 * 5, 5)
    for b, a, gy, gx in [(0, 0, 0, 0), (1, 2, 3, 4), (0, 1, 2, 3), (1, 0, 3, 0)]:
        row = decoded[b, a * 20 + gy * 5 + gx].tolist()  # order: anchor, row, column
        expected = _expected_row(raw[b, a, gy, gx].tolist(), gx, gy, ANCHORS[1][a], 16)
        assert row == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_decode_of_zero_logits() -> None:
    """σ(0) = 0.5: centre = (cell + 0.5)·stride, size = the anchor, score = 0.25."""
    decoded = decode_level(torch.zeros(1, 3, 2, 2, 6), torch.tensor(ANCHORS[0]), stride=8)
    # anchor 2 (16 x 48) at cell (gx=1, gy=0): centre (12, 4)
    assert decoded[0, 2 * 4 + 1].tolist() == pytest.approx([4.0, -20.0, 20.0, 28.0, 0.25])


def test_decode_predictions_concatenates_levels_in_order() -> None:
    raws = [torch.zeros(1, 3, 8 // 2**i, 12 // 2**i, 6) for i in range(3)]  # 8x12, 4x6, 2x3 cells
    raws[2][0, 1, 0, 2, 4] = 10.0  # P5, anchor 1, row 0, column 2: a confident objectness
    decoded = decode_predictions(raws, torch.tensor(ANCHORS), (8, 16, 32))
    assert decoded.shape == (1, 3 * (96 + 24 + 6), 5)
    index = 3 * 96 + 3 * 24 + 1 * 6 + 0 * 3 + 2
    assert int(decoded[0, :, 4].argmax()) == index
    assert decoded[0, index].tolist()[:4] == pytest.approx([80 - 90, 16 - 270, 80 + 90, 16 + 270])


def test_multiclass_decode_gives_one_score_per_class() -> None:
    raw = torch.zeros(1, 3, 1, 1, 5 + 3)
    raw[..., 5:] = torch.tensor([0.0, 2.0, -2.0])
    decoded = decode_level(raw, torch.tensor(ANCHORS[0]), stride=8)
    assert decoded.shape == (1, 3, 7)
    assert decoded[0, 0, 4:].tolist() == pytest.approx([0.5 * _sigmoid(v) for v in (0.0, 2.0, -2.0)])


def test_detection_head_output_layout() -> None:
    head = DetectionHead([16, 32, 64], (8, 16, 32), ANCHORS, num_classes=1)
    with torch.no_grad():
        for conv in head.convs:
            conv.weight.zero_()
    features = [torch.rand(1, c, 8 // 2**i, 12 // 2**i) for i, c in enumerate([16, 32, 64])]
    raw = head(features)
    assert [t.shape for t in raw] == [(1, 3, 8, 12, 6), (1, 3, 4, 6, 6), (1, 3, 2, 3, 6)]
    for level in range(3):
        # zero weights: every cell outputs the bias, whose channel a·6 + k is raw[..., a, y, x, k]
        torch.testing.assert_close(raw[level][0, :, 1, 2, :], head.convs[level].bias.view(3, 6))


def test_objectness_bias_prior() -> None:
    """Spec: obj bias += log(8 / (640 / stride)²) on top of the default init; nothing else changes."""
    torch.manual_seed(5)
    head = DetectionHead([16, 32, 64], (8, 16, 32), ANCHORS, num_classes=1)
    torch.manual_seed(5)
    plain = [torch.nn.Conv2d(c, 18, 1) for c in (16, 32, 64)]
    for conv, reference, stride in zip(head.convs, plain, (8, 16, 32)):
        expected = torch.zeros(3, 6)
        expected[:, 4] = math.log(8 / (640 / stride) ** 2)
        torch.testing.assert_close((conv.bias - reference.bias).view(3, 6), expected)
