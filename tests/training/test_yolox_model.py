"""CSTrack-nano (YOLOX backbone): config, forward contract, COCO-weight import, loss, ignore regions, export."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch")

from mottrack_training.losses import CSTrackCriterion  # noqa: E402
from mottrack_training.losses.assignment import LevelTargets  # noqa: E402
from mottrack_training.losses.criterion import ignore_cells  # noqa: E402
from mottrack_training.losses.detection import predicted_boxes  # noqa: E402
from mottrack_training.model import build_model  # noqa: E402
from mottrack_training.model.config import ConfigError, YoloxModelConfig, config_from_dict  # noqa: E402

pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[2]
YOLOX_ONNX = REPO.parent / "shared" / "models" / "teachers" / "onnx" / "yolox_nano_coco.onnx"


@pytest.fixture(scope="module")
def nano():
    torch.manual_seed(0)
    return build_model("cstrack_nano").eval()


def test_config_family_dispatch_and_errors():
    model = build_model("cstrack_nano")
    assert isinstance(model.config, YoloxModelConfig) and model.config.embedding_dim == 128
    plain = dataclasses.asdict(model.config)
    assert config_from_dict(plain) == model.config  # what package-weights stores round-trips
    with pytest.raises(ConfigError, match="unknown option"):
        config_from_dict({**plain, "colour": 1})
    with pytest.raises(ConfigError, match="assign_anchors"):
        config_from_dict({**plain, "assign_anchors": [[1, 2]]})
    with pytest.raises(ConfigError, match="family"):
        config_from_dict({"name": "x", "family": "detr"})


def test_forward_contract(nano):
    images = torch.rand(2, 3, 224, 320)
    raw, emb = nano(images, decode=False)
    assert [tuple(r.shape) for r in raw] == [(2, 1, 28, 40, 6), (2, 1, 14, 20, 6), (2, 1, 7, 10, 6)]
    assert tuple(emb.shape) == (2, 128, 28, 40)
    decoded, _ = nano(images, decode=True)
    assert tuple(decoded.shape) == (2, 28 * 40 + 14 * 20 + 7 * 10, 5)
    # yolox decoding: cell (gx, gy) of level 0 with t = 0 is centred at (gx, gy) * 8 with size 8
    level0 = torch.zeros_like(raw[0])
    box = nano.detect.decode([level0, torch.zeros_like(raw[1]), torch.zeros_like(raw[2])])[0, 3]
    assert torch.allclose(box[:4], torch.tensor([20.0, -4.0, 28.0, 4.0]))
    with pytest.raises(ValueError, match="multiple of 32"):
        nano(torch.rand(1, 3, 100, 100))


def test_ren_detection_gate_starts_closed(nano):
    """With the gate at 0 the detection head sees the neck's features unchanged (pretrained head intact)."""
    features = nano.neck(nano.backbone([torch.rand(1, 3, 128, 160)]))
    detection, reid = nano.ren(features)
    for f, d, r in zip(features, detection, reid):
        assert torch.equal(f, d) and not torch.equal(f, r)


