"""Package a training run as a small release artifact: FP16 weights, model config, metrics card.

``package_weights(checkpoint, out_dir)`` takes the run's EMA weights, measures them on **held-out**
synthetic sequences generated with a seed that neither training nor validation used (the same scene
settings as the run's validation source), through the same path as per-epoch validation (runtime
letterbox preprocessing, NMS, ``mottrack_sdk.Tracker``, TrackEval), and writes atomically:

- ``weights.pt``: ``{"format": "mottrack-weights", "config": <model config>, "model": FP16 state dict,
  "tracker": <the validation tracker's non-default TrackerOptions fields>, "nms_iou": ..., "img_size":
  [w, h]}`` (the exporter writes ``tracker`` into the ONNX metadata as ``tracker_defaults``, so the
  runtime tracks as the card measured, and takes ``nms_iou`` / ``img_size`` as its defaults);
- ``config.yaml``: the model config (what ``build_model`` needs) and the input size the card was measured
  at (the training size unless ``img_size`` is given);
- ``metrics.json``: ``ap50``, ``hota``, ``mota``, ``idf1`` in percent, plus how they were measured.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import tempfile
from pathlib import Path
from typing import Any

import torch

from mottrack_sdk.io import atomic_path, atomic_write, write_json
from mottrack_training.engine.checkpoint import WEIGHTS_FORMAT, checkpoint_weights, load_checkpoint
from mottrack_training.engine.options import SourceOptions, SyntheticSource, train_options_from_dict
from mottrack_training.engine.safe_load import load_weights_file
from mottrack_training.engine.sources import prepare_sources, sequence_dirs
from mottrack_training.engine.validation import validate_sequences
from mottrack_training.model import build_model


def evaluate_held_out(checkpoint: str | Path, test_seed: int = 2, test_sequences: int = 2,
                      test_root: str | Path | None = None, tracker: dict[str, Any] | None = None,
                      nms_iou: float | None = None, img_size: tuple[int, int] | None = None,
                      require_finite: bool = False) -> tuple[Any, Any, dict[str, Any], torch.nn.Module]:
    """Measure a run's EMA weights (else its model) on held-out synthetic sequences.

    The sequences use the run's validation scene settings with ``test_seed``, which must differ from
    the training and validation seeds; they go through the per-epoch validation path (runtime
    letterbox, NMS, the run's validation TrackerOptions with ``tracker`` changes applied (settings
    chosen on the validation seed after training), TrackEval). ``nms_iou``: the NMS IoU to measure
    with instead of the run's ``val.nms_iou`` (chosen the same way; what ``mottrack export`` uses).
    ``img_size``: the (width, height) input to measure at instead of the run's ``data.img_size`` (the
    size a model will be exported at, when that is not the training size). ``require_finite``: refuse
    NaN / inf model or EMA weights, naming the file and parameter (they would measure as "AP50 0.0").

    Returns ``(ValidationResult, TrainOptions, {"test_seed", "train_seeds", "val_seed", "epoch", "step",
    "averaged_from"}, model)`` (``averaged_from``: the members of an averaged checkpoint, else empty).
    """
    state = load_checkpoint(checkpoint, require_finite=require_finite)
    options = train_options_from_dict(state["options"], where=f"{checkpoint} [options]")
    if tracker:
        options = dataclasses.replace(options, val=dataclasses.replace(
            options.val, tracker=options.val.tracker.replace(**tracker)))
    if nms_iou is not None:
        options = dataclasses.replace(options, val=dataclasses.replace(options.val, nms_iou=nms_iou))
    if img_size is not None:
        options = dataclasses.replace(options, data=dataclasses.replace(options.data, img_size=tuple(img_size)))
    val_source = options.data.val
    if val_source is None or val_source.synthetic is None:
        raise ValueError(f"{checkpoint}: the run has no synthetic validation source to take scene settings from")
    train_seeds = {s.synthetic.seed for s in options.data.train if s.synthetic is not None}
    if test_seed in train_seeds or test_seed == val_source.synthetic.seed:
        raise ValueError(f"test_seed {test_seed}: must differ from the training seeds {sorted(train_seeds)} "
                         f"and the validation seed {val_source.synthetic.seed}")
    root = Path(test_root) if test_root else Path(".cache/synthetic") / f"test-seed{test_seed}"
    test = SourceOptions(synthetic=dataclasses.replace(val_source.synthetic, root=str(root), seed=test_seed,
                                                       sequences=test_sequences))
    prepare_sources([test], True, print)

    model = build_model(options.model.config, **options.model.overrides)
    model.load_state_dict(checkpoint_weights(state))
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        result = validate_sequences(model, sequence_dirs(test), options.val, options.data.img_size,
                                    options.data.pad_value, Path(tmp) / "results", torch.device("cpu"))
    seeds = {"test_seed": test_seed, "train_seeds": sorted(train_seeds), "val_seed": val_source.synthetic.seed,
             "epoch": state.get("epoch"), "step": state.get("step"), "averaged_from": state.get("averaged_from") or []}
    return result, options, seeds, model


def package_weights(checkpoint: str | Path, out_dir: str | Path, test_seed: int = 2, test_sequences: int = 2,
                    test_root: str | Path | None = None, max_bytes: int = 15 * 2**20,
                    tracker: dict[str, Any] | None = None, source_notes: dict[str, str] | None = None,
                    nms_iou: float | None = None, img_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Write ``weights.pt``, ``config.yaml`` and ``metrics.json`` to ``out_dir``; returns the card.

    ``tracker``: TrackerOptions changes over the run's validation tracker (stored with the weights).
    ``nms_iou``: the NMS IoU to measure with instead of the run's ``val.nms_iou``; either way it is
    stored with the weights, and ``mottrack export`` takes it as its ``--iou-threshold`` default.
    ``img_size``: the (width, height) input to measure at instead of the run's training size; either
    way it is stored with the weights, and ``mottrack export`` takes it as its ``--size`` default.
    The card also measures the run's ``data.val_extra`` sets (e.g. real labelled sequences) with the
    same pipeline, and lists every training source (``source_notes``: name -> licence, added to what
    the run itself records: pseudo-label licences, the ``init_onnx`` file). A checkpoint with NaN / inf
    model or EMA weights is refused (ValueError naming the file and parameter) before anything is measured.
    """
    result, options, seeds, model = evaluate_held_out(checkpoint, test_seed, test_sequences, test_root, tracker,
                                                      nms_iou, img_size, require_finite=True)
    val_source = options.data.val
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    _check_fp16_range(half, model.state_dict(), checkpoint)
    buffer = io.BytesIO()
    tracker = tracker_defaults(options)
    torch.save({"format": WEIGHTS_FORMAT, "config": dataclasses.asdict(model.config), "model": half,
                "tracker": tracker, "nms_iou": options.val.nms_iou, "img_size": list(options.data.img_size)}, buffer)
    blob = buffer.getvalue()
    if len(blob) > max_bytes:
        raise ValueError(f"FP16 weights are {len(blob) / 2**20:.1f} MiB, over the {max_bytes / 2**20:.0f} MiB limit")
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "weights.pt", suffix=".pt") as tmp_path:
        tmp_path.write_bytes(blob)
    _write_config(out_dir / "config.yaml", model, options)
    card = {
        **{k: round(v, 2) for k, v in result.metrics().items()},
        "measured_on": {
            "what": f"{test_sequences} held-out synthetic sequences (seed {test_seed}; training seeds "
                    f"{seeds['train_seeds']}, validation seed {seeds['val_seed']})",
            "scene": dataclasses.asdict(val_source.synthetic.scene),
            "frames": result.frames,
            "pipeline": f"letterbox {options.data.img_size[0]}x{options.data.img_size[1]}, EMA weights (FP32), "
                        f"score >= {options.val.score_thresh}, NMS IoU {options.val.nms_iou}, tracker on "
                        f"score >= {options.val.track_min_score}, TrackerOptions({_kwargs(tracker)}); metrics by TrackEval "
                        "(mottrack_sdk.eval), AP50 by training.engine.metrics",
            "per_sequence": result.per_sequence,
        },
        "training": {"config": options.name, "epochs_trained": seeds["epoch"], "steps": seeds["step"],
                     "checkpoint": Path(checkpoint).name},
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "weights_bytes": len(blob),
    }
    real = evaluate_extra_sets(model, options)
    if real:
        card["real"] = real
    members = seeds["averaged_from"]
    if members:  # a model soup: every member's sources, and the mix
        card["training"]["averaged_from"] = [{k: m.get(k) for k in ("checkpoint", "weight", "config", "epoch")}
                                             for m in members]
        member_options = [train_options_from_dict(m["options"], where=f"{checkpoint} [averaged_from]")
                          for m in members]
    else:
        member_options = [options]
    card["training_sources"] = _unique_sources(s for o in member_options for s in training_sources(o, source_notes or {}))
    write_json(out_dir / "metrics.json", card)
    return card


