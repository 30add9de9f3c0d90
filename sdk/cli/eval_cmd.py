"""`mottrack eval`: HOTA / MOTA / IDF1 with TrackEval (MOTChallenge preprocessing)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from mottrack_sdk.eval.mot_eval import BENCHMARKS

    p = sub.add_parser("eval", help="score MOTChallenge results with TrackEval (HOTA, MOTA, IDF1)",
                       description="Scores RESULTS/<seq>.txt against GT/<seq>/gt/gt.txt for every sequence "
                                   "of GT. Only pedestrians are scored; distractors are ignored. Both files are "
                                   "checked first (frames within seqLength, ids >= 0, positive sizes, one box "
                                   "per id and frame); errors name file:line.")
    p.add_argument("--gt", type=Path, required=True, help="folder of sequences with gt/gt.txt")
    p.add_argument("--results", type=Path, required=True, help="folder of <sequence>.txt result files")
    p.add_argument("--sequences", nargs="+", help="only these sequences (default: all in --gt)")
    p.add_argument("--benchmark", default="auto", choices=BENCHMARKS,
                   help="distractor classes follow this benchmark's rules; MOT15: files without a class column "
                        "(class -1 = pedestrian); auto (default): MOT15 when no gt row has a class, else MOT17")
    p.add_argument("--json", type=Path, help="write {sequence|COMBINED: {HOTA, MOTA, IDF1, ...}} here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mottrack_sdk.eval import evaluate_mot
    from mottrack_sdk.io import write_json

    if args.json is not None:  # before the evaluation, not after it
        from mottrack_sdk.io.output_paths import check_output_file

        check_output_file(args.json, "--json", suffixes=(".json",))
    result = evaluate_mot(args.gt, args.results, args.sequences, args.benchmark, names=("--gt", "--results"))
    print(result.table())
    if args.json:
        write_json(args.json, result.to_json())
        print(f"wrote {args.json}")
    return 0