@pytest.mark.skipif(not YOLOX_ONNX.is_file(), reason=f"YOLOX-nano teacher not found at {YOLOX_ONNX} (../shared)")
def test_import_reproduces_yolox_onnx_features_and_boxes():
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from mottrack_training.model.yolox_onnx import load_yolox_onnx

    model = build_model("cstrack_nano").eval()
    report = load_yolox_onnx(model, YOLOX_ONNX)
    assert report.convs == 113 and len(report.head_inputs) == 3
    proto = onnx.load(str(YOLOX_ONNX))
    graph = proto.graph
    graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    graph.input[0].type.tensor_type.shape.dim[3].dim_param = "W"
    graph.output[0].type.tensor_type.shape.dim[1].dim_param = "N"
    del graph.value_info[:]
    for name in report.head_inputs:  # the PAFPN outputs, as extra graph outputs
        graph.output.add().name = name
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    height, width = 256, 448
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(1))
    outputs = session.run(None, {"images": (image[:, [2, 1, 0]] * 255.0).numpy()})  # YOLOX: BGR 0..255
    with torch.no_grad():
        features = model.neck(model.backbone([image]))
        decoded, _ = model(image)
    for ours, theirs in zip(features, outputs[1:]):
        assert np.abs(ours.numpy() - theirs).max() < 1e-3 * max(1.0, float(np.abs(theirs).max()))
    ref = outputs[0][0]
    grids, strides = [], []
    for s in (8, 16, 32):
        ys, xs = np.mgrid[: height // s, : width // s]
        grids.append(np.stack([xs.ravel(), ys.ravel()], 1))
        strides.append(np.full((height // s) * (width // s), s))
    grid, stride = np.concatenate(grids), np.concatenate(strides)[:, None]
    centre, size = (ref[:, :2] + grid) * stride, np.exp(ref[:, 2:4]) * stride
    assert np.abs(decoded[0, :, :4].numpy() - np.concatenate([centre - size / 2, centre + size / 2], 1)).max() < 1e-2
    assert np.abs(decoded[0, :, 4].numpy() - ref[:, 4] * ref[:, 5]).max() < 1e-5  # person = obj * class 0


def test_import_refuses_foreign_files(tmp_path, nano):
    from mottrack_training.model.yolox_onnx import load_yolox_onnx

    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="x.onnx"):
        load_yolox_onnx(nano, bad)
    with pytest.raises(FileNotFoundError):
        load_yolox_onnx(nano, tmp_path / "missing.onnx")


def test_yolox_box_coding_in_the_loss():
    raw = torch.zeros(1, 1, 4, 4, 6)
    raw[0, 0, 1, 2, :4] = torch.tensor([0.25, 0.75, float(np.log(2.0)), 0.0])
    pos = LevelTargets(image=torch.tensor([0]), anchor=torch.tensor([0]), grid_y=torch.tensor([1]),
                       grid_x=torch.tensor([2]), box=torch.zeros(1, 4), anchor_wh=torch.ones(1, 2),
                       target_index=torch.tensor([0]), own_cell=torch.tensor([True]))
    assert torch.allclose(predicted_boxes(raw, pos, "yolox"), torch.tensor([[0.25, 0.75, 2.0, 1.0]]))
    yolov5 = predicted_boxes(raw, pos, "yolov5")
    assert not torch.allclose(yolov5, torch.tensor([[0.25, 0.75, 2.0, 1.0]]))


def test_ignore_regions_leave_objectness_alone(nano):
    """A confident prediction inside an ignore region costs nothing; outside one it is a negative."""
    criterion = CSTrackCriterion.for_model(nano, num_identities=0)
    assert criterion.box_coding == "yolox"
    torch.manual_seed(0)
    raw = [torch.full((1, 1, 8 // s * 4, 8 // s * 4, 6), -6.0) for s in (1, 2, 4)]
    raw[0][0, 0, 2:6, 2:6, 4] = 6.0  # confident cells in the middle of level 0
    emb = torch.zeros(1, 128, 32, 32)
    region = torch.tensor([[0.0, -1.0, -1.0, 0.125, 0.125, 0.15, 0.15]])  # covers those cells
    empty = torch.zeros(0, 7)
    loss_without = criterion(raw, emb, empty).terms["obj"]
    loss_ignored = criterion(raw, emb, region).terms["obj"]
    assert loss_ignored < 0.2 * loss_without
    masks = ignore_cells(raw, region)
    assert masks[0][0, 0, 2:6, 2:6].all() and not masks[0][0, 0, 10:, 10:].any()


def test_freeze_patterns(nano):
    from mottrack_training.engine.model_setup import freeze_parameters

    model = build_model("cstrack_nano")
    count = freeze_parameters(model, ("backbone.stem.*", "*.detection_gate"))
    assert count == 2 + 3
    assert not model.backbone.stem.conv.conv.weight.requires_grad and model.saan.embed.weight.requires_grad
    with pytest.raises(ValueError, match="matches no parameter"):
        freeze_parameters(model, ("backbone.nothing.*",))


def test_export_yolox_onnx_records_box_coding(tmp_path, nano):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from mottrack_export.onnx_export import export_onnx
    from mottrack_export.options import ExportOptions
    from mottrack_export.weights import LoadedModel
    from mottrack_sdk.model_metadata import read_model_metadata

    model = build_model("cstrack_nano").eval()
    with torch.no_grad():  # make some boxes confident enough to keep
        for level in model.detect.levels:
            level.pred.bias[4] = 2.0
    result = export_onnx(LoadedModel(model, "cstrack_nano", "random-init"), tmp_path / "nano.onnx",
                         ExportOptions(size=(256, 192)))
    meta = read_model_metadata(result.path)
    assert meta.box_coding == "yolox" and meta.embedding_dim == 128 and meta.anchors[0] == ((12.0, 30.0),)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    boxes, scores, emb, count = session.run(None, {"images": np.random.default_rng(0).random((1, 3, 192, 256),
                                                                                              np.float32)})
    assert int(count[0]) > 0 and np.allclose(np.linalg.norm(emb[: int(count[0])], axis=1), 1.0, atol=1e-4)


def test_activation_key_builds_relu_and_refuses_unknown_names():
    from torch import nn

    relu = build_model("cstrack_nano", activation="relu")
    assert relu.config.activation == "relu"
    assert sum(isinstance(m, nn.SiLU) for m in relu.modules()) == 0
    assert sum(isinstance(m, nn.ReLU) for m in relu.modules()) == 104  # every convolution of backbone, neck, head
    stored = dataclasses.asdict(relu.config)
    assert config_from_dict(stored) == relu.config  # packaged weights remember it
    assert config_from_dict({k: v for k, v in stored.items() if k != "activation"}).activation == "silu"
    with pytest.raises(ConfigError, match="activation must be one of silu, relu, hardswish, got 'gelu'"):
        config_from_dict({**stored, "activation": "gelu"})
    with pytest.raises(ConfigError, match="activation"):
        config_from_dict({**stored, "activation": 1})


def test_activation_changes_the_function_not_the_weights():
    from mottrack_training.model.activations import set_activation

    torch.manual_seed(0)
    silu = build_model("cstrack_nano").eval()
    relu = build_model("cstrack_nano", activation="hardswish").eval()
    relu.load_state_dict(silu.state_dict())  # same parameter names and shapes
    images = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        a, b = silu(images, decode=True)[0], relu(images, decode=True)[0]
        assert not torch.allclose(a, b)
        assert set_activation(relu, "silu") == 104
        assert torch.allclose(silu(images, decode=True)[0], relu(images, decode=True)[0])
    with pytest.raises(ValueError, match="activation must be one of"):
        set_activation(relu, "tanh")