def evaluate_extra_sets(model: torch.nn.Module, options: Any) -> dict[str, dict[str, Any]]:
    """The run's ``data.val_extra`` sets (validation only, never trained on), measured like the card."""
    from mottrack_sdk.io import find_sequences

    out: dict[str, dict[str, Any]] = {}
    for extra in options.data.val_extra:
        with tempfile.TemporaryDirectory() as tmp:
            result = validate_sequences(model, find_sequences(extra.mot), options.val, options.data.img_size,
                                        options.data.pad_value, Path(tmp) / "results", torch.device("cpu"))
        out[extra.name] = {**{k: round(v, 2) for k, v in result.metrics().items()}, "frames": result.frames,
                           "sequences": str(extra.mot), "per_sequence": result.per_sequence}
    return out


def training_sources(options: Any, notes: dict[str, str]) -> list[dict[str, str]]:
    """Everything the weights learned from: synthetic scenes, MOT folders (with the licence their
    ``pseudo_label.json`` records), the ``init_onnx`` weights, plus ``notes`` (name -> licence)."""
    import json

    from mottrack_sdk.io import find_sequences

    sources: list[dict[str, str]] = []
    for source in options.data.train:
        if source.synthetic is not None:
            sources.append({"name": f"synthetic scenes (seed {source.synthetic.seed}, {source.synthetic.sequences} "
                                    "sequences)", "licence": "generated by this project (mottrack synth)"})
        elif source.mot is not None:
            for seq in find_sequences(source.mot):
                info_path = seq / "pseudo_label.json"
                info = json.loads(info_path.read_text()) if info_path.is_file() else {}
                settings = info.get("settings", {}) if isinstance(info, dict) else {}
                licence = settings.get("licence") or info.get("licence") or "not recorded"
                origin = settings.get("source", str(seq))
                sources.append({"name": f"{seq.name} ({Path(str(origin)).name})", "licence": str(licence)})
        elif source.jde is not None:
            sources.append({"name": f"JDE list {source.jde.list_file}", "licence": "not recorded"})
    if options.model.init_onnx:
        sources.append({"name": f"initial weights {Path(options.model.init_onnx).name}", "licence": "see notes"})
    if options.model.weights:  # a previous stage: what it learned from is in its card beside the weights
        card = Path(options.model.weights).parent / "metrics.json"
        previous = json.loads(card.read_text()).get("training_sources", []) if card.is_file() else []
        sources.append({"name": f"initial weights {options.model.weights}", "licence":
                        "a previous stage of this project (its sources follow)" if previous else "not recorded"})
        sources += [s for s in previous if isinstance(s, dict)]
    sources += [{"name": name, "licence": licence} for name, licence in notes.items()]
    return _unique_sources(sources)


