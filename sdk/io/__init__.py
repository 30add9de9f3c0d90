"""File formats and safe writing (MOTChallenge text files, seqinfo.ini, atomic writes)."""
from mottrack_sdk.io.atomic import atomic_path, atomic_write, write_json
from mottrack_sdk.io.motchallenge import (MotRows, SeqInfo, find_sequences, read_mot_txt, read_seqinfo,
                                          write_detections, write_gt, write_results, write_seqinfo)
from mottrack_sdk.io.path_components import UnsafePathComponentError, safe_path_component

__all__ = ["atomic_path", "atomic_write", "write_json", "MotRows", "SeqInfo", "find_sequences", "read_mot_txt",
           "read_seqinfo", "write_detections", "write_gt", "write_results", "write_seqinfo",
           "UnsafePathComponentError", "safe_path_component"]
