"""Side by side, one run: mottrack's tracker vs Roboflow `trackers` (SORTTracker, ByteTrackTracker).

(a) the deterministic synthetic detection scene at N = 10 / 50 / 200 objects, and (b) the real
MOT17 public DPM detections of ../shared/data/MOT17 (7 train sequences). Every tracker gets the same
detections (DPM scores mapped to [0, 1] by a sigmoid, the same for all) and its own default
settings; time is the wall time of the tracker's update call alone (inputs are prepared outside the
timed region, including the `supervision.Detections` the peers need); accuracy is TrackEval's
HOTA / MOTA / IDF1 through `mottrack_sdk.eval`.

    python benchmarks/compare_trackers.py --json benchmarks/results/compare_trackers.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from mottrack_sdk import Tracker
from mottrack_sdk.eval import evaluate_mot
from mottrack_sdk.io import find_sequences, read_mot_txt, read_seqinfo, write_json, write_results
from mottrack_sdk.offline import transform_scores, write_scene_ground_truth
from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions

REPO = Path(__file__).resolve().parents[1]
Frame = tuple[int, np.ndarray, np.ndarray, "np.ndarray | None"]


def make_trackers(frame_rate: float) -> dict[str, Callable[[], Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], tuple]]]:
    """name -> factory of an update(xyxy, scores, emb) -> (ids, xyxy) closure, with its own timing scope."""
    import supervision as sv
    from trackers import ByteTrackTracker, SORTTracker

    def ours(use_emb: bool, core: str):
        def factory():
            tr = Tracker(frame_rate=frame_rate, core=core)
            def update(xyxy, scores, emb):
                t0 = time.perf_counter()
                ft = tr.update_detections_arrays(xyxy, scores, emb if use_emb else None)
                return time.perf_counter() - t0, ft.track_id, ft.xyxy
            return update
        return factory

    def peer(cls):
        def factory():
            tr = cls(frame_rate=frame_rate)
            def update(xyxy, scores, emb):
                dets = sv.Detections(xyxy=xyxy.astype(np.float32), confidence=scores.astype(np.float32),
                                     class_id=np.zeros(len(scores), int))
                t0 = time.perf_counter()
                out = tr.update(dets)
                dt = time.perf_counter() - t0
                keep = out.tracker_id >= 0
                return dt, out.tracker_id[keep], out.xyxy[keep]
            return update
        return factory

    from mottrack_sdk.tracking.native import native_available

    cores = ["python"] + (["native"] if native_available() else [])
    ours_all = {f"mottrack {c} ({m})": ours(m == "embeddings", c) for c in cores for m in ("motion", "embeddings")}
    return {**ours_all, "trackers SORT": peer(SORTTracker), "trackers ByteTrack": peer(ByteTrackTracker)}


def run_sequence(update, frames: list[Frame], out_file: Path) -> np.ndarray:
    times, rows_f, rows_id, rows_box = [], [], [], []
    for f, xyxy, scores, emb in frames:
        dt, ids, boxes = update(xyxy, scores, emb)
        times.append(dt)
        rows_f.append(np.full(len(ids), f))
        rows_id.append(np.asarray(ids))
        rows_box.append(np.asarray(boxes, np.float64).reshape(-1, 4))
    box = np.concatenate(rows_box)
    write_results(out_file, np.concatenate(rows_f), np.concatenate(rows_id), np.concatenate([box[:, :2], box[:, 2:] - box[:, :2]], 1))
    return np.asarray(times)


def synthetic_suite(work: Path, sizes: list[int], frames: int) -> list[dict]:
    records = []
    for n in sizes:
        scene = DetectionScene(DetectionSceneOptions(num_objects=n, num_frames=frames, seed=21))
        seq = f"synthetic-N{n}"
        write_scene_ground_truth(scene, work / f"gt-{n}" / seq, seq)
        data = [(fr.frame, fr.det_xyxy, fr.det_scores, fr.det_embeddings) for fr in scene]
        for name, factory in make_trackers(30.0).items():
            res_dir = work / f"res-{n}" / name.replace(" ", "_").replace("(", "").replace(")", "")
            t = run_sequence(factory(), data, res_dir / f"{seq}.txt")
            m = evaluate_mot(work / f"gt-{n}", res_dir).combined
            records.append(_record(f"synthetic N={n}", name, t, m))
            print(_row(records[-1]), flush=True)
    return records


def mot17_suite(work: Path, root: Path) -> list[dict]:
    seqs = find_sequences(root, require="det/det.txt")
    data, rates = {}, {}
    for seq in seqs:
        det = read_mot_txt(seq / "det" / "det.txt")
        length = read_seqinfo(seq).seq_length
        rates[seq.name] = read_seqinfo(seq).frame_rate
        ok = (det.tlwh[:, 2] > 0) & (det.tlwh[:, 3] > 0)
        scores = transform_scores(det.conf, "sigmoid")
        data[seq.name] = [(f, det.xyxy[(det.frame == f) & ok], scores[(det.frame == f) & ok], None)
                          for f in range(1, length + 1)]
    records = []
    for name in make_trackers(30.0):
        res_dir = work / "mot17" / name.replace(" ", "_").replace("(", "").replace(")", "")
        if "embeddings" in name:
            continue  # DPM detections come without appearance embeddings
        times = []
        for seq in seqs:
            update = make_trackers(rates[seq.name])[name]()
            times.append(run_sequence(update, data[seq.name], res_dir / f"{seq.name}.txt"))
        m = evaluate_mot(root, res_dir).combined
        records.append(_record("MOT17 DPM (7 seq)", name, np.concatenate(times), m))
        print(_row(records[-1]), flush=True)
    return records


def _record(bench: str, name: str, times: np.ndarray, m: dict) -> dict:
    return {"benchmark": bench, "tracker": name, "us_per_frame_median": float(np.median(times) * 1e6),
            "us_per_frame_mean": float(np.mean(times) * 1e6), "frames": int(len(times)),
            "HOTA": m["HOTA"], "MOTA": m["MOTA"], "IDF1": m["IDF1"], "IDSW": m["IDSW"]}


def _row(r: dict) -> str:
    return (f"| {r['benchmark']} | {r['tracker']} | {r['us_per_frame_median']:.0f} | {r['us_per_frame_mean']:.0f} "
            f"| {r['HOTA']:.1f} | {r['MOTA']:.1f} | {r['IDF1']:.1f} | {r['IDSW']} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks/results/compare_trackers.json")
    ap.add_argument("--sizes", default="10,50,200", help="synthetic scene sizes")
    ap.add_argument("--frames", type=int, default=600, help="frames per synthetic scene")
    ap.add_argument("--mot17", type=Path, default=REPO.parent / "shared/data/MOT17/train")
    args = ap.parse_args(argv)
    print("| benchmark | tracker | µs/frame median | µs/frame mean | HOTA | MOTA | IDF1 | IDSW |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        records = synthetic_suite(Path(tmp), [int(s) for s in args.sizes.split(",")], args.frames)
        if args.mot17.is_dir():
            records += mot17_suite(Path(tmp), args.mot17)
        else:
            print(f"(MOT17 skipped: {args.mot17} not found)", file=sys.stderr)
    write_json(args.json, {"date": time.strftime("%Y-%m-%d"), "records": records})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
