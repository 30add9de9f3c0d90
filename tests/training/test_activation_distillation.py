"""Changing a YOLOX-family network's activation in training: the blend and its anneal, the feature /
embedding distillation terms, their options, and a run that goes from SiLU weights to a ReLU network."""
from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch")

from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mottrack_training.engine import ModelOptions, Trainer, load_checkpoint, train_options_from_dict  # noqa: E402
from mottrack_training.losses import CSTrackCriterion  # noqa: E402
from mottrack_training.losses.criterion import FeaturePair  # noqa: E402
from mottrack_training.losses.distillation import reference_distillation  # noqa: E402
from mottrack_training.losses.feature_distillation import (StageTaps, embedding_distillation,  # noqa: E402
                                                           feature_distillation, foreground_weights)
from mottrack_training.losses.options import LossOptions  # noqa: E402
from mottrack_training.model import build_model  # noqa: E402
from mottrack_training.model.activations import (ActivationAnneal, BlendedActivation,  # noqa: E402
                                                 blend_activations, set_blend_alpha)

pytestmark = pytest.mark.torch

SMALL = {"embedding_dim": 16, "saan_channels": 32}


def _count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_the_blend_is_each_activation_at_its_ends_and_a_mix_between():
    x = torch.linspace(-4, 4, 101)
    blend = BlendedActivation("silu", "relu")
    assert torch.equal(blend(x), F.silu(x))
    blend.alpha = 1.0
    assert torch.equal(blend(x), torch.relu(x))
    blend.alpha = 0.25
    assert torch.allclose(blend(x), 0.75 * F.silu(x) + 0.25 * torch.relu(x))
    with pytest.raises(ValueError, match="activation must be one of silu, relu, hardswish"):
        BlendedActivation("silu", "gelu")


def test_the_anneal_moves_alpha_with_the_step_and_ends_in_the_plain_activation():
    model = build_model("cstrack_nano", activation="relu", **SMALL)
    copy = build_model("cstrack_nano", activation="relu", **SMALL)
    anneal = ActivationAnneal(model, "silu", steps=4)
    blend_activations(copy, "silu", "relu")
    assert _count(model, BlendedActivation) == 104 and _count(model, nn.ReLU) == 104  # inside the blends
    assert not anneal.apply(1, copy)
    assert {m.alpha for m in model.modules() if isinstance(m, BlendedActivation)} == {0.25}
    assert {m.alpha for m in copy.modules() if isinstance(m, BlendedActivation)} == {0.25}
    assert anneal.apply(4, copy)
    for net in (model, copy):
        assert _count(net, BlendedActivation) == 0 and _count(net, nn.SiLU) == 0 and _count(net, nn.ReLU) == 104
    assert set_blend_alpha(model, 0.5) == 0
    with pytest.raises(ValueError, match="no YOLOX convolution"):
        ActivationAnneal(type("Plain", (nn.Module,), {"config": build_model("cstrack_nano").config})(), "silu", 3)


def test_stage_taps_collect_backbone_neck_and_the_ren_reid_half():
    model = build_model("cstrack_nano", **SMALL).eval()
    images = torch.rand(1, 3, 64, 96)
    with torch.no_grad(), StageTaps(model) as taps:
        model(images, decode=False)
        raw, reid = model.raw_and_reid_features(images)
    assert set(taps.outputs) == {"backbone", "neck", "ren"}
    assert [tuple(t.shape[-2:]) for t in taps.outputs["neck"]] == [(8, 12), (4, 6), (2, 3)]
    assert all(torch.equal(a, b) for a, b in zip(taps.outputs["ren"], reid))
    with torch.no_grad():  # the hooks are gone after the block
        model(images, decode=False)
    assert not model.backbone._forward_hooks and not model.neck._forward_hooks


