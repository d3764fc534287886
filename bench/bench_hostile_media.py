"""The issue's table (#28), before and after, from the same files: each hostile clip of
bench/hostile_media.py decoded for painting (CPU clip size, 256 px, 12 fps) by the code of a
git revision before the budgets (in a child of its own: wall time, its peak memory above its
interpreter) and by today's code (media/bounded.py's child within the budget).

    python -m bench.bench_hostile_media [--before REV] [--timeout 180]
    python -m bench.bench_hostile_media --after-only   # today's code: the bot's probe and
                                                       # the painter's decode, file by file

Prints a Markdown table for bench/RESULTS.md, with the CPU it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench import hostile_media as hostile
from media import sandbox
from media.bounded import Budget
from media.video import ClipLimits

ROOT = Path(__file__).resolve().parents[1]
FILES = {
    "20 frames of 7680×4320 H.264": hostile.huge_frames,
    "3,000 frames of 512×512 at 300 fps": hostile.too_many_frames,
    "20,000 frames of 64×64, 1 µs apart": hostile.microsecond_frames,
    "a GIF with a 6000×6000 screen and 60 one-pixel frames": hostile.gif_screen,
    "a GIF with a 65535×65535 screen and 2,000 one-pixel frames": lambda: hostile.gif_screen(
        65535, 2000
    ),
}
_OLD = """
import sys, time
data = open(sys.argv[1], "rb").read()
def kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
from media.video import decode_clip
base = kb("VmRSS")
started = time.monotonic()
try:
    clip = decode_clip(data, max_seconds=10, max_fps=12, long_side=256)
    answer = f"{len(clip.frames)} frames"
except Exception as exc:
    answer = f"{type(exc).__name__}: {exc}"
print(json.dumps({"seconds": time.monotonic() - started, "base": base, "peak": kb("VmHWM"),
                  "answer": answer}))
"""


def cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.startswith("Model name"))  # fmt: skip
    except Exception:
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


def before(rev: str, path: Path, timeout: float) -> str:
    """Decode with the media/ of `rev` in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "media"], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        env = {**os.environ, "PYTHONPATH": tree}
        try:
            run = subprocess.run(
                [sys.executable, "-c", "import json\n" + _OLD, str(path)],
                capture_output=True, text=True, env=env, timeout=timeout, check=True, cwd=tree,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"over {timeout:g} s (killed) | ?"
        got = json.loads(run.stdout.strip().splitlines()[-1])
        extra = (got["peak"] - got["base"]) / 1024
        return f"{got['seconds']:.1f} s | {extra:.0f} MB ({got['answer'][:40]})"


def after(data: bytes, task: str = "decode_clip") -> str:
    """Today's code in its child within the default budget: the painter's `decode_clip`, or
    the bot's `probe_clip` (the check before a clip is queued)."""
    params = {"max_seconds": 10, "max_pixels": ClipLimits().max_pixels,
              "max_frames": ClipLimits().max_frames}  # fmt: skip
    if task == "decode_clip":
        params.update(max_fps=12, long_side=256)
    started = time.monotonic()
    try:
        outcome = sandbox.run(task, data, params, Budget())
    except sandbox.OverBudget as exc:
        return f"{time.monotonic() - started:.1f} s | ? | {exc}"
    error = outcome.result.get("error") or {}
    answer = error.get("reason", "painted")
    extra = (outcome.peak_kb - outcome.base_kb) / 1024
    return f"{outcome.seconds:.1f} s | {extra:.0f} MB | {answer}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="5ef3ed5", help="git revision before the budgets")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--after-only", action="store_true", help="the bot's and the painter's")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu()}\n")
    if args.after_only:
        return after_only()
    print("| file | size | before: decoding | before: peak memory | after: decoding (child, "
          "start-up included) | after: peak memory | after: answer |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in FILES.items():
            data = make()
            path = Path(tmp) / "clip"
            path.write_bytes(data)
            old = before(args.before, path, args.timeout)
            print(f"| {name} | {len(data) / 1024:.1f} KB | {old} | {after(data)} |", flush=True)
    return 0


def after_only() -> int:
    print("| file | size | bot: probe (child, start-up included) | bot: peak memory | bot: answer "
          "| painter: decode | painter: peak memory | painter: answer |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, make in FILES.items():
        data = make()
        bot, painter = after(data, "probe_clip"), after(data)
        print(f"| {name} | {len(data) / 1024:.1f} KB | {bot} | {painter} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
