"""A CSTrack-shaped ONNX graph built in code (no torch): body convs, a detect-head conv with A·(5+nc) = 18
channels followed by a decode-like tail, and an embedding conv with 4 channels. Raw-heads layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mottrack_sdk.model_metadata import ModelMetadata

SIZE = (64, 32)  # (width, height)


def tiny_metadata() -> ModelMetadata:
    return ModelMetadata(
        model_name="tiny", project_version="0.1.0", precision="fp32", input_name="images", input_size=SIZE,
        input_format="NCHW RGB float32 0..1", resize_mode="letterbox", pad_value=127.5, strides=(8, 16, 32),
        anchors=(((8.0, 24.0), (11.0, 34.0), (16.0, 48.0)),) * 3, num_classes=1, embedding_dim=4,
        embedding_stride=8, output_layout="raw_heads", outputs=("predictions", "embedding_map"), opset=17,
        weights_sha256="random-init")


def build_tiny_model(seed: int = 0):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w, h = SIZE

    def init(name, *shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [init("w1", 8, 3, 3, 3), init("b1", 8), init("w2", 8, 8, 3, 3), init("b2", 8),
             init("wd", 18, 8, 1, 1), init("bd", 18), init("we", 4, 8, 1, 1), init("be", 4),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array(2.0, np.float32), "two"),  # shared by body and tail
             numpy_helper.from_array(np.array([1, -1, 6], np.int64), "shape")]
    nodes = [
        helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], name="body_conv1", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"], name="body_relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="body_pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Resize", ["p1", "", "scales"], ["u1"], name="body_resize", mode="nearest"),
        helper.make_node("Constant", [], ["half"], name="body_const",
                         value=numpy_helper.from_array(np.array(0.5, np.float32))),
        helper.make_node("Mul", ["u1", "half"], ["m1"], name="body_mul_const"),
        helper.make_node("Mul", ["m1", "two"], ["m2"], name="body_mul_two"),
        helper.make_node("Conv", ["m2", "w2", "b2"], ["c2"], name="body_conv2", pads=[1, 1, 1, 1], strides=[4, 4]),
        helper.make_node("Relu", ["c2"], ["r2"], name="body_relu2"),
        helper.make_node("Conv", ["r2", "wd", "bd"], ["d"], name="detect_conv"),
        helper.make_node("Transpose", ["d"], ["dt"], name="tail_transpose", perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["dt", "shape"], ["dr"], name="tail_reshape"),
        helper.make_node("Sigmoid", ["dr"], ["ds"], name="tail_sigmoid"),
        helper.make_node("Mul", ["ds", "two"], ["predictions"], name="tail_mul_two"),
        helper.make_node("Conv", ["r2", "we", "be"], ["embedding_map"], name="embed_conv"),
    ]
    n = 3 * (h // 8) * (w // 8)
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
                              [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [1, n, 6]),
                               helper.make_tensor_value_info("embedding_map", TensorProto.FLOAT, [1, 4, h // 8, w // 8])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    for key, value in tiny_metadata().to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model


def write_tiny_model(path: Path, seed: int = 0) -> Path:
    import onnx

    onnx.save(build_tiny_model(seed), str(path))
    return path