def test_feature_and_embedding_terms():
    torch.manual_seed(0)
    ref = {"backbone": [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)], "neck": [torch.randn(2, 4, 8, 8)]}
    assert feature_distillation(ref, ref).item() == 0.0
    mean_only = {k: [torch.full_like(t, float(t.mean())) for t in v] for k, v in ref.items()}
    assert feature_distillation(mean_only, ref).item() == pytest.approx(1.0, abs=0.02)  # no better than the mean
    with pytest.raises(ValueError, match="backbone outputs differ in shape"):
        feature_distillation({**ref, "backbone": [torch.zeros(2, 4, 8, 8)]}, ref)
    with pytest.raises(ValueError, match="no stage output"):
        feature_distillation({"backbone": ref["backbone"]}, {"neck": ref["neck"]})
    emb = torch.randn(2, 16, 8, 8)
    assert embedding_distillation(emb, emb).item() == pytest.approx(0.0, abs=1e-6)
    assert embedding_distillation(-emb, emb).item() == pytest.approx(2.0)
    assert embedding_distillation(3 * emb, emb).item() == pytest.approx(0.0, abs=1e-6)  # direction, not length


def _raw_level(score_at: tuple[int, int] | None, shape=(2, 1, 6, 8)) -> torch.Tensor:
    """A raw head level [B, A, H, W, 6]: score σ(obj)·σ(cls) ~0 everywhere but ~1 at ``score_at`` of image 0."""
    level = torch.full((*shape, 6), -12.0)
    if score_at is not None:
        level[0, 0, score_at[0], score_at[1], 4:] = 12.0
    return level


def test_foreground_weights_are_one_on_background_and_grow_with_the_reference_score_around_people():
    weights = foreground_weights([_raw_level((2, 3)), _raw_level(None, (2, 1, 3, 4))], 20.0)
    assert [tuple(w.shape) for w in weights] == [(2, 1, 6, 8), (2, 1, 3, 4)]
    w = weights[0][0, 0]
    assert w[1:4, 2:5].min().item() == pytest.approx(21.0, abs=1e-3)  # the person's cell and its 3x3 ring
    assert w[0, 0].item() == pytest.approx(1.0, abs=1e-3) and w[5, 7].item() == pytest.approx(1.0, abs=1e-3)
    assert weights[0][1].max().item() == pytest.approx(1.0, abs=1e-3) and weights[1].max().item() < 1.001
    assert foreground_weights([_raw_level((2, 3))], 0.0)[0].max().item() == 1.0
    with pytest.raises(ValueError, match="strength must be a finite number >= 0, got -1.0"):
        foreground_weights([_raw_level(None)], -1.0)
    with pytest.raises(ValueError, match=r"must be \[B, A, H, W, 5 \+ classes\], got \(2, 6, 8\)"):
        foreground_weights([torch.zeros(2, 6, 8)], 1.0)


def test_foreground_weights_make_an_error_at_a_person_cost_more_than_the_same_error_on_background():
    torch.manual_seed(0)
    weights = foreground_weights([_raw_level((2, 3))], 20.0)
    ones = [torch.ones(2, 1, 6, 8)]
    ref = {"neck": [torch.randn(2, 4, 6, 8)]}
    at_person, on_background = torch.zeros(2, 4, 6, 8), torch.zeros(2, 4, 6, 8)
    at_person[0, :, 2, 3] = 3.0
    on_background[0, :, 5, 7] = 3.0
    person = {"neck": [ref["neck"][0] + at_person]}
    background = {"neck": [ref["neck"][0] + on_background]}
    assert feature_distillation(person, ref, ones).item() == pytest.approx(feature_distillation(person, ref).item())
    assert feature_distillation(person, ref).item() == pytest.approx(feature_distillation(background, ref).item())
    assert feature_distillation(person, ref, weights).item() > 5 * feature_distillation(background, ref, weights).item()
    # a level without a weight map of its size uses the finest one, resized: coarse cell (1, 1) is the person's
    coarse = {"neck": [torch.randn(2, 4, 3, 4)]}
    near, far = coarse["neck"][0].clone(), coarse["neck"][0].clone()
    near[0, :, 1, 1] += 3.0
    far[0, :, 2, 3] += 3.0
    assert feature_distillation({"neck": [near]}, coarse, weights).item() \
        > 5 * feature_distillation({"neck": [far]}, coarse, weights).item()
    emb = torch.randn(2, 16, 6, 8)
    turned = emb.clone()
    turned[0, :, 2, 3] *= -1
    assert embedding_distillation(turned, emb, ones).item() == pytest.approx(embedding_distillation(turned, emb).item())
    assert embedding_distillation(turned, emb, weights).item() > 5 * embedding_distillation(turned, emb).item()
    student = _raw_level(None)
    reference = _raw_level((2, 3))
    plain = reference_distillation([student], [reference], None, [1.0])
    with_ones = reference_distillation([student], [reference], None, [1.0], foreground=ones)
    assert with_ones.item() == pytest.approx(plain.item())
    assert reference_distillation([student], [reference], None, [1.0], foreground=weights).item() > 5 * plain.item()
    with pytest.raises(ValueError, match="1 student levels but 2 foreground weight maps"):
        reference_distillation([student], [reference], None, [1.0], foreground=ones * 2)


