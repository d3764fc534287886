"""What the benchmarks print beside every number: the CPU's name (times differ between CPUs)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """'AMD EPYC', 'Intel(R) Xeon(R) Platinum 8480+' …: /proc/cpuinfo's model name on Linux
    (platform.processor() is often empty there), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The instruction sets that decide how fast VGG paints (bench/RESULTS.md, #29).
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> list[str]:
    """Which of ISA_FLAGS this CPU has (/proc/cpuinfo), plus what oneDNN was limited to
    (ONEDNN_MAX_CPU_ISA), so a row measured with the limit says so."""
    import os

    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
        [],
    )
    found = [flag for flag in ISA_FLAGS if flag in flags]
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return [*found, f"limited to {limit}"] if limit else found
