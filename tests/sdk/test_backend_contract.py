"""One contract, every backend available here, ONNX Runtime CPU as the reference.

Each backend must: report one image input ``[1, 3, H, W] float32`` and the metadata's outputs; give the
reference's outputs on the same input; give the same detections through ``FrameDetector``; refuse bad
inputs naming the input and what it expects; and own its lifecycle (no infer before load or after close).

Backends: ``onnxruntime`` (always), ``torch`` (when installed: the in-memory network, a TorchScript file,
and the eager in-graph tail), ``tensorrt`` (a real engine: skipped without TensorRT and a GPU) and
``tensorrt-fake`` (the real TensorRT backend driving a stand-in TensorRT + CUDA that runs the ONNX, so
its buffers, copies and tensor binding are checked here).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mottrack_sdk.backends import Backend, OnnxRuntimeBackend, OnnxRuntimeOptions
from mottrack_sdk.detector import FrameDetector
from mottrack_sdk.model_metadata import read_model_metadata

ORT_CPU = OnnxRuntimeOptions(providers=("CPUExecutionProvider",), intra_op_threads=1)


def _onnxruntime(models: Any, layout: str, tmp: Path) -> Backend:
    return OnnxRuntimeBackend(models.nms if layout == "nms" else models.raw, ORT_CPU)


def _torch_module(models: Any, layout: str, tmp: Path) -> Backend:
    from mottrack_sdk.backends import TorchBackend, TorchOptions

    if layout == "raw_heads":
        return TorchBackend(models.network, TorchOptions(metadata=read_model_metadata(models.raw)))
    from mottrack_export import EndToEndModel, TailOptions

    metadata = read_model_metadata(models.nms)
    tail = TailOptions(metadata.score_threshold, metadata.iou_threshold, metadata.top_k, metadata.max_det)
    return TorchBackend(EndToEndModel(models.network, tail).eval(), TorchOptions(metadata=metadata))


def _torchscript(models: Any, layout: str, tmp: Path) -> Backend:
    from mottrack_sdk.backends import TorchBackend, save_torchscript

    if layout != "raw_heads":
        pytest.skip("TorchScript tracing bakes the NMS loop in: raw-heads networks only")
    path = tmp / "tiny.torchscript"
    if not path.exists():
        save_torchscript(models.network, path, read_model_metadata(models.raw))
    return TorchBackend(path)


def _tensorrt_fake(models: Any, layout: str, tmp: Path) -> Backend:
    from trt_runtime_fakes import FakeCuda, make_engine_with_sidecar, make_fake_tensorrt

    from mottrack_sdk.backends import TensorRTBackend, TensorRTOptions

    engine = make_engine_with_sidecar(tmp / f"trt_{layout}", models.nms if layout == "nms" else models.raw)
    return TensorRTBackend(engine, TensorRTOptions(zero_copy=False), trt=make_fake_tensorrt("10.3.0"),
                           cuda=FakeCuda())


def _tensorrt_real(models: Any, layout: str, tmp: Path) -> Backend:
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (it needs an NVIDIA GPU host or a Jetson)")
    from mottrack_export import EngineBuildOptions, EngineFromOnnx

    from mottrack_sdk.backends import TensorRTBackend

    onnx = models.nms if layout == "nms" else models.raw
    engine = tmp / f"real_{layout}.engine"
    if not engine.exists():
        EngineFromOnnx(onnx, EngineBuildOptions(precision="fp32"))(engine)
        (tmp / f"real_{layout}.onnx").write_bytes(Path(onnx).read_bytes())
    return TensorRTBackend(engine)


BACKENDS: dict[str, Callable[[Any, str, Path], Backend]] = {
    "onnxruntime": _onnxruntime,
    "torch": _torch_module,
    "torchscript": _torchscript,
    "tensorrt-fake": _tensorrt_fake,
    "tensorrt": _tensorrt_real,
}
MARKS = {"torch": [pytest.mark.torch], "torchscript": [pytest.mark.torch],
         "tensorrt": [pytest.mark.tensorrt, pytest.mark.gpu]}


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, [])) for name in BACKENDS])
def backend_name(request) -> str:
    return request.param


@pytest.fixture(params=["nms", "raw_heads"])
def layout(request) -> str:
    return request.param


@pytest.fixture
def make_backend(backend_name, layout, tiny_models, tmp_path_factory) -> Callable[[], Backend]:
    """A factory of fresh (unloaded) backends of this kind and layout."""
    if backend_name.startswith("torch"):
        pytest.importorskip("torch", reason="PyTorch is not installed")
    tmp = tmp_path_factory.getbasetemp() / "contract"
    tmp.mkdir(exist_ok=True)
    made: list[Backend] = []

    def make(keep_open: bool = False) -> Backend:
        new = BACKENDS[backend_name](tiny_models, layout, tmp)
        if not keep_open:  # closed after the test
            made.append(new)
        return new

    yield make
    for b in made:
        b.close()


@pytest.fixture(scope="module")
def _loaded_cache() -> dict[tuple[str, str], Backend]:
    cache: dict[tuple[str, str], Backend] = {}
    yield cache
    for b in cache.values():
        b.close()


@pytest.fixture
def backend(backend_name, layout, make_backend, _loaded_cache) -> Backend:
    """A loaded backend, shared by the read-only tests of this module (loading is the slow part)."""
    key = (backend_name, layout)
    if key not in _loaded_cache:
        _loaded_cache[key] = make_backend(keep_open=True).load()
    return _loaded_cache[key]


@pytest.fixture(scope="module")
def image_batch(tiny_models) -> np.ndarray:
    width, height = tiny_models.size
    return np.random.default_rng(5).random((1, 3, height, width), dtype=np.float32)


@pytest.fixture(scope="module")
def reference(tiny_models, image_batch) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for layout in ("nms", "raw_heads"):
        with _onnxruntime(tiny_models, layout, Path()) as ref:
            out[layout] = ref.infer({"images": image_batch})
    return out


def test_specs_follow_the_metadata(backend, layout, tiny_models):
    backend.load()
    width, height = tiny_models.size
    (image,) = backend.input_specs
    assert (image.name, tuple(image.shape), image.dtype) == ("images", (1, 3, height, width), np.float32)
    assert [o.name for o in backend.output_specs] == list(backend.metadata.outputs)
    assert backend.metadata.output_layout == layout
    assert backend.metadata.input_size == tiny_models.size
    assert isinstance(backend.device, str) and backend.device


def test_outputs_match_onnxruntime_cpu(backend, layout, reference, image_batch):
    outputs = backend.infer({"images": image_batch})
    ref = reference[layout]
    assert list(outputs) == list(ref)
    for spec in backend.output_specs:  # the declared specs describe what infer returns
        assert spec.accepts_shape(outputs[spec.name].shape) and outputs[spec.name].dtype == spec.dtype, spec
    if layout == "raw_heads":
        np.testing.assert_allclose(outputs["predictions"], ref["predictions"], rtol=1e-4, atol=5e-3)
        np.testing.assert_allclose(outputs["embedding_map"], ref["embedding_map"], rtol=1e-4, atol=1e-4)
    else:
        count = int(ref["count"][0])
        assert int(np.asarray(outputs["count"]).reshape(-1)[0]) == count
        np.testing.assert_allclose(outputs["boxes"][:count], ref["boxes"][:count], rtol=1e-4, atol=5e-3)
        np.testing.assert_allclose(outputs["scores"][:count], ref["scores"][:count], atol=1e-4)
        np.testing.assert_allclose(outputs["embeddings"][:count], ref["embeddings"][:count], atol=1e-4)
    assert backend.last_infer_ms > 0


def test_detections_match_onnxruntime_cpu(backend, tiny_models, scene_frames):
    frame = scene_frames[2].image_bgr
    ref = FrameDetector(_onnxruntime(tiny_models, "nms", Path()), tiny_models.postprocess()).detect(frame)
    got = FrameDetector(backend, tiny_models.postprocess()).detect(frame)
    assert len(ref) > 5 and len(got) == len(ref)
    np.testing.assert_allclose(got.xyxy, ref.xyxy, atol=0.02)
    np.testing.assert_allclose(got.scores, ref.scores, atol=1e-4)
    np.testing.assert_allclose(np.sum(got.embeddings * ref.embeddings, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got.embeddings, axis=1), 1.0, atol=1e-5)


BAD_INPUTS = [
    (lambda x: {"images": x[:, :, :64]}, r"input 'images': expected shape \(1, 3, 192, 320\), got \(1, 3, 64, 320\)"),
    (lambda x: {"images": x.astype(np.float64)}, r"input 'images': expected dtype float32, got float64"),
    (lambda x: {"images": x.tolist()}, r"input 'images': expected a numpy array"),
    (lambda x: {}, r"input images \[1, 3, 192, 320\] float32 is missing"),
    (lambda x: {"images": x, "extra": x}, r"unknown input\(s\) \['extra'\]; the model takes images"),
    (lambda x: [x], r"inputs must be a dict of name -> array"),
]


def test_bad_inputs_name_the_input_and_what_it_expects(backend, image_batch):
    for bad, message in BAD_INPUTS:
        with pytest.raises(ValueError, match=message):
            backend.infer(bad(image_batch))


def test_lifecycle(make_backend, image_batch):
    backend = make_backend()
    with pytest.raises(RuntimeError, match="call load"):
        backend.infer({"images": image_batch})
    with pytest.raises(RuntimeError, match="call load"):
        backend.input_specs
    assert backend.load() is backend and backend.load() is backend  # a second load is a no-op
    backend.infer({"images": image_batch})
    backend.close()
    backend.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        backend.infer({"images": image_batch})
    with pytest.raises(RuntimeError, match="after close"):
        backend.load()
    with make_backend() as fresh:  # the context manager loads and closes
        assert fresh.is_loaded
    assert not fresh.is_loaded