def test_the_criterion_weighs_all_three_terms_by_the_reference_score_with_distill_foreground():
    torch.manual_seed(0)
    model = build_model("cstrack_nano", **SMALL).train()
    images = torch.rand(2, 3, 64, 96)
    targets = torch.zeros(0, 7)
    with StageTaps(model) as taps:
        raw, emb = model(images, decode=False)
    def off_but_the_person(t):  # the student is off everywhere but around the reference's person (cell 1, 1)
        t = t.detach()
        off = t + 0.1 * torch.randn_like(t)
        off[0, :, :3, :3] = t[0, :, :3, :3]
        return off

    other = {k: [off_but_the_person(t) for t in v] for k, v in taps.outputs.items()}
    pair = FeaturePair(taps.outputs, other, off_but_the_person(emb))
    reference = [_raw_level((1, 1), tuple(r.shape[:4])) for r in raw]
    options = dict(score_targets="yolox", distill_weight=1.0, feature_distill_weight=1.0, embedding_distill_weight=1.0)
    plain = CSTrackCriterion.for_model(model, 0, LossOptions(**options))(raw, emb, targets, reference, features=pair)
    focused = CSTrackCriterion.for_model(model, 0, LossOptions(**options, distill_foreground=20.0))(
        raw, emb, targets, reference, features=pair)
    for term in ("distill", "feature", "embedding"):  # the score term: more (the person is missed), the others less
        assert focused.terms[term].item() != pytest.approx(plain.terms[term].item(), rel=0.05), term
    with pytest.raises(ValueError, match="distill_foreground weighs the distillation terms' cells: it needs"):
        LossOptions(distill_foreground=1.0)
    with pytest.raises(ValueError, match=r"distill_foreground must be a number in \[0.0, inf\], got -1.0"):
        LossOptions(distill_weight=1.0, distill_foreground=-1.0)


def test_the_criterion_adds_the_weighted_terms():
    torch.manual_seed(0)
    model = build_model("cstrack_nano", **SMALL).train()
    images = torch.rand(2, 3, 64, 96)
    targets = torch.tensor([[0, 0, 0, 0.5, 0.5, 0.2, 0.5]])
    with StageTaps(model) as taps:
        raw, emb = model(images, decode=False)
    other = {k: [t.detach() + 0.1 for t in v] for k, v in taps.outputs.items()}
    pair = FeaturePair(taps.outputs, other, emb.detach().flip(0))
    plain = CSTrackCriterion.for_model(model, 0, LossOptions(score_targets="yolox"))(raw, emb, targets)
    weighted = CSTrackCriterion.for_model(model, 0, LossOptions(score_targets="yolox", feature_distill_weight=2.0,
                                                                embedding_distill_weight=3.0))
    out = weighted(raw, emb, targets, features=pair)
    assert plain.terms["feature"].item() == 0.0 and out.terms["feature"].item() > 0
    assert out.terms["embedding"].item() > 0
    expected = plain.total + 2.0 * out.terms["feature"] + 3.0 * out.terms["embedding"]
    assert out.total.item() == pytest.approx(expected.item(), rel=1e-5)


