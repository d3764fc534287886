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
