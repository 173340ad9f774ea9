"""What this CPU can do for INT8: the one place that reads the instruction set.

INT8 results are a property of the CPU as much as of the model: ONNX Runtime's u8s8 kernels
on x86 without VNNI (AVX2 only) can saturate their 16-bit intermediate sums, which VNNI
(AVX512_VNNI or AVX_VNNI) does not; OpenVINO picks other kernels again. Quantize results,
bundle variants and check reports therefore record the instruction set they were measured on.
"""
import functools
import platform
from typing import Dict, FrozenSet, Optional

__all__ = ["cpu_info", "cpu_line", "has_vnni"]

# flags as Linux names them in /proc/cpuinfo, in the order a reader wants them
_X86_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
_ARM_FLAGS = ("asimd", "asimddp", "i8mm", "sve", "bf16")
_CPUINFO_LIMIT = 1 << 20   # a hostile or odd /proc never makes us read more than this


def _linux_cpuinfo() -> Dict[str, str]:
    """The first processor's 'key: value' lines of /proc/cpuinfo ({} elsewhere)."""
    try:
        with open("/proc/cpuinfo", "r", encoding="utf-8", errors="replace") as f:
            text = f.read(_CPUINFO_LIMIT)
    except OSError:
        return {}
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break        # end of the first processor's block
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict:
    """{"machine", "model", "flags": [...], "vnni": bool|None, "isa": str}.

    vnni is None when the instruction set cannot be read (not Linux, not x86)."""
    machine = platform.machine().lower()
    fields = _linux_cpuinfo()
    have: FrozenSet[str] = frozenset((fields.get("flags") or fields.get("features") or "").split())
    model = fields.get("model name") or platform.processor() or machine
    x86 = machine in ("x86_64", "amd64", "i686", "i386")
    known = _X86_FLAGS if x86 else _ARM_FLAGS
    flags = [f for f in known if f in have]
    vnni: Optional[bool] = None
    if x86 and have:
        vnni = "avx512_vnni" in have or "avx_vnni" in have
    if x86 and have:
        if "avx512f" in have:
            isa = "AVX-512" + (" VNNI" if vnni else " (no VNNI)")
        elif "avx2" in have:
            isa = "AVX2" + (" + AVX-VNNI" if vnni else " (no VNNI)")
        else:
            isa = "SSE (no AVX2)"
    elif have:
        isa = ("ARMv8 dot-product" if "asimddp" in have else "ARMv8 NEON") if flags else machine
    else:
        isa = f"{machine} (instruction set unknown)"
    return {"machine": machine, "model": model, "flags": flags, "vnni": vnni, "isa": isa}


def has_vnni() -> Optional[bool]:
    return cpu_info()["vnni"]


def cpu_line() -> str:
    """One line for reports: 'AMD EPYC ..., x86_64 AVX2 (no VNNI)'."""
    info = cpu_info()
    return f"{info['model']}, {info['machine']} {info['isa']}"
