"""What machine a measurement ran on: the CPU's model, its logical CPUs and the SIMD / int8 instructions
it exposes (read from ``/proc/cpuinfo``, i.e. what CPUID shows; a VM may hide what the silicon has).

Speeds on this project's machines differ by instruction set (AVX2 only vs AVX-512 VNNI), so every
benchmark records :func:`cpu_info` (``mottrack bench`` JSON records, ``benchmarks/*.py``), and the
runtime's INT8 adaptation (:mod:`mottrack_sdk.backends.qdq_cpu`) asks it whether ONNX Runtime's int8
kernels are exact here.

>>> from mottrack_sdk.machine import cpu_info
>>> cpu_info().summary()   # e.g. 'AMD EPYC 7B13, 2 logical CPUs, AVX2 (no int8 dot product)'
"""
from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CpuInfo", "cpu_info", "parse_cpuinfo"]

# most capable first: the first flag present names the machine's instruction set
_ISA_NAMES = (("amx_int8", "AMX"), ("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI"),
              ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("asimddp", "ARM NEON dotprod"), ("asimd", "ARM NEON"))
# an int8 dot-product instruction: ONNX Runtime's u8s8 kernels do not saturate
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"})
RECORDED_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "amx_int8",
                  "asimd", "asimddp")


@dataclass(frozen=True)
class CpuInfo:
    """One machine's CPU as a benchmark records it.

    Attributes:
        model: the CPU model name (``model name`` of ``/proc/cpuinfo``, else ``platform``'s guess).
        logical_cpus: ``os.cpu_count()`` (0 when unknown).
        flags: the instruction-set flags the kernel lists (x86 ``flags``, ARM ``Features``); empty
            when they could not be read (not Linux).
    """

    model: str
    logical_cpus: int
    flags: frozenset[str]

    @property
    def isa(self) -> str:
        """The most capable SIMD / int8 instruction set listed, e.g. ``"AVX2"`` or ``"AVX-512 VNNI"``."""
        if not self.flags:
            return "unknown"
        return next((name for flag, name in _ISA_NAMES if flag in self.flags), "no AVX2")

    @property
    def int8_dot_product(self) -> bool:
        """Whether an int8 dot-product instruction is listed (AVX-512 VNNI, AVX-VNNI, AMX, ARM dotprod)."""
        return bool(self.flags & INT8_DOT_FLAGS)

    @property
    def int8_kernels_exact(self) -> bool:
        """Whether ONNX Runtime's u8s8 int8 kernels are exact here: an int8 dot product, or a CPU that
        is not x86 AVX2 (the AVX2 path's 16-bit pairwise sums saturate). Unknown CPUs count as exact."""
        if not self.flags:
            return True
        return self.int8_dot_product or ("avx2" not in self.flags and "asimd" in self.flags)

    def summary(self) -> str:
        """One line: model, logical CPUs, instruction set and whether it has an int8 dot product."""
        dot = "int8 dot product" if self.int8_dot_product else "no int8 dot product"
        return f"{self.model}, {self.logical_cpus} logical CPUs, {self.isa} ({dot})"

    def to_json(self) -> dict[str, Any]:
        """Plain data for a benchmark's JSON: model, logical CPUs, ISA and the recorded flags."""
        return {"cpu": self.model, "logical_cpus": self.logical_cpus, "isa": self.isa,
                "int8_dot_product": self.int8_dot_product, **{f: f in self.flags for f in RECORDED_FLAGS}}


def parse_cpuinfo(text: str, logical_cpus: int | None = None) -> CpuInfo:
    """A :class:`CpuInfo` from the text of ``/proc/cpuinfo`` (x86 or ARM layout; any text is accepted)."""
    model, flags = "", set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key in ("flags", "features"):
            flags.update(value.split())
        elif not model and key in ("model name", "hardware", "cpu model"):
            model = value.strip()
    cpus = os.cpu_count() if logical_cpus is None else logical_cpus
    return CpuInfo(model or platform.processor() or platform.machine() or "unknown", int(cpus or 0),
                   frozenset(flags))


@functools.lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's :class:`CpuInfo` (read once per process)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    return parse_cpuinfo(text)
