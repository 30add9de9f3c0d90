"""Host-side decoding: NMS with ONNX Runtime's rules, the embedding gather, mapping back to the frame."""
from __future__ import annotations

import numpy as np
import pytest

from mottrack_sdk.model_metadata import ModelMetadata
from mottrack_sdk.postprocessing import (DetectionDecoder, PostprocessOptions, gather_embeddings, l2_normalize,
                                         nms_xyxy)
from mottrack_sdk.preprocessing import letterbox


def _onnx_nms(boxes: np.ndarray, scores: np.ndarray, iou: float, score: float, max_out: int) -> np.ndarray:
    """ONNX Runtime's NonMaxSuppression on a graph built here (the reference semantics)."""
    onnx = pytest.importorskip("onnx")
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou", "score"], ["selected"],
                          center_point_box=0)],
        "nms", [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, None, 4]),
                helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, None])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])],
        initializer=[helper.make_tensor("max", TensorProto.INT64, [1], [max_out]),
                     helper.make_tensor("iou", TensorProto.FLOAT, [1], [iou]),
                     helper.make_tensor("score", TensorProto.FLOAT, [1], [score])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (selected,) = session.run(None, {"boxes": boxes[None].astype(np.float32),
                                     "scores": scores[None, None].astype(np.float32)})
    return selected[:, 2]


def _random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.uniform(0, 300, (n, 2))
    sizes = rng.uniform(5, 60, (n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1).astype(np.float32)
    return boxes, rng.random(n).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_nms_keeps_what_onnxruntime_keeps(seed):
    rng = np.random.default_rng(seed)
    boxes, scores = _random_boxes(rng, 400)
    boxes[:10] = boxes[0]            # exact duplicates
    boxes[10, 2:] = boxes[10, :2]    # a zero-area box suppresses nothing
    scores[20:25] = scores[20]       # ties: lower index first
    for iou, thr, max_out in ((0.5, 0.3, 300), (0.6, 0.0, 50), (0.3, 0.9, 300)):
        got = nms_xyxy(boxes, scores, iou, thr, max_out)
        np.testing.assert_array_equal(got, _onnx_nms(boxes, scores, iou, thr, max_out))


def test_nms_top_k_and_edge_cases():
    boxes, scores = _random_boxes(np.random.default_rng(9), 200)
    keep = nms_xyxy(boxes, scores, 0.5, 0.1, 300, top_k=20)
    top20 = np.argsort(-scores)[:20]
    assert set(keep) <= set(top20)
    np.testing.assert_array_equal(keep, top20[nms_xyxy(boxes[top20], scores[top20], 0.5, 0.1, 300)])
    assert nms_xyxy(boxes, np.zeros(200, np.float32), 0.5, 0.1, 300).size == 0
    assert nms_xyxy(np.zeros((0, 4)), np.zeros(0), 0.5, 0.1, 300).dtype == np.int64
    assert len(nms_xyxy(boxes, scores, 1.0, 0.0, 7)) == 7


def test_gather_embeddings_reads_the_centre_cell():
    emb_map = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)  # E=2, h=3, w=4, stride 8
    boxes = np.array([[0, 0, 8, 8], [16, 8, 32, 24], [-50, -50, -40, -40], [100, 100, 120, 120]], np.float64)
    got = gather_embeddings(emb_map, boxes, 8)
    # centres (4,4)->cell(0,0); (24,16)->(3,2); clamped to (0,0); clamped to (3,2)
    np.testing.assert_array_equal(got, emb_map[:, [0, 2, 0, 2], [0, 3, 0, 3]].T)


def test_l2_normalize_flags_zero_and_nan_rows():
    v = np.array([[3, 4], [0, 0], [np.nan, 1]], np.float32)
    out, ok = l2_normalize(v)
    np.testing.assert_allclose(out[0], [0.6, 0.8])
    assert ok.tolist() == [True, False, False]


def _metadata(layout: str) -> ModelMetadata:
    common = dict(model_name="t", project_version="0", precision="fp32", input_name="images", input_size=(64, 32),
                  input_format="NCHW RGB float32 0..1", resize_mode="letterbox", pad_value=127.5, strides=(8,),
                  anchors=(((8.0, 8.0),),), num_classes=1, embedding_dim=2, embedding_stride=8, opset=17,
                  weights_sha256="x")
    if layout == "nms":
        return ModelMetadata(**common, output_layout="nms", outputs=("boxes", "scores", "embeddings", "count"),
                             score_threshold=0.5, iou_threshold=0.6, top_k=10, max_det=4)
    return ModelMetadata(**common, output_layout="raw_heads", outputs=("predictions", "embedding_map"))


def test_decoder_nms_layout_maps_back_and_drops_padding_boxes():
    # a 128x32 frame letterboxed into 64x32: scale 0.5, 8 px of padding above and below
    _, transform = letterbox(np.zeros((32, 128, 3), np.uint8), (64, 32))
    assert transform.pad_xy == (0, 8)
    outputs = {"boxes": np.array([[10, 10, 20, 20], [0, 0, 64, 4], [5, 9, 9, 23], [0, 0, 0, 0]], np.float32),
               "scores": np.array([0.9, 0.8, 0.7, 0.0], np.float32),
               "embeddings": np.array([[1, 1], [1, 0], [0, 2], [0, 0]], np.float32),
               "count": np.array([3], np.int64)}
    dets = DetectionDecoder(_metadata("nms"))(outputs, transform)
    # row 1 lies in the top padding (y 0..4 < 8): clipped to zero height and dropped
    np.testing.assert_allclose(dets.xyxy, [[20, 4, 40, 24], [10, 2, 18, 30]])
    np.testing.assert_allclose(dets.scores, [0.9, 0.7])
    np.testing.assert_allclose(dets.embeddings, [[2 ** -0.5, 2 ** -0.5], [0, 1]], atol=1e-6)
    assert dets.xyxy.dtype == np.float32 and dets.classes is None


def test_decoder_raw_heads_runs_host_nms():
    _, transform = letterbox(np.zeros((32, 64, 3), np.uint8), (64, 32))
    predictions = np.array([[[8, 8, 24, 24, 0.9], [9, 9, 25, 25, 0.8], [40, 8, 56, 24, 0.7], [0, 0, 5, 5, 0.2]]],
                           np.float32)
    embedding_map = np.random.default_rng(0).normal(size=(1, 2, 4, 8)).astype(np.float32)
    dets = DetectionDecoder(_metadata("raw_heads"), PostprocessOptions(score_threshold=0.5))(
        {"predictions": predictions, "embedding_map": embedding_map}, transform)
    np.testing.assert_allclose(dets.xyxy, [[8, 8, 24, 24], [40, 8, 56, 24]])
    expected = l2_normalize(gather_embeddings(embedding_map[0], predictions[0, [0, 2], :4], 8))[0]
    np.testing.assert_allclose(dets.embeddings, expected, atol=1e-6)


def test_postprocess_options_are_checked():
    with pytest.raises(ValueError, match="score_threshold"):
        PostprocessOptions(score_threshold=1.5)
    with pytest.raises(ValueError, match="max_det"):
        PostprocessOptions(top_k=10, max_det=20)
