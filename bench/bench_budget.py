"""The default job under the time budget (#29), on this machine: the speed the painter
measures at start, the size CPU_JOB_SECONDS chooses for each photo, and how long the default
job really takes, with the CPU and its instruction sets named beside the numbers.

    python -m bench.bench_budget                       # three photos x two paintings
    python -m bench.bench_budget --photos astronaut --presets monet --seconds 75

To see an AVX2-only CPU on a newer one, limit oneDNN and ATen (the row then says so):
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python -m bench.bench_budget

Each job is painted as the painter paints it (plan_options, the catalogue's defaults, the
photo loaded at its size), one after another, and each teaches the speed what it cost, as
in the painter. Results: bench/out/budget.json and Markdown on stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

import engine  # noqa: E402, F401  (the OpenMP wait policy, before torch)
from bench.bench_engine import OUT, SHARED_STYLES  # noqa: E402
from bench.machine import cpu_flags, cpu_name  # noqa: E402
from engine.paint import StylizeOptions, Stylizer, fit_size  # noqa: E402
from engine.painter.budget import PaintSpeed, measure_speed  # noqa: E402
from engine.painter.settings import EngineSettings  # noqa: E402
from engine.painter.sizing import plan_options  # noqa: E402
from jobs import JobOptions  # noqa: E402
from media.images import load_image, probe_image  # noqa: E402
from styles import defaults_for, load_catalogue  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea")
PRESETS = ("starry-night", "monet")


def _photo(name: str) -> bytes:
    import skimage.data
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(getattr(skimage.data, name)()).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class DefaultJob:
    """One default job as the painter paints it: the table's row, the options it chose, the
    picture, and the photo and painting it was painted from (for a judge)."""

    row: dict
    options: StylizeOptions
    image: Image.Image
    photo: Image.Image
    painting: Image.Image


def painter_settings(seconds: float, styles_dir: Path, **settings_env: str) -> EngineSettings:
    """The engine's settings with CPU_JOB_SECONDS=`seconds` and no .env file; `settings_env`:
    more engine settings (IMAGE_SIZE, CPU_ITERATIONS: the tests' tiny run)."""
    return EngineSettings(  # type: ignore[call-arg]
        _env_file=None, CPU_JOB_SECONDS=str(seconds), STYLES_DIR=str(styles_dir), **settings_env
    )


def default_options(
    settings: EngineSettings,
    speed: PaintSpeed,
    preset_name: str,
    content_size: tuple[int, int] | None = None,
) -> StylizeOptions:
    """What the painter chooses for a job sent without options (plan_options with the
    painting's defaults); the size within the time budget for a photo of `content_size` (a
    clip: None, its plan comes from the clip budget)."""
    preset = load_catalogue().resolve(preset_name)
    return plan_options(
        JobOptions(),
        settings,
        on_cpu=True,
        preset_defaults=defaults_for([(preset, 1.0)]),
        precision=speed.precision,
        content_size=content_size,
        speed=speed,
    )


def paint_default_job(
    stylizer: Stylizer,
    settings: EngineSettings,
    speed: PaintSpeed,
    preset_name: str,
    photo_name: str,
) -> DefaultJob:
    """A photo sent without options, painted as the painter paints it (plan_options, the
    catalogue's defaults, the photo loaded at its size); it teaches `speed` what it cost."""
    catalogue = load_catalogue()
    path = catalogue.image_path(catalogue.resolve(preset_name), settings.styles_dir)
    data = _photo(photo_name)
    size = probe_image(data)
    options = default_options(settings, speed, preset_name, size)
    predicted = speed.seconds(fit_size(size, options.size), options)
    began = time.perf_counter()
    content = load_image(data, max_side=options.size)
    painting = load_image(path, max_side=2 * options.size)
    result = stylizer.stylize(content, [(painting, 1.0)], options)
    took = time.perf_counter() - began
    speed.observe(result.size, options, took)
    row = {
        "preset": preset_name,
        "photo": photo_name,
        "size": list(result.size),
        "iterations": options.iterations,
        "predicted_s": round(predicted, 1),
        "seconds": round(took, 1),
    }
    return DefaultJob(row, options, result, load_image(data), painting)


def run(
    photos: list[str],
    presets: list[str],
    seconds: float,
    styles_dir: Path,
    **settings_env: str,
) -> dict:
    """`settings_env`: more engine settings (IMAGE_SIZE, CPU_ITERATIONS: the tests' tiny run)."""
    settings = painter_settings(seconds, styles_dir, **settings_env)
    stylizer = Stylizer(device="cpu")
    choice = stylizer.precision_for(settings.precision)
    started = time.perf_counter()
    speed = measure_speed(stylizer, choice.precision)
    probe_seconds = time.perf_counter() - started
    rows = []
    for preset_name in presets:
        for photo_name in photos:
            rows.append(paint_default_job(stylizer, settings, speed, preset_name, photo_name).row)
            print(rows[-1], flush=True)
    return {
        "cpu": cpu_name(),
        "flags": cpu_flags(),
        "cores": os.cpu_count(),
        "precision": choice.precision,
        "budget_s": seconds,
        "probe_s": round(probe_seconds, 1),
        "speed": speed.describe(),
        "rows": rows,
        "when": time.ctime(),
    }


def table(report: dict) -> str:
    lines = [
        f"{report['cpu']} ({', '.join(report['flags'])}), {report['cores']} CPUs, "
        f"{report['precision']}, CPU_JOB_SECONDS={report['budget_s']:.0f}; speed probe "
        f"{report['probe_s']} s: {report['speed']}",
        "",
        "| painting | photo | size chosen | predicted s | painted in s |",
        "|---|---|---|---|---|",
    ]
    cells = (
        (r["preset"], r["photo"], "x".join(map(str, r["size"])), r["predicted_s"], r["seconds"])
        for r in report["rows"]
    )
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", default=",".join(PHOTOS))
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--seconds", type=float, default=75.0)
    parser.add_argument("--styles-dir", type=Path, default=SHARED_STYLES)
    parser.add_argument("--image-size", help="IMAGE_SIZE (the largest default; tests: tiny)")
    parser.add_argument("--iterations", help="CPU_ITERATIONS")
    args = parser.parse_args(argv)
    extra = {"IMAGE_SIZE": args.image_size, "CPU_ITERATIONS": args.iterations}
    report = run(
        args.photos.split(","),
        args.presets.split(","),
        args.seconds,
        args.styles_dir,
        **{name: value for name, value in extra.items() if value},
    )
    print(table(report))
    OUT.mkdir(exist_ok=True)
    (OUT / "budget.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
