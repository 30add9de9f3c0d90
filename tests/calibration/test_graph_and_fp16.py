"""Float regions found from the graph's structure, and the FP16 conversion (IO and tail float32)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from tiny_graph import build_tiny_model

from mottrack_calibration.fp16 import convert_fp16
from mottrack_calibration.graph import constant_matmuls, ensure_node_names, find_float_regions
from mottrack_sdk.model_metadata import read_model_metadata


def test_float_regions_of_a_cstrack_shaped_graph():
    regions = find_float_regions(build_tiny_model())
    assert regions.detect_convs == ("detect_conv",) and regions.embedding_convs == ("embed_conv",)
    assert set(regions.tail) == {"tail_transpose", "tail_reshape", "tail_sigmoid", "tail_mul_two"}
    assert not any(name.startswith("body") for name in regions.all())


def test_unnamed_nodes_get_unique_names():
    model = build_tiny_model()
    model.graph.node[0].name = ""
    model.graph.node[1].name = ""
    assert ensure_node_names(model) == 2
    names = [n.name for n in model.graph.node]
    assert len(set(names)) == len(names) and names[0] == "Conv_0"


def test_graph_without_convolutions_is_refused():
    model = build_tiny_model()
    for node in model.graph.node:
        if node.op_type == "Conv":
            node.op_type = "Add"
    with pytest.raises(ValueError, match="not a CSTrack export"):
        find_float_regions(model, 18, 4)


def test_constant_matmuls_are_found():
    from onnx import helper

    model = build_tiny_model()
    model.graph.node.append(helper.make_node("MatMul", ["two", "r2"], ["mm"], name="const_mm"))
    assert constant_matmuls(model) == ["const_mm"]


def _run(path, image):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": image})


def test_fp16_keeps_io_and_tail_float32_and_stays_close(tmp_path):
    src = tmp_path / "tiny.onnx"
    onnx.save(build_tiny_model(), str(src))
    out = convert_fp16(src, tmp_path / "tiny_fp16.onnx")
    model = onnx.load(str(out))
    assert read_model_metadata(out).precision == "fp16"
    io_types = {v.name: v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)}
    assert io_types == {"images": 1, "predictions": 1, "embedding_map": 1}
    inits = {i.name: i.data_type for i in model.graph.initializer}
    assert inits["w1"] == inits["wd"] == inits["we"] == 10  # body and head convs in float16
    assert inits["scales"] == 1  # Resize scales stay float32 (ONNX spec)
    assert inits["two"] == 1 and inits["two__fp16"] == 10  # shared by a body node and the float32 tail
    tail = {n.name: n for n in model.graph.node}["tail_sigmoid"]
    assert tail.input[0] == "dr"  # the tail computes in float32 (the cast happens before Transpose)
    image = np.random.default_rng(0).random((1, 3, 32, 64), dtype=np.float32)
    for a, b in zip(_run(src, image), _run(out, image)):
        np.testing.assert_allclose(a, b, atol=2e-2, rtol=2e-2)


def test_fp16_refuses_a_non_fp32_model(tmp_path):
    src = tmp_path / "tiny.onnx"
    onnx.save(build_tiny_model(), str(src))
    half = convert_fp16(src, tmp_path / "h.onnx")
    with pytest.raises(ValueError, match="starts from the FP32 export"):
        convert_fp16(half, tmp_path / "hh.onnx")