def test_option_errors(tiny_config):
    nano = {"config": "cstrack_nano", "overrides": {"activation": "relu", **SMALL}}
    cases = [
        ({"model": {"reference_activation": "silu"}, "loss": {"distill_weight": 1.0}}, "only family: yolox"),
        ({"model": {**nano, "reference_activation": "gelu"}, "loss": {"distill_weight": 1.0}},
         "reference_activation must be one of silu, relu, hardswish, got 'gelu'"),
        ({"model": {**nano, "reference_activation": "silu"}}, "needs loss.distill_weight, feature_distill_weight"),
        ({"model": {**nano, "activation_anneal": 0.5}}, "set a reference_activation that differs"),
        ({"model": {**nano, "reference_activation": "relu", "activation_anneal": 0.5}, "loss": {"distill_weight": 1.0}},
         "set a reference_activation that differs"),
        ({"model": {**nano, "reference_activation": "silu", "activation_anneal": 1.0},
          "loss": {"distill_weight": 1.0}}, "activation_anneal"),
        ({"model": {**nano, "reference_weights": "w.pt"}}, "model.reference_weights is the distillation reference's"),
        ({"optim": {"optimizer": "adam"}}, r"optim.optimizer: expected one of \['sgd', 'adamw'\], got 'adam'"),
        ({"loss": {"feature_distill_weight": -1.0}}, "feature_distill_weight"),
    ]
    for changes, message in cases:
        with pytest.raises(ValueError, match=message):
            train_options_from_dict(tiny_config(**changes))
    from mottrack_training.engine.options import OptimOptions

    with pytest.raises(ValueError, match="optim.optimizer must be 'sgd' or 'adamw', got 'adam'"):
        OptimOptions(optimizer="adam")  # type: ignore[arg-type]


def _relu_run(tiny_config, **optim):
    raw = tiny_config(model={"config": "cstrack_nano", "overrides": {"activation": "relu", **SMALL},
                             "reference_activation": "silu", "activation_anneal": 0.5},
                      data={"img_size": [96, 64], "resize_mode": "letterbox"},
                      loss={"score_targets": "yolox", "distill_weight": 1.0, "feature_distill_weight": 1.0,
                            "embedding_distill_weight": 1.0, "id_weight": 0.0},
                      optim={"optimizer": "adamw", "lr": 1e-3, "ema": False, **optim}, val={"every_epochs": 0})
    raw["data"]["train"][0]["detection"] = "reference"
    return train_options_from_dict(raw)


def test_a_silu_to_relu_run_anneals_distils_and_resumes_exactly(tiny_config, tmp_path, one_thread):
    full = Trainer(_relu_run(tiny_config, epochs=2), out_dir=tmp_path / "full")
    assert full.anneal is not None and full.anneal.steps == 3  # half of 2 epochs x 3 steps
    reference = full.net.reference
    assert _count(reference, nn.SiLU) == 104 and _count(reference, BlendedActivation) == 0
    summary = full.fit()
    assert full.anneal is None and _count(full.model, BlendedActivation) == 0 and _count(full.model, nn.ReLU) == 104
    with open(tmp_path / "full" / "steps.csv") as fh:
        rows = list(csv.DictReader(fh))
    # the first step runs the student at alpha 0: exactly the reference's SiLU function; then they differ
    assert len(rows) == 6 and float(rows[0]["feature"]) == pytest.approx(0.0, abs=1e-9)
    assert all(float(r["feature"]) > 0 and float(r["embedding"]) > 0 for r in rows[1:])
    assert isinstance(full.optimizer, torch.optim.AdamW)
    state = load_checkpoint(tmp_path / "full" / "last.pt")
    rebuilt = build_model(state["model_config"]["config"], **state["model_config"]["overrides"])
    rebuilt.load_state_dict(state["model"])
    assert _count(rebuilt, nn.ReLU) == 104

    stopped = Trainer(_relu_run(tiny_config, epochs=2, max_steps=2), out_dir=tmp_path / "split").fit()
    assert stopped.stopped_early
    resumed = Trainer(_relu_run(tiny_config, epochs=2), resume=tmp_path / "split" / "last.pt").fit()
    losses = [[s["loss"], s["feature"], s["embedding"]] for s in stopped.steps + resumed.steps]
    np.testing.assert_allclose(losses, [[s["loss"], s["feature"], s["embedding"]] for s in summary.steps],
                               rtol=0, atol=1e-6)


