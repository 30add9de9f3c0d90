"""Ablation of the tracker's options: what each one does to HOTA / IDF1, measured, one run.

Three tables (printed and written to ``--json``):

1. **Features**: the library defaults, each feature switched back to the JDE reference value alone
   (``-feature``), and the JDE reference with each feature added alone (``+feature``), on the
   real detection sets of ``detection_sets.py`` (MOT17 DPM logistic / min-max, TUD-Campus ACF
   min-max) and the synthetic detection scene (N = 50, motion only and with embeddings).
   Features: adaptive score thresholds (``det_quantile``), birth hysteresis (``min_hits``), no χ²
   gate in stage 1 (``gating``).
2. **det_quantile sweep** on the real sets (how sensitive the default is).
3. **Camera-motion compensation**: image scenes with a moving camera (pan + zoom + shake) from the
   synthetic scene generator, with ground truth; detections are the ground-truth boxes with a
   1 px-scale jitter, 10 % dropped (a fixed-seed simulated detector), scores drawn in [0.5, 1];
   tracked with ``cmc="off"`` and ``cmc="auto"``; plus the same scenes with a static camera
   (CMC must not hurt) and the ms per frame of the estimator at the scene's size.

    .venv/bin/python benchmarks/ablate_tracker.py --json benchmarks/results/tracker_ablation.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_trackers import evaluate_set, ours, run_sequence  # noqa: E402
from detection_sets import SETS, Sequence, load_set  # noqa: E402

from mottrack_sdk import Tracker, TrackerOptions  # noqa: E402
from mottrack_sdk.eval import evaluate_mot  # noqa: E402
from mottrack_sdk.io import write_json, write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
JDE = {"det_quantile": None, "min_hits": 2, "gating": True}   # the reference cascade before issue 13
FEATURES = {"det_quantile": "adaptive thresholds", "min_hits": "birth hysteresis", "gating": "no χ² gate"}


def variants() -> dict[str, dict]:
    default = TrackerOptions()
    out = {"defaults": {}}
    out.update({f"defaults - {label}": {k: JDE[k]} for k, label in FEATURES.items()})
    out["JDE reference"] = dict(JDE)
    out.update({f"JDE + {label}": {**JDE, k: getattr(default, k)} for k, label in FEATURES.items()})
    return out


def feature_table(work: Path, core: str) -> list[dict]:
    from mottrack_sdk.offline import write_scene_ground_truth
    from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions

    sets = []
    for name in SETS:
        try:
            sets.append(load_set(name))
        except FileNotFoundError as exc:
            print(f"({name} skipped: {exc})", file=sys.stderr)
    scene = DetectionScene(DetectionSceneOptions(num_objects=50, num_frames=600, seed=21))
    write_scene_ground_truth(scene, work / "synthetic-gt" / "SYNTH", "SYNTH")
    data = list(scene)
    synth = Sequence("SYNTH", 30.0, [(fr.frame, fr.det_xyxy, fr.det_scores) for fr in data])
    emb = [fr.det_embeddings for fr in data]
    rows = []
    for label, changes in variants().items():
        opts = TrackerOptions().replace(**changes)
        row = {"variant": label, "changes": dict(changes)}
        for ds in sets:
            r = evaluate_set(ours(core, opts), ds, work / label.replace(" ", "_"), "ours")
            row[ds.name] = {"HOTA": r["HOTA"], "IDF1": r["IDF1"]}
        for mode in ("motion", "embeddings"):
            res = work / "synthetic" / f"{label}-{mode}".replace(" ", "_")
            res.mkdir(parents=True)
            run_sequence(ours(core, opts, embeddings=mode == "embeddings")(30.0), synth, res / "SYNTH.txt",
                         emb if mode == "embeddings" else None)
            m = evaluate_mot(work / "synthetic-gt", res).combined
            row[f"synthetic N=50 {mode}"] = {"HOTA": float(m["HOTA"]), "IDF1": float(m["IDF1"])}
        rows.append(row)
        print(_row(row), flush=True)
    return rows


def quantile_sweep(work: Path, core: str, values: list[float]) -> list[dict]:
    rows = []
    sets = [load_set(n) for n in SETS if n != "mot17-dpm-minmax"]  # min-max gives the same tracks
    for q in values:
        row = {"variant": f"det_quantile={q}"}
        for ds in sets:
            r = evaluate_set(ours(core, TrackerOptions(det_quantile=q)), ds, work / f"q{q}", "ours")
            row[ds.name] = {"HOTA": r["HOTA"], "IDF1": r["IDF1"]}
        rows.append(row)
        print(_row(row), flush=True)
    return rows


def cmc_table(work: Path, core: str, num_frames: int, size: tuple[int, int]) -> list[dict]:
    from mottrack_sdk.scenes import SceneGenerator, SceneOptions

    rows = []
    cameras = {"moving camera": dict(camera_pan_px=120.0, camera_zoom=0.1, camera_shake_px=4.0),
               "static camera": {}}
    for cam, knobs in cameras.items():
        root = work / cam.replace(" ", "_")
        seq_ms: dict[str, list[float]] = {"off": [], "auto": []}  # per sequence: median ms per frame
        for seed in (3, 4):
            opts = SceneOptions(width=size[0], height=size[1], num_frames=num_frames, seed=seed, **knobs)
            frames = list(SceneGenerator(opts))
            seq = f"CMC-{seed}"
            _write_gt(frames, root / "gt" / seq, opts)
            dets = _simulated_detections(frames, seed)
            for cmc in seq_ms:
                tracker = Tracker(TrackerOptions(frame_rate=float(opts.fps)), core=core, cmc=cmc)
                ms, out = [], []
                for fr, (xyxy, scores) in zip(frames, dets):
                    t0 = time.perf_counter()
                    ft = tracker.update_detections_arrays(xyxy, scores, frame=fr.image_bgr if cmc != "off" else None)
                    ms.append((time.perf_counter() - t0) * 1e3)
                    out.append((fr.frame_id, ft.track_id, ft.xyxy))
                _write_results(root / f"res-{cmc}" / f"{seq}.txt", out)
                seq_ms[cmc].append(float(np.median(ms)))
        for cmc, medians in seq_ms.items():
            m = evaluate_mot(root / "gt", root / f"res-{cmc}").combined
            rec = {"camera": cam, "cmc": cmc, "HOTA": float(m["HOTA"]), "IDF1": float(m["IDF1"]),
                   "MOTA": float(m["MOTA"]), "IDSW": int(m["IDSW"]), "ms_per_frame_median": float(np.median(medians))}
            rows.append(rec)
            print(f"| {cam} | cmc={cmc} | {rec['HOTA']:.1f} | {rec['IDF1']:.1f} | {rec['MOTA']:.1f} | {rec['IDSW']} "
                  f"| {rec['ms_per_frame_median']:.2f} |", flush=True)
    return rows


def _simulated_detections(frames: list, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1000 + seed)
    out = []
    for fr in frames:
        tlwh = np.asarray(fr.tlwh, np.float64)
        keep = (rng.random(len(tlwh)) > 0.1) & (tlwh[:, 2] > 2) & (tlwh[:, 3] > 4)
        tlwh = tlwh[keep]
        jitter = rng.normal(0.0, 0.03, tlwh.shape) * tlwh[:, [2, 3, 2, 3]]
        xyxy = np.concatenate([tlwh[:, :2], tlwh[:, :2] + tlwh[:, 2:]], 1) + jitter
        xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2] + 1.0)
        out.append((xyxy, rng.uniform(0.5, 1.0, len(xyxy))))
    return out


def _write_gt(frames: list, seq_dir: Path, opts) -> None:
    from mottrack_sdk.io.motchallenge import SeqInfo, write_gt, write_seqinfo

    gt = np.concatenate([fr.gt_rows() for fr in frames])
    write_gt(seq_dir / "gt" / "gt.txt", gt[:, 0], gt[:, 1], gt[:, 2:6], gt[:, 8])
    write_seqinfo(seq_dir / "seqinfo.ini", SeqInfo(seq_dir.name, float(opts.fps), len(frames), opts.width, opts.height))


def _write_results(path: Path, out: list) -> None:
    f = np.concatenate([np.full(len(ids), k) for k, ids, _ in out])
    ids = np.concatenate([ids for _, ids, _ in out])
    box = np.concatenate([np.asarray(b, np.float64).reshape(-1, 4) for _, _, b in out])
    write_results(path, f, ids, np.concatenate([box[:, :2], box[:, 2:] - box[:, :2]], 1))


def _row(row: dict) -> str:
    cells = [f"{v['HOTA']:.1f} / {v['IDF1']:.1f}" for k, v in row.items() if isinstance(v, dict) and "HOTA" in v]
    return f"| {row['variant']} | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks/results/tracker_ablation.json")
    ap.add_argument("--core", default="auto", choices=["auto", "python", "native"])
    ap.add_argument("--quantiles", default="0.05,0.1,0.15,0.2,0.3,0.4,0.5")
    ap.add_argument("--cmc-frames", type=int, default=150)
    ap.add_argument("--cmc-size", default="960x540", help="WxH of the camera-motion scenes")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.cmc_size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("| variant | " + " | ".join(SETS) + " | synthetic motion | synthetic embeddings |  (HOTA / IDF1)")
        features = feature_table(work / "features", args.core)
        sweep = quantile_sweep(work / "sweep", args.core, [float(q) for q in args.quantiles.split(",")])
        print("| camera | cmc | HOTA | IDF1 | MOTA | IDSW | ms/frame (median, tracker + CMC) |")
        cmc = cmc_table(work / "cmc", args.core, args.cmc_frames, (w, h))
    write_json(args.json, {"date": time.strftime("%Y-%m-%d"), "core": args.core, "features": features,
                           "det_quantile_sweep": sweep, "cmc": cmc, "cmc_scene": f"{w}x{h}, {args.cmc_frames} frames"})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