def _unique_sources(sources: Any) -> list[dict[str, str]]:
    """``sources`` in order, each (name, licence) once."""
    return list({(s["name"], s["licence"]): s for s in sources}.values())


def tracker_defaults(options: Any) -> dict[str, Any]:
    """The fields of ``options.val.tracker`` that differ from ``TrackerOptions.for_model()`` (what
    ``Tracker(model=...)`` starts from; ``frame_rate`` excluded: it belongs to each video): the
    tracker settings the run was validated with."""
    from mottrack_sdk.tracking import TrackerOptions

    base, used = dataclasses.asdict(TrackerOptions.for_model()), dataclasses.asdict(options.val.tracker)
    return {k: v for k, v in used.items() if k != "frame_rate" and v != base[k]}


def _kwargs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def load_packaged_model(path: str | Path) -> torch.nn.Module:
    """Build the model of a ``weights.pt`` written by :func:`package_weights` (FP32, eval mode)."""
    blob = load_weights_file(path, what="packaged weights")
    if not isinstance(blob, dict) or blob.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path}: not a packaged mottrack weights file")
    from mottrack_training.model.config import ConfigError, config_from_dict

    try:
        config = config_from_dict(blob["config"], source=f"{path} [config]")
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    model = build_model(config)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["model"].items()})
    return model.eval()


def _write_config(path: Path, model: torch.nn.Module, options: Any) -> None:
    import yaml

    text = yaml.safe_dump({"model": dataclasses.asdict(model.config),
                           "input_size": list(options.data.img_size),
                           "resize_mode_training": options.data.resize_mode,
                           "resize_mode_inference": options.val.resize_mode,
                           "nms_iou": options.val.nms_iou,
                           "tracker": tracker_defaults(options)}, sort_keys=False)
    with atomic_write(path) as fh:
        fh.write(text)


def _check_fp16_range(half: dict[str, torch.Tensor], full: dict[str, torch.Tensor], checkpoint: str | Path) -> None:
    """ValueError naming the parameter when a finite FP32 value became inf in FP16 (|v| > 65504): the
    packaged file would hold a network that finds nothing, silently."""
    for name, value in half.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            peak = float(full[name].abs().max())
            raise ValueError(f"{checkpoint}: parameter {name} reaches {peak:.6g}, beyond FP16's range (65504); "
                             "its FP16 weights would be inf (a diverged run? use an earlier checkpoint)")
