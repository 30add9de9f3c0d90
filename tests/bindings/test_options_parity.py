"""One validation of tracker options: ``TrackerOptions`` (Python) and the native core's
``validate_options`` (what the C API's ``mottrack_create`` runs) accept and refuse the same values,
naming the same field. The C side is also tested in C (``bindings/tests/test_c_api.c``)."""
from __future__ import annotations

import math
from dataclasses import asdict, fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mottrack_sdk.tracking.native import native_available
from mottrack_sdk.tracking.options import TrackerOptions

pytestmark = pytest.mark.skipif(not native_available(), reason="mottrack_sdk._native is not built")

INT_FIELDS = ("track_buffer", "min_hits", "score_window", "crowd_frames", "max_detections")
FLOAT_FIELDS = [f.name for f in fields(TrackerOptions) if f.name not in ("gating", *INT_FIELDS)]
SPECIAL = [math.inf, -math.inf, math.nan, -1.0, -0.0, 0.0, 1e-300, 0.05, 0.5, 1.0, 1.0 + 1e-12, 9.4877, 1e308]


def _python_verdict(changes: dict) -> str | None:
    try:
        TrackerOptions(**changes)
    except ValueError as exc:
        return str(exc)
    return None


def _native_verdict(changes: dict) -> str | None:
    from mottrack_sdk import _native

    try:
        _native.NativeCore({**asdict(TrackerOptions()), **changes})
    except ValueError as exc:
        return str(exc)
    return None


def _same_verdict(changes: dict) -> None:
    py, native = _python_verdict(changes), _native_verdict(changes)
    assert (py is None) == (native is None), f"{changes}: Python says {py!r}, native says {native!r}"
    if py is not None:  # the same field, the same kind of complaint
        assert py.split(":")[0] == native.split(":")[0], (py, native)
        assert ("finite" in py) == ("finite" in native), (py, native)


@pytest.mark.parametrize("name", FLOAT_FIELDS)
@pytest.mark.parametrize("value", SPECIAL, ids=repr)
def test_every_float_option_is_judged_the_same(name, value):
    _same_verdict({name: value})


@pytest.mark.parametrize("name", ["gating_threshold", "min_box_area", "max_aspect_ratio", "std_weight_position",
                                  "std_weight_velocity", "frame_rate", "det_thresh"])
def test_infinity_is_refused_by_both(name):
    """The C API used to accept +inf for these (std_weight_position=inf silently lost every track)."""
    assert "expected a finite number" in _python_verdict({name: math.inf})
    assert "expected a finite number" in _native_verdict({name: math.inf})


@pytest.mark.parametrize("value", [-1, 0, 30, 2**62, 2**63 - 1, 2**63, -2**64, 30.0, True, "30", None])
def test_track_buffer_is_judged_the_same(value):
    _same_verdict({"track_buffer": value})


@pytest.mark.parametrize("value", [-2**63, -1, 0, 1, 2, 3, 4, 1000, 1001, 2**20, 2**20 + 1, 2**63, 4.0, math.nan,
                                   math.inf, True, False, np.int64(5), "4", None])
@pytest.mark.parametrize("name", ["min_hits", "score_window", "crowd_frames", "max_detections"])
def test_integer_options_are_judged_the_same(name, value):
    """Integers only (not bools, floats, strings), in [2, 1000] / [1, 2**20] / [1, 10000] / [1, 2**20];
    numpy ints are ints."""
    _same_verdict({name: value})


@pytest.mark.parametrize("det_quantile", [None, 0.0, 0.1, 0.15, 1.0])
@pytest.mark.parametrize("low_score_quantile", [0.0, 0.1, 0.1 + 1e-12, 0.5, 1.0])
@pytest.mark.parametrize("low_score_thresh", [None, 0.1])
def test_quantile_pairs_are_judged_the_same(det_quantile, low_score_quantile, low_score_thresh):
    """low_score_quantile <= det_quantile when det_quantile is set (None: fixed thresholds, any
    low_score_quantile in [0, 1] is accepted and unused)."""
    _same_verdict({"det_quantile": det_quantile, "low_score_quantile": low_score_quantile,
                   "low_score_thresh": low_score_thresh})


