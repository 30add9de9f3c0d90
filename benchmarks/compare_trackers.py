"""Side by side, one run: mottrack's tracker vs the six trackers of Roboflow `trackers` 2.6.1.

Peers: SORTTracker, ByteTrackTracker, OCSORTTracker, BoTSORTTracker, CBIoUTracker, McByteTracker,
each with its own default settings. Detection sets (see ``detection_sets.py``):

* MOT17 train public DPM detections (7 sequences), scores through a logistic;
* the same detections, scores min-max normalised per sequence (1st-99th percentile);
* MOT15 TUD-Campus, official ACF detections, min-max (MOT15 rules);

plus the deterministic synthetic detection scene at N = 10 / 50 / 200 objects (speed at size;
``--sizes ""`` skips it). Every tracker gets the same detections. Where a sequence has images
(TUD-Campus) the frame is passed to every tracker that uses one (BoT-SORT's and McByte's camera-
motion compensation; ours with ``--cmc``); elsewhere CMC is off. Images are read before the timed
region; the time is the wall time of the tracker's update call alone (the peers' `sv.Detections`
are built outside it too). Accuracy: TrackEval HOTA / MOTA / IDF1 through `mottrack_sdk.eval`.

    .venv/bin/python benchmarks/compare_trackers.py --json benchmarks/results/compare_trackers.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detection_sets import SETS, DetectionSet, Sequence, load_set  # noqa: E402

from mottrack_sdk import Tracker, TrackerOptions  # noqa: E402
from mottrack_sdk.eval import evaluate_mot  # noqa: E402
from mottrack_sdk.io import write_json, write_results  # noqa: E402
from mottrack_sdk.machine import cpu_info  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PEERS = ("SORTTracker", "ByteTrackTracker", "OCSORTTracker", "BoTSORTTracker", "CBIoUTracker", "McByteTracker")
FRAME_USERS = ("BoTSORTTracker", "McByteTracker")  # the peers whose update() uses the image (CMC)
# update(xyxy, scores, embeddings or None, frame or None) -> (seconds, ids, xyxy)
Update = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None"], tuple]
Factory = Callable[[float], Update]


def ours(core: str, options: TrackerOptions | None = None, embeddings: bool = False, cmc: bool = False) -> Factory:
    """Factory of our tracker's update closure at a frame rate (``options``: the library defaults)."""
    def factory(frame_rate: float) -> Update:
        tr = Tracker((options or TrackerOptions()).replace(frame_rate=frame_rate), core=core)

        def update(xyxy, scores, emb, frame):
            t0 = time.perf_counter()
            ft = tr.update_detections_arrays(xyxy, scores, emb if embeddings else None,
                                             frame=frame if cmc else None)
            return time.perf_counter() - t0, ft.track_id, ft.xyxy
        return update
    return factory


def peer(name: str) -> Factory:
    def factory(frame_rate: float) -> Update:
        import supervision as sv
        import trackers

        tr = getattr(trackers, name)(frame_rate=frame_rate)
        uses_frame = name in FRAME_USERS

        def update(xyxy, scores, emb, frame):
            dets = sv.Detections(xyxy=xyxy.astype(np.float32), confidence=scores.astype(np.float32),
                                 class_id=np.zeros(len(scores), int))
            t0 = time.perf_counter()
            out = tr.update(dets, frame=frame) if frame is not None and uses_frame else tr.update(dets)
            dt = time.perf_counter() - t0
            keep = out.tracker_id >= 0
            return dt, out.tracker_id[keep], out.xyxy[keep]
        return update
    return factory


def contenders(cmc: bool) -> dict[str, Factory]:
    from mottrack_sdk.tracking.native import native_available

    cores = ["python"] + (["native"] if native_available() else [])
    out: dict[str, Factory] = {f"mottrack {c}": ours(c) for c in cores}
    if cmc:
        out[f"mottrack {cores[-1]} + CMC"] = ours(cores[-1], cmc=True)
    out.update({f"trackers {p.removesuffix('Tracker')}": peer(p) for p in PEERS})
    return out


def run_sequence(update: Update, seq: Sequence, out_file: Path, embeddings: list | None = None) -> np.ndarray:
    """Track one sequence; writes MOTChallenge results; returns seconds per frame."""
    import cv2

    times, rows_f, rows_id, rows_box = [], [], [], []
    for k, (f, xyxy, scores) in enumerate(seq.frames):
        frame = cv2.imread(str(seq.images[k])) if seq.images else None  # outside the timed call
        dt, ids, boxes = update(xyxy, scores, None if embeddings is None else embeddings[k], frame)
        times.append(dt)
        rows_f.append(np.full(len(ids), f))
        rows_id.append(np.asarray(ids, np.int64))
        rows_box.append(np.asarray(boxes, np.float64).reshape(-1, 4))
    box = np.concatenate(rows_box)
    write_results(out_file, np.concatenate(rows_f), np.concatenate(rows_id),
                  np.concatenate([box[:, :2], box[:, 2:] - box[:, :2]], 1))
    return np.asarray(times)


