"""INT8 QDQ files store their weights as int8 initializers feeding DequantizeLinear (a quarter of FP32's
size) and detect exactly like the older float-weights layout on ONNX Runtime, as they are and adapted
for the CPU; the older layout still loads."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SIZE = (128, 96)
WIDE = {"width_multiple": 0.25, "embedding_dim": 64}  # weights dominate the file, as in the real CSTrack-S


def _frames_folder(root):
    import cv2

    from mottrack_sdk.scenes import SceneGenerator, SceneOptions

    frames = [f.image_bgr for f in SceneGenerator(SceneOptions(width=256, height=144, num_frames=8, seed=5, density=8))]
    (root / "frames").mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(root / "frames" / f"{i + 1:06d}.png"), frame)
    return root / "frames", frames


def _quantize(fp32, folder, layouts, cache_path):
    """``{name: path}`` for ``(name, float_weights, reduce_range)`` layouts, all from the same calibration ranges."""
    from mottrack_calibration import CalibrationRangeCache, QuantizationOptions, quantize_int8
    from mottrack_calibration.readers import FrameCalibrationReader, PreprocessingSpec, open_frame_source
    from mottrack_sdk.model_metadata import read_model_metadata

    spec = PreprocessingSpec.from_metadata(read_model_metadata(fp32))
    reader = FrameCalibrationReader(open_frame_source(folder), spec, 8)
    out = {}
    for name, float_weights, reduce_range in layouts:
        cache = CalibrationRangeCache(cache_path, {"test": "int8 weights"})
        options = QuantizationOptions(method="minmax", float_weights=float_weights, reduce_range=reduce_range)
        out[name] = quantize_int8(fp32, fp32.with_name(f"{name}.onnx"), reader, options, cache).path
    return out


def _export(detecting_model, path, **overrides):
    from mottrack_export import ExportOptions, TailOptions, export_onnx

    export_onnx(detecting_model(SIZE, **overrides), path,
                ExportOptions(size=SIZE, tail=TailOptions(score_threshold=0.3), verify_onnxruntime=False))
    return path


@pytest.fixture(scope="module")
def int8_files(tmp_path_factory, detecting_model):
    """The tiny test network: FP32, then INT8 in both layouts with 8-bit and 7-bit weights, same ranges."""
    root = tmp_path_factory.mktemp("int8_weights")
    folder, frames = _frames_folder(root)
    fp32 = _export(detecting_model, root / "fp32.onnx")
    files = _quantize(fp32, folder, [("int8", False, False), ("float_qdq", True, False),
                                     ("int8_7bit", False, True), ("float_qdq_7bit", True, True)], root / "ranges.json")
    return {"fp32": fp32, "frames": frames, **files}


def _detect(path, frames, cpu_int8):
    from mottrack_calibration.evaluation import OnnxDetector

    detector = OnnxDetector(path, threads=1, cpu_int8=cpu_int8)
    return [detector.detect(frame) for frame in frames], detector.cpu_int8_rewrite


def _identical(a, b) -> bool:
    return all(np.array_equal(x.xyxy, y.xyxy) and np.array_equal(x.scores, y.scores)
               and np.array_equal(x.embeddings, y.embeddings) for x, y in zip(a, b))


def test_weights_are_int8_initializers_feeding_dequantize_a_quarter_of_fp32(detecting_model, tmp_path):
    from onnx import TensorProto

    from mottrack_calibration import check_tensorrt_qdq

    folder, _ = _frames_folder(tmp_path)
    fp32 = _export(detecting_model, tmp_path / "fp32.onnx", **WIDE)
    int8 = _quantize(fp32, folder, [("int8", False, False)], tmp_path / "ranges.json")["int8"]
    assert int8.stat().st_size <= 0.3 * fp32.stat().st_size  # before: 1.02x (float weights behind Q/DQ)
    model = onnx.load(str(int8))
    inits = {i.name: i for i in model.graph.initializer}
    nodes = model.graph.node
    assert not [n.name for n in nodes if n.op_type == "QuantizeLinear" and n.input[0] in inits]
    producer = {o: n for n in nodes for o in n.output}
    conv_weights = [producer[n.input[1]] for n in nodes if n.op_type == "Conv" and n.input[1] in producer]
    assert len(conv_weights) > 20
    for dq in conv_weights:
        weight, scale = inits[dq.input[0]], inits[dq.input[1]]
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        assert dq.op_type == "DequantizeLinear" and weight.data_type == TensorProto.INT8
        assert axis == 0 and list(scale.dims) == [weight.dims[0]]  # per output channel
    assert check_tensorrt_qdq(model) == []
    props = {p.key: p.value for p in model.metadata_props}
    assert props["mottrack.quantization.weights"] == "int8" and props["mottrack.precision"] == "int8"


@pytest.mark.parametrize("cpu_int8", ["as_is", "u8"])
def test_both_layouts_detect_identically_on_onnx_runtime(int8_files, cpu_int8):
    new, rewrite = _detect(int8_files["int8"], int8_files["frames"], cpu_int8)
    old, _ = _detect(int8_files["float_qdq"], int8_files["frames"], cpu_int8)
    assert sum(len(d.scores) for d in new) > 10
    assert _identical(new, old)
    assert (rewrite is None) == (cpu_int8 == "as_is")


@pytest.mark.parametrize("cpu_int8", ["as_is", "u8", "u8_w7"])
def test_7_bit_files_detect_identically_in_every_mode(int8_files, cpu_int8):
    # what `mottrack calibrate` writes on CPUs without VNNI (reduce_range): its report's accuracy is unchanged
    new, rewrite = _detect(int8_files["int8_7bit"], int8_files["frames"], cpu_int8)
    old, _ = _detect(int8_files["float_qdq_7bit"], int8_files["frames"], cpu_int8)
    assert _identical(new, old) and sum(len(d.scores) for d in new) > 10
    assert rewrite is None or rewrite.int8_weights == rewrite.weight_scales == 0  # already 7-bit: kept as they are


def test_8_bit_int8_weights_are_requantized_to_7_bits_close_to_the_float_layout(int8_files):
    from mottrack_calibration.evaluation import embedding_cosines

    frames = int8_files["frames"]
    new, rewrite = _detect(int8_files["int8"], frames, "u8_w7")
    old, old_rewrite = _detect(int8_files["float_qdq"], frames, "u8_w7")
    fp32, _ = _detect(int8_files["fp32"], frames, "as_is")
    assert rewrite.int8_weights > 20 and rewrite.int8_weights == rewrite.weight_scales == old_rewrite.weight_scales
    # an odd 8-bit level is halfway between two 7-bit ones: the float file rounds by the true weight, the
    # int8 file half to even; the detections stay as close to each other, and to FP32, as quantization allows
    counts = [sum(len(d.scores) for d in dets) for dets in (new, old, fp32)]
    assert abs(counts[0] - counts[1]) <= 0.1 * counts[1]
    for a, b, floor in ((new, old, 0.97), (fp32, new, 0.95)):
        cos = embedding_cosines(a, b)
        assert cos.size >= 0.8 * min(counts) and np.median(cos) >= floor
