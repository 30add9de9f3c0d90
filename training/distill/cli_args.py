"""The ``mottrack pseudo-label`` sub-command: argparse set-up and its run function.

Import-light (argparse only): ``mottrack_training.cli.register`` calls :func:`add_pseudo_label_parser`
on every start-up of the CLI; numpy, OpenCV and the teachers' runtimes load when the command runs.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["add_pseudo_label_parser", "run_pseudo_label"]

_DEFAULT_TEACHERS = "pd0200@960x544+512x288,pd0201@1280x736+640x352,yolox@960x544"  # = specs.DEFAULT_TEACHERS (not imported: light)


def add_pseudo_label_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pseudo-label SOURCE... --out DATASET`` to the ``mottrack`` parser."""
    p = subparsers.add_parser(
        "pseudo-label",
        help="label your own footage with teacher detectors (MOTChallenge layout for mottrack train)",
        description="Run teacher person detectors (OpenVINO person-detection-0200/0201, YOLOX-nano) on videos "
                    "(.mp4, .avi, raw .264, .gif) and image folders, fuse their boxes (weighted box fusion), "
                    "link them into identities with the project's tracker, write uncertain boxes as ignore "
                    "regions (gt conf 0), and write one MOTChallenge sequence per source (img1/, gt/gt.txt, "
                    "seqinfo.ini, pseudo_label.json) that mottrack train reads. Finished sequences are skipped "
                    "when the command is repeated (resume). Needs the [distill] extra (openvino).",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="video files or image folders")
    p.add_argument("--out", required=True, metavar="DATASET", help="dataset folder (one sub-folder per source)")
    p.add_argument("--teachers", default=_DEFAULT_TEACHERS,
                   help="comma-separated MODEL@WIDTHxHEIGHT[+WxH...] (several sizes: one teacher, merged by NMS); "
                        "MODEL: pd0200, pd0201, yolox or a .xml / .onnx path (default: %(default)s)")
    p.add_argument("--teacher-dir", default=None,
                   help="folder with openvino/ and onnx/ teacher files (default: $MOTTRACK_TEACHER_DIR or "
                        "../shared/models/teachers beside the repository)")
    p.add_argument("--high", type=float, default=0.45,
                   help="fused score at or above which a box is a positive (default: %(default)s)")
    p.add_argument("--low", type=float, default=0.2,
                   help="fused score from which a box below --high is an ignore region; lower is background "
                        "(default: %(default)s)")
    p.add_argument("--fusion-iou", type=float, default=0.55, help="weighted box fusion IoU (default: %(default)s)")
    p.add_argument("--teacher-min-score", type=float, default=0.05,
                   help="each teacher's score floor before fusion (default: %(default)s)")
    p.add_argument("--stride", type=int, default=1, help="label every k-th frame (default: %(default)s)")
    p.add_argument("--max-frames", type=int, default=None, help="at most this many labelled frames per source")
    p.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality of img1/ (default: %(default)s)")
    p.add_argument("--stills", action=argparse.BooleanOptionalAction, default=None,
                   help="image folders are unrelated stills (one id per box, no tracking); --no-stills: they are "
                        "video frames (default: automatic, video when the file names are consecutive numbers)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of image-folder sources (default: 30; videos carry their own)")
    p.add_argument("--reid", action="store_true",
                   help="link tracklets with re-ID embeddings too (person-reidentification-retail-0277)")
    p.add_argument("--reid-model", default=None,
                   help="re-ID OpenVINO .xml (default: ../shared/models/reid/person-reidentification-retail-0277/)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per model (default: %(default)s)")
    p.add_argument("--licence", default=None, metavar="TEXT",
                   help="licence / terms of the footage, stored in every sequence's pseudo_label.json")
    p.add_argument("--overwrite", action="store_true",
                   help="replace finished sequences that were labelled with other settings")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar (default: on)")
    p.set_defaults(func=run_pseudo_label)


def run_pseudo_label(args: argparse.Namespace) -> int:
    """Build :class:`PseudoLabelOptions` from the arguments, label, print a summary line per sequence.

    SIGINT / SIGTERM stop the run between frames (``mottrack_sdk.cli.stop_signals``): the sequence being
    written is removed, one line says so, and the exit code is 130 / 143 (a second signal stops at once)."""
    from pathlib import Path

    from mottrack_sdk.cli.stop_signals import StopSignals
    from mottrack_training.distill.identities import LabelThresholds
    from mottrack_training.distill.pipeline import PseudoLabelOptions, pseudo_label
    from mottrack_training.distill.specs import default_teacher_dir, parse_teacher_specs

    reid_model = None
    if args.reid or args.reid_model:
        from mottrack_training.distill.reid import DEFAULT_REID

        reid_model = Path(args.reid_model) if args.reid_model else default_teacher_dir().parent / "reid" / DEFAULT_REID
    options = PseudoLabelOptions(
        teachers=parse_teacher_specs(args.teachers),
        teacher_dir=Path(args.teacher_dir) if args.teacher_dir else None,
        thresholds=LabelThresholds(high=args.high, low=args.low), fusion_iou=args.fusion_iou,
        teacher_min_score=args.teacher_min_score, stride=args.stride, max_frames=args.max_frames,
        jpeg_quality=args.jpeg_quality, stills=args.stills, fps=args.fps, reid_model=reid_model,
        threads=args.threads, licence=args.licence, overwrite=args.overwrite)
    stop = StopSignals()  # Ctrl-C / SIGTERM: the sequence being written goes, the finished ones stay
    try:
        with stop:
            reports = pseudo_label(args.sources, args.out, options, progress=args.progress,
                                   should_stop=lambda: stop.received is not None)
    except ImportError as exc:  # openvino / onnx missing: one line with the extra to install
        from mottrack_sdk.cli.main import CliError

        raise CliError(str(exc)) from exc
    except KeyboardInterrupt:  # a stop signal (or a second one), possibly before labelling started
        print(f"\nstopped ({stop.name or 'SIGINT'}): the finished sequences in {args.out} are kept; run the same "
              "command again to resume", file=sys.stderr)
        return stop.exit_code or 130
    done = [r for r in reports if not r.skipped]
    print(f"pseudo-label: {len(done)} sequence(s) written, {len(reports) - len(done)} already done, in {args.out}")
    return 0