@pytest.mark.parametrize("det_quantile", [None, 0.15])
@pytest.mark.parametrize("crowd_drop", [0.0, 1e-12, 0.1, 5.0])
@pytest.mark.parametrize("crowd_low, crowd_high", [(5.0, 20.0), (0.0, 1e-9), (3.0, 3.0), (3.0, 2.0), (0.0, 0.0),
                                                    (-1.0, 20.0), (1e308, math.inf)])
def test_crowd_options_are_judged_the_same(det_quantile, crowd_drop, crowd_low, crowd_high):
    """crowd_drop >= 0 and only with fixed thresholds (det_quantile None); crowd_high > crowd_low >= 0."""
    _same_verdict({"det_quantile": det_quantile, "crowd_drop": crowd_drop, "crowd_low": crowd_low,
                   "crowd_high": crowd_high})


def test_crowd_drop_needs_fixed_thresholds():
    message = "crowd_drop: expected 0 with det_quantile set"
    assert message in _python_verdict({"crowd_drop": 0.1}) and message in _native_verdict({"crowd_drop": 0.1})
    assert _native_verdict({"crowd_drop": 0.1, "det_quantile": None}) is None


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["min_hits", "score_window", "track_buffer", "crowd_frames", "max_detections"]),
       st.one_of(st.integers(-2**64, 2**64), st.integers(-5, 2**20 + 5)))
def test_random_integers_are_judged_the_same(name, value):
    _same_verdict({name: value})


@pytest.mark.parametrize("value", ["0.5", b"0.5", True, [0.5], 1 + 2j, object()], ids=repr)
@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_a_number_option_of_another_type_gets_the_same_message(name, value):
    """The native core said pybind11's "Unable to cast Python instance of type <class 'str'> to C++ type
    '?'" (a RuntimeError naming no option) for a string."""
    _same_verdict({name: value})
    assert f"TrackerOptions.{name}: expected a finite number, got {value!r}" == _native_verdict({name: value})


@pytest.mark.parametrize("value", ["yes", 1, 0.0, None, np.bool_(True), np.bool_(False)], ids=repr)
def test_gating_of_another_type_gets_the_same_verdict(value):
    _same_verdict({"gating": value})


def test_the_native_solver_refuses_a_matrix_beyond_its_side():
    """lapjv extends (1, n) to (n, n): 2 GB at n = 16,384. The public path caps the side already."""
    from mottrack_sdk import _native

    x, y = _native.lapjv(np.zeros((1, 4096)))
    assert len(x) == 1 and 0 <= x[0] < 4096 and len(y) == 4096
    for shape in ((1, 4097), (4097, 1)):
        with pytest.raises(ValueError, match=r"cost: at most 4096 rows and columns .*got " + "x".join(map(str, shape))):
            _native.lapjv(np.zeros(shape))
    with pytest.raises(ValueError, match="option names are strings"):
        _native.NativeCore({1: 0.5})


def test_numpy_scalars_are_plain_numbers_to_both():
    options = TrackerOptions(det_thresh=np.float32(0.4), track_buffer=np.int64(12), gating=np.bool_(False),
                             min_hits=np.int32(3), det_quantile=np.float64(0.2), score_window=np.uint16(100))
    assert type(options.det_thresh) is float and options.det_thresh == pytest.approx(0.4)
    assert type(options.track_buffer) is int and options.gating is False
    assert type(options.min_hits) is int and type(options.score_window) is int
    assert _native_verdict(asdict(options)) is None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FLOAT_FIELDS), st.floats(allow_nan=True, allow_infinity=True),
       st.sampled_from([None, 0.2, 0.7]), st.sampled_from(["default", None, 0.5]))
def test_random_values_are_judged_the_same(name, value, det_thresh, det_quantile):
    changes = {name: value}
    if det_thresh is not None and name != "det_thresh":
        changes["det_thresh"] = det_thresh
    if det_quantile != "default" and name != "det_quantile":
        changes["det_quantile"] = det_quantile
    _same_verdict(changes)
