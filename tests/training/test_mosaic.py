"""Person-crop mosaics (``mottrack mosaic``): layout, determinism, every crop before repeats, errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mottrack_training.data.mosaic import MosaicOptions, list_crops, mosaic_layout, write_mosaics


def _crops(folder, count=5, size=(96, 160)):
    folder.mkdir()
    for i in range(count):
        image = np.full((size[1], size[0], 3), 40 * i + 20, np.uint8)  # one flat grey level per crop
        cv2.imwrite(str(folder / f"crop_{i}.png"), image)
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.mark.parametrize("seed", range(20))
def test_rows_cover_the_frame_exactly(seed):
    options = MosaicOptions(height=540, min_height=48, max_height=180)
    rows = mosaic_layout(options, np.random.default_rng(seed))
    assert rows[0][0] == 0
    for (top, h), (next_top, _) in zip(rows, rows[1:]):
        assert next_top == top + h
    assert rows[-1][0] + rows[-1][1] == 540
    assert all(48 <= h < 48 + 180 for _, h in rows)  # only the last row can exceed max_height


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    crops = _crops(tmp_path / "crops")
    options = MosaicOptions(width=200, height=120, count=3, min_height=20, max_height=60, seed=4)
    a = write_mosaics(crops, tmp_path / "a", options)
    b = write_mosaics(crops, tmp_path / "b", options)
    c = write_mosaics(crops, tmp_path / "c", MosaicOptions(width=200, height=120, count=3, min_height=20,
                                                          max_height=60, seed=5))
    assert [p.name for p in a] == ["mosaic_00001.jpg", "mosaic_00002.jpg", "mosaic_00003.jpg"]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(a, b))
    assert any(p.read_bytes() != q.read_bytes() for p, q in zip(a, c))
    assert cv2.imread(str(a[0])).shape == (120, 200, 3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_every_crop_is_used_before_any_repeats(tmp_path):
    crops = _crops(tmp_path / "crops", count=6)
    # one row of 40 px: each crop scaled to 24x40, so a 48 px wide frame holds exactly two crops
    options = MosaicOptions(width=48, height=40, count=3, min_height=40, max_height=40, jpeg_quality=100)
    frames = [cv2.imread(str(p)) for p in write_mosaics(crops, tmp_path / "out", options)]
    # a tile's grey level names its crop: six tiles, six different crops
    seen = [int(round((int(f[20, 12 + 24 * k, 1]) - 20) / 40)) for f in frames for k in range(2)]
    assert sorted(seen) == list(range(6))


def test_errors_name_the_argument_and_leave_nothing(tmp_path):
    with pytest.raises(ValueError, match="crops .*not a folder"):
        write_mosaics(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="crops .*no images"):
        list_crops(tmp_path / "empty")
    crops = _crops(tmp_path / "crops")
    (crops / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png: not a readable image"):
        write_mosaics(crops, tmp_path / "out", MosaicOptions(width=400, height=100, count=20, min_height=20,
                                                           max_height=40))
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (tmp_path / "taken").mkdir()
    with pytest.raises(ValueError, match="--out .*already exists"):
        write_mosaics(_crops(tmp_path / "crops2"), tmp_path / "taken")
    strips = tmp_path / "strips"  # a 60000x1 "crop" would be scaled to the row height: gigabytes
    strips.mkdir()
    cv2.imwrite(str(strips / "strip.png"), np.zeros((1, 60000, 3), np.uint8))
    with pytest.raises(ValueError, match=r"strip\.png: 60000x1 pixels, expected a person crop"):
        write_mosaics(strips, tmp_path / "out3", MosaicOptions(width=400, height=100, count=2, min_height=20,
                                                             max_height=40))
    assert not (tmp_path / "out3").exists()
    with pytest.raises(ValueError, match="min_height"):
        MosaicOptions(min_height=200, max_height=100)
    with pytest.raises(ValueError, match="count"):
        MosaicOptions(count=0)


def test_cli(tmp_path, capsys):
    from mottrack_sdk.cli.main import main

    crops = _crops(tmp_path / "crops")
    out = tmp_path / "frames"
    assert main(["mosaic", str(crops), "--out", str(out), "--count", "2", "--size", "160x90",
                 "--rows-px", "20,40", "--no-progress"]) == 0
    assert len(list(out.glob("*.jpg"))) == 2
    assert "pseudo-label" in capsys.readouterr().out
    assert main(["mosaic", str(crops), "--out", str(tmp_path / "x"), "--size", "160"]) == 2
    assert "--size" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")  # an OSError (FileExistsError) below: one line, no traceback
    assert main(["mosaic", str(crops), "--out", str(tmp_path / "afile" / "sub"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mottrack mosaic: error:") and "afile" in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--count", "0"], r"--count: expected an integer in [1, 1000000], got 0"),
    (["--rows-px", "1,2"], r"--rows-px MIN: expected an integer in [8, 16384], got 1"),
    (["--rows-px", "100,50"], "--rows-px MIN: the smallest row height (100) must not exceed the largest (50)"),
    (["--rows-px", "48,200", "--size", "320x180"],
     "--rows-px MAX: the largest row height (200) must not exceed the frame height (180)"),
    (["--seed", "-1"], "--seed: expected an integer in [0, "),
])
def test_cli_errors_name_the_flag_not_the_options_field(tmp_path, capsys, argv, message):
    from mottrack_sdk.cli.main import main

    assert main(["mosaic", str(_crops(tmp_path / "crops")), "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "MosaicOptions" not in err and not (tmp_path / "out").exists()
