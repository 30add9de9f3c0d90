"""Tiny ONNX files carrying mottrack metadata, built in code (no torch): inputs for builder tests."""
from __future__ import annotations

from pathlib import Path

from mottrack_sdk.model_metadata import ModelMetadata


def stub_metadata(precision: str = "fp32", size: tuple[int, int] = (64, 32), opset: int = 17) -> ModelMetadata:
    return ModelMetadata(
        model_name="stub", project_version="0.1.0", precision=precision, input_name="images", input_size=size,
        input_format="NCHW RGB float32 0..1", resize_mode="letterbox", pad_value=127.5, strides=(8, 16, 32),
        anchors=(((8.0, 24.0),) * 3,) * 3, num_classes=1, embedding_dim=4, embedding_stride=8,
        output_layout="raw_heads", outputs=("out",), opset=opset, weights_sha256="random-init")


def write_stub_onnx(path: Path, precision: str = "fp32", size: tuple[int, int] = (64, 32), opset: int = 17) -> Path:
    import onnx
    from onnx import TensorProto, helper

    width, height = size
    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["out"], name="id")], "stub",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, height, width])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, height, width])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", min(opset, 17))], ir_version=8)
    for key, value in stub_metadata(precision, size, opset).to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path