def evaluate_set(factory: Factory, ds: DetectionSet, work: Path, tag: str) -> dict[str, Any]:
    """Run one tracker over every sequence of ``ds``; TrackEval's COMBINED metrics and timing."""
    res_dir = work / ds.name / "".join(c if c.isalnum() else "_" for c in tag)
    res_dir.mkdir(parents=True, exist_ok=True)
    times = np.concatenate([run_sequence(factory(seq.frame_rate), seq, res_dir / f"{seq.name}.txt")
                            for seq in ds.sequences])
    return _record(ds.name, tag, times, evaluate_mot(ds.gt_root, res_dir).combined)


def real_suite(work: Path, sets: list[str], cmc: bool) -> list[dict]:
    records = []
    for name in sets:
        try:
            ds = load_set(name)
        except FileNotFoundError as exc:
            print(f"({name} skipped: {exc})", file=sys.stderr)
            continue
        has_images = all(s.images for s in ds.sequences)
        for tag, factory in contenders(cmc and has_images).items():
            records.append(evaluate_set(factory, ds, work, tag))
            print(_row(records[-1]), flush=True)
    return records


def synthetic_suite(work: Path, sizes: list[int], frames: int) -> list[dict]:
    from mottrack_sdk.offline import write_scene_ground_truth
    from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions

    records = []
    for n in sizes:
        scene = DetectionScene(DetectionSceneOptions(num_objects=n, num_frames=frames, seed=21))
        name = f"synthetic N={n}"
        write_scene_ground_truth(scene, work / f"gt-{n}" / "SYNTH", "SYNTH")
        data = list(scene)
        seq = Sequence("SYNTH", 30.0, [(fr.frame, fr.det_xyxy, fr.det_scores) for fr in data])
        emb = [fr.det_embeddings for fr in data]
        tags = dict(contenders(False))
        for core in ("python", "native") if "mottrack native" in tags else ("python", ):
            tags[f"mottrack {core} (embeddings)"] = ours(core, embeddings=True)
        for tag, factory in tags.items():
            res_dir = work / f"res-{n}" / "".join(c if c.isalnum() else "_" for c in tag)
            res_dir.mkdir(parents=True)
            t = run_sequence(factory(30.0), seq, res_dir / "SYNTH.txt", emb if "embeddings" in tag else None)
            records.append(_record(name, tag, t, evaluate_mot(work / f"gt-{n}", res_dir).combined))
            print(_row(records[-1]), flush=True)
    return records


def _record(bench: str, name: str, times: np.ndarray, m: dict) -> dict:
    return {"benchmark": bench, "tracker": name, "us_per_frame_median": float(np.median(times) * 1e6),
            "us_per_frame_mean": float(np.mean(times) * 1e6), "frames": int(len(times)),
            **{k: float(m[k]) for k in ("HOTA", "MOTA", "IDF1", "AssA", "DetA")}, "IDSW": int(m["IDSW"])}


def _row(r: dict) -> str:
    return (f"| {r['benchmark']} | {r['tracker']} | {r['HOTA']:.1f} | {r['IDF1']:.1f} | {r['MOTA']:.1f} "
            f"| {r['IDSW']} | {r['us_per_frame_median']:.0f} | {r['us_per_frame_mean']:.0f} |")


def verdict(records: list[dict]) -> list[str]:
    """Per real set: ours (best of our rows) vs the best peer on HOTA and IDF1."""
    lines = []
    for bench in dict.fromkeys(r["benchmark"] for r in records if not r["benchmark"].startswith("synthetic")):
        rows = [r for r in records if r["benchmark"] == bench]
        mine = [r for r in rows if r["tracker"] in ("mottrack python", "mottrack native")]  # native last when built
        peers = [r for r in rows if r["tracker"].startswith("trackers ")]
        if not mine or not peers:
            continue
        m = mine[-1]
        bh, bi = max(peers, key=lambda r: r["HOTA"]), max(peers, key=lambda r: r["IDF1"])
        ok = m["HOTA"] >= bh["HOTA"] and m["IDF1"] >= bi["IDF1"]
        lines.append(f"{bench}: ours HOTA {m['HOTA']:.1f} / IDF1 {m['IDF1']:.1f} vs best peer HOTA "
                     f"{bh['HOTA']:.1f} ({bh['tracker']}) / IDF1 {bi['IDF1']:.1f} ({bi['tracker']}): "
                     f"{'ahead' if ok else 'BEHIND'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks/results/compare_trackers.json")
    ap.add_argument("--sets", default=",".join(SETS), help=f"real detection sets, from {list(SETS)}")
    ap.add_argument("--sizes", default="10,50,200", help="synthetic scene sizes ('' to skip)")
    ap.add_argument("--frames", type=int, default=600, help="frames per synthetic scene")
    ap.add_argument("--cmc", action="store_true", help="also run ours with camera-motion compensation where "
                                                       "there are images")
    args = ap.parse_args(argv)
    sets = [s for s in args.sets.split(",") if s]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        ap.error(f"--sets: unknown {unknown}; known: {list(SETS)}")
    print("| detections | tracker | HOTA | IDF1 | MOTA | IDSW | µs/frame median | µs/frame mean |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        records = real_suite(Path(tmp), sets, args.cmc)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        records += synthetic_suite(Path(tmp), sizes, args.frames)
    lines = verdict(records)
    print("\n".join(lines))
    write_json(args.json, {"date": time.strftime("%Y-%m-%d"), "machine": cpu_info().summary(), "records": records,
                           "verdict": lines})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
