"""Image files forged for hostile-input tests: shared by the sdk, training and pseudo-label tests."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path


def forged_png(path: Path, width: int, height: int, colour: bool = False) -> None:
    """A PNG whose header declares ``width`` x ``height`` (grey, or RGB with ``colour``) but holds one
    compressed row of data: ~100 bytes that ask a decoder for gigabytes (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if colour else 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
