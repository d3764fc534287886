"""Painting a clip: the temporal method (Ruder et al. 2016, engine/clips/painting.py) against
painting every frame on its own. Reports the flicker of each (engine/clips/flow.py: 1 = the
painting adds no motion of its own; the issue's goal is at most 1.5) and the time per frame on
this machine, and writes a contact strip (source / alone / temporal, consecutive frames) and
both MP4s to bench/out/.

The clip: a camera panning over a photo (scikit-image's coffee) while a disc crosses it, so
there is real texture, motion, and things coming into view (occlusions).

    python -m bench.bench_video                            # 256 px, 12 frames, 300 + 40 iterations
    python -m bench.bench_video --size 128 --frames 6 --iterations 100 --frame-iterations 20
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from PIL import Image, ImageDraw

from bench.bench_engine import OUT, _inputs
from bench.machine import cpu_name


def panning_clip(
    frames: int, size: int, photo: str = "coffee", pan: float = 0.03
) -> list[Image.Image]:
    """`frames` frames at `size` px (long side, 4:3): a window panning right and down over the
    photo (`pan`, 3 % of the width, a frame) and a disc moving the other way as fast (a longer
    clip pans less a frame, so it stays on the photo: 60 frames at 0.005)."""
    import skimage.data

    source = Image.fromarray(getattr(skimage.data, photo)()).convert("RGB")
    width, height = size, round(size * 3 / 4) // 2 * 2
    view_w = round(source.width * 0.7)
    view_h = round(view_w * height / width)
    out = []
    for k in range(frames):
        left = round((source.width - view_w) * 0.1 + pan * view_w * k)
        top = round(min(source.height - view_h, (source.height - view_h) * 0.2 + 50 * pan * k))
        frame = source.crop((left, top, left + view_w, top + view_h)).resize(
            (width, height), Image.Resampling.LANCZOS
        )
        draw = ImageDraw.Draw(frame)
        radius = height // 8
        cx = width * 0.75 - width * pan * k
        cy = height * 0.5 + height * 0.1 * math.sin(k * pan / 0.06)
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(40, 90, 200))
        out.append(frame)
    return out


def strip(rows: list[list[Image.Image]], columns: int, side: int = 160) -> Image.Image:
    """The first `columns` frames of each row, side by side, rows one under the other."""
    width, height = rows[0][0].size
    scale = side / max(width, height)
    cell = (round(width * scale), round(height * scale))
    sheet = Image.new("RGB", (cell[0] * columns + 4 * (columns - 1), (cell[1] + 4) * len(rows)))
    for r, row in enumerate(rows):
        for c, frame in enumerate(row[:columns]):
            thumb = frame.resize(cell, Image.Resampling.LANCZOS)
            sheet.paste(thumb, (c * (cell[0] + 4), r * (cell[1] + 4)))
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=300, help="the first frame's")
    parser.add_argument("--frame-iterations", type=int, default=40, help="each later frame's")
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--fps", type=float, default=12)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--skip-alone", action="store_true", help="only the temporal method")
    parser.add_argument("--strip", default=None, help="also write the contact strip here")
    parser.add_argument("--out", type=Path, default=OUT, help="where the files go")
    args = parser.parse_args(argv)
    out = args.out

    from engine.clips.flow import flicker, motion
    from engine.clips.painting import ClipOptions, paint_clip
    from engine.paint import StylizeOptions, Stylizer
    from media.video import encode_animation

    out.mkdir(parents=True, exist_ok=True)
    _, painting = _inputs(args.style)
    frames = panning_clip(args.frames, args.size)
    stylizer = Stylizer(device="cpu")
    precision = stylizer.precision_for(args.precision).precision
    options = StylizeOptions(
        size=args.size, iterations=args.iterations, seed=0, precision=precision
    )
    motions = [motion(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    report: dict = {
        "cpu": cpu_name(),
        "precision": precision,
        "size": list(frames[0].size),
        "frames": args.frames,
        "iterations_first": args.iterations,
        "iterations_later": args.frame_iterations,
        "style": args.style,
        "occluded_share": round(1 - sum(m.coverage for m in motions) / len(motions), 4),
    }
    rows = [frames]
    modes = [("temporal", True)] + ([] if args.skip_alone else [("alone", False)])
    for name, temporal in modes:
        times: list[float] = []
        last = [time.perf_counter()]

        def on_frame(progress, times=times, last=last, name=name) -> bool:
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now
            print(f"{name}: frame {progress.frame}/{progress.total} {times[-1]:.1f} s", flush=True)
            return False

        clip = ClipOptions(frame_iterations=args.frame_iterations, temporal=temporal)
        painted = paint_clip(stylizer, frames, [(painting, 1.0)], options, clip, on_frame)
        measured = flicker(painted, frames, motions)
        later = times[1:] or [math.nan]
        report[name] = {
            "flicker": round(measured.ratio, 3),
            "painted_difference": round(measured.painted, 5),
            "source_difference": round(measured.source, 5),
            "first_frame_s": round(times[0], 2),
            "later_frame_s": round(sum(later) / len(later), 2),
            "total_s": round(sum(times), 1),
        }
        (out / f"video-{name}.mp4").write_bytes(encode_animation(painted, args.fps))
        rows.append(painted)
        print(json.dumps({name: report[name]}), flush=True)
    # rows: source, temporal[, alone] -> show source, alone, temporal
    ordered = [rows[0], *rows[:0:-1]]
    sheet = strip(ordered, min(6, args.frames))
    sheet.save(out / "video-strip.jpg", quality=85)
    if args.strip:
        sheet.save(args.strip, quality=85)
    (out / "bench_video.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
