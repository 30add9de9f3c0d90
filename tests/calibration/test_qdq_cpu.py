"""The runtime's CPU adaptation of TensorRT-conformant INT8 QDQ files (mottrack_sdk.backends.qdq_cpu):
uint8 activations and 7-bit weights, written on the protobuf wire format without the onnx package."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from mottrack_calibration.quantize import QuantizationOptions, check_tensorrt_qdq, quantize_int8
from mottrack_calibration.readers import FrameCalibrationReader, PreprocessingSpec, open_frame_source
from mottrack_sdk.backends.onnx_wire import encode_varint as _encode_varint
from mottrack_sdk.backends.onnx_wire import read_varint as _varint
from mottrack_sdk.backends.qdq_cpu import adapt_int8_for_cpu, cpu_has_vnni, rewrite_qdq_for_cpu

SPEC = PreprocessingSpec("images", (64, 32), "letterbox", 127.5)


@pytest.fixture(params=[False, True], ids=["int8_weights", "float_weights"])
def s8s8_model(request, tiny_model, image_folder, tmp_path):
    """The TensorRT-conformant INT8 file in both weight layouts: int8 initializers -> DequantizeLinear (what
    quantize_int8 writes) and float weights behind a Q/DQ pair (older files, still loaded)."""
    reader = FrameCalibrationReader(open_frame_source(image_folder), SPEC, 8)
    options = QuantizationOptions(method="minmax", float_weights=request.param)
    return quantize_int8(tiny_model, tmp_path / "q.onnx", reader, options).path


def _inits(model):
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _run(source, x):
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})


def test_varints_round_trip_including_negative_int32_values():
    for value in (0, 1, 127, 128, 300, 2**31 - 1, 2**63 + 5):
        assert _varint(_encode_varint(value), 0) == (value, len(_encode_varint(value)))
    assert len(_encode_varint(-1)) == 10 and _varint(_encode_varint(-1), 0)[0] == 2**64 - 1


def test_activations_become_uint8_and_weights_7_bit_with_the_graph_otherwise_unchanged(s8s8_model):
    data = s8s8_model.read_bytes()
    before = onnx.load_from_string(data)
    new, report = rewrite_qdq_for_cpu(data, seven_bit_weights=True)
    after = onnx.load_from_string(new)
    assert report.activation_zero_points > 0 and report.weight_scales > 0 and report.skipped == []
    assert [n.SerializeToString() for n in before.graph.node] == [n.SerializeToString() for n in after.graph.node]
    assert before.metadata_props == after.metadata_props and check_tensorrt_qdq(before) == []
    old, cur = _inits(before), _inits(after)
    # weights: float initializers read by a QuantizeLinear, or int8 initializers read by a DequantizeLinear
    float_weights = {n.input[0] for n in before.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in old}
    int8_weights = {n.input[0] for n in before.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in old}
    assert bool(float_weights) != bool(int8_weights) and report.int8_weights == len(int8_weights)
    weight_nodes = [n for n in before.graph.node if n.input[0] in float_weights | int8_weights]
    weight_scales = {n.input[1] for n in weight_nodes}
    act_zps = {n.input[2] for n in before.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
               and n.input[1] not in weight_scales}
    for name, value in old.items():
        if name in act_zps:
            assert value.dtype == np.int8 and cur[name].dtype == np.uint8
            assert np.array_equal(cur[name].astype(int), value.astype(int) + 128)
        elif name in weight_scales:
            np.testing.assert_array_equal(cur[name], value * 2)
        elif name in int8_weights:  # requantized to 7 bits: round half to even of q / 2, +-127 -> +-64
            assert cur[name].dtype == np.int8 and np.abs(cur[name].astype(int)).max() <= 64
            np.testing.assert_array_equal(cur[name], np.round(value / 2).astype(np.int8))
        else:
            assert cur[name].dtype == value.dtype and np.array_equal(cur[name], value), name
    # every weight now quantizes into 7 bits, so u8 x s8 pairs cannot saturate 16-bit lanes
    for node in weight_nodes:
        if node.input[0] in float_weights:
            w, s = cur[node.input[0]], cur[node.input[1]].reshape(-1, *([1] * (cur[node.input[0]].ndim - 1)))
            assert np.abs(np.round(w / s)).max() <= 64
    # idempotent: nothing left to change, already-7-bit weights are not reduced again
    again, second = rewrite_qdq_for_cpu(new, seven_bit_weights=True)
    assert again == new and not second.changed


def test_uint8_activations_compute_the_same_function(s8s8_model):
    x = np.random.default_rng(0).random((1, 3, 32, 64), dtype=np.float32)
    u8, report = rewrite_qdq_for_cpu(s8s8_model.read_bytes(), seven_bit_weights=False)
    assert report.weight_scales == 0 and report.activation_zero_points > 0
    reference = _run(str(s8s8_model), x)
    for got, ref in zip(_run(u8, x), reference):  # exact algebra; kernels differ only in rounding order
        scale = np.abs(ref).max()
        assert np.abs(got - ref).max() <= 0.05 * scale


def test_groups_that_cannot_change_together_are_left_alone():
    zp, sc = numpy_helper.from_array(np.array(0, np.int8), "zp"), numpy_helper.from_array(np.array(0.1, np.float32), "s")
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"]),
             helper.make_node("Identity", ["q"], ["q_out"])]  # the int8 tensor leaves the graph
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4]),
                               helper.make_tensor_value_info("q_out", onnx.TensorProto.INT8, [4])], [zp, sc])
    data = helper.make_model(graph).SerializeToString()
    new, report = rewrite_qdq_for_cpu(data, seven_bit_weights=True)
    assert new == data and not report.changed and "other than DequantizeLinear" in report.skipped[0]


def _silu_model(extra_reader: bool = False, as_output: bool = False) -> bytes:
    """x -> Q/DQ -> SiLU (Mul(x, Sigmoid(x)), operands in both orders) -> Q/DQ -> y, opset 17."""
    f32 = onnx.TensorProto.FLOAT
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "s"), numpy_helper.from_array(np.array(3, np.int8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
             helper.make_node("Sigmoid", ["xd"], ["sig"], name="act1"),
             helper.make_node("Mul", ["xd", "sig"], ["a"]),
             helper.make_node("Sigmoid", ["a"], ["sig2"]),
             helper.make_node("Mul", ["sig2", "a"], ["b"]),
             helper.make_node("QuantizeLinear", ["b", "s", "z"], ["bq"]),
             helper.make_node("DequantizeLinear", ["bq", "s", "z"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", f32, [2, 8])]
    if extra_reader:  # the sigmoid is read twice: not a SiLU
        nodes.append(helper.make_node("Neg", ["sig"], ["n"]))
        outputs.append(helper.make_tensor_value_info("n", f32, [2, 8]))
    if as_output:
        outputs.append(helper.make_tensor_value_info("sig2", f32, [2, 8]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f32, [2, 8])], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def test_silu_becomes_one_quickgelu_node_computing_the_same_function():
    data = _silu_model()
    new, report = rewrite_qdq_for_cpu(data, seven_bit_weights=False)
    after = onnx.load_from_string(new)
    assert report.silu_fused == 2 and report.changed
    ops = [(n.op_type, n.domain) for n in after.graph.node]
    assert ("Sigmoid", "") not in ops and ("Mul", "") not in ops and ops.count(("QuickGelu", "com.microsoft")) == 2
    assert {o.domain for o in after.opset_import} == {"", "com.microsoft"}
    gelu = next(n for n in after.graph.node if n.op_type == "QuickGelu")
    assert gelu.name == "act1" and helper.get_attribute_value(gelu.attribute[0]) == 1.0
    x = np.linspace(-6, 6, 16, dtype=np.float32).reshape(2, 8)
    ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = ort.InferenceSession(new, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.abs(got - ref).max() <= 0.05 + 1e-6  # at most one quantization step apart (float rounding)
    assert np.mean(got == ref) >= 0.9


def test_a_sigmoid_read_elsewhere_or_returned_is_not_fused():
    assert rewrite_qdq_for_cpu(_silu_model(extra_reader=True), False)[1].silu_fused == 1
    assert rewrite_qdq_for_cpu(_silu_model(as_output=True), False)[1].silu_fused == 1
    assert rewrite_qdq_for_cpu(_silu_model(extra_reader=True, as_output=True), False)[1].silu_fused == 0


def test_adapt_reads_qdq_files_only_and_leaves_others_to_onnx_runtime(s8s8_model, tiny_model, tmp_path):
    source, report = adapt_int8_for_cpu(s8s8_model, "u8_w7")
    assert isinstance(source, bytes) and report.weight_scales > 0
    assert adapt_int8_for_cpu(s8s8_model, "as_is") == (str(s8s8_model), None)
    assert adapt_int8_for_cpu(tiny_model, "auto") == (str(tiny_model), None)  # FP32: nothing to adapt
    garbage = tmp_path / "bad.onnx"
    garbage.write_bytes(b"\xff\xffQuantizeLinear")
    assert adapt_int8_for_cpu(garbage, "auto") == (str(garbage), None)
    auto = adapt_int8_for_cpu(s8s8_model, "auto")[1]
    assert (auto.float_weights > 0) == (not cpu_has_vnni()) and (auto.activation_zero_points > 0) == cpu_has_vnni()
    with pytest.raises(ValueError, match="cpu_int8 must be"):
        adapt_int8_for_cpu(s8s8_model, "fast")


def test_float_compute_dequantizes_weights_at_load_and_drops_every_activation_qdq(s8s8_model, tiny_model):
    data = s8s8_model.read_bytes()
    before = onnx.load_from_string(data)
    new, report = rewrite_qdq_for_cpu(data, seven_bit_weights=False, float_compute=True)
    after = onnx.load_from_string(new)
    ops = {n.op_type for n in after.graph.node}
    assert "QuantizeLinear" not in ops and "DequantizeLinear" not in ops and report.skipped == []
    assert report.float_weights > 0 and report.float_activations > 0 and "float compute" in report.describe()
    used = {i for n in after.graph.node for i in n.input}
    assert all(init.name in used for init in after.graph.initializer)  # int8 weights, scales, zps dropped
    assert all(init.data_type != onnx.TensorProto.INT8 for init in after.graph.initializer)
    assert before.metadata_props == after.metadata_props
    # the weights are the file's quantized ones: what its weight DequantizeLinear / Q-DQ pair gives
    old, cur = _inits(before), _inits(after)
    for dq in (n for n in before.graph.node if n.op_type == "DequantizeLinear"):
        q = next((p for p in before.graph.node if dq.input[0] in p.output), None)
        if dq.input[0] not in old and (q is None or q.input[0] not in old):
            continue  # an activation
        weights = old[dq.input[0]] if dq.input[0] in old else None
        if weights is None:  # float weight behind a Q/DQ pair: quantize it as QuantizeLinear does
            s = old[q.input[1]].reshape(-1, *([1] * (old[q.input[0]].ndim - 1)))
            weights = np.clip(np.round(old[q.input[0]] / s), -128, 127)
        scale = old[dq.input[1]].reshape(-1, *([1] * (weights.ndim - 1)))
        expected = (weights.astype(np.float32) - old[dq.input[2]].astype(np.float32).reshape(scale.shape)) * scale
        assert np.allclose(cur[dq.output[0]], expected, rtol=0, atol=1e-7)
    # closer to the FP32 network than the int8 kernels: only weight rounding is left
    x = np.random.default_rng(2).random((1, 3, 32, 64), dtype=np.float32)
    fp32, floated, as_is = _run(str(tiny_model), x), _run(new, x), _run(str(s8s8_model), x)
    for f, q, a in zip(fp32, floated, as_is):
        if f.dtype == np.float32 and f.size:
            assert np.abs(q - f).max() <= np.abs(a - f).max() + 1e-6
            assert np.abs(q - f).max() <= 0.05 * max(np.abs(f).max(), 1e-3)


def test_the_onnxruntime_backend_adapts_int8_files_on_the_cpu_provider(s8s8_model):
    from mottrack_sdk.backends import OnnxRuntimeBackend, OnnxRuntimeOptions

    x = np.random.default_rng(1).random((1, 3, 32, 64), dtype=np.float32)
    cpu = ("CPUExecutionProvider",)
    with OnnxRuntimeBackend(s8s8_model, OnnxRuntimeOptions(providers=cpu, cpu_int8="u8")) as adapted, \
            OnnxRuntimeBackend(s8s8_model, OnnxRuntimeOptions(providers=cpu, cpu_int8="as_is")) as plain:
        assert adapted.cpu_int8_rewrite.activation_zero_points > 0 and adapted.cpu_int8_rewrite.weight_scales == 0
        assert plain.cpu_int8_rewrite is None and adapted.precision == plain.precision == "int8"
        got, ref = adapted.infer({"images": x}), plain.infer({"images": x})
        for name in ref:
            assert np.abs(got[name] - ref[name]).max() <= 0.05 * np.abs(ref[name]).max()
    with pytest.raises(ValueError, match="cpu_int8 must be one of"):
        OnnxRuntimeOptions(cpu_int8="fast")
