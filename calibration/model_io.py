"""Loading and saving mottrack ONNX files in the calibration tools: clear errors, metadata kept, atomic writes."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from mottrack_sdk.model_metadata import METADATA_PREFIX, ModelMetadata

__all__ = ["default_opset", "load_onnx", "save_with_metadata"]


def load_onnx(path: str | Path) -> Any:
    """``onnx.load`` with FileNotFoundError / ValueError (corrupt or not ONNX) naming the file."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ONNX model not found")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        raise ValueError(f"{path}: not a valid ONNX file ({type(exc).__name__}: {str(exc)[:120]})") from exc
    if not model.graph.node:
        raise ValueError(f"{path}: not a valid ONNX file (empty graph)")
    return model


def default_opset(model: Any) -> int:
    """Opset of the default ONNX domain."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def save_with_metadata(model: Any, path: str | Path, metadata: ModelMetadata,
                       extra: Mapping[str, str] | None = None, check: bool = True) -> Path:
    """Write ``model`` to ``path`` atomically with ``metadata`` (opset corrected) and ``extra`` keys
    (stored as ``mottrack.<key>``); other metadata entries are kept."""
    import onnx

    from mottrack_sdk.io import atomic_path

    metadata = dataclasses.replace(metadata, opset=default_opset(model))
    props = {p.key: p.value for p in model.metadata_props if not p.key.startswith(METADATA_PREFIX)}
    props.update(metadata.to_props())
    props.update({METADATA_PREFIX + k: str(v) for k, v in (extra or {}).items()})
    del model.metadata_props[:]
    for key in sorted(props):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, props[key]
    if check:
        onnx.checker.check_model(model)
    path = Path(path)
    with atomic_path(path, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))
    return path
