"""The runtime's reader of exported-model metadata: round trip, missing keys, newer formats, corrupt files."""
from __future__ import annotations

import dataclasses

import pytest

from mottrack_sdk.model_metadata import METADATA_PREFIX, ModelMetadata, metadata_from_props, read_model_metadata

META = ModelMetadata(
    model_name="cstrack_s", project_version="0.1.0", precision="int8", input_name="images", input_size=(1088, 608),
    input_format="NCHW RGB float32 0..1", resize_mode="letterbox", pad_value=127.5, strides=(8, 16, 32),
    anchors=(((8.0, 24.0), (11.0, 34.0), (16.0, 48.0)),) * 3, num_classes=1, embedding_dim=512,
    embedding_stride=8, output_layout="nms", outputs=("boxes", "scores", "embeddings", "count"), opset=17,
    weights_sha256="ab" * 32, score_threshold=0.5, iou_threshold=0.6, top_k=1000, max_det=300)


def test_round_trip_through_strings():
    props = META.to_props()
    assert props["mottrack.input_size"] == "1088x608" and props["mottrack.strides"] == "[8, 16, 32]"
    assert all(k.startswith(METADATA_PREFIX) and isinstance(v, str) for k, v in props.items())
    assert metadata_from_props(props) == META


def test_tracker_defaults_round_trip_and_are_checked():
    meta = dataclasses.replace(META, tracker_defaults={"det_thresh": 0.6, "low_score_thresh": None})
    props = meta.to_props()
    assert props["mottrack.tracker_defaults"] == '{"det_thresh": 0.6, "low_score_thresh": null}'
    assert metadata_from_props(props) == meta
    assert "mottrack.tracker_defaults" not in META.to_props() and metadata_from_props(META.to_props()).tracker_defaults is None
    for bad in ('[0.6]', '{"det_thresh": "high"}'):
        with pytest.raises(ValueError, match="tracker_defaults"):
            metadata_from_props({**props, "mottrack.tracker_defaults": bad})


def test_raw_heads_layout_has_no_tail_keys():
    raw = dataclasses.replace(META, output_layout="raw_heads", outputs=("predictions", "embedding_map"),
                              score_threshold=None, iou_threshold=None, top_k=None, max_det=None)
    props = raw.to_props()
    assert "mottrack.max_det" not in props and metadata_from_props(props) == raw


def test_errors_name_the_problem():
    props = META.to_props()
    with pytest.raises(ValueError, match="no mottrack metadata"):
        metadata_from_props({})
    with pytest.raises(ValueError, match="newer than this runtime"):
        metadata_from_props({**props, "mottrack.format_version": "2"})
    with pytest.raises(ValueError, match="mottrack.strides"):
        metadata_from_props({k: v for k, v in props.items() if k != "mottrack.strides"})
    with pytest.raises(ValueError, match="malformed"):
        metadata_from_props({**props, "mottrack.input_size": "wide"})
    with pytest.raises(ValueError, match="precision"):
        metadata_from_props({**props, "mottrack.precision": "int4"})


def test_read_from_a_file_and_from_a_session(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["out"])], "g",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    for key, value in META.to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    assert read_model_metadata(path) == META
    assert read_model_metadata(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])) == META
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        read_model_metadata(tmp_path / "bad.onnx")
    with pytest.raises(FileNotFoundError):
        read_model_metadata(tmp_path / "missing.onnx")
