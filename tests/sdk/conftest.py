"""Fixtures of the runtime tests: tiny CSTrack-S exports (random weights, varied scores), made once per session.

The models come from ``mottrack_export`` (tests may use it; the runtime never does) and
``tests/detecting_model.py``; tests that need them skip when PyTorch is not installed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TINY_SIZE = (320, 192)          # network input (width, height)
SCORE_THRESHOLD = 0.85          # keeps the random detector to a few dozen boxes per frame
MAX_DET = 100


@dataclass(frozen=True)
class TinyModels:
    """The same random network exported twice, plus the network itself."""

    nms: Path             # in-graph tail: boxes, scores, embeddings, count
    raw: Path             # raw heads: predictions, embedding_map (host NMS)
    network: Any          # the fused torch CSTrack-S (eval mode)
    size: tuple[int, int]

    def postprocess(self) -> Any:
        """Host NMS settings equal to the nms export's tail."""
        from mottrack_sdk.postprocessing import PostprocessOptions

        return PostprocessOptions(score_threshold=SCORE_THRESHOLD, iou_threshold=0.6, top_k=1000, max_det=MAX_DET)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    torch = pytest.importorskip("torch", reason="the tiny test models are exported from PyTorch")
    from detecting_model import make_detecting_model

    from mottrack_export import ExportOptions, TailOptions, export_onnx

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loaded = make_detecting_model(TINY_SIZE)
        folder = tmp_path_factory.mktemp("tiny_models")
        nms, raw = folder / "tiny_nms.onnx", folder / "tiny_raw.onnx"
        tail = TailOptions(score_threshold=SCORE_THRESHOLD, iou_threshold=0.6, top_k=1000, max_det=MAX_DET)
        export_onnx(loaded, nms, ExportOptions(size=TINY_SIZE, tail=tail, verify_onnxruntime=False))
        export_onnx(loaded, raw, ExportOptions(size=TINY_SIZE, raw_heads=True, verify_onnxruntime=False))
    finally:
        torch.set_num_threads(threads)
    return TinyModels(nms, raw, loaded.model, TINY_SIZE)


@pytest.fixture(scope="session")
def scene_frames() -> list[Any]:
    """Eight 640x360 synthetic frames (people walking), with ground truth."""
    from mottrack_sdk.scenes import SceneGenerator, SceneOptions

    return list(SceneGenerator(SceneOptions(width=640, height=360, num_frames=8, seed=3, density=12)))


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    """A 10-frame 640x360 MOTChallenge sequence (img1/, gt/, seqinfo.ini at 25 fps)."""
    from mottrack_sdk.scenes import SceneOptions, write_sequence

    root = tmp_path_factory.mktemp("seqs")
    return write_sequence(root, SceneOptions(width=640, height=360, num_frames=10, fps=25, seed=4, density=8), "SEQ-1")


# Every behaviour test that takes ``core`` runs on each association core built here (the C++ core
# when compiled): test_tracker.py, test_tracker_adaptive.py.
def _cores() -> list:
    from mottrack_sdk.tracking.native import native_available

    return ["python", pytest.param("native", marks=pytest.mark.skipif(not native_available(),
                                                                        reason="native core not built"))]


@pytest.fixture(params=_cores())
def core(request) -> str:
    return request.param
