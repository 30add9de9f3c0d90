"""The C library (bindings/CMakeLists.txt): built with CMake into a temporary folder, its C tests and
example run, its C API agrees with the Python core, and the same C tests pass under
AddressSanitizer + UndefinedBehaviorSanitizer."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mottrack_sdk.scenes.detection_scene import DetectionScene, DetectionSceneOptions
from mottrack_sdk.tracking.core import AssociationCore
from mottrack_sdk.tracking.options import TrackerOptions
from mottrack_sdk.tracking.validation import check_embeddings

BINDINGS = Path(__file__).resolve().parents[2] / "bindings"
JOBS = "2"  # the CI machine has two shared cores


def _toolchain_missing() -> str | None:
    if shutil.which("cmake") is None:
        return "cmake is not installed"
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        return "no C++ compiler"
    return None


def _build(build_dir: Path, *options: str) -> Path:
    """Configure and build bindings/ into build_dir; fails the test with CMake's output on error."""
    for cmd in (["cmake", "-S", str(BINDINGS), "-B", str(build_dir), *options],
                ["cmake", "--build", str(build_dir), "-j", JOBS]):
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
    return build_dir


def _ctest(build_dir: Path, env: dict[str, str] | None = None) -> str:
    run = subprocess.run(["ctest", "--test-dir", str(build_dir), "--output-on-failure"], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, f"C tests failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    return run.stdout


@pytest.fixture(scope="module")
def c_build(tmp_path_factory) -> Path:
    reason = _toolchain_missing()
    if reason:
        pytest.skip(f"C library not built: {reason}")
    return _build(tmp_path_factory.mktemp("mottrack-c"), "-DCMAKE_BUILD_TYPE=Release")


def test_c_tests_and_example_pass(c_build):
    out = _ctest(c_build)
    assert "100% tests passed" in out
    example = subprocess.run([str(c_build / "track_example")], capture_output=True, text=True, timeout=60)
    assert example.returncode == 0, example.stderr
    assert "IDs held for 30 frames" in example.stdout


def test_only_the_c_api_is_exported(c_build):
    if shutil.which("nm") is None:
        pytest.skip("nm is not installed")
    lib = next(c_build.glob("libmottrack.so*"))
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True).stdout
    exported = {line.split()[-1] for line in symbols.splitlines() if " T " in line}
    assert exported and all(name.startswith("mottrack_") for name in exported), sorted(exported)


# -- the C API through ctypes against the Python core ------------------------------------------
class _Track(ctypes.Structure):
    _fields_ = [("track_id", ctypes.c_int64), ("xyxy", ctypes.c_double * 4), ("score", ctypes.c_double),
                ("class_id", ctypes.c_int64), ("hits", ctypes.c_int64), ("age", ctypes.c_int64)]


def _options_struct(lib: ctypes.CDLL) -> ctypes.Array:
    # mottrack_options is filled by mottrack_options_init; a generous opaque buffer holds it, and
    # its size field (the first uint32) tells how big the real struct is.
    buf = (ctypes.c_uint8 * 1024)()
    assert lib.mottrack_options_init(buf) == 0
    assert 100 < ctypes.c_uint32.from_buffer(buf).value < 1024
    return buf


def _ptr(a: np.ndarray | None, ctype):
    return None if a is None else a.ctypes.data_as(ctypes.POINTER(ctype))


def test_c_api_gives_the_python_cores_tracks(c_build):
    """The defaults (adaptive thresholds, min_hits = 4) and a camera warp before every third frame."""
    lib = ctypes.CDLL(str(next(c_build.glob("libmottrack.so*"))))
    lib.mottrack_last_error.restype = ctypes.c_char_p
    lib.mottrack_version.restype = ctypes.c_char_p
    assert lib.mottrack_version().decode().count(".") == 2
    handle = ctypes.c_void_p()
    assert lib.mottrack_create(_options_struct(lib), ctypes.byref(handle)) == 0, lib.mottrack_last_error()
    python = AssociationCore(TrackerOptions())
    scene = DetectionScene(DetectionSceneOptions(num_objects=40, num_frames=60, seed=9, embedding_dim=32))
    tracks = (_Track * 256)()
    rng = np.random.default_rng(4)
    try:
        for f in scene:
            n = len(f.det_scores)
            if f.frame % 3 == 0:  # pan, zoom and roll a little
                theta, zoom = rng.normal(0, 0.01), 1.0 + rng.normal(0, 0.02)
                warp = np.array([[zoom * np.cos(theta), -zoom * np.sin(theta), rng.normal(0, 6)],
                                 [zoom * np.sin(theta), zoom * np.cos(theta), rng.normal(0, 6)]])
                assert lib.mottrack_apply_camera_motion(handle, _ptr(warp, ctypes.c_double)) == 0
                python.apply_camera_motion(warp)
            raw = np.ascontiguousarray(f.det_embeddings, np.float32)  # the C API normalises, as Tracker does
            xyxy = np.ascontiguousarray(f.det_xyxy)
            count = ctypes.c_int64()
            status = lib.mottrack_update(handle, _ptr(xyxy, ctypes.c_double), _ptr(f.det_scores, ctypes.c_double),
                                         ctypes.c_int64(n), _ptr(raw, ctypes.c_float), ctypes.c_int64(raw.shape[1]),
                                         None, ctypes.byref(count))
            assert status == 0, lib.mottrack_last_error()
            assert lib.mottrack_get_tracks(handle, tracks, ctypes.c_int64(256), ctypes.byref(count)) == 0
            ref = python.step(f.det_xyxy, f.det_scores, check_embeddings(raw, n, None), np.zeros(n, np.int64))
            got = tracks[:count.value]
            assert [t.track_id for t in got] == ref.track_id.tolist(), f"frame {f.frame}"
            if len(got):
                assert np.abs(np.array([list(t.xyxy) for t in got]) - ref.xyxy).max() <= 1e-5
                assert [t.hits for t in got] == ref.hits.tolist()
        assert lib.mottrack_apply_camera_motion(handle, _ptr(np.array([1.0, 0, 0, 0, -1.0, 0]), ctypes.c_double)) == 2
        assert b"warp" in lib.mottrack_last_error()
        bad = np.array([[0.0, 0.0, np.nan, 1.0]])
        assert lib.mottrack_update(handle, _ptr(bad, ctypes.c_double), _ptr(np.ones(1), ctypes.c_double),
                                   ctypes.c_int64(1), None, ctypes.c_int64(0), None, None) == 2
        assert b"boxes_xyxy" in lib.mottrack_last_error()
    finally:
        lib.mottrack_destroy(handle)


