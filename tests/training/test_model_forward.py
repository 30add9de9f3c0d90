"""CSTrack network: output shapes, gradients, BatchNorm fusion, determinism, ablations, export-friendliness."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the training component needs PyTorch")

from mottrack_training.model import CSTrack, build_model  # noqa: E402
from mottrack_training.model.ren import BinAveragePool2d  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def small_model() -> CSTrack:
    torch.manual_seed(0)
    return build_model("cstrack_s")


def _randomize_batch_norms(model: torch.nn.Module, seed: int = 1) -> None:
    """Non-trivial BN statistics, so that folding them is actually tested."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)


@pytest.mark.parametrize("height, width", [(64, 96), (96, 96), (128, 160), (160, 96), (96, 224)])
def test_output_shapes_at_several_sizes(small_model: CSTrack, height: int, width: int) -> None:
    images = torch.rand(2, 3, height, width)
    small_model.train()
    raw, embeddings = small_model(images)
    assert len(raw) == 3
    for level, (tensor, stride) in enumerate(zip(raw, small_model.strides)):
        assert tensor.shape == (2, 3, height // stride, width // stride, 6), level
    assert embeddings.shape == (2, 512, height // 8, width // 8)

    with torch.no_grad():
        decoded, eval_embeddings = small_model(images, decode=True)
    expected = sum(3 * (height // s) * (width // s) for s in small_model.strides)
    assert decoded.shape == (2, expected, 5)
    assert eval_embeddings.shape == (2, 512, height // 8, width // 8)


def test_eval_mode_decodes_by_default(small_model: CSTrack) -> None:
    small_model.eval()
    with torch.no_grad():
        predictions, _ = small_model(torch.rand(1, 3, 64, 64))
        raw, _ = small_model(torch.rand(1, 3, 64, 64), decode=False)
    assert isinstance(predictions, torch.Tensor) and predictions.shape == (1, 3 * (64 + 16 + 4), 5)
    assert isinstance(raw, list) and len(raw) == 3
    scores = predictions[..., 4]
    assert bool(((scores >= 0) & (scores <= 1)).all())
    assert bool((predictions[..., 2] >= predictions[..., 0]).all())
    assert bool((predictions[..., 3] >= predictions[..., 1]).all())


def test_attributes(small_model: CSTrack) -> None:
    assert small_model.strides == (8, 16, 32)
    assert small_model.max_stride == 32
    assert small_model.anchors.shape == (3, 3, 2)
    assert small_model.anchors[0, 0].tolist() == [8.0, 24.0]
    assert small_model.embedding_dim == 512 and small_model.embedding_strides == (8,)
    assert small_model.num_anchors == 3 and small_model.num_classes == 1


def test_input_size_not_multiple_of_32_is_rejected(small_model: CSTrack) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        small_model(torch.rand(1, 3, 64, 80))


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = build_model("cstrack_s").train()
    raw, embeddings = model(torch.rand(2, 3, 64, 96))
    generator = torch.Generator().manual_seed(0)
    loss = sum((t * torch.randn(t.shape, generator=generator)).sum() for t in [*raw, embeddings])
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, f"no gradient for {missing}"
    assert any(n.endswith("relation_weights") for n, _ in model.named_parameters())  # REN's λ1, λ2


def test_fused_model_matches_unfused() -> None:
    torch.manual_seed(0)
    model = build_model("cstrack_s")
    _randomize_batch_norms(model)
    model.eval()
    images = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        predictions, embeddings = model(images)
        model.fuse()
        fused_predictions, fused_embeddings = model(images)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    for before, after in [(predictions, fused_predictions), (embeddings, fused_embeddings)]:
        relative = (after - before).abs().max() / before.abs().max()
        assert relative < 1e-5


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_space_to_depth_fold_is_the_same_function(kernel: int) -> None:
    from mottrack_training.model.common import Focus

    torch.manual_seed(kernel)
    focus = Focus(3, 8, kernel)
    _randomize_batch_norms(focus)
    focus.eval()
    images = torch.rand(2, 3, 12, 20)
    with torch.no_grad():
        before = focus(images)
        focus.conv.fuse_batch_norm()
        focus.fold()
        after = focus(images)
    assert focus.folded and focus.conv.conv.kernel_size == (2 * kernel, 2 * kernel)
    assert focus.conv.conv.stride == (2, 2)
    assert after.shape == before.shape == (2, 8, 6, 10)
    assert (after - before).abs().max() < 1e-5


def test_space_to_depth_fold_refuses_a_strided_convolution() -> None:
    from mottrack_training.model.common import fold_space_to_depth

    with pytest.raises(ValueError, match="stride-1"):
        fold_space_to_depth(torch.nn.Conv2d(12, 4, 3, 2, 1))


def test_fused_yolox_family_folds_its_focus_stem() -> None:
    torch.manual_seed(0)
    model = build_model("cstrack_nano").eval()
    images = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        predictions, embeddings = model(images)
        model.fuse()
        fused_predictions, fused_embeddings = model(images)
    assert model.backbone.stem.folded
    assert (fused_predictions - predictions).abs().max() < 1e-4
    assert (fused_embeddings - embeddings).abs().max() < 1e-5


def test_eval_forward_is_deterministic(small_model: CSTrack) -> None:
    small_model.eval()
    images = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        first = small_model(images)
        second = small_model(images)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_same_seed_builds_the_same_weights() -> None:
    torch.manual_seed(3)
    a = build_model("cstrack_s").state_dict()
    torch.manual_seed(3)
    b = build_model("cstrack_s").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cstrack_s_scales_every_convolution(small_model: CSTrack) -> None:
    assert small_model.level_channels == (80, 160, 312)  # 256/512/1024 x 0.3, rounded up to 8
    saan = small_model.saan
    assert saan is not None
    assert [e.conv.out_channels for e in saan.encoders] == [80, 80, 80]  # SAAN's 256
    assert saan.spatial_attention[0].reduce.conv.out_channels == 24  # SAAN's 64
    assert saan.channel_attention.fc.in_features == 240  # SAAN's 768
    assert saan.embed.out_channels == 512
    ren_convs = [m for m in small_model.ren.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sorted({m.out_channels for m in ren_convs}) == [80, 160, 312]


@pytest.mark.parametrize("ren, saan", [(False, True), (True, False), (False, False)])
def test_ablation_switches(ren: bool, saan: bool) -> None:
    model = build_model("cstrack_s", ren=ren, saan=saan).train()
    assert (model.ren is not None) == ren
    assert ("saan" in model.block_modules()) == saan
    raw, embeddings = model(torch.rand(1, 3, 64, 96))
    assert [t.shape[2:4] for t in raw] == [(8, 12), (4, 6), (2, 3)]
    if saan:
        assert embeddings.shape == (1, 512, 8, 12)
    else:  # JDE: one 1x1 embedding head per level
        assert model.embedding_strides == (8, 16, 32)
        assert [e.shape for e in embeddings] == [(1, 512, 8, 12), (1, 512, 4, 6), (1, 512, 2, 3)]


def test_embedding_dim_is_configurable() -> None:
    model = build_model("cstrack_s", embedding_dim=128).eval()
    with torch.no_grad():
        _, embeddings = model(torch.rand(1, 3, 64, 64))
    assert embeddings.shape == (1, 128, 8, 8)


@pytest.mark.parametrize("height, width", [(76, 136), (2, 3), (19, 34), (6, 10)])
def test_ren_pool_equals_adaptive_average_pooling(height: int, width: int) -> None:
    x = torch.rand(2, 4, height, width)
    expected = torch.nn.AdaptiveAvgPool2d((6, 10))(x)
    torch.testing.assert_close(BinAveragePool2d((6, 10))(x), expected, rtol=1e-6, atol=1e-6)


def test_model_exports_as_a_static_graph(small_model: CSTrack) -> None:
    """torch.export rejects data-dependent Python control flow; the exported graph must agree."""
    small_model.eval()
    images = torch.rand(1, 3, 64, 96)
    exported = torch.export.export(small_model, (images,))
    with torch.no_grad():
        expected = small_model(images)
    actual = exported.module()(images)
    torch.testing.assert_close(actual[0], expected[0])
    torch.testing.assert_close(actual[1], expected[1])
