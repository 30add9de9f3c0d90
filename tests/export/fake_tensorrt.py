"""A recording stand-in for the ``tensorrt`` module (the parts the builder touches), per version.

TensorRT 11 fakes have no ``BuilderFlag.FP16/INT8``, no ``EXPLICIT_BATCH`` and no
``IInt8EntropyCalibrator2``, as the real 11.x; touching what a version lacks raises AttributeError,
so the tests prove the builder never does.
"""
from __future__ import annotations

import types
from typing import Any


class _Enum:
    def __init__(self, **members: int) -> None:
        for name, value in members.items():
            setattr(self, name, value)


def make_fake_tensorrt(version: str, dla_cores: int = 2, parse_ok: bool = True) -> types.SimpleNamespace:
    major = int(version.split(".")[0])
    calls: list[tuple[Any, ...]] = []

    class Config:
        def __init__(self) -> None:
            self.flags: set[str] = set()
            self.int8_calibrator = None
            self.default_device_type = None
            self.DLA_core = None
            self.profiles: list[Any] = []
            self.timing = None

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            calls.append(("workspace", pool, size))

        def set_flag(self, flag: str) -> None:
            self.flags.add(flag)

        def add_optimization_profile(self, profile: Any) -> None:
            self.profiles.append(profile)

        def set_calibration_profile(self, profile: Any) -> None:
            calls.append(("calibration_profile", profile.shapes))

        def create_timing_cache(self, data: bytes) -> Any:
            return types.SimpleNamespace(data=data, serialize=lambda: b"timing:" + data)

        def set_timing_cache(self, cache: Any, ignore_mismatch: bool) -> None:
            self.timing = cache

        def get_timing_cache(self) -> Any:
            return self.timing

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[Any, ...]] = {}

        def set_shape(self, name: str, lo: Any, opt: Any, hi: Any) -> None:
            self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))

    class Builder:
        num_DLA_cores = dla_cores

        def __init__(self, logger: Any) -> None:
            self.config: Config | None = None

        def create_network(self, flags: int) -> Any:
            calls.append(("create_network", flags))
            return types.SimpleNamespace(flags=flags)

        def create_builder_config(self) -> Config:
            self.config = Config()
            fake.last_config = self.config
            return self.config

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Any, config: Config) -> bytes:
            batches = 0
            if config.int8_calibrator is not None:
                calibrator = config.int8_calibrator
                cached = calibrator.read_calibration_cache()
                if not cached:
                    while calibrator.get_batch(["images"]) is not None:
                        batches += 1
                    calibrator.write_calibration_cache(b"TRT-%d-EntropyCalibration2\nimages: 3c010a14\n"
                                                       % fake.version_number)
            calls.append(("build", sorted(config.flags), batches))
            return b"engine-bytes-" + version.encode()

    class OnnxParser:
        def __init__(self, network: Any, logger: Any) -> None:
            self.num_errors = 0 if parse_ok else 1

        def parse(self, data: bytes, path: str | None = None) -> bool:
            calls.append(("parse", len(data)))
            return parse_ok

        def get_error(self, i: int) -> str:
            return "fake parser error: unsupported node"

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            pass

    flags = {"FP16": "FP16", "INT8": "INT8", "GPU_FALLBACK": "GPU_FALLBACK"} if major < 11 else \
        {"GPU_FALLBACK": "GPU_FALLBACK"}
    creation = {"EXPLICIT_BATCH": 0} if major < 11 else {}
    if major >= 10:
        creation["STRONGLY_TYPED"] = 1
    fake = types.SimpleNamespace(
        __version__=version, calls=calls, Logger=Logger, Builder=Builder, OnnxParser=OnnxParser,
        BuilderFlag=_Enum(**flags), NetworkDefinitionCreationFlag=_Enum(**creation),
        MemoryPoolType=_Enum(WORKSPACE=0), DeviceType=_Enum(GPU=0, DLA=1), last_config=None)
    parts = [int(p) for p in version.split(".")[:3]]
    fake.version_number = parts[0] * (1000 if parts[0] < 10 else 10000) + parts[1] * 100 + parts[2]
    if major < 11:
        class IInt8EntropyCalibrator2:  # the pybind11 base: __init__ must be called
            def __init__(self) -> None:
                self.base_initialised = True

        fake.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
    return fake


class FakeAllocator:
    """Device memory as a dict of numpy copies."""

    def __init__(self) -> None:
        self.buffers: dict[int, Any] = {}
        self.next_ptr = 0x1000
        self.copies = 0
        self.freed: list[int] = []

    def malloc(self, nbytes: int) -> int:
        ptr, self.next_ptr = self.next_ptr, self.next_ptr + nbytes
        self.buffers[ptr] = None
        return ptr

    def memcpy_htod(self, ptr: int, host: Any) -> None:
        assert ptr in self.buffers
        self.buffers[ptr] = host.copy()
        self.copies += 1

    def free(self, ptr: int) -> None:
        self.freed.append(ptr)