_C_API_OOM = """
import ctypes, resource, sys
import numpy as np
lib = ctypes.CDLL(sys.argv[1])
lib.mottrack_last_error.restype = ctypes.c_char_p
def options():
    buf = (ctypes.c_uint8 * 1024)()
    assert lib.mottrack_options_init(buf) == 0
    size = ctypes.c_uint32.from_buffer(buf).value  # struct_size; max_detections is the last field
    ctypes.c_int64.from_buffer(buf, size - 8).value = 2**20  # every row of the big frame is kept
    return buf
def ptr(a, ctype):
    return a.ctypes.data_as(ctypes.POINTER(ctype))
def update(handle, xyxy, scores):
    classes = np.zeros(len(scores), np.int64)
    return lib.mottrack_update(handle, ptr(xyxy, ctypes.c_double), ptr(scores, ctypes.c_double),
                               ctypes.c_int64(len(scores)), None, ctypes.c_int64(0), ptr(classes, ctypes.c_int64), None)
def tracks(handle):
    buf, count = (ctypes.c_double * 9 * 4096)(), ctypes.c_int64()
    assert lib.mottrack_get_tracks(handle, buf, ctypes.c_int64(4096), ctypes.byref(count)) == 0
    return [tuple(buf[i]) for i in range(count.value)]
def frame_id(handle):
    out = ctypes.c_int64()
    assert lib.mottrack_frame_id(handle, ctypes.byref(out)) == 0
    return out.value
rng = np.random.default_rng(3)
frames = []
for k in range(30):
    xy = np.array([[40.0 * i + k, 50.0 + k] for i in range(20)])
    frames.append((np.ascontiguousarray(np.concatenate([xy, xy + [30.0, 80.0]], axis=1)), np.full(20, 0.9)))
control, tested = ctypes.c_void_p(), ctypes.c_void_p()
assert lib.mottrack_create(options(), ctypes.byref(control)) == 0
assert lib.mottrack_create(options(), ctypes.byref(tested)) == 0
for xyxy, scores in frames[:15]:
    assert update(control, xyxy, scores) == 0 and update(tested, xyxy, scores) == 0
before = tracks(tested)
n = 2**20  # the most a frame may keep; its per-detection buffers need more than the 16 MB allowed
xy = rng.uniform(0, 1000, (n, 2))
big = (np.ascontiguousarray(np.concatenate([xy, xy + 50.0], axis=1)), np.full(n, 0.9))
classes = np.zeros(n, np.int64)
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (vm + 16 * 2**20, hard))
status = lib.mottrack_update(tested, ptr(big[0], ctypes.c_double), ptr(big[1], ctypes.c_double), ctypes.c_int64(n),
                             None, ctypes.c_int64(0), ptr(classes, ctypes.c_int64), None)
resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
assert status == 6, (status, lib.mottrack_last_error())  # MOTTRACK_ERROR_OUT_OF_MEMORY
assert b"out of memory" in lib.mottrack_last_error()
assert frame_id(tested) == frame_id(control) == 15 and tracks(tested) == before
for xyxy, scores in frames[15:]:
    assert update(control, xyxy, scores) == 0 and update(tested, xyxy, scores) == 0
    assert tracks(tested) == tracks(control)
print("unchanged")
"""


def test_an_out_of_memory_frame_is_not_counted_by_the_c_api(c_build):
    """The header's promise: on error nothing changes. Out of memory in the middle of a frame (a 2**20
    detection frame under an address-space limit) leaves tracks, IDs and frame_id as they were."""
    lib = next(c_build.glob("libmottrack.so*"))
    run = subprocess.run([sys.executable, "-c", _C_API_OOM, str(lib)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "unchanged", run.stdout[-2000:] + run.stderr[-3000:]


# -- sanitizers ---------------------------------------------------------------------------------
def test_c_tests_pass_under_address_and_undefined_behaviour_sanitizers(tmp_path):
    reason = _toolchain_missing()
    if reason:
        pytest.skip(f"sanitizer build skipped: {reason}")
    build = _build(tmp_path / "asan-ubsan", "-DMOTTRACK_SANITIZE=ON", "-DCMAKE_BUILD_TYPE=RelWithDebInfo")
    if shutil.which("ldd"):  # the option must really instrument the binaries
        libs = subprocess.run(["ldd", str(build / "test_c_api")], capture_output=True, text=True).stdout
        assert "libasan" in libs and "libubsan" in libs, libs
    env = dict(os.environ, ASAN_OPTIONS="abort_on_error=1:detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    out = _ctest(build, env)
    assert "100% tests passed" in out
    fuzz = subprocess.run([str(build / "fuzz_c_api"), "1500", "17"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert fuzz.returncode == 0, fuzz.stdout[-3000:] + fuzz.stderr[-3000:]
