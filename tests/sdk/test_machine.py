"""What every benchmark records about the machine: mottrack_sdk.machine (parsing /proc/cpuinfo layouts)."""
from __future__ import annotations

import json
import os

import pytest

from mottrack_sdk.backends.qdq_cpu import cpu_has_vnni
from mottrack_sdk.machine import RECORDED_FLAGS, cpu_info, parse_cpuinfo

EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 bmi2
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 bmi2
"""
XEON_VNNI = """model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
flags\t\t: sse2 avx avx2 fma avx512f avx512bw avx512vl avx512_vnni
"""
ORIN = """processor\t: 0
BogoMIPS\t: 62.50
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
model name\t: ARMv8 Processor rev 1 (v8l)
"""
NANO_A57 = """processor\t: 0
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid
CPU part\t: 0xd07
"""


@pytest.mark.parametrize("text, isa, dot, exact", [
    (EPYC_AVX2, "AVX2", False, False),         # ONNX Runtime's AVX2 u8s8 path saturates: adapt INT8 files
    (XEON_VNNI, "AVX-512 VNNI", True, True),
    (ORIN, "ARM NEON dotprod", True, True),
    (NANO_A57, "ARM NEON", False, True),       # ARM has no saturating AVX2 path
    ("flags : sse sse2 sse4_2\n", "no AVX2", False, False),
    ("", "unknown", False, True),              # unknown platforms: no workaround
])
def test_instruction_sets_and_the_int8_rule(text, isa, dot, exact):
    info = parse_cpuinfo(text, logical_cpus=4)
    assert (info.isa, info.int8_dot_product, info.int8_kernels_exact) == (isa, dot, exact)
    assert info.logical_cpus == 4 and info.model  # a model name always, platform's guess at worst
    record = json.loads(json.dumps(info.to_json()))
    assert record["isa"] == isa and record["int8_dot_product"] == dot and record["logical_cpus"] == 4
    assert set(RECORDED_FLAGS) <= set(record)
    assert isa in info.summary() and "4 logical CPUs" in info.summary()


def test_model_names_and_flags_are_read_from_either_layout():
    epyc = parse_cpuinfo(EPYC_AVX2, logical_cpus=2)
    assert epyc.model == "AMD EPYC 7B13" and {"avx2", "fma"} <= epyc.flags and "avx512f" not in epyc.flags
    assert epyc.summary() == "AMD EPYC 7B13, 2 logical CPUs, AVX2 (no int8 dot product)"
    assert parse_cpuinfo(ORIN).model == "ARMv8 Processor rev 1 (v8l)"
    assert parse_cpuinfo("garbage without separators\n\x00\n").isa == "unknown"


def test_this_machine_is_read_once_and_drives_the_int8_adaptation():
    info = cpu_info()
    assert info is cpu_info() and info.logical_cpus == (os.cpu_count() or 0)
    assert cpu_has_vnni() == info.int8_kernels_exact
