"""What keeping the timelapse frames costs the painting (target: at most 3 % at 512 px), and
what the bot's video of them weighs and costs to make.

One process, one model; runs without and with frames alternate (A B A B …), so a machine
shared with other work slows both alike; the ratios are what to read. The direct cost is also
timed on its own: the time spent rendering and encoding the frames, inside the runs with them.
The last run's frames (bench/out/timelapse-N.zip) are then made into the MP4 the bot sends
(bench/out/timelapse-N.mp4).

    python -m bench.bench_timelapse                          # 512 px, 300 iterations, 2 pairs
    python -m bench.bench_timelapse --size 256 --pairs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.bench_engine import OUT, _inputs
from bench.machine import cpu_name

FRAMES = 48


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--style", default="starry-night")
    args = parser.parse_args(argv)

    import torch

    from engine.paint import StylizeOptions, Stylizer, progress
    from media.timelapse import FrameRecorder

    capture_seconds = 0.0
    render = progress.Film.frame
    add = FrameRecorder.add

    def timed_render(self, *a, **kw):
        nonlocal capture_seconds
        started = time.perf_counter()
        try:
            return render(self, *a, **kw)
        finally:
            capture_seconds += time.perf_counter() - started

    def timed_add(self, frame):
        nonlocal capture_seconds
        started = time.perf_counter()
        try:
            return add(self, frame)
        finally:
            capture_seconds += time.perf_counter() - started

    progress.Film.frame = timed_render  # type: ignore[method-assign]
    FrameRecorder.add = timed_add  # type: ignore[method-assign]

    content, painting = _inputs(args.style)
    stylizer = Stylizer(device="cpu")
    options = StylizeOptions(size=args.size, iterations=args.iterations, seed=0)
    runs: dict[str, list[dict]] = {"without": [], "with": []}
    packed = b""
    for pair in range(args.pairs):
        for mode in ("without", "with"):
            recorder = FrameRecorder(FRAMES) if mode == "with" else None
            capture_seconds = 0.0
            cpu0, wall0 = time.process_time(), time.perf_counter()
            stylizer.stylize(content, [(painting, 1.0)], options, frames=recorder)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            record = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
            if recorder is not None:
                packed = recorder.pack()
                record.update(capture_s=round(capture_seconds, 3), frames=len(recorder))
            runs[mode].append(record)
            print(f"pair {pair + 1} {mode:>7} frames: {record}", flush=True)

    def mean(mode: str, key: str) -> float:
        return statistics.mean(r[key] for r in runs[mode])

    summary = {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "size": args.size,
        "iterations": args.iterations,
        "frames": FRAMES,
        "runs": runs,
        "wall_ratio": round(mean("with", "wall_s") / mean("without", "wall_s"), 4),
        "cpu_ratio": round(mean("with", "cpu_s") / mean("without", "cpu_s"), 4),
        "pair_wall_ratios": [
            round(w["wall_s"] / wo["wall_s"], 4)
            for wo, w in zip(runs["without"], runs["with"], strict=True)
        ],
        "capture_share": round(mean("with", "capture_s") / mean("with", "wall_s"), 4),
        "frames_file_bytes": len(packed),
    }
    OUT.mkdir(exist_ok=True)
    from bot.timelapse import timelapse_video

    started = time.perf_counter()
    video = timelapse_video(packed)
    summary["mp4_encode_s"] = round(time.perf_counter() - started, 3)
    summary["mp4_bytes"] = len(video.data)
    summary["mp4_seconds"] = round(video.seconds, 2)
    (OUT / f"timelapse-{args.size}.mp4").write_bytes(video.data)
    (OUT / f"timelapse-{args.size}.zip").write_bytes(packed)
    path = OUT / f"timelapse-{args.size}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
