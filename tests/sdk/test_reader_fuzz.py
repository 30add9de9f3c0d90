"""Every text reader under fuzz: random bytes and random numeric extremes give a valid result or a
clean, named ``ValueError`` (never another exception type), within a deadline (no hang) and a bounded
peak of Python / numpy allocations (no memory sized by a number found in the input).

Readers: MOTChallenge det / gt / results files (``read_mot_txt`` + ``check_rows``), ``seqinfo.ini``
(``read_seqinfo``), YAML tracker options (``--tracker-config``), model metadata (``metadata_from_props``).
"""
from __future__ import annotations

import argparse
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mottrack_sdk.cli.common import add_tracker_options, tracker_request
from mottrack_sdk.io.motchallenge import check_rows, read_mot_txt, read_seqinfo, sequence_length
from mottrack_sdk.model_metadata import ModelMetadata, metadata_from_props
from mottrack_sdk.tracking.options import TrackerOptions, keyword_changes

FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])
PEAK_BYTES = 64 * 2**20  # inputs are at most a few kB

# numbers at and beyond every edge a reader meets: int64 / 2**53 / float32 / float64 limits, signs, zero
EXTREMES = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 1, -1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 3.4028235e38, 1e308,
                     5e-324, 1e-30, 1_000_001, 2_000_000_000]),
)
NUMBER_TEXT = st.one_of(EXTREMES.map(str), st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "1_000", "",
                                                            " ", "1.5.2", "١٢", "²", "9" * 5000]))


def _bounded(call):
    """Run ``call()``; a ValueError is a clean refusal. Any other exception, or a peak above
    PEAK_BYTES, fails the test. Returns the result, or None when refused."""
    tracemalloc.start()
    try:
        return call()
    except ValueError as exc:
        assert str(exc).strip(), "an error without a message"
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < PEAK_BYTES, f"peak allocation {peak / 2**20:.0f} MiB"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- det.txt / gt.txt / results ------------------------------------------------------------------
MOT_LINES = st.lists(st.lists(NUMBER_TEXT, min_size=0, max_size=12).map(",".join), max_size=30).map(
    lambda lines: "\n".join(lines).encode())


@FUZZ
@given(data=st.one_of(st.binary(max_size=3000), MOT_LINES), kind=st.sampled_from(["gt", "det", "results"]),
       length=st.sampled_from([None, 1, 50]))
def test_mot_text_files(tmp_path, data, kind, length):
    path = _write(tmp_path, f"{kind}.txt", data)

    def read():
        rows = read_mot_txt(path)
        seq_length = sequence_length(tmp_path, rows, path) if length is None else length
        check_rows(rows, path, kind, seq_length)
        return rows

    rows = _bounded(read)
    if rows is not None:
        assert rows.tlwh.shape == (len(rows), 4) and len(rows.line) == len(rows)
        assert (rows.frame >= 1).all()


@FUZZ
@given(data=st.binary(max_size=3000))
def test_mot_errors_name_the_file(tmp_path, data):
    path = _write(tmp_path, "named.txt", data)
    try:
        read_mot_txt(path)
    except ValueError as exc:
        assert str(path) in str(exc)


# -- seqinfo.ini ---------------------------------------------------------------------------------
KEYS = ["name", "imDir", "frameRate", "seqLength", "imWidth", "imHeight", "imExt", "other", "", "seqlength"]
SEQINFO_TEXT = st.lists(st.tuples(st.sampled_from(KEYS), st.one_of(NUMBER_TEXT, st.text(max_size=20))),
                        max_size=12).map(
    lambda kv: ("[Sequence]\n" + "\n".join(f"{k}={v}" for k, v in kv)).encode("utf-8", "surrogatepass"))


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), SEQINFO_TEXT,
                      st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_seqinfo(tmp_path, data):
    path = _write(tmp_path, "seqinfo.ini", data)
    info = _bounded(lambda: read_seqinfo(path))
    if info is not None:
        assert 1 <= info.seq_length <= 1_000_000 and info.frame_rate > 0 and info.im_width >= 1


# -- YAML tracker options ------------------------------------------------------------------------
FIELDS = list(TrackerOptions.__dataclass_fields__)
YAML_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), EXTREMES, st.text(max_size=10)),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=6)
YAML_TEXT = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), YAML_VALUES, max_size=6).map(
    lambda d: json.dumps(d, allow_nan=True).encode())  # JSON is YAML


def _tracker_config(path: Path):
    parser = argparse.ArgumentParser()
    add_tracker_options(parser)
    return tracker_request(parser.parse_args(["--tracker-config", str(path)]))


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), YAML_TEXT, st.sampled_from(
    [b"[" * 5000, b"a: &x [*x]", b"!!python/object/apply:os.system ['true']", b"{a: 1, a: 2}", b"- - - -",
     b"det_thresh: .nan", b"track_buffer: 1e400", b"det_thresh: 0x1p3", b'{"crowd_drop": 1}',
     b"{crowd_drop: 0.1, det_quantile: 0.2}"])))
def test_yaml_tracker_options(tmp_path, data):
    path = _write(tmp_path, "tracker.yaml", data)
    result = _bounded(lambda: _tracker_config(path))
    if result is not None:
        options, changes = result
        assert options is None and set(changes) <= set(FIELDS)
        # valid as a whole, as Tracker(**changes) takes them (a crowd_drop or det_thresh alone means
        # fixed thresholds: keyword_changes)
        TrackerOptions().replace(**keyword_changes(changes))


# -- model metadata ------------------------------------------------------------------------------
VALID = ModelMetadata(
    model_name="cstrack_s", project_version="0.1.0", precision="int8", input_name="images", input_size=(576, 320),
    input_format="NCHW RGB float32 0..1", resize_mode="letterbox", pad_value=127.5, strides=(8, 16, 32),
    anchors=(((8.0, 24.0), (11.0, 34.0), (16.0, 48.0)),) * 3, num_classes=1, embedding_dim=128,
    embedding_stride=8, output_layout="nms", outputs=("boxes", "scores", "embeddings", "count"), opset=17,
    weights_sha256="ab" * 32, score_threshold=0.5, iou_threshold=0.6, top_k=1000, max_det=300,
    tracker_defaults={"det_thresh": 0.65}).to_props()
JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), EXTREMES, st.text(max_size=6)),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                   max_size=3), max_leaves=10)
PROP_VALUE = st.one_of(NUMBER_TEXT, st.text(max_size=40), JSONISH.map(lambda v: json.dumps(v, allow_nan=True)),
                       st.sampled_from(["[" * 3000, "1x1", "0x0", "99999999x99999999", "-5x7", "1088X608", "nms",
                                        "raw_heads", "fp16", '{"det_thresh": NaN}', "[[[1, 2]]]", "[[1, 2, 3]]"]))


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(sorted(VALID) + ["mottrack.unknown"]), st.none() | PROP_VALUE,
                               max_size=5))
def test_model_metadata(changes):
    props = {k: v for k, v in {**VALID, **changes}.items() if v is not None}
    meta = _bounded(lambda: metadata_from_props(props, where="fuzz.onnx"))
    if meta is not None:
        width, height = meta.input_size
        assert 0 < width <= 16384 and 0 < height <= 16384 and meta.embedding_dim >= 1
        assert metadata_from_props(meta.to_props()) == meta  # what is accepted round-trips
