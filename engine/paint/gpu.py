"""Is there an NVIDIA GPU here, can this torch use it, and if not, why not (in words).

A GPU is *present* when the NVIDIA kernel driver is loaded (`/proc/driver/nvidia/version`), a
device node exists (`/dev/nvidia0`) or `nvidia-smi` answers; it is *usable* when
`torch.cuda.is_available()`. Present but unusable is the case nobody should miss: DEVICE=auto
would paint on the CPU without a word. The usual cause is a driver older than the CUDA build of
torch needs (PyPI's torch 2.14.1 is CUDA 13.0: driver 580 or newer).
"""

from __future__ import annotations

import re
import subprocess
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

PROC_VERSION = Path("/proc/driver/nvidia/version")
DEVICE_NODE = Path("/dev/nvidia0")
NVIDIA_SMI = ("nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader")
SMI_TIMEOUT = 5.0

# The oldest Linux driver a CUDA major version runs on (NVIDIA's minor-version compatibility:
# every 12.x build runs on 525.60.13, every 13.x build needs 580.65.06).
MIN_DRIVER = {11: (450, 80, 2), 12: (525, 60, 13), 13: (580, 65, 6)}

_DRIVER_IN_PROC = re.compile(r"Kernel Module(?: for [\w-]+)?\s+(\d+(?:\.\d+)+)")


@dataclass(frozen=True)
class GpuCheck:
    present: bool
    usable: bool
    driver: str | None = None  # "535.104.05", when it could be read
    device_node: bool = False  # /dev/nvidia0 exists (not, in a container started without GPUs)
    torch_cuda: str | None = None  # torch.version.cuda: "13.0"; None for a CPU-only build
    torch_version: str = ""
    torch_said: str = ""  # torch's own warning from torch.cuda.is_available(), if any

    @property
    def unused(self) -> bool:
        """A GPU is here and this torch cannot paint on it."""
        return self.present and not self.usable

    def why(self) -> str:
        """Why torch cannot use the GPU, in words (for the log, /admin and /healthz)."""
        driver = f"NVIDIA driver {self.driver}" if self.driver else "an NVIDIA driver"
        if self.torch_cuda is None:
            return f"{driver} found but this torch ({self.torch_version}) is built without CUDA"
        needed = needed_driver(self.torch_cuda)
        found = _numbers(self.driver)
        if needed is not None and found and found < needed:
            return (
                f"{driver} found but this torch (CUDA {self.torch_cuda}) needs "
                f"{needed[0]}+: update the driver or install a torch built for an older CUDA"
            )
        if self.driver and not self.device_node:
            return (
                f"{driver} is loaded but no GPU device (/dev/nvidia0) is visible here: "
                "in a container, start it with --gpus all"
            )
        said = f": {self.torch_said}" if self.torch_said else ""
        return f"{driver} found but torch (CUDA {self.torch_cuda}) cannot use the GPU{said}"


def needed_driver(cuda: str) -> tuple[int, ...] | None:
    """The oldest driver for a CUDA version ("13.0" -> (580, 65, 6)); None if not known."""
    major = _numbers(cuda)
    return MIN_DRIVER.get(major[0]) if major else None


def _numbers(version: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version or ""))


def driver_from_proc(path: Path = PROC_VERSION) -> str | None:
    """The kernel module's version from /proc/driver/nvidia/version; None without it."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    found = _DRIVER_IN_PROC.search(text)
    return found.group(1) if found else ""


def driver_from_smi(
    command: Sequence[str] = NVIDIA_SMI, timeout: float = SMI_TIMEOUT
) -> str | None:
    """nvidia-smi's driver version ("" if it ran but said none); None if it did not run."""
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if lines else ""


def _torch_cuda() -> tuple[bool, str]:
    """torch.cuda.is_available(), and the warning torch gives when it says no."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        usable = torch.cuda.is_available()
    said = " ".join(str(caught[-1].message).split()) if caught and not usable else ""
    return usable, said[:300]


def check_gpu(
    *,
    proc_version: Path = PROC_VERSION,
    device_node: Path = DEVICE_NODE,
    smi: Sequence[str] = NVIDIA_SMI,
    cuda_available: Callable[[], tuple[bool, str]] = _torch_cuda,
    torch_cuda: str | None = torch.version.cuda,
    torch_version: str = torch.__version__,
) -> GpuCheck:
    """Look for a GPU and ask torch about it (nvidia-smi only when the files say nothing of the
    driver's version). The parameters are for tests."""
    driver = driver_from_proc(proc_version)
    node = device_node.exists()
    smi_driver = driver_from_smi(smi) if not driver else None
    present = driver is not None or node or smi_driver is not None
    usable, said = cuda_available()
    return GpuCheck(
        present=present or usable,
        usable=usable,
        driver=driver or smi_driver or None,
        device_node=node,
        torch_cuda=torch_cuda,
        torch_version=torch_version,
        torch_said=said,
    )
