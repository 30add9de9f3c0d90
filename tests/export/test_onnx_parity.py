"""ONNX Runtime vs PyTorch on the exported graphs: same kept boxes, tight box/score tolerances, cosine >= 0.999.

Parity numbers (max box / score difference, min cosine) are printed with ``-s``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs PyTorch")
ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.torch

BOX_TOL_PX = 1e-3
SCORE_TOL = 1e-5
MIN_COSINE = 0.999


def _session(path: Path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _real_inputs(root: Path, size: tuple[int, int], count: int) -> list[np.ndarray]:
    import cv2

    from mottrack_sdk.preprocessing import to_network_input

    frames = sorted(root.glob("*/img1/*.jpg"))[:: max(1, len(list(root.glob("*/img1/*.jpg"))) // count)][:count]
    return [to_network_input(cv2.imread(str(p)), size, "letterbox")[0] for p in frames]


def _compare_end_to_end(session, model, batch: np.ndarray) -> dict[str, float]:
    from mottrack_export.tail import EndToEndModel

    boxes, scores, emb, count = session.run(None, {"images": batch})
    wrapper = EndToEndModel(model.model, _tail_options(session))
    with torch.no_grad():
        t_boxes, t_scores, t_emb, t_count = (t.numpy() for t in wrapper(torch.from_numpy(batch)))
    n = int(count[0])
    assert n > 0, "the test model must keep boxes, or nothing is compared"
    assert n == int(t_count[0])
    # same kept set: match rows by box (orders may differ only between exactly equal scores)
    order, t_order = np.lexsort(boxes[:n].T[::-1]), np.lexsort(t_boxes[:n].T[::-1])
    box_diff = np.abs(boxes[:n][order] - t_boxes[:n][t_order]).max()
    score_diff = np.abs(scores[:n][order] - t_scores[:n][t_order]).max()
    cosine = (emb[:n][order] * t_emb[:n][t_order]).sum(1).min()
    assert box_diff < BOX_TOL_PX and score_diff < SCORE_TOL and cosine >= MIN_COSINE, (box_diff, score_diff, cosine)
    assert np.all(scores[:n][:-1] >= scores[:n][1:])
    assert not boxes[n:].any() and not emb[n:].any()
    return {"kept": n, "box": float(box_diff), "score": float(score_diff), "cosine": float(cosine)}


def _tail_options(session):
    from mottrack_export.options import TailOptions
    from mottrack_sdk.model_metadata import read_model_metadata

    meta = read_model_metadata(session)
    return TailOptions(meta.score_threshold, meta.iou_threshold, meta.top_k, meta.max_det)


def test_end_to_end_matches_pytorch_on_random_inputs(exported_e2e):
    path, model = exported_e2e
    session = _session(path)
    rng = np.random.default_rng(1)
    stats = [_compare_end_to_end(session, model, rng.random((1, 3, 96, 128), dtype=np.float32)) for _ in range(3)]
    print("random inputs:", stats)


def test_end_to_end_matches_pytorch_on_real_frames(exported_e2e, mot17_mini_root):
    path, model = exported_e2e
    session = _session(path)
    stats = [_compare_end_to_end(session, model, batch) for batch in _real_inputs(mot17_mini_root, (128, 96), 4)]
    print("MOT17-mini frames:", stats)


def test_end_to_end_matches_the_training_postprocessing(exported_e2e, mot17_mini_root):
    """An independent reference: training's numpy NMS and embedding gather on the PyTorch outputs."""
    from mottrack_training.engine.inference import detect

    path, model = exported_e2e
    session = _session(path)
    for batch in _real_inputs(mot17_mini_root, (128, 96), 2):
        boxes, scores, emb, count = session.run(None, {"images": batch})
        n = int(count[0])
        ref = detect(model.model, torch.from_numpy(batch), score_thresh=0.3 + 1e-7, nms_iou=0.6, max_det=300)[0]
        assert n == len(ref.scores) > 0
        np.testing.assert_allclose(np.sort(scores[:n]), np.sort(ref.scores), atol=SCORE_TOL)
        order = np.argsort(-ref.scores, kind="stable")
        np.testing.assert_allclose(boxes[:n], ref.xyxy[order], atol=BOX_TOL_PX)
        assert (emb[:n] * ref.embeddings[order]).sum(1).min() >= MIN_COSINE


