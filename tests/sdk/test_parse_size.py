"""``mottrack_sdk.config.parse_size``: the one reader of an image or network size (CLI flags of synth,
bench, demo, train, export, pseudo-label; export options; preprocessing), and its callers' limits."""
from __future__ import annotations

import pytest

from mottrack_sdk.config import MAX_SIDE, parse_size


@pytest.mark.parametrize("value, expected", [
    ("640x352", (640, 352)),
    ("640X352", (640, 352)),
    ("640\u00d7352", (640, 352)),
    (" 640 x 352 ", (640, 352)),
    ((640, 352), (640, 352)),
    ([640.0, 352], (640, 352)),
])
def test_sizes_it_reads(value, expected):
    assert parse_size(value, "--size", multiple=32) == expected


@pytest.mark.parametrize("value, message", [
    ("big", "--size must look like WIDTHxHEIGHT"),
    ("640x", "--size must look like WIDTHxHEIGHT"),
    ("640x352x3", "--size must look like WIDTHxHEIGHT"),
    ("-640x352", "--size must look like WIDTHxHEIGHT"),
    ("640.5x352", "--size must look like WIDTHxHEIGHT"),
    ((640, 352, 3), "--size must be WIDTHxHEIGHT or \\(width, height\\) integers"),
    ((True, 352), "integers"),
    ((640.5, 352), "integers"),
    (None, "integers"),
    ("0x352", "--size 0x352: width and height must be at least 1"),
    (f"{MAX_SIDE + 32}x352", f"must be at most {MAX_SIDE}"),
    ("100x96", "--size 100x96: width and height must be positive multiples of 32"),
])
def test_refusals_name_the_argument(value, message):
    with pytest.raises(ValueError, match=message):
        parse_size(value, "--size", multiple=32)


def test_each_caller_keeps_its_limits():
    from mottrack_export.options import parse_size as export_size
    from mottrack_sdk.cli.synth_cmd import parse_size as frame_size
    from mottrack_training.cli import parse_size as train_size

    assert frame_size("100x50") == (100, 50)  # a frame: any size from 32x32
    with pytest.raises(ValueError, match="--size 31x50: width and height must be at least 32"):
        frame_size("31x50")
    with pytest.raises(ValueError, match="--img-size 100x64: .*multiples of 32"):
        train_size("100x64", "--img-size")  # a network input: multiples of its largest stride
    with pytest.raises(ValueError, match="^size 100x64: .*multiples of 32"):
        export_size((100, 64))
    assert export_size("672x384") == train_size("672x384") == (672, 384)
