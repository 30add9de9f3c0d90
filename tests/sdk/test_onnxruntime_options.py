"""ONNX Runtime session settings: worker-thread spinning (``OnnxRuntimeOptions.spinning``) from the
options and the CLI down to the session's config entries; bad values are refused by name."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from mottrack_sdk.backends import OnnxRuntimeBackend, OnnxRuntimeOptions
from mottrack_sdk.backends.onnxruntime_backend import SPINNING_MODES, spinning_config
from mottrack_sdk.cli.model_args import add_model_options, backend_options_from_args

CPU = ["CPUExecutionProvider"]
GPU = ["CUDAExecutionProvider", "CPUExecutionProvider"]
KEYS = ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning", "session.force_spinning_stop")


@pytest.mark.parametrize("mode, providers, expected", [
    ("auto", CPU, ("1", "1", "1")),       # the CPU default: spin while a run is in progress only
    ("auto", GPU, ("0", "0", None)),      # a GPU does the work: CPU workers would only spin
    ("in_run", GPU, ("1", "1", "1")),
    ("on", CPU, ("1", "1", None)),        # ONNX Runtime's own default: spinning after runs too
    ("off", CPU, ("0", "0", None)),
])
def test_spinning_modes_map_to_session_config_entries(mode, providers, expected):
    config = spinning_config(mode, providers)
    assert tuple(config.get(k) for k in KEYS) == expected
    assert set(config) <= set(KEYS)


def test_the_default_is_auto_and_bad_values_are_refused_by_name():
    assert OnnxRuntimeOptions().spinning == "auto" and set(SPINNING_MODES) == {"auto", "in_run", "on", "off"}
    for bad in ("yes", True, None, "ON"):
        with pytest.raises(ValueError, match=r"^OnnxRuntimeOptions.spinning: expected one of \['auto', 'in_run', "
                                             r"'on', 'off'\], got"):
            OnnxRuntimeOptions(spinning=bad)


@pytest.mark.parametrize("mode", ["auto", "in_run", "on", "off"])
def test_the_session_gets_the_entries_and_runs_the_same(tiny_models, mode):
    reference = OnnxRuntimeBackend(tiny_models.nms, OnnxRuntimeOptions(providers=tuple(CPU), spinning="off")).load()
    backend = OnnxRuntimeBackend(tiny_models.nms, OnnxRuntimeOptions(providers=tuple(CPU), spinning=mode)).load()
    try:
        session_options = backend._session.get_session_options()
        expected = spinning_config(mode, CPU)
        for key in KEYS:
            if key in expected:
                assert session_options.get_session_config_entry(key) == expected[key]
            else:  # never set: ONNX Runtime's getter refuses unknown keys
                with pytest.raises(Exception, match="does not have configuration with key"):
                    session_options.get_session_config_entry(key)
        resolved = "in_run" if mode == "auto" else mode
        assert backend.spinning_mode == resolved and backend.load_note.endswith(f"spinning {resolved}")
        md = backend.metadata
        batch = np.random.default_rng(0).random((1, 3, md.input_size[1], md.input_size[0]), dtype=np.float32)
        got, want = backend.infer({md.input_name: batch}), reference.infer({md.input_name: batch})
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    finally:
        backend.close()
        reference.close()


def _cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    return parser.parse_args(list(argv))


def test_cli_ort_spinning_reaches_the_options(tiny_models):
    assert backend_options_from_args(_cli_args(), tiny_models.nms) is None  # every default: the backend's own
    options = backend_options_from_args(_cli_args("--ort-spinning", "off"), tiny_models.nms)
    assert isinstance(options, OnnxRuntimeOptions) and options.spinning == "off" and options.cpu_int8 == "auto"
    options = backend_options_from_args(_cli_args("--ort-spinning", "on", "--threads", "1"), tiny_models.nms)
    assert (options.spinning, options.intra_op_threads) == ("on", 1)
    with pytest.raises(SystemExit):
        _cli_args("--ort-spinning", "sometimes")


def test_thread_counts_are_bounded_before_onnx_runtime_sees_them(tiny_models):
    """--threads 1000000000 reached ONNX Runtime, whose std::bad_alloc was reported as "not a loadable
    ONNX model" about a good model."""
    with pytest.raises(ValueError, match=r"^--threads: expected a number from 0 to 1024, got 1000000000$"):
        backend_options_from_args(_cli_args("--threads", "1000000000"), tiny_models.nms)
    for bad in ({"intra_op_threads": 10**9}, {"inter_op_threads": -1}):
        with pytest.raises(ValueError, match="thread counts must be 0 .* to 1024"):
            OnnxRuntimeOptions(**bad)
    assert OnnxRuntimeOptions(intra_op_threads=1024).intra_op_threads == 1024


def test_streams_benchmark_parses_configurations_and_runs_two_streams(tiny_models):
    """benchmarks/bench_streams.py (several cameras on one box): THREADSxSPINNING, and a real tiny run."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import bench_streams

    assert bench_streams.parse_config("2xin_run") == (2, "in_run")
    assert bench_streams.parse_config("1xoff") == (1, "off")
    for bad in ("in_run", "0xoff", "2xfast", "twoxoff", "2x"):
        with pytest.raises(SystemExit, match="--config: expected THREADSxSPINNING"):
            bench_streams.parse_config(bad)
    images = [np.full((360, 640, 3), 40 * k, np.uint8) for k in range(6)]
    result = bench_streams.run_streams(tiny_models.nms, images, streams=2, threads=1, spinning="off", frames=3)
    assert result["aggregate_fps"] > 0 and 0 < result["slowest_stream_fps"] <= result["aggregate_fps"]
