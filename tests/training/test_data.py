"""Training data loaders: JDE and MOTChallenge layouts on tiny generated datasets and on real MOT17-mini."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from forged_images import forged_png  # noqa: E402
from mottrack_sdk.io import read_mot_txt  # noqa: E402
from mottrack_sdk.scenes import SceneOptions, write_sequence  # noqa: E402
from mottrack_training.data import (ConcatFrameDataset, DataFileError, DataOptions, JdeDataset,  # noqa: E402
                                    JdeSource, MotSequenceDataset, collate, label_path_for)

pytestmark = pytest.mark.torch

W, H = 320, 192
NET = (160, 96)
PLAIN = DataOptions(img_size=NET, augment=False, min_visibility=0.0, min_box_px=0.0)


@pytest.fixture(scope="module")
def mot_root(tmp_path_factory) -> Path:
    """Two synthetic MOTChallenge sequences of 5 frames, plus one with nobody in it."""
    root = tmp_path_factory.mktemp("mot")
    for seed in (1, 2):
        write_sequence(root, SceneOptions(width=W, height=H, num_frames=5, seed=seed, density=8), f"SEQ-{seed}")
    write_sequence(root, SceneOptions(width=W, height=H, num_frames=2, seed=3, density=0), "EMPTY")
    return root


@pytest.fixture(scope="module")
def jde_root(mot_root, tmp_path_factory) -> Path:
    """The same frames in JDE layout: dataset 'synth' (SEQ-1, SEQ-2) and 'other' (SEQ-1 again)."""
    root = tmp_path_factory.mktemp("jde")
    for name, seqs in (("synth", ["SEQ-1", "SEQ-2"]), ("other", ["SEQ-1"])):
        lines = []
        for k, seq in enumerate(seqs):
            gt = read_mot_txt(mot_root / seq / "gt" / "gt.txt")
            for img in sorted((mot_root / seq / "img1").glob("*.jpg")):
                rel = Path(name) / "images" / seq / "img1" / img.name
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(img, root / rel)
                rows = gt.at_frame(int(img.stem))
                ids = rows.track_id + 1000 * k  # ids unique within a JDE dataset
                label = label_path_for(root / rel)
                label.parent.mkdir(parents=True, exist_ok=True)
                label.write_text("".join(
                    f"0 {i} {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} {w / W:.6f} {h / H:.6f}\n"
                    for i, (x, y, w, h) in zip(ids.tolist(), rows.tlwh.tolist())))
                lines.append(str(rel))
        (root / f"{name}.train").write_text("\n".join(lines) + "\n")
    return root


def _gt_targets(seq_dir: Path, frame: int) -> np.ndarray:
    """(K, 4) cx, cy, w, h normalised by the frame, in gt order (sorted by id)."""
    rows = read_mot_txt(seq_dir / "gt" / "gt.txt").at_frame(frame)
    t = rows.tlwh
    return np.stack([(t[:, 0] + t[:, 2] / 2) / W, (t[:, 1] + t[:, 3] / 2) / H, t[:, 2] / W, t[:, 3] / H], 1)


def test_mot_loader_reads_generated_sequences(mot_root):
    ds = MotSequenceDataset(mot_root, PLAIN)
    assert len(ds) == 12 and not ds.skipped
    sample = ds[0]
    assert sample.image.shape == (3, 96, 160) and sample.image.dtype == torch.float32
    assert 0.0 <= float(sample.image.min()) and float(sample.image.max()) <= 1.0
    assert sample.path.endswith("EMPTY/img1/000001.jpg") and sample.targets.shape == (0, 6)  # empty frame
    first = ds[2]  # SEQ-1 frame 1 (sequences sorted by name)
    assert first.path.endswith("SEQ-1/img1/000001.jpg")
    # Stretch keeps normalised coordinates: targets equal the gt boxes (clipped gt is inside the frame).
    assert np.allclose(first.targets[:, 2:].numpy(), _gt_targets(mot_root / "SEQ-1", 1), atol=1e-6)
    assert (first.targets[:, 0] == 0).all()
    ids_1 = read_mot_txt(mot_root / "SEQ-1" / "gt" / "gt.txt").track_id
    ids_2 = read_mot_txt(mot_root / "SEQ-2" / "gt" / "gt.txt").track_id
    assert ds.num_identities == len(np.unique(ids_1)) + len(np.unique(ids_2))  # sequences never merge


def test_mot_loader_filters_by_visibility(mot_root):
    every = MotSequenceDataset(mot_root / "SEQ-2", PLAIN)
    strict = MotSequenceDataset(mot_root / "SEQ-2", DataOptions(img_size=NET, augment=False, min_visibility=0.9))
    gt = read_mot_txt(mot_root / "SEQ-2" / "gt" / "gt.txt")
    n_every = sum(len(every[i].targets) for i in range(len(every)))
    n_strict = sum(len(strict[i].targets) for i in range(len(strict)))
    assert n_every == len(gt) and n_strict == int((gt.visibility >= 0.9).sum()) < n_every


def test_ignore_regions_keep_the_dropped_rows_as_class_minus_one(mot_root):
    """With ignore_regions, rows a plain loader drops (here: too hidden) come back as class -1, id -1."""
    options = DataOptions(img_size=NET, augment=False, min_visibility=0.9, ignore_regions=True)
    with_ignore = MotSequenceDataset(mot_root / "SEQ-2", options)
    gt = read_mot_txt(mot_root / "SEQ-2" / "gt" / "gt.txt")
    targets = np.concatenate([with_ignore[i].targets.numpy() for i in range(len(with_ignore))])
    ignored = targets[:, 0] == -1
    assert len(targets) == len(gt) and int(ignored.sum()) == int((gt.visibility < 0.9).sum()) > 0
    assert (targets[ignored, 1] == -1).all() and (targets[~ignored, 1] >= 0).all()
    assert with_ignore.num_identities == len(np.unique(gt.track_id[gt.visibility >= 0.9]))


def test_jde_loader_matches_the_mot_loader_on_the_same_frames(mot_root, jde_root):
    jde = JdeDataset([JdeSource(jde_root / "synth.train")], PLAIN)
    mot = MotSequenceDataset([mot_root / "SEQ-1", mot_root / "SEQ-2"], PLAIN)
    assert len(jde) == len(mot) == 10 and jde.num_identities == mot.num_identities
    for i in (0, 4, 7):
        a, b = jde[i], mot[i]
        assert torch.equal(a.image, b.image)
        assert np.allclose(a.targets[:, 2:].numpy(), b.targets[:, 2:].numpy(), atol=2e-6)


def test_jde_datasets_combine_with_unique_identities(jde_root):
    one = JdeDataset([jde_root / "synth.train"], PLAIN)
    both = JdeDataset([jde_root / "synth.train", jde_root / "other.train"], PLAIN)
    assert len(both) == 15
    assert both.num_identities == one.num_identities + len(
        {int(i) for k in range(10, 15) for i in both[k].targets[:, 1].tolist()})
    ids_first = {int(i) for k in range(10) for i in both[k].targets[:, 1].tolist()}
    ids_second = {int(i) for k in range(10, 15) for i in both[k].targets[:, 1].tolist()}
    assert not ids_first & ids_second  # the same local numbers became different people
    assert max(ids_first | ids_second) == both.num_identities - 1


def test_unlabelled_rows_keep_id_minus_one(tmp_path):
    img = tmp_path / "d" / "images" / "a.jpg"
    img.parent.mkdir(parents=True)
    cv2.imwrite(str(img), np.full((48, 64, 3), 90, np.uint8))
    label_path_for(img).parent.mkdir(parents=True)
    label_path_for(img).write_text("0 -1 0.5 0.5 0.2 0.6\n0 7 0.25 0.5 0.1 0.5\n")
    (tmp_path / "d.train").write_text("d/images/a.jpg\n")
    ds = JdeDataset([tmp_path / "d.train"], PLAIN)
    assert ds.num_identities == 1 and ds[0].targets[:, 1].tolist() == [-1.0, 0.0]


def test_letterbox_targets_follow_the_transform(mot_root):
    ds = MotSequenceDataset(mot_root / "SEQ-1", DataOptions(img_size=(160, 160), resize_mode="letterbox",
                                                            augment=False, min_visibility=0.0, min_box_px=0.0))
    s = ds[0]
    assert s.transform.mode == "letterbox" and s.transform.pad_xy == (0, 32)
    frame_cxcywh = _gt_targets(mot_root / "SEQ-1", 1) * (W, H, W, H)
    xyxy = np.concatenate([frame_cxcywh[:, :2] - frame_cxcywh[:, 2:] / 2, frame_cxcywh[:, :2] + frame_cxcywh[:, 2:] / 2], 1)
    net = s.transform.frame_to_network_xyxy(xyxy) / 160
    expect = np.concatenate([(net[:, :2] + net[:, 2:]) / 2, net[:, 2:] - net[:, :2]], 1)
    assert np.allclose(s.targets[:, 2:].numpy(), expect, atol=1e-6)
    assert np.allclose(s.image[:, :32].numpy(), 128 / 255)  # letterbox padding


def test_augmentation_is_seeded_per_sample_and_epoch(mot_root):
    opts = DataOptions(img_size=NET, seed=5)
    a, b = MotSequenceDataset(mot_root / "SEQ-1", opts), MotSequenceDataset(mot_root / "SEQ-1", opts)
    assert all(torch.equal(a[i].image, b[i].image) and torch.equal(a[i].targets, b[i].targets) for i in range(5))
    epoch0 = [a[i].image for i in range(5)]
    a.set_epoch(1)
    assert any(not torch.equal(x, a[i].image) for i, x in enumerate(epoch0))
    plain = MotSequenceDataset(mot_root / "SEQ-1", PLAIN)[3]
    assert not torch.equal(plain.image, b[3].image)  # HSV jitter changed colours


def test_flip_mirrors_image_and_boxes(mot_root):
    plain = MotSequenceDataset(mot_root / "SEQ-1", PLAIN)[1]
    flipped = MotSequenceDataset(mot_root / "SEQ-1", DataOptions(
        img_size=NET, hsv_gains=(0.0, 0.0, 0.0), flip_prob=1.0, min_visibility=0.0, min_box_px=0.0))[1]
    assert torch.equal(flipped.image, plain.image.flip(-1))
    assert torch.allclose(flipped.targets[:, 2], 1 - plain.targets[:, 2])
    assert torch.equal(flipped.targets[:, [0, 1, 3, 4, 5]], plain.targets[:, [0, 1, 3, 4, 5]])


def test_collate_prefixes_the_image_index(mot_root):
    ds = MotSequenceDataset(mot_root, PLAIN)
    batch = collate([ds[0], ds[2], ds[3]])  # an empty frame first
    assert batch.images.shape == (3, 3, 96, 160)
    n2, n3 = len(ds[2].targets), len(ds[3].targets)
    assert batch.targets.shape == (n2 + n3, 7)
    assert batch.targets[:, 0].tolist() == [1.0] * n2 + [2.0] * n3
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False, collate_fn=collate)
    assert sum(len(b.images) for b in loader) == 12
    with pytest.raises(ValueError, match="empty batch"):
        collate([])


def test_concat_offsets_identities(mot_root):
    a, b = MotSequenceDataset(mot_root / "SEQ-1", PLAIN), MotSequenceDataset(mot_root / "SEQ-2", PLAIN)
    both = ConcatFrameDataset([a, b])
    assert len(both) == 10 and both.num_identities == a.num_identities + b.num_identities
    assert torch.equal(both[5].targets[:, 1], b[0].targets[:, 1] + a.num_identities)


# ----------------------------------------------------------------------------- bad input


@pytest.fixture()
def broken_jde(jde_root, tmp_path) -> Path:
    root = tmp_path / "jde"
    shutil.copytree(jde_root / "synth", root / "synth")
    shutil.copy(jde_root / "synth.train", root / "synth.train")
    return root


def test_missing_image_names_the_file_or_is_skipped(broken_jde):
    victim = sorted((broken_jde / "synth" / "images" / "SEQ-1" / "img1").glob("*.jpg"))[2]
    victim.unlink()
    with pytest.raises(DataFileError, match=str(victim)) as info:
        JdeDataset([broken_jde / "synth.train"], PLAIN)
    assert "not found" in info.value.reason
    with pytest.warns(UserWarning, match="skipped 1 bad file"):
        ds = JdeDataset([broken_jde / "synth.train"], DataOptions(img_size=NET, skip_bad=True))
    assert len(ds) == 9 and [s.path for s in ds.skipped] == [str(victim)]


def test_a_source_with_no_usable_frame_is_named(tmp_path):
    empty = tmp_path / "empty.train"
    empty.write_text("")
    with pytest.raises(ValueError, match=f"JdeDataset: no usable frames in {empty}"):
        JdeDataset([empty], PLAIN)


@pytest.mark.parametrize("content, reason", [("0 1 0.5 0.5\n", "expected 6 values"), ("abc\n", "expected numbers"),
                                             ("0 1 0.5 nan 0.1 0.1\n", "NaN"), ("0 -4 0.5 0.5 0.1 0.1\n", "id an integer"),
                                             ("0 1 0.5 0.5 0.1 0.1\n0 1e300 0.5 0.5 0.1 0.1\n",  # int64 wrapped it
                                              r"line 2: id 1e300 is larger than an id may be \(2147483647")])
def test_corrupt_label_file_names_the_file(broken_jde, content, reason):
    label = sorted((broken_jde / "synth" / "labels_with_ids" / "SEQ-2" / "img1").glob("*.txt"))[0]
    label.write_text(content)
    with pytest.raises(DataFileError, match=reason) as info:
        JdeDataset([broken_jde / "synth.train"], PLAIN)
    assert info.value.path == str(label)


def test_missing_label_file_is_an_error_but_an_empty_one_is_a_valid_frame(broken_jde):
    labels = sorted((broken_jde / "synth" / "labels_with_ids" / "SEQ-2" / "img1").glob("*.txt"))
    labels[0].write_text("")
    labels[1].unlink()
    with pytest.raises(DataFileError, match="label file not found"):
        JdeDataset([broken_jde / "synth.train"], PLAIN)
    with pytest.warns(UserWarning):
        ds = JdeDataset([broken_jde / "synth.train"], DataOptions(img_size=NET, skip_bad=True, augment=False))
    assert len(ds) == 9 and ds[5].targets.shape == (0, 6)


def test_corrupt_image_is_reported_when_loaded(broken_jde):
    victim = sorted((broken_jde / "synth" / "images" / "SEQ-1" / "img1").glob("*.jpg"))[1]
    victim.write_bytes(b"not a jpeg at all")
    ds = JdeDataset([broken_jde / "synth.train"], PLAIN)
    with pytest.raises(DataFileError, match="cannot decode") as info:
        ds[1]
    assert info.value.path == str(victim)
    skipping = JdeDataset([broken_jde / "synth.train"], DataOptions(img_size=NET, skip_bad=True, augment=False))
    with pytest.warns(UserWarning, match="skipping bad image"):
        sample = skipping[1]
    assert sample.path.endswith("000003.jpg") and len(skipping.skipped) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert skipping.verify_images() == 1 and len(skipping) == 9


def test_missing_list_file_is_always_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.train"):
        JdeDataset([tmp_path / "nope.train"], DataOptions(skip_bad=True))


def test_broken_mot_sequences(mot_root, tmp_path):
    for name in ("SEQ-1", "SEQ-2"):
        shutil.copytree(mot_root / name, tmp_path / name)
    (tmp_path / "SEQ-1" / "gt" / "gt.txt").unlink()
    with pytest.raises(DataFileError, match="gt.txt not found"):
        MotSequenceDataset(tmp_path, PLAIN)
    with pytest.warns(UserWarning, match="skipped 1 bad file"):
        ds = MotSequenceDataset(tmp_path, DataOptions(img_size=NET, skip_bad=True))
    assert len(ds) == 5 and ds.skipped[0].path.endswith("SEQ-1/gt/gt.txt")
    (tmp_path / "SEQ-2" / "gt" / "gt.txt").write_text("1,2,3\n")
    with pytest.raises(DataFileError, match="corrupt gt.txt"):
        MotSequenceDataset(tmp_path / "SEQ-2", PLAIN)


def test_image_size_must_match_seqinfo(mot_root, tmp_path):
    shutil.copytree(mot_root / "SEQ-1", tmp_path / "SEQ-1")
    victim = tmp_path / "SEQ-1" / "img1" / "000002.jpg"
    cv2.imwrite(str(victim), np.zeros((10, 10, 3), np.uint8))
    ds = MotSequenceDataset(tmp_path / "SEQ-1", PLAIN)
    with pytest.raises(DataFileError, match="expected 320x192"):
        ds[1]


def test_options_are_validated():
    with pytest.raises(ValueError, match="resize_mode"):
        DataOptions(resize_mode="crop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="img_size"):
        DataOptions(img_size=(0, 608))
    with pytest.raises(ValueError, match="hsv_gains"):
        DataOptions(hsv_gains=(0.1, 0.2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flip_prob"):
        DataOptions(flip_prob=1.5)


# ----------------------------------------------------------------------------- real data


def test_real_mot17_mini(mot17_mini_root):
    opts = DataOptions(img_size=(544, 320), augment=False)
    ds = MotSequenceDataset(mot17_mini_root, opts)
    assert len(ds) == 39 and not ds.skipped
    seq = mot17_mini_root / "MOT17-04-FRCNN"
    gt = read_mot_txt(seq / "gt" / "gt.txt")
    first = gt.select((gt.frame == 1) & (gt.conf == 1) & (gt.class_id == 1) & (gt.visibility >= 0.1))
    index = next(i for i, r in enumerate(ds.records) if r.image_path == seq / "img1" / "000001.jpg")
    sample = ds[index]
    assert len(sample.targets) == len(first)  # distractors, ignored and hidden rows dropped
    t = sample.targets.numpy()
    assert (t[:, 0] == 0).all() and (t[:, 1] >= 0).all() and t[:, 1].max() < ds.num_identities
    assert (t[:, 2:4] >= 0).all() and (t[:, 2:4] <= 1).all() and (t[:, 4:] > 0).all()
    batch = collate([ds[i] for i in range(0, 39, 10)])
    assert batch.images.shape == (4, 3, 320, 544)


def test_zoom_out_maps_labels_onto_the_shrunk_pixels():
    """A white box drawn in the frame: after resize + zoom-out its pixels sit where the transform puts it."""
    from mottrack_sdk.preprocessing import resize_image
    from mottrack_training.data.augment import zoom_out
    frame = np.zeros((540, 960, 3), np.uint8)
    frame[100:400, 300:420] = 255
    resized, transform = resize_image(frame, (640, 352), "letterbox", 114.0)
    for scale, pos in ((0.5, (0.0, 0.0)), (0.73, (1.0, 1.0)), (0.61, (0.3, 0.8)), (1.0, (0.5, 0.5))):
        out, t = zoom_out(resized, transform, scale, pos, 114.0)
        assert out.shape == resized.shape and out.dtype == np.uint8
        x0, y0, x1, y1 = t.frame_to_network_xyxy(np.array([[300.0, 100.0, 420.0, 400.0]]))[0]
        ys, xs = np.nonzero(out[:, :, 0] > 200)
        assert abs(xs.min() - x0) <= 1 and abs(xs.max() + 1 - x1) <= 1
        assert abs(ys.min() - y0) <= 1 and abs(ys.max() + 1 - y1) <= 1
        cx0, cy0, cx1, cy1 = t.content_xyxy
        assert 0 <= cx0 and 0 <= cy0 and cx1 <= 640 and cy1 <= 352  # the frame stays inside the input
        assert (cx1 - cx0) == pytest.approx(transform.scale_xy[0] * 960 * scale, abs=1)
        outside = np.ones(out.shape[:2], bool)
        outside[int(round(cy0)):int(round(cy1)), int(round(cx0)):int(round(cx1))] = False
        assert (out[outside] == 114).all()
    with pytest.raises(ValueError, match="scale"):
        zoom_out(resized, transform, 0.0, (0.5, 0.5), 114.0)
    with pytest.raises(ValueError, match="scale"):
        zoom_out(resized, transform, 1.5, (0.5, 0.5), 114.0)


def test_zoom_out_augmentation_is_seeded_and_shrinks_people(mot_root):
    off = DataOptions(img_size=NET, hsv_gains=(0.0, 0.0, 0.0), flip_prob=0.0, min_visibility=0.0, min_box_px=0.0)
    on = DataOptions(img_size=NET, hsv_gains=(0.0, 0.0, 0.0), flip_prob=0.0, min_visibility=0.0, min_box_px=0.0,
                     zoom_out_prob=1.0, zoom_out_min=0.5)
    plain, a, b = (MotSequenceDataset(mot_root / "SEQ-1", o) for o in (off, on, on))
    for i in range(5):
        p, z = plain[i], a[i]
        assert torch.equal(z.image, b[i].image) and torch.equal(z.targets, b[i].targets)
        ratio = z.transform.scale_xy[1] / p.transform.scale_xy[1]
        assert 0.45 <= ratio <= 1.0
        assert len(z.targets) == len(p.targets)  # zoom-out never cuts a person off
        assert torch.allclose(z.targets[:, 5], p.targets[:, 5] * ratio, atol=0.02)
    assert any(not torch.equal(plain[i].image, a[i].image) for i in range(5))
    # without zoom-out the sample's draws are the spec's alone: HSV, then the flip
    from mottrack_sdk.preprocessing import resize_image
    from mottrack_training.data.augment import augment_hsv, flip_horizontal
    spec = DataOptions(img_size=NET, seed=5, flip_prob=0.5)
    ds = MotSequenceDataset(mot_root / "SEQ-1", spec)
    for i in range(5):
        image = cv2.imread(str(ds.records[i].image_path))
        expected, _ = resize_image(image, NET, spec.resize_mode, spec.pad_value)
        rng = np.random.default_rng([5, 0, i])
        augment_hsv(expected, spec.hsv_gains, rng)
        if rng.random() < spec.flip_prob:
            expected = np.ascontiguousarray(expected[:, ::-1])
        got = (ds[i].image.numpy().transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)
        assert np.array_equal(got, expected)


def test_zoom_out_options_are_checked():
    with pytest.raises(ValueError, match="zoom_out_prob"):
        DataOptions(zoom_out_prob=1.5)
    with pytest.raises(ValueError, match="zoom_out_min"):
        DataOptions(zoom_out_min=0.0)
    with pytest.raises(ValueError, match="zoom_out_min"):
        DataOptions(zoom_out_min=1.2)


def test_blur_and_noise_follow_the_flip_from_the_same_draws_and_keep_the_boxes(mot_root):
    from mottrack_sdk.preprocessing import resize_image
    from mottrack_training.data.augment import add_noise, augment_hsv, blur

    base = dict(img_size=NET, seed=3, hsv_gains=(0.0, 0.0, 0.2), flip_prob=0.0, min_visibility=0.0, min_box_px=0.0)
    both = DataOptions(**base, blur_prob=1.0, blur_sigma=(0.8, 1.0), noise_prob=1.0, noise_std=(4.0, 4.0))
    plain, ds, again = (MotSequenceDataset(mot_root / "SEQ-1", o) for o in (DataOptions(**base), both, both))
    for i in range(3):
        image = cv2.imread(str(ds.records[i].image_path))
        expected, _ = resize_image(image, NET, both.resize_mode, both.pad_value)
        rng = np.random.default_rng([3, 0, i])
        augment_hsv(expected, both.hsv_gains, rng)
        rng.random()  # the flip's draw (flip_prob 0: no flip)
        assert rng.random() < 1.0
        expected = blur(expected, rng.uniform(0.8, 1.0))
        assert rng.random() < 1.0
        expected = add_noise(expected, rng.uniform(4.0, 4.0), rng)
        got = (ds[i].image.numpy().transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)
        assert np.array_equal(got, expected) and torch.equal(ds[i].image, again[i].image)
        assert torch.equal(ds[i].targets, plain[i].targets)
        clean = (plain[i].image.numpy() * 255).round()
        assert 1.0 < float(np.abs(ds[i].image.numpy() * 255 - clean).mean()) < 12.0
    flat = np.full((40, 60, 3), 100, np.uint8)
    noisy = add_noise(flat, 5.0, np.random.default_rng(0))
    assert noisy.dtype == np.uint8 and 4.0 < float(noisy.astype(float).std()) < 6.0
    edge = np.zeros((20, 20, 3), np.uint8)
    edge[:, 10:] = 255
    soft = blur(edge, 1.0)
    assert 0 < soft[5, 9, 0] < 255 and soft[5, 0, 0] == 0 and soft[5, 19, 0] == 255


@pytest.mark.parametrize("changes, message", [
    ({"blur_prob": 1.5}, "blur_prob"), ({"noise_prob": -0.1}, "noise_prob"),
    ({"blur_sigma": (1.0, 0.5)}, r"blur_sigma must be \(low, high\) with low <= high"),
    ({"blur_sigma": (0.0, 1.0)}, r"blur_sigma\[0\] must be a finite number in \[0.1, 10\]"),
    ({"noise_std": (2.0, 100.0)}, r"noise_std\[1\] must be a finite number in \[0, 64\]"),
    ({"noise_std": 3.0}, r"noise_std must be a pair \(low, high\)"),
    ({"noise_std": (1.0, 2.0, 3.0)}, r"noise_std must be a pair"),
])
def test_blur_and_noise_options_are_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        DataOptions(**changes)


def test_an_image_declaring_too_many_pixels_is_refused_before_decoding(broken_jde):
    """A 700-byte image declaring 20000x20000 used to be decoded in full (2.7 GB) before any check."""
    pytest.importorskip("PIL", reason="image headers are read with Pillow")
    victim = sorted((broken_jde / "synth" / "images" / "SEQ-1" / "img1").glob("*.jpg"))[1]
    forged_png(victim, 20_000, 20_000, colour=True)
    ds = JdeDataset([broken_jde / "synth.train"], PLAIN)
    with pytest.raises(DataFileError, match="declares 400,000,000 pixels, more than a frame may have") as info:
        ds[1]
    assert info.value.path == str(victim)


def test_a_frame_with_too_many_labelled_boxes_is_refused(broken_jde, mot_root, tmp_path):
    """The identity loss costs boxes x identities floats: 30,000 boxes of a 769 KB gt.txt asked for 3.6 GB."""
    from mottrack_training.data.dataset import MAX_LABELS_PER_FRAME

    n = MAX_LABELS_PER_FRAME + 1
    label = sorted((broken_jde / "synth" / "labels_with_ids" / "SEQ-2" / "img1").glob("*.txt"))[0]
    label.write_text("".join(f"0 {i} 0.5 0.5 0.01 0.02\n" for i in range(n)))
    with pytest.raises(DataFileError, match=f"the image has {n} labelled boxes, more than a frame may have"):
        JdeDataset([broken_jde / "synth.train"], PLAIN)
    seq = tmp_path / "SEQ-1"
    shutil.copytree(mot_root / "SEQ-1", seq)
    (seq / "gt" / "gt.txt").write_text("".join(f"1,{i + 1},10,20,20,50,1,1,1\n" for i in range(n)))
    with pytest.raises(DataFileError, match=f"frame 1 has {n} labelled boxes"):
        MotSequenceDataset([seq], PLAIN)
