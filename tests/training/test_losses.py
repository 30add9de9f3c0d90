"""Training losses: YOLOv5 assignment on hand-made boxes, CIoU worked examples, objectness targets,
JDE ID cross-entropy, iHOIM probabilities and memory updates, and overfitting one small batch."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training component needs PyTorch")

import torch.nn.functional as F  # noqa: E402

from mottrack_training.losses import (CSTrackCriterion, IHoimLoss, JdeIdentityLoss, LossOptions,  # noqa: E402
                                      ModelWithLoss, assign_targets, box_ciou, detection_loss, jde_scale,
                                      objectness_target, predicted_boxes, sample_background)

pytestmark = pytest.mark.torch

ANCHORS = torch.tensor([[[8, 24], [11, 34], [16, 48]], [[32, 96], [45, 135], [64, 192]],
                        [[128, 384], [180, 540], [256, 640]]], dtype=torch.float32)
STRIDES = (8, 16, 32)
SIZE = 256  # a square 256x256 input: grids 32, 16 and 8


def _target(image: int, cx: float, cy: float, w: float, h: float, identity: int = 0) -> list[float]:
    """A target row from pixel values on the 256x256 input."""
    return [image, 0, identity, cx / SIZE, cy / SIZE, w / SIZE, h / SIZE]


def _positives(levels) -> set[tuple[int, int, int, int, int]]:
    return {(lvl, int(i), int(a), int(y), int(x)) for lvl, p in enumerate(levels)
            for i, a, y, x in zip(p.image, p.anchor, p.grid_y, p.grid_x)}


# ----------------------------------------------------------------------------------- assignment
def test_assignment_on_hand_made_boxes():
    # GT A: centre (98, 58) px, 16x48 px. P3 grid units: centre (12.25, 7.25), size (2, 6): every P3
    # anchor is within 4x, cells = own (12, 7) + left (11, 7) + up (12, 6).
    # P4: centre (6.125, 3.625), size (1, 3) vs anchors (2, 6), (2.81, 8.44), (4, 12): ratios 2, 2.81,
    # 4 -> anchors 0 and 1 (4 is not < 4); cells own (6, 3), left (5, 3), down (6, 4) (y frac .625).
    # P5: size (0.5, 1.5) vs (4, 12): ratio 8 -> none.
    # GT B (image 1): centre (2, 58) px, 16x48: P3 centre (0.25, 7.25): no left neighbour (x <= 1),
    # so own (0, 7) + up (0, 6).
    targets = torch.tensor([_target(0, 98, 58, 16, 48), _target(1, 2, 58, 16, 48)])
    levels = assign_targets(targets, ANCHORS, STRIDES, [(32, 32), (16, 16), (8, 8)])
    expected = {(0, 0, a, y, x) for a in range(3) for (y, x) in ((7, 12), (7, 11), (6, 12))}
    expected |= {(1, 0, a, y, x) for a in (0, 1) for (y, x) in ((3, 6), (3, 5), (4, 6))}
    expected |= {(0, 1, a, y, x) for a in range(3) for (y, x) in ((7, 0), (6, 0))}
    expected |= {(1, 1, a, y, x) for a in (0, 1) for (y, x) in ((3, 0), (4, 0))}  # P4 (0.125, 3.625)
    assert _positives(levels) == expected
    assert len(levels[2]) == 0

    p3 = levels[0]
    boxes = {(int(y), int(x)): p3.box[k].tolist() for k, (y, x) in enumerate(zip(p3.grid_y, p3.grid_x))
             if int(p3.image[k]) == 0 and int(p3.anchor[k]) == 0}
    assert boxes[(7, 12)] == pytest.approx([0.25, 0.25, 2.0, 6.0])   # offsets from the own cell
    assert boxes[(7, 11)] == pytest.approx([1.25, 0.25, 2.0, 6.0])   # left neighbour
    assert boxes[(6, 12)] == pytest.approx([0.25, 1.25, 2.0, 6.0])   # upper neighbour
    assert p3.anchor_wh[p3.anchor == 2][0].tolist() == pytest.approx([2.0, 6.0])
    assert set(p3.target_index[p3.image == 1].tolist()) == {1}
    assert int(p3.own_cell.sum()) == 3 + 3  # one own cell per (GT, anchor)


def test_assignment_centre_on_the_middle_line_and_the_border():
    # centre exactly in a cell's middle (12.5, 7.5): no neighbour on either axis; a centre on the
    # bottom-right edge is clamped into the last cell.
    targets = torch.tensor([_target(0, 100, 60, 16, 48), _target(0, 256, 256, 16, 48)])
    p3 = assign_targets(targets, ANCHORS, STRIDES, [(32, 32), (16, 16), (8, 8)])[0]
    first = p3.target_index == 0
    assert {(int(y), int(x)) for y, x in zip(p3.grid_y[first], p3.grid_x[first])} == {(7, 12)}
    second = p3.target_index == 1
    cells = {(int(y), int(x)) for y, x in zip(p3.grid_y[second], p3.grid_x[second])}
    assert cells == {(31, 31)}
    assert p3.box[second][0, :2].tolist() == pytest.approx([1.0, 1.0])  # reachable: 2σ - 0.5 < 1.5


def test_anchor_ratio_threshold_is_strict():
    # a 32x96 box is exactly 4x the smallest P3 anchor (8x24): not a match; anchors 1 (2.9x) and
    # 2 (2x) match.
    targets = torch.tensor([_target(0, 100, 60, 32, 96)])
    p3 = assign_targets(targets, ANCHORS, STRIDES, [(32, 32), (16, 16), (8, 8)])[0]
    assert set(p3.anchor.tolist()) == {1, 2}


# ----------------------------------------------------------------------------------- CIoU
def _xywh(x1: float, y1: float, x2: float, y2: float) -> list[float]:
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def test_ciou_worked_examples():
    pred = torch.tensor([_xywh(0, 0, 2, 2), _xywh(0, 0, 2, 2), _xywh(0, 0, 2, 2), _xywh(0, 0, 2, 2)],
                        dtype=torch.float64)
    target = torch.tensor([_xywh(0, 0, 2, 2), _xywh(3, 0, 5, 2), _xywh(1, 0, 3, 2), _xywh(0, 0, 2, 4)],
                          dtype=torch.float64)
    ciou = box_ciou(pred, target).tolist()  # eps = 1e-7 guards 0/0: values agree to ~1e-7
    # identical boxes
    assert ciou[0] == pytest.approx(1.0, abs=1e-6)
    # disjoint, same shape: IoU 0, centres 3 apart, enclosing box 5x2 -> -(9 / 29)
    assert ciou[1] == pytest.approx(-9.0 / 29.0, abs=1e-6)
    # half-shifted: IoU 2/6, centres 1 apart, enclosing 3x2 -> 1/3 - 1/13
    assert ciou[2] == pytest.approx(1.0 / 3.0 - 1.0 / 13.0, abs=1e-6)
    # same left/top, twice as tall: IoU 1/2, centres 1 apart, enclosing 2x4 (c² = 20),
    # v = 4/π² (atan(2/4) - atan(2/2))², α = v / (v - 1/2 + 1)
    v = 4.0 / math.pi ** 2 * (math.atan(0.5) - math.atan(1.0)) ** 2
    assert ciou[3] == pytest.approx(0.5 - 1.0 / 20.0 - v / (v + 0.5) * v, abs=1e-6)


def test_ciou_gradient_moves_the_prediction_toward_the_target():
    pred = torch.tensor([_xywh(0, 0, 2, 2)], requires_grad=True)
    target = torch.tensor([_xywh(1, 0, 3, 2)])
    (1 - box_ciou(pred, target)).sum().backward()
    assert pred.grad[0, 0] < 0  # increasing cx (toward the target) lowers the loss


# ----------------------------------------------------------------------------------- objectness
def test_objectness_target_is_the_detached_clamped_ciou():
    torch.manual_seed(0)
    targets = torch.tensor([_target(0, 98, 58, 16, 48), _target(0, 100, 60, 16, 48), _target(1, 30, 200, 40, 120)])
    shapes = [(32, 32), (16, 16), (8, 8)]
    levels = assign_targets(targets, ANCHORS, STRIDES, shapes)
    raw = [torch.randn(2, 3, h, w, 6, requires_grad=True) for h, w in shapes]
    pos = levels[0]
    ciou = box_ciou(predicted_boxes(raw[0], pos), pos.box)
    target = objectness_target(raw[0].shape[:4], pos, ciou)
    assert not target.requires_grad
    flat = ((pos.image * 3 + pos.anchor) * 32 + pos.grid_y) * 32 + pos.grid_x
    expected = torch.zeros(2 * 3 * 32 * 32)
    for k, value in zip(flat.tolist(), ciou.detach().clamp(min=0).tolist()):
        expected[k] = max(expected[k].item(), value)  # two GTs claiming one prediction: the best CIoU
    assert torch.equal(target.view(-1), expected)
    assert len(set(flat.tolist())) < len(flat)  # the two overlapping GTs do share predictions

    # the objectness term sends no gradient into the box logits (the target is detached)
    terms = detection_loss(raw, levels, targets[:, 1].long(), (4.0, 1.0, 0.4), 0.05, 1.0, 0.5)
    terms["obj"].backward()
    for r in raw:
        assert torch.count_nonzero(r.grad[..., :4]) == 0
        assert torch.count_nonzero(r.grad[..., 4]) > 0


def test_objectness_level_weights_and_box_weight():
    shapes = [(8, 8), (4, 4), (2, 2)]
    raw = [torch.zeros(1, 3, h, w, 6) for h, w in shapes]
    empty = assign_targets(torch.zeros(0, 7), ANCHORS, STRIDES, shapes)
    terms = detection_loss(raw, empty, torch.zeros(0, dtype=torch.long), (4.0, 1.0, 0.4), 0.05, 1.0, 0.5)
    assert terms["obj"].item() == pytest.approx((4.0 + 1.0 + 0.4) * math.log(2.0), rel=1e-6)  # BCE(0 logit, 0)
    assert terms["box"].item() == 0.0 and terms["cls"].item() == 0.0


def test_yolox_score_targets_objectness_one_and_class_iou_with_one_class():
    torch.manual_seed(0)
    targets = torch.tensor([_target(0, 98, 58, 16, 48), _target(1, 30, 200, 40, 120)])
    shapes = [(32, 32), (16, 16), (8, 8)]
    anchors = ANCHORS[:, :1]  # anchor-free head: one "anchor" per level for the assignment
    levels = assign_targets(targets, anchors, STRIDES, shapes)
    raw = [torch.randn(2, 1, h, w, 6, requires_grad=True) for h, w in shapes]
    classes = targets[:, 1].long()
    yolov5 = detection_loss(raw, levels, classes, (4.0, 1.0, 0.4), 0.05, 1.0, 0.5, "yolox")
    yolox = detection_loss(raw, levels, classes, (4.0, 1.0, 0.4), 0.05, 1.0, 0.5, "yolox", score_targets="yolox")
    assert yolov5["cls"].item() == 0.0 and yolox["cls"].item() > 0  # one class: trained only with yolox targets
    expected_obj, expected_cls = torch.zeros(()), torch.zeros(())
    for r, pos, weight in zip(raw, levels, (4.0, 1.0, 0.4)):
        target = torch.zeros(r.shape[:4])
        target[pos.image, pos.anchor, pos.grid_y, pos.grid_x] = 1.0
        expected_obj = expected_obj + weight * F.binary_cross_entropy_with_logits(r[..., 4], target)
        if len(pos):
            iou = box_ciou(predicted_boxes(r, pos, "yolox"), pos.box).detach().clamp(min=0)
            logits = r[pos.image, pos.anchor, pos.grid_y, pos.grid_x, 5]
            expected_cls = expected_cls + F.binary_cross_entropy_with_logits(logits, iou)
    assert yolox["obj"].item() == pytest.approx(expected_obj.item(), rel=1e-5)
    assert yolox["cls"].item() == pytest.approx(0.5 * expected_cls.item(), rel=1e-5)
    assert yolox["box"].item() == pytest.approx(yolov5["box"].item())
    with pytest.raises(ValueError, match="score_targets"):
        detection_loss(raw, levels, classes, (4.0, 1.0, 0.4), 0.05, 1.0, 0.5, "yolox", score_targets="ssd")
    with pytest.raises(ValueError, match="score_targets"):
        LossOptions(score_targets="ssd")


def test_distillation_holds_background_scores_to_the_reference_only_outside_targets():
    from mottrack_training.losses.criterion import ignore_cells
    from mottrack_training.losses.distillation import reference_distillation

    torch.manual_seed(1)
    shapes = [(8, 8), (4, 4)]
    reference = [torch.randn(2, 1, h, w, 6) for h, w in shapes]
    same = [r.clone().requires_grad_(True) for r in reference]
    targets = torch.tensor([[0, 0, 1, 0.25, 0.25, 0.5, 0.5], [1, -1, -1, 0.75, 0.75, 0.5, 0.5]])
    inside = ignore_cells(same, targets)
    assert all(m[0].any() and m[1].any() and not m.all() for m in inside)
    # equal to the reference: the gradient is zero everywhere (the loss is at its minimum)
    reference_distillation(same, reference, inside, (4.0, 1.0)).backward()
    assert all(torch.allclose(r.grad, torch.zeros_like(r.grad), atol=1e-6) for r in same)
    # moved away: gradient only on obj / cls logits of cells outside every target box (ignore regions too)
    moved = [(r + 1.0).requires_grad_(True) for r in reference]
    loss = reference_distillation(moved, reference, inside, (4.0, 1.0))
    loss.backward()
    for r, mask in zip(moved, inside):
        assert torch.count_nonzero(r.grad[..., :4]) == 0
        assert torch.count_nonzero(r.grad[..., 4:][mask]) == 0
        assert torch.count_nonzero(r.grad[..., 4:][~mask]) == 2 * int((~mask).sum())
    # the score, not each logit: raising cls while lowering obj by as much keeps p = σ(obj)σ(cls) close
    assert loss.item() > reference_distillation(reference, reference, inside, (4.0, 1.0)).item()
    with pytest.raises(ValueError, match="reference"):
        reference_distillation(moved, reference[:1], inside, (4.0, 1.0))


def test_criterion_adds_the_weighted_distillation_term_only_with_a_reference():
    torch.manual_seed(2)
    shapes = [(8, 8), (4, 4), (2, 2)]
    raw = [torch.randn(1, 1, h, w, 6) for h, w in shapes]
    reference = [r + 0.5 for r in raw]
    targets = torch.tensor([_target(0, 30, 30, 16, 48)]) * torch.tensor([1, 1, 1, SIZE / 64, SIZE / 64, SIZE / 64,
                                                                          SIZE / 64])
    options = LossOptions(distill_weight=2.0, score_targets="yolox")
    criterion = CSTrackCriterion(ANCHORS[:, :1], STRIDES, 8, 0, options, "yolox")
    embeddings = torch.zeros(1, 8, 8, 8)
    plain = criterion(raw, embeddings, targets)
    distilled = criterion(raw, embeddings, targets, reference)
    assert plain.terms["distill"].item() == 0.0 and distilled.terms["distill"].item() > 0
    expected = plain.total + 2.0 * distilled.terms["distill"]
    assert distilled.total.item() == pytest.approx(expected.item(), rel=1e-6)


def test_reference_taught_images_get_no_detection_loss_and_are_distilled_everywhere():
    torch.manual_seed(3)
    shapes = [(8, 8), (4, 4), (2, 2)]
    scale = torch.tensor([1, 1, 1, SIZE / 64, SIZE / 64, SIZE / 64, SIZE / 64])
    targets = torch.tensor([_target(0, 30, 30, 16, 48, 1), _target(1, 30, 30, 16, 48, 2)]) * scale
    raw = [torch.randn(2, 1, h, w, 6, requires_grad=True) for h, w in shapes]
    reference = [r.detach() + 0.3 for r in raw]
    options = LossOptions(distill_weight=1.0, score_targets="yolox", id_weight=0.0)
    criterion = CSTrackCriterion(ANCHORS[:, :1], STRIDES, 8, 0, options, "yolox")
    flags = torch.tensor([False, True])
    out = criterion(raw, torch.zeros(2, 8, 8, 8), targets, reference, flags)
    out.total.backward()
    # image 1 (reference-taught): gradient only from distillation, on every cell, boxes included
    assert all(torch.count_nonzero(r.grad[1, ..., 4:]) == r[1, ..., 4:].numel() for r in raw)
    assert all(torch.count_nonzero(r.grad[1, ..., :4]) == r[1, ..., :4].numel() for r in raw)
    # ...and its detection terms are those of a batch without it
    alone = criterion([r[:1].detach() for r in raw], torch.zeros(1, 8, 8, 8), targets[:1])
    only_first = criterion([r.detach() for r in raw], torch.zeros(2, 8, 8, 8), targets, None, flags)
    assert only_first.terms["box"].item() == pytest.approx(alone.terms["box"].item(), rel=1e-6)
    assert only_first.terms["cls"].item() == pytest.approx(alone.terms["cls"].item(), rel=1e-6)
    assert only_first.terms["obj"].item() == pytest.approx(alone.terms["obj"].item() / 2, rel=1e-6)  # mean over B


# ----------------------------------------------------------------------------------- identity
def test_id_cross_entropy_ignores_unlabelled_rows():
    torch.manual_seed(0)
    loss = JdeIdentityLoss(embedding_dim=8, num_identities=5)
    emb = torch.randn(6, 8)
    ids = torch.tensor([0, -1, 3, -1, 4, 0])
    value = loss(emb, ids)
    labelled = ids >= 0
    logits = F.normalize(emb[labelled], dim=1) * (math.sqrt(2) * math.log(4)) @ loss.classifier.weight.t()
    assert value.item() == pytest.approx(F.cross_entropy(logits, ids[labelled]).item(), rel=1e-6)
    changed = emb.clone()
    changed[~labelled] = torch.randn(2, 8) * 10  # unlabelled rows do not matter
    assert loss(changed, ids).item() == pytest.approx(value.item(), rel=1e-6)
    nothing = loss(emb, torch.full((6,), -1))
    assert nothing.item() == 0.0 and nothing.requires_grad
    assert jde_scale(2) == pytest.approx(math.sqrt(2) * math.log(2))


# ----------------------------------------------------------------------------------- iHOIM
def _random_memory(loss: IHoimLoss, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    loss.lookup_table.copy_(F.normalize(torch.randn(loss.lookup_table.shape, generator=generator), dim=1))
    loss.background_queue.copy_(F.normalize(torch.randn(loss.background_queue.shape, generator=generator), dim=1))


def test_ihoim_probabilities_sum_to_one_and_the_loss_follows_the_paper():
    torch.manual_seed(0)
    loss = IHoimLoss(embedding_dim=16, num_identities=6, queue_size=10, temperature=1 / 30, momentum=0.5)
    _random_memory(loss)
    x = torch.randn(7, 16)
    p = loss.probabilities(x)
    assert p.shape == (7, 16)
    assert torch.allclose(p.sum(dim=1), torch.ones(7, dtype=p.dtype), atol=1e-6)
    p_person, p_background = p[:, :6].sum(1), p[:, 6:].sum(1)
    assert torch.allclose(p_person + p_background, torch.ones(7), atol=1e-6)

    person, ids, background = x[:4], torch.tensor([1, -1, 5, 1]), x[4:]
    value = loss(person, ids, background, update=False)
    det = torch.cat([-p_person[:4].log(), -p_background[4:].log()]).mean()
    labelled = [0, 2, 3]
    s = F.normalize(x[labelled], dim=1) @ loss.lookup_table.t() * 30
    oim = -F.log_softmax(s, dim=1)[torch.arange(3), ids[labelled]]
    lam = 2 * p_person[labelled] ** 2
    assert value.item() == pytest.approx((det + (lam * oim).mean()).item(), rel=1e-5)


def test_ihoim_lookup_table_momentum_rule_and_circular_queue():
    torch.manual_seed(0)
    loss = IHoimLoss(embedding_dim=4, num_identities=3, queue_size=5, momentum=0.5)
    _random_memory(loss, seed=1)
    before = loss.lookup_table.clone()
    person = torch.randn(3, 4)
    ids = torch.tensor([2, -1, 2])  # identity 2 twice: applied one after the other
    background = torch.randn(3, 4)
    loss.train()
    loss(person, ids, background)
    x = F.normalize(person, dim=1)
    step1 = F.normalize(0.5 * before[2] + 0.5 * x[0], dim=0)
    step2 = F.normalize(0.5 * step1 + 0.5 * x[2], dim=0)
    assert torch.allclose(loss.lookup_table[2], step2, atol=1e-6)
    assert torch.equal(loss.lookup_table[:2], before[:2])  # untouched identities
    queue0 = loss.background_queue.clone()
    assert torch.allclose(queue0[:3], F.normalize(background, dim=1), atol=1e-6)
    assert int(loss.queue_pointer) == 3

    more = torch.randn(4, 4)
    loss.update(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), F.normalize(more, dim=1))
    q = loss.background_queue
    assert torch.allclose(q[3:5], F.normalize(more[:2], dim=1), atol=1e-6)  # fills the tail ...
    assert torch.allclose(q[0:2], F.normalize(more[2:], dim=1), atol=1e-6)  # ... then wraps around
    assert torch.equal(q[2], queue0[2])
    assert int(loss.queue_pointer) == 2


def test_background_cells_avoid_every_gt_box():
    torch.manual_seed(0)
    emb = torch.arange(2 * 1 * 4 * 6, dtype=torch.float32).view(2, 1, 4, 6)  # value = cell id
    targets = torch.tensor([[0, 0, 0, 0.25, 0.5, 0.5, 1.0]])  # image 0: columns 0-2 covered
    rows = sample_background(emb, targets, per_image=100)
    values = rows.flatten().long().tolist()
    image0 = [v for v in values if v < 24]
    assert sorted(image0) == [r * 6 + c for r in range(4) for c in (3, 4, 5)]
    assert len([v for v in values if v >= 24]) == 24  # image 1 has no GT: every cell


# ----------------------------------------------------------------------------------- overfit
def test_overfit_one_small_batch(tmp_path, one_thread):
    """60 Adam steps on 2 synthetic frames at 96x64 with the tiny config.

    YOLOv5's objectness target is the (rising) CIoU, so its BCE has a floor H(target) > 0 that grows
    while the boxes improve; the total therefore falls only ~1.8x in 60 steps. What must vanish is
    the excess over that floor (box + ID terms + the objectness KL divergence): it falls >= 5x.
    """
    from mottrack_sdk.scenes import SceneOptions, write_sequence
    from mottrack_training.data import DataOptions, MotSequenceDataset, collate
    from mottrack_training.engine import init_class_prior
    from mottrack_training.model import build_model

    write_sequence(tmp_path, SceneOptions(width=192, height=128, num_frames=4, seed=5, density=4,
                                          min_height_px=300, max_height_px=700), "SEQ")
    data = MotSequenceDataset([tmp_path / "SEQ"], DataOptions(img_size=(96, 64), augment=False))
    batch = collate([data[0], data[3]])
    torch.manual_seed(0)
    model = build_model("cstrack_s", width_multiple=0.0625, embedding_dim=32)
    init_class_prior(model)
    criterion = CSTrackCriterion.for_model(model, data.num_identities, LossOptions())
    net = ModelWithLoss(model, criterion)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)

    def measure() -> tuple[float, float, dict[str, float]]:
        out = net(batch.images, batch.targets)
        raw, _ = model(batch.images)
        positives = criterion.assign(raw, batch.targets.float())
        floor = 0.0
        for r, pos, weight in zip(raw, positives, criterion.options.level_weights):
            ciou = box_ciou(predicted_boxes(r, pos), pos.box) if len(pos) else torch.zeros(0)
            t = objectness_target(r.shape[:4], pos, ciou)
            floor += weight * F.binary_cross_entropy(t, t).item()  # entropy H(t): the attainable minimum
        total = out.total.item()
        return total, total - floor, {k: v.item() for k, v in out.terms.items()}

    total0, excess0, terms0 = measure()
    for _ in range(60):
        out = net(batch.images, batch.targets)
        optimizer.zero_grad()
        (out.total * 2).backward()
        optimizer.step()
    total1, excess1, terms1 = measure()
    assert total1 < total0 / 1.5
    assert excess1 < excess0 / 5.0
    assert terms1["box"] < terms0["box"] / 2.0
    assert terms1["id"] < terms0["id"] / 10.0
    assert np.isfinite([total1, excess1]).all()
