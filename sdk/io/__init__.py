"""File formats and safe writing (MOTChallenge text files, seqinfo.ini, atomic writes)."""
from mottrack_sdk.io.atomic import atomic_path, atomic_write, write_json

__all__ = ["atomic_path", "atomic_write", "write_json"]
