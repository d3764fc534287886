"""The child side of media/sandbox.py: `python -m media.child CONFIG` decodes the bytes on its
stdin within its memory budget and writes the answer to its stdout.

The address space is capped (RLIMIT_AS) at what the interpreter, its libraries and the input
hold once loaded, plus the budget, so a decoder that wants more gets ENOMEM (a MemoryError
here) instead of swamping the machine. Output: the blobs (raw RGB frames or a picture) as they
are made, then a JSON trailer and its length in 8 bytes; refusals travel as their reason and
values, never as pickled objects.
"""

from __future__ import annotations

import json
import resource
import struct
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from media.images import ImageError, load_image
from media.video import ClipError, ClipLimits, FrameKeeper, probe_clip, read_clip

Blob = Callable[[bytes], None]


def _status_kb(field: str) -> int:
    """A line of /proc/self/status in kB (0 where there is no /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def limit_memory(budget_mb: int) -> None:
    """Cap the address space at its present size plus `budget_mb`."""
    now = _status_kb("VmSize") * 1024
    if not now:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = now + budget_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _limits(params: dict[str, Any], threads: int) -> ClipLimits:
    return ClipLimits(params["max_seconds"], params["max_pixels"], params["max_frames"], threads)


def _probe(data: bytes, params: dict[str, Any], threads: int, blob: Blob) -> dict[str, Any]:
    limits = _limits(params, threads)
    return {"info": asdict(probe_clip(data, max_seconds=limits.max_seconds, limits=limits))}


def _decode(data: bytes, params: dict[str, Any], threads: int, blob: Blob) -> dict[str, Any]:
    """Each kept frame is written out as soon as it is made: the child holds one at a time."""
    limits = _limits(params, threads)
    keeper = FrameKeeper(
        params["max_fps"], params["long_side"], lambda _, image: blob(image.tobytes())
    )
    info = read_clip(data, limits, keeper)
    return {"info": asdict(info), "instants": keeper.instants, "size": keeper.size}


def _image(data: bytes, params: dict[str, Any], threads: int, blob: Blob) -> dict[str, Any]:
    image = load_image(data, **params)
    blob(image.tobytes())
    return {"size": image.size}


TASKS = {"probe_clip": _probe, "decode_clip": _decode, "load_image": _image}


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    data = sys.stdin.buffer.read()
    base_kb = _status_kb("VmRSS")
    limit_memory(config["memory_mb"])
    out = sys.stdout.buffer
    sizes: list[int] = []

    def blob(chunk: bytes) -> None:
        out.write(chunk)
        sizes.append(len(chunk))

    try:
        result = TASKS[config["task"]](data, config["params"], config["threads"], blob)
    except ClipError as exc:
        result = {"error": {"kind": "clip", "reason": exc.reason, "values": exc.values}}
    except ImageError as exc:
        kind = {"kind": "image", "class": type(exc).__name__, "detail": str(exc)}
        result = {"error": {**kind, "reason": exc.reason, "values": exc.values}}
    except MemoryError:
        result = {"error": {"kind": "memory"}}
    peak_kb = _status_kb("VmHWM")
    trailer = json.dumps(
        {"result": result, "blobs": sizes, "base_kb": base_kb, "peak_kb": peak_kb}
    ).encode()
    out.write(trailer + struct.pack(">Q", len(trailer)))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
