"""Shared preprocessing: letterbox / stretch geometry, exact box round-trips, network input layout."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mottrack_sdk.preprocessing import (halve_area, letterbox, network_input, normalize_chw, resize_image, stretch,
                                       to_network_input)


def _frame(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_letterbox_1080p_to_spec_input_matches_the_reference_geometry():
    out, tf = letterbox(_frame(1920, 1080), (1088, 608))
    assert out.shape == (608, 1088, 3) and out.dtype == np.uint8
    # JDE: ratio min(1088/1920, 608/1080), new size 1081x608, dw = 3.5 -> left 3, right 4.
    assert tf.pad_xy == (3, 0) and tf.scale_xy == (1081 / 1920, 608 / 1080)
    assert (out[:, :3] == 128).all() and (out[:, 1084:] == 128).all()  # 127.5 rounds to 128 in uint8
    assert not (out[:, 3:1084] == 128).all()


def test_letterbox_portrait_pads_left_and_right_and_landscape_pads_top_and_bottom():
    _, portrait = letterbox(_frame(300, 600), (320, 320))
    assert portrait.pad_xy == (80, 0) and portrait.content_xyxy.tolist() == [80, 0, 240, 320]
    _, land = letterbox(_frame(640, 360), (320, 320))
    assert land.pad_xy == (0, 70) and land.content_xyxy.tolist() == [0, 70, 320, 250]


def test_stretch_has_no_padding_and_per_axis_scale():
    out, tf = stretch(_frame(1920, 1080), (1088, 608))
    assert out.shape == (608, 1088, 3)
    assert tf.pad_xy == (0, 0) and tf.scale_xy == (1088 / 1920, 608 / 1080) and tf.mode == "stretch"


@pytest.mark.parametrize("mode", ["letterbox", "stretch"])
@pytest.mark.parametrize("frame_size", [(1920, 1080), (640, 480), (333, 777), (1088, 608)])
def test_boxes_round_trip_exactly(mode, frame_size):
    rng = np.random.default_rng(1)
    w, h = frame_size
    xy = rng.uniform(0, 1, (50, 2)) * (w, h)
    xyxy = np.concatenate([xy, xy + rng.uniform(1, 200, (50, 2))], axis=1)
    _, tf = resize_image(_frame(w, h), (1088, 608), mode)
    back = tf.network_to_frame_xyxy(tf.frame_to_network_xyxy(xyxy))
    assert np.allclose(back, xyxy, rtol=0, atol=1e-9)


@pytest.mark.parametrize("mode", ["letterbox", "stretch"])
def test_mapped_box_lands_on_the_resized_object(mode):
    """A white rectangle drawn in the frame is where the mapped box says after resizing."""
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[200:500, 300:420] = 255  # xyxy (300, 200, 420, 500) in pixel-edge coordinates
    out, tf = resize_image(frame, (544, 320), mode, pad_value=0)
    x0, y0, x1, y1 = tf.frame_to_network_xyxy(np.array([[300.0, 200, 420, 500]]))[0]
    mask = out.max(axis=2) > 127
    ys, xs = np.nonzero(mask)
    assert abs(xs.min() - x0) <= 1 and abs(xs.max() + 1 - x1) <= 1
    assert abs(ys.min() - y0) <= 1 and abs(ys.max() + 1 - y1) <= 1


def test_network_to_frame_clip_keeps_boxes_in_the_frame():
    _, tf = letterbox(_frame(640, 360), (320, 320))
    boxes = np.array([[0.0, 0.0, 320.0, 320.0]])  # the whole network input, padding included
    assert tf.network_to_frame_xyxy(boxes, clip=True).tolist() == [[0, 0, 640, 360]]
    assert tf.network_to_frame_xyxy(boxes)[0, 1] < 0


def test_to_network_input_is_normalized_rgb_nchw_of_the_letterboxed_image():
    frames = [_frame(640, 360, 1), _frame(300, 500, 2)]
    batch, transforms = to_network_input(frames, (320, 192), "letterbox")
    assert batch.shape == (2, 3, 192, 320) and batch.dtype == np.float32
    for i, frame in enumerate(frames):
        boxed, tf = letterbox(frame, (320, 192))
        assert tf == transforms[i]
        assert np.array_equal(batch[i], normalize_chw(boxed))
        assert np.array_equal(batch[i], boxed[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255)
    assert batch[1, :, :, 0].tolist() == np.full((3, 192), 128 / 255, np.float32).tolist()  # padding


def test_to_network_input_channel_order_is_rgb():
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[..., 0] = 255  # BGR blue
    batch, _ = to_network_input(blue, (32, 32), "stretch")
    assert batch.shape == (1, 3, 32, 32)
    assert (batch[0, 2] == 1.0).all() and (batch[0, :2] == 0.0).all()


def test_same_size_stretch_is_a_copy():
    frame = _frame(64, 48)
    out, tf = stretch(frame, (64, 48))
    assert np.array_equal(out, frame) and out is not frame and tf.scale_xy == (1.0, 1.0)


def test_interpolation_auto_uses_area_when_shrinking():
    frame = _frame(400, 200)
    out, _ = stretch(frame, (250, 125))  # under 2x: one step (2x or more: halvings first, tested below)
    assert np.array_equal(out, cv2.resize(frame, (250, 125), interpolation=cv2.INTER_AREA))
    out, _ = stretch(frame, (800, 400))
    assert np.array_equal(out, cv2.resize(frame, (800, 400), interpolation=cv2.INTER_LINEAR))


def test_shrinking_2x_or_more_halves_exactly_first_then_interpolates_linearly():
    frame = cv2.GaussianBlur(_frame(1920, 1080), (0, 0), 3)  # natural-image-like smoothness
    out, tf = stretch(frame, (576, 324))
    half = cv2.resize(frame, (960, 540), interpolation=cv2.INTER_AREA)
    means = frame.reshape(540, 2, 960, 2, 3).mean((1, 3))  # the exact 2x2 block means
    assert np.abs(half.astype(float) - means).max() <= 0.5 + 1e-9
    assert np.array_equal(out, cv2.resize(half, (576, 324), interpolation=cv2.INTER_LINEAR))
    one_step = cv2.resize(frame, (576, 324), interpolation=cv2.INTER_AREA)
    assert np.abs(out.astype(int) - one_step.astype(int)).mean() < 1.5
    assert tf.scale_xy == (576 / 1920, 324 / 1080)
    boxed, tf = letterbox(frame, (576, 320))  # 569x320 content: same two steps, same geometry rules
    assert tf.pad_xy == (3, 0) and np.array_equal(
        boxed[:, 3:572], cv2.resize(half, (569, 320), interpolation=cv2.INTER_LINEAR))
    # 4x and more: halvings repeat (2x2 of 2x2 = the exact 4x4 block mean), then linear
    quarter = cv2.resize(half, (480, 270), interpolation=cv2.INTER_AREA)
    out, _ = stretch(frame, (400, 220))
    assert np.array_equal(out, cv2.resize(quarter, (400, 220), interpolation=cv2.INTER_LINEAR))
    exact, _ = stretch(frame, (480, 270))
    assert np.array_equal(exact, quarter)
    # under 2x, or odd sides: one INTER_AREA step, as before
    for w, h, size in ((960, 540, (576, 320)), (1921, 1081, (576, 320))):
        odd = _frame(w, h)
        out, tf = stretch(odd, size)
        assert np.array_equal(out, cv2.resize(odd, size, interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("frame_size, size, halves", [
    ((1920, 1080), (640, 352), True), ((1280, 720), (640, 352), True), ((3840, 2160), (640, 352), True),
    ((960, 540), (640, 352), False), ((1921, 1081), (640, 352), False), ((300, 600), (640, 352), False),
    ((1920, 1080), (576, 320), True)])
@pytest.mark.parametrize("mode", ["letterbox", "stretch"])
def test_network_input_is_to_network_input_plus_the_first_halving(frame_size, size, halves, mode):
    frame = cv2.GaussianBlur(_frame(*frame_size), (0, 0), 2)
    prepared = network_input(frame, size, mode, 114)
    batch, (transform,) = to_network_input(frame, size, mode, 114)
    np.testing.assert_array_equal(prepared.batch, batch)
    assert prepared.transform == transform
    if halves:  # the first halving only (3840x2160 is halved twice on its way to 640x352)
        np.testing.assert_array_equal(prepared.halved, halve_area(frame))
        assert prepared.halved.shape == (frame_size[1] // 2, frame_size[0] // 2, 3)
    else:
        assert prepared.halved is None


def test_float_images_keep_the_exact_pad_value():
    out, _ = letterbox(np.zeros((100, 200, 3), np.float32), (200, 200), pad_value=127.5)
    assert out[0, 0, 0] == 127.5


@pytest.mark.parametrize("call, message", [
    (lambda: resize_image(_frame(8, 8), (4, 4), "crop"), "mode must be one of"),  # type: ignore[arg-type]
    (lambda: letterbox(_frame(8, 8), (0, 4)), "size 0x4: width and height must be at least 1"),
    (lambda: letterbox(_frame(8, 8), (4, 4), pad_value=300), "pad_value"),
    (lambda: letterbox(np.zeros((0, 4, 3), np.uint8), (4, 4)), "non-empty"),
    (lambda: normalize_chw(np.zeros((4, 4), np.uint8)), "uint8 \\(H, W, 3\\)"),
    (lambda: to_network_input([], (4, 4), "stretch"), "at least one image"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_box_arrays_must_be_n_by_4():
    _, tf = stretch(_frame(8, 8), (4, 4))
    with pytest.raises(ValueError, match="xyxy of shape"):
        tf.frame_to_network_xyxy(np.zeros((3, 2)))