def test_a_later_stage_distils_from_the_reference_weights_not_its_start(tiny_config, tmp_path, one_thread):
    """Stage 2 starts from stage 1's ReLU weights; its reference is still the original SiLU network."""
    options = _relu_run(tiny_config, epochs=1)
    torch.manual_seed(1)
    original = build_model("cstrack_nano", **{**options.model.overrides, "activation": "silu"})
    torch.save(original.state_dict(), tmp_path / "silu.pt")
    torch.manual_seed(2)
    torch.save(build_model("cstrack_nano", **options.model.overrides).state_dict(), tmp_path / "stage1.pt")
    model = {**dataclasses.asdict(options.model), "weights": str(tmp_path / "stage1.pt"), "activation_anneal": 0.0,
             "reference_weights": str(tmp_path / "silu.pt")}
    trainer = Trainer(dataclasses.replace(options, model=ModelOptions(**model)), out_dir=tmp_path / "run")
    reference, start = trainer.net.reference.state_dict(), torch.load(tmp_path / "stage1.pt")
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in reference.items())
    assert all(torch.equal(v, start[k]) for k, v in trainer.model.state_dict().items())
    assert _count(trainer.net.reference, nn.SiLU) == 104 and _count(trainer.model, nn.ReLU) == 104


def test_adamw_takes_the_groups_and_the_schedules_momentum_as_beta1():
    from mottrack_training.engine.optimization import WarmupStepSchedule, build_optimizer

    model = build_model("cstrack_nano", **SMALL)
    adamw = build_optimizer(model, 1e-3, 0.9, 5e-4, kind="adamw")
    assert isinstance(adamw, torch.optim.AdamW)
    assert [g["name"] for g in adamw.param_groups] == ["decay", "no_decay", "bias"]
    assert [g["weight_decay"] for g in adamw.param_groups] == [5e-4, 0.0, 0.0]
    schedule = WarmupStepSchedule(1e-3, 0.9, warmup_steps=10, milestones=(), warmup_momentum=0.5, warmup_bias_lr=0.0)
    schedule.apply(adamw, 5, 0)
    assert all(g["betas"] == pytest.approx((0.7, 0.999)) and "momentum" not in g for g in adamw.param_groups)
    assert adamw.param_groups[0]["lr"] == pytest.approx(5e-4)
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adamw'"):
        build_optimizer(model, 1e-3, 0.9, 0.0, kind="lion")


def test_activation_parts_change_only_the_named_parts_and_the_anneal_blends_only_those():
    from mottrack_training.model.config import ConfigError, config_from_dict

    model = build_model("cstrack_nano", activation="relu", activation_parts=["neck", "detect"], **SMALL)
    assert model.config.activation_parts == ("neck", "detect")
    assert _count(model.backbone, nn.SiLU) == 47 and _count(model.backbone, nn.ReLU) == 0
    assert _count(model.neck, nn.ReLU) == 30 and _count(model.detect, nn.ReLU) == 27
    stored = dataclasses.asdict(model.config)
    assert config_from_dict(stored) == model.config  # packaged weights rebuild the same network
    for bad in (["neck", "neck"], [], ["saan"]):
        with pytest.raises(ConfigError, match="activation_parts must be a non-empty list of distinct parts"):
            config_from_dict({**stored, "activation_parts": bad})
    for bad in ("neck", 3):
        with pytest.raises(ConfigError, match="activation_parts: expected a list"):
            config_from_dict({**stored, "activation_parts": bad})
    anneal = ActivationAnneal(model, "silu", steps=2)
    assert _count(model, BlendedActivation) == 57 and _count(model.backbone, BlendedActivation) == 0
    assert anneal.apply(2)
    assert _count(model, BlendedActivation) == 0
    assert (_count(model, nn.SiLU), _count(model, nn.ReLU)) == (47, 57)