def test_raw_heads_match_pytorch(exported_raw, mot17_mini_root):
    path, model = exported_raw
    session = _session(path)
    assert [o.name for o in session.get_outputs()] == ["predictions", "embedding_map"]
    batches = _real_inputs(mot17_mini_root, (128, 96), 2) + [np.random.default_rng(0).random((1, 3, 96, 128),
                                                                                             dtype=np.float32)]
    for batch in batches:
        predictions, embedding_map = session.run(None, {"images": batch})
        with torch.no_grad():
            t_pred, t_map = model.model(torch.from_numpy(batch))
        assert predictions.shape == (1, 3 * (12 * 16 + 6 * 8 + 3 * 4), 5)
        np.testing.assert_allclose(predictions[..., :4], t_pred[..., :4].numpy(), atol=BOX_TOL_PX)
        np.testing.assert_allclose(predictions[..., 4], t_pred[..., 4].numpy(), atol=SCORE_TOL)
        a, b = embedding_map.reshape(32, -1), t_map.numpy().reshape(32, -1)
        cos = (a * b).sum(0) / np.linalg.norm(a, axis=0) / np.linalg.norm(b, axis=0)
        assert cos.min() >= MIN_COSINE


def test_export_at_another_size_clamps_and_keeps_parity(detecting_model, tmp_path):
    """64x160 (W x H, tall): any multiple of 32 exports; boxes near the border gather clamped cells."""
    from mottrack_export import ExportOptions, TailOptions, export_onnx

    loaded = detecting_model((64, 160), seed=3)
    path = export_onnx(loaded, tmp_path / "tall.onnx",
                       ExportOptions(size=(64, 160), tail=TailOptions(score_threshold=0.2, max_det=100))).path
    session = _session(path)
    stats = _compare_end_to_end(session, loaded, np.random.default_rng(5).random((1, 3, 160, 64), dtype=np.float32))
    print("64x160:", stats)


def test_graph_holds_the_tail_and_the_metadata(exported_e2e):
    import onnx

    from mottrack_sdk.model_metadata import read_model_metadata

    path, _ = exported_e2e
    model = onnx.load(str(path))
    ops = {n.op_type for n in model.graph.node}
    assert {"TopK", "NonMaxSuppression", "Gather"} <= ops
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 17
    meta = read_model_metadata(path)
    assert meta.input_size == (128, 96) and meta.strides == (8, 16, 32) and meta.embedding_dim == 32
    assert meta.output_layout == "nms" and meta.outputs == ("boxes", "scores", "embeddings", "count")
    assert meta.precision == "fp32" and meta.opset == 17 and meta.resize_mode == "letterbox"
    assert meta.anchors[0][0] == (8.0, 24.0) and meta.max_det == 300 and meta.score_threshold == 0.3


def test_sparse_and_dense_embedding_heads_export_the_same_outputs(exported_e2e, tmp_path):
    """The default sparse head (SAAN's last convolutions at the kept cells) against the full-map export."""
    from mottrack_export import ExportOptions, TailOptions, export_onnx

    sparse_path, loaded = exported_e2e
    dense_path = export_onnx(loaded, tmp_path / "dense.onnx", ExportOptions(
        size=(128, 96), embedding_head="dense", tail=TailOptions(score_threshold=0.3))).path
    sparse, dense = _session(sparse_path), _session(dense_path)
    for seed in range(3):
        batch = np.random.default_rng(10 + seed).random((1, 3, 96, 128), dtype=np.float32)
        s_out, d_out = sparse.run(None, {"images": batch}), dense.run(None, {"images": batch})
        n = int(s_out[3][0])
        assert n > 0 and n == int(d_out[3][0])
        np.testing.assert_array_equal(s_out[0], d_out[0])
        np.testing.assert_array_equal(s_out[1], d_out[1])
        np.testing.assert_allclose(s_out[2], d_out[2], atol=1e-5)
    # the dense file convolves the whole stride-8 map (input 128x96: a 16x12 grid), the sparse one max_det patches
    import onnx

    def embed_conv_inputs(path):
        model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
        shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.value_info}
        return [shapes.get(n.input[0]) for n in model.graph.node if n.op_type == "Conv" and "saan/embed" in n.name]

    (dense_shape,), (sparse_shape,) = embed_conv_inputs(dense_path), embed_conv_inputs(sparse_path)
    assert dense_shape[2:] == [12, 16]
    assert sparse_shape[0] == 300 and sparse_shape[2:] == [1, 1]
