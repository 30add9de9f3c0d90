"""Hostile model files and image files: what a crafted file may not do (read outside its folder, hang,
take minutes or gigabytes), and errors that name the file and the key."""
from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from forged_images import forged_png
from mottrack_sdk import Tracker
from mottrack_sdk.backends.base import ModelLoadError
from mottrack_sdk.backends.onnx_wire import encode_varint, read_varint
from mottrack_sdk.io.frame_sources import MAX_IMAGE_PIXELS, ImageFolderReader, open_frame_source
from mottrack_sdk.model_metadata import ModelMetadata, metadata_from_props

META = ModelMetadata(
    model_name="probe", project_version="0.1.0", precision="fp32", input_name="images", input_size=(64, 64),
    input_format="NCHW RGB float32 0..1", resize_mode="letterbox", pad_value=127.5, strides=(8, 16, 32),
    anchors=(((12.0, 30.0),), ((30.0, 75.0),), ((75.0, 190.0),)), num_classes=1, embedding_dim=16,
    embedding_stride=8, output_layout="nms", outputs=("boxes", "scores", "embeddings", "count"), opset=17,
    weights_sha256="random-init", score_threshold=0.1, iou_threshold=0.6, top_k=1000, max_det=30)


def _model(path, external: str | None = None, qdq: bool = False, meta: dict | None = None):
    """A mottrack model whose outputs are constants; optionally one extra output read from external data
    (``external`` names the file, relative to the model) and one DequantizeLinear (the CPU INT8 rewrite)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    def const(name, arr):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name + "_v"))

    nodes = [const("boxes", np.zeros((30, 4), np.float32)), const("scores", np.zeros(30, np.float32)),
             const("count", np.zeros(1, np.int64))]
    inits, outputs = [], ["boxes", "scores", "embeddings", "count"]
    if qdq:
        inits += [numpy_helper.from_array(np.zeros((30, 16), np.int8), "w_q"),
                  numpy_helper.from_array(np.array(0.1, np.float32), "w_s"),
                  numpy_helper.from_array(np.array(0, np.int8), "w_z")]
        nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["embeddings"]))
    else:
        nodes.append(const("embeddings", np.zeros((30, 16), np.float32)))
    value_infos = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [30, 4]),
                   helper.make_tensor_value_info("scores", TensorProto.FLOAT, [30]),
                   helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, [30, 16]),
                   helper.make_tensor_value_info("count", TensorProto.INT64, [1])]
    if external:
        t = TensorProto(name="ext_w", data_type=TensorProto.UINT8, dims=[8], data_location=TensorProto.EXTERNAL)
        for key, value in (("location", external), ("offset", "0"), ("length", "8")):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        inits.append(t)
        nodes.append(helper.make_node("Identity", ["ext_w"], ["ext_out"]))
        value_infos.append(helper.make_tensor_value_info("ext_out", TensorProto.UINT8, [8]))
        outputs.append("ext_out")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
                              value_infos, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    props = {**ModelMetadata(**{**META.__dict__, "outputs": tuple(outputs)}).to_props(), **(meta or {})}
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path.write_bytes(model.SerializeToString())
    return path


# -- the protobuf reader of the CPU INT8 rewrite ------------------------------------------------
def test_varints_round_trip_and_long_ones_are_refused_at_once():
    for value in (0, 1, 127, 128, 300, 2**63 - 1, 2**64 - 1):
        data = encode_varint(value)
        assert read_varint(b"xx" + data, 2) == (value, len(data) + 2)
    for run in (10, 11, 1_000_000):  # decoded whole before (a quadratic Python int), now refused at byte 10
        with pytest.raises(ValueError, match="longer than 10 bytes"):
            read_varint(b"\xff" * run + b"\x00", 0)
    for truncated in (b"", b"\x80", b"\xff\xff"):
        with pytest.raises(ValueError, match="truncated"):
            read_varint(truncated, 0)


# -- external data of a model rewritten in memory -----------------------------------------------
def test_external_data_of_a_rewritten_int8_model_is_read_beside_the_model(tmp_path, monkeypatch):
    """The CPU INT8 rewrite hands ONNX Runtime bytes; their external data used to be resolved against
    the working directory (a model could read a file from wherever the command ran)."""
    from mottrack_sdk.backends.onnxruntime_backend import OnnxRuntimeBackend

    models, elsewhere = tmp_path / "models", tmp_path / "cwd"
    models.mkdir()
    elsewhere.mkdir()
    (models / "w.bin").write_bytes(b"MODELDIR")
    (elsewhere / "w.bin").write_bytes(b"CWD-FILE")
    monkeypatch.chdir(elsewhere)
    for qdq in (False, True):
        backend = OnnxRuntimeBackend(_model(models / f"m{int(qdq)}.onnx", external="w.bin", qdq=qdq)).load()
        assert backend.cpu_int8_rewrite is not None or not qdq  # the rewrite path was taken
        out = backend.infer({"images": np.zeros((1, 3, 64, 64), np.float32)})
        assert bytes(out["ext_out"]) == b"MODELDIR"


# -- files that are not files -------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this OS")
def test_a_named_pipe_is_refused_as_a_model_or_a_source(tmp_path):
    """Opening a FIFO blocks until someone writes to it: the commands hung for ever."""
    from mottrack_sdk.backends.onnxruntime_backend import OnnxRuntimeBackend

    fifo_model, fifo_video = tmp_path / "m.onnx", tmp_path / "clip.mp4"
    os.mkfifo(fifo_model)
    os.mkfifo(fifo_video)
    with pytest.raises(ValueError, match=r"m\.onnx: is a named pipe \(FIFO\)"):
        Tracker(model=fifo_model)
    with pytest.raises(ModelLoadError, match="is a named pipe"):
        OnnxRuntimeBackend(fifo_model).load()
    with pytest.raises(ValueError, match=r"clip\.mp4: is a named pipe \(FIFO\)"):
        open_frame_source(fifo_video)


# -- metadata read from a file ------------------------------------------------------------------
@pytest.mark.parametrize("version", ["9" * 5000, "\u0661", "1.0", ""])
def test_a_malformed_format_version_is_named(version):
    with pytest.raises(ValueError, match=r"m\.onnx: metadata mottrack\.format_version=.* is malformed"):
        metadata_from_props({**META.to_props(), "mottrack.format_version": version}, where="m.onnx")


def test_an_input_size_preprocessing_cannot_make_is_refused_at_load():
    with pytest.raises(ValueError, match=r"input_size must be sides in 1\.\.8192"):
        metadata_from_props({**META.to_props(), "mottrack.input_size": "16384x16384"})


def test_bad_tracker_defaults_name_the_model_in_a_bounded_message(tmp_path):
    keys = {f"k{i:07d}" + "x" * 30: 1 for i in range(20_000)}
    path = _model(tmp_path / "m.onnx", meta={"mottrack.tracker_defaults": __import__("json").dumps(keys)})
    with pytest.raises(ValueError, match=r"m\.onnx: model metadata tracker_defaults") as info:
        Tracker(model=path).load_model()
    assert "unknown option(s)" in str(info.value) and len(str(info.value)) < 2000


# -- image files whose header asks for gigabytes --------------------------------------------------
@pytest.mark.parametrize("side", [9000, 20_000, 70_000])
def test_an_image_whose_header_declares_too_many_pixels_is_skipped_unread(tmp_path, side):
    """A 100-byte PNG declaring 20000x20000 used to cost 2.4 GB as a frame; past OpenCV's own cap it was a
    cv2.error traceback that --on-error skip did not skip."""
    pytest.importorskip("PIL", reason="the header check reads image sizes with Pillow")
    import cv2

    cv2.imwrite(str(tmp_path / "000001.png"), np.full((32, 32, 3), 90, np.uint8))
    forged_png(tmp_path / "000002.png", side, side)
    warnings: list[str] = []
    reader = ImageFolderReader(tmp_path)
    reader.warn = warnings.append
    frames = list(reader)
    assert [f for f, _ in frames] == [1] and reader.problems.skipped == 1
    assert f"declares {side * side:,} pixels, more than a frame may have ({MAX_IMAGE_PIXELS:,}" in warnings[0]


def test_an_opencv_error_while_decoding_skips_the_frame(tmp_path, monkeypatch):
    import cv2

    cv2.imwrite(str(tmp_path / "000001.png"), np.full((32, 32, 3), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "000002.png"), np.full((32, 32, 3), 90, np.uint8))
    real = cv2.imread

    def imread(name, *args):
        if name.endswith("000002.png"):
            raise cv2.error("(-215:Assertion failed) pixels <= CV_IO_MAX_IMAGE_PIXELS")
        return real(name, *args)
    monkeypatch.setattr(cv2, "imread", imread)
    reader = ImageFolderReader(tmp_path)
    reader.warn = lambda message: None
    assert [f for f, _ in reader] == [1] and "CV_IO_MAX_IMAGE_PIXELS" in reader.problems.examples[0]


def test_a_video_declaring_huge_frames_is_refused_before_decoding(tmp_path):
    """A 43-byte GIF whose screen is 16000x16000 cost about 3 GB per frame in track and pseudo-label."""
    header = b"GIF89a" + struct.pack("<HH", 16000, 16000) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00"
    (tmp_path / "bomb.gif").write_bytes(header + image + b"\x3b")
    with pytest.raises(ValueError, match=r"bomb\.gif: its frames are 16000x16000 pixels \(256,000,000\), more than"):
        open_frame_source(tmp_path / "bomb.gif")

