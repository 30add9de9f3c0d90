"""`mottrack eval`: HOTA / MOTA / IDF1 with TrackEval (MOTChallenge preprocessing)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score MOTChallenge results with TrackEval (HOTA, MOTA, IDF1)",
                       description="Scores RESULTS/<seq>.txt against GT/<seq>/gt/gt.txt for every sequence "
                                   "of GT. Only pedestrians are scored; distractors are ignored.")
    p.add_argument("--gt", type=Path, required=True, help="folder of sequences with gt/gt.txt")
    p.add_argument("--results", type=Path, required=True, help="folder of <sequence>.txt result files")
    p.add_argument("--sequences", nargs="+", help="only these sequences (default: all in --gt)")
    p.add_argument("--benchmark", default="MOT17", choices=["MOT15", "MOT16", "MOT17", "MOT20"],
                   help="distractor classes follow this benchmark's rules")
    p.add_argument("--json", type=Path, help="write {sequence|COMBINED: {HOTA, MOTA, IDF1, ...}} here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mottrack_sdk.eval import evaluate_mot
    from mottrack_sdk.io import write_json

    result = evaluate_mot(args.gt, args.results, args.sequences, args.benchmark)
    print(result.table())
    if args.json:
        write_json(args.json, result.to_json())
        print(f"wrote {args.json}")
    return 0
