"""CPU-only owners: PRECISION=auto against fp32, a job inside the bot against the same job
alone, and what the time budgets give on this CPU.

    python -m bench.bench_cpu                        # every part, on this machine
    python -m bench.bench_cpu --part precision --sizes 256
    python -m bench.bench_cpu --part bot --size 256 --iterations 300 --repeats 2
    python -m bench.bench_cpu --part budget          # CPU_JOB_SECONDS=75, CPU_CLIP_SECONDS=180
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 PRECISION=fp32 \
        python -m bench.bench_cpu --part budget      # an AVX2-only CPU's stand-in (it says so)

Part `precision`: the engine at CPU_ITERATIONS on two photos at each size, once in fp32 and once
with PRECISION=auto (each run its own process, interleaved), wall time and the judged loss of
bench/bench_engine.py. Auto passes when its judged loss is within 3 % of fp32's.

Part `bot`: the same request painted three ways, interleaved: the CLI (`python -m engine
stylize`, painting time as it prints it), a worker alone (`python -m engine worker`, the job's
started → finished time in the table) and `python -m bot` with the engine it supervises, as
`make run` starts them (same), against the fake Bot API of the tests on loopback. While the bot's
job paints, a second user sends a photo: the time until the bot answers is reported too.
Results go to bench/out/cpu.json and, as Markdown, to stdout.

Part `budget` (#29), named with the CPU, its instruction sets (bench/machine.py) and the
precision chosen: the painter's speed measured as at its start; the default photo job (two
held-out photos sent without options, The Starry Night) as the painter paints it
(bench/bench_budget.py): the size CPU_JOB_SECONDS chose and the time it took; each judged at
phone size (bench/scale.py's PhoneJudge) against the same photo at 256 px x 300 iterations, as
style and content ratios (above 1: less painted / further from the photo than the reference);
then the default clip: a 5 s GIF at 12 fps made here (bench_video's panning clip) painted as
engine/painter/clip_job.py paints it, the plan CPU_CLIP_SECONDS chose (size, frame rate, frames,
iterations), the time from the GIF's bytes to the last frame and the flicker (engine/clips/flow.py,
the issue's goal at most 1.5). Markdown on stdout, bench/out/cpu-budget.json and the painted clip
bench/out/cpu-budget-clip.mp4. `--image-size`, `--cpu-iterations`, `--clip-size`,
`--frame-iterations`, `--clip-frames`, `--reference`, `--phone` shrink it (the tests' run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_engine import OUT, SHARED_STYLES, _spawn  # noqa: E402
from bench.machine import cpu_name  # noqa: E402

QUALITY_GATE = 0.03  # auto's judged loss may be at most 3 % above fp32's
PHOTOS = ("astronaut", "coffee")
HELD_OUT = ("chelsea", "immunohistochemistry")  # never tuned on (bench/scale.py)
STYLE = "starry-night"
DEADLINE = 1800.0
PARTS = ("precision", "bot", "budget")


# ------------------------------------------------------------------------------ precision


def precision_part(sizes: list[int], iterations: int) -> dict:
    runs = []
    for size in sizes:
        for photo in PHOTOS:
            pair = {
                precision: _spawn(
                    "engine", size, iterations, STYLE, precision=precision, photo=photo
                )
                for precision in ("fp32", "auto")
            }
            fp32, auto = pair["fp32"], pair["auto"]
            delta = auto["judged"]["loss"] / fp32["judged"]["loss"] - 1
            runs.append(
                {
                    "size": size,
                    "photo": photo,
                    "auto_chose": auto["precision_chosen"],
                    "reason": auto["precision_reason"],
                    "fp32_s": fp32["wall_s"],
                    "auto_s": auto["wall_s"],
                    "time_ratio": round(auto["wall_s"] / fp32["wall_s"], 3),
                    "fp32_loss": fp32["judged"]["loss"],
                    "auto_loss": auto["judged"]["loss"],
                    "loss_delta": round(delta, 4),
                    "gate_passed": delta <= QUALITY_GATE,
                }
            )
    return {"iterations": iterations, "style": STYLE, "runs": runs}


def precision_table(part: dict) -> str:
    lines = [
        f"{part['iterations']} iterations, *{part['style']}*; auto chose: "
        f"{part['runs'][0]['auto_chose']} ({part['runs'][0]['reason']})",
        "",
        "| size | photo | fp32 s | auto s | auto / fp32 | judged loss fp32 | auto | Δ | ≤ 3 % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in part["runs"]:
        lines.append(
            f"| {r['size']} | {r['photo']} | {r['fp32_s']:.1f} | {r['auto_s']:.1f} | "
            f"{r['time_ratio']:.2f}× | {r['fp32_loss']:.4f} | {r['auto_loss']:.4f} | "
            f"{100 * r['loss_delta']:+.1f} % | {'yes' if r['gate_passed'] else 'NO'} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ bot vs CLI


def _photo_png(name: str) -> bytes:
    import skimage.data
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(getattr(skimage.data, name)()).save(out, "PNG")
    return out.getvalue()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", STYLES_DIR=str(SHARED_STYLES))
    env.update(extra)
    return env


def cli_seconds(photo: Path, size: int, iterations: int, workdir: Path) -> float:
    """The CLI's own painting time (it prints it), model loading left out like in the others."""
    cmd = [sys.executable, "-m", "engine", "stylize", str(photo), "--style", STYLE]
    cmd += ["--size", str(size), "--iterations", str(iterations), "--seed", "0"]
    cmd += ["-o", str(workdir / "cli.png")]
    done = subprocess.run(
        cmd, cwd=workdir, env=_env(), capture_output=True, text=True, timeout=DEADLINE, check=True
    )
    match = re.search(r"painted in ([\d.]+) s", done.stdout)
    assert match, done.stdout + done.stderr
    return float(match.group(1))


async def _job_seconds(data_dir: Path, job_id: int) -> float:
    from jobs import JobStatus, JobStore

    async with await JobStore.open(data_dir) as store:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            job = await store.get(job_id)
            if job is not None and job.status is JobStatus.DONE:
                assert job.started_at is not None and job.finished_at is not None
                return job.finished_at - job.started_at
            if job is not None and not job.is_active:
                raise RuntimeError(f"job {job_id} ended {job.status}: {job.error}")
            await asyncio.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not finish")


async def worker_seconds(photo: bytes, size: int, iterations: int, workdir: Path) -> float:
    """A worker alone: enqueue the job directly, time it in the table."""
    from jobs import JobOptions, JobStore, StyleRef
    from jobs.testing import new_job

    data = workdir / "worker-data"
    async with await JobStore.open(data) as store:
        new = new_job(
            1,
            styles=(StyleRef(preset=STYLE),),
            options=JobOptions(size=size, iterations=iterations, seed=0),
        )
        job, _ = await store.enqueue(new, {"content.jpg": photo})
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "engine", "worker"),
        cwd=workdir,
        env=_env(DATA_DIR=str(data)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return await _job_seconds(data, job.id)
    finally:
        await _stop(proc)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def bot_seconds(
    photo: bytes, size: int, iterations: int, workdir: Path
) -> tuple[float, float]:
    """`python -m bot` supervising its engine: the job's painting time, and how long the bot
    took to answer another user's photo sent while it painted."""
    from tests.fake_bot_api import FakeBotAPI, make_user

    data = workdir / "bot-data"
    async with FakeBotAPI() as fake:
        env = _env(
            TELEGRAM_TOKEN=fake.token,
            TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_BASE_FILE_URL=fake.base_file_url,
            DATA_DIR=str(data),
        )
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot"),
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(workdir / "bot.log").open("ab"),
        )
        try:
            await fake.wait_for("getUpdates", timeout=120)
            caption = f"/style {STYLE} size={size} iterations={iterations} seed=0"
            fake.push(fake.photo_update(photo, caption))
            job_id = await _first_started_job(data)
            other = make_user(2002, "Bob")
            mark = fake.mark()
            sent = time.monotonic()
            fake.push(fake.photo_update(photo, f"/style {STYLE}", user=other))
            answer = await fake.wait_for(
                "sendMessage", lambda c: c.chat_id == other["id"], 30, since=mark
            )
            answered = answer.time - sent
            seconds = await _job_seconds(data, job_id)
        finally:
            await _stop(proc)
    return seconds, answered


async def _first_started_job(data: Path) -> int:
    """The id of the bot's first job, once its engine has started painting it."""
    from jobs import JobStore

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (data / "picasso.db").exists():
            async with await JobStore.open(data) as store:
                jobs = await store.list_jobs(limit=1)
            if jobs and jobs[0].started_at is not None:
                return jobs[0].id
        await asyncio.sleep(0.2)
    log = (data.parent / "bot.log").read_text(errors="replace")[-3000:]
    raise TimeoutError(f"the bot's engine never started the job; its log ends:\n{log}")


def bot_part(size: int, iterations: int, repeats: int) -> dict:
    photo = _photo_png("astronaut")
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
            work = Path(tmp)
            (work / "photo.png").write_bytes(photo)
            cli = cli_seconds(work / "photo.png", size, iterations, work)
            alone = asyncio.run(worker_seconds(photo, size, iterations, work))
            inside, answered = asyncio.run(bot_seconds(photo, size, iterations, work))
        runs.append({"cli_s": cli, "worker_s": alone, "bot_s": inside, "answer_s": answered})
    return {"size": size, "iterations": iterations, "style": STYLE, "runs": runs}


def bot_table(part: dict) -> str:
    lines = [
        f"astronaut, *{part['style']}*, {part['size']} px, {part['iterations']} iterations, "
        "PRECISION=auto everywhere",
        "",
        "| run | CLI s | worker alone s | bot + engine s | bot / CLI | bot answered another "
        "photo in |",
        "|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(part["runs"], start=1):
        lines.append(
            f"| {n} | {r['cli_s']:.1f} | {r['worker_s']:.1f} | {r['bot_s']:.1f} | "
            f"{r['bot_s'] / r['cli_s']:.2f}× | {r['answer_s']:.2f} s |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ budget


def budget_part(
    photos: list[str],
    seconds: float,
    clip_seconds: float,
    clip_frames: int,
    reference: tuple[int, int],
    phone: int,
    **settings_env: str,
) -> dict:
    """The default photo job and the default clip under their time budgets, as the painter
    paints them, and the photo's look at phone size against a `reference` (size, iterations)
    painting. `settings_env`: more engine settings (IMAGE_SIZE, CPU_ITERATIONS, CPU_CLIP_SIZE,
    CLIP_FRAME_ITERATIONS: the tests' tiny run)."""
    import dataclasses

    from bench.bench_budget import paint_default_job, painter_settings
    from bench.machine import cpu_flags
    from bench.scale import PhoneJudge, at_phone
    from engine.paint import Stylizer
    from engine.painter.budget import measure_speed

    settings = painter_settings(
        seconds, SHARED_STYLES, CPU_CLIP_SECONDS=str(clip_seconds), **settings_env
    )
    stylizer = Stylizer(device="cpu")
    choice = stylizer.precision_for(settings.precision)
    started = time.perf_counter()
    speed = measure_speed(stylizer, choice.precision)
    probe_s = time.perf_counter() - started
    at_start = speed.describe()
    judge = PhoneJudge(stylizer, phone)
    rows = []
    for photo in photos:
        job = paint_default_job(stylizer, settings, speed, STYLE, photo)
        ref_options = dataclasses.replace(job.options, size=reference[0], iterations=reference[1])
        if ref_options == job.options:  # the budget chose the reference itself
            ref_image, ref_s = job.image, job.row["seconds"]
        else:
            began = time.perf_counter()
            painting = _painting(settings, 2 * reference[0])
            photo = at_phone(job.photo, reference[0])
            ref_image = stylizer.stylize(photo, [(painting, 1.0)], ref_options)
            ref_s = round(time.perf_counter() - began, 1)
        mine = judge.distances(job.image, job.photo, job.painting)
        theirs = judge.distances(ref_image, job.photo, job.painting)
        row = {
            **job.row,
            "reference_s": ref_s,
            "reference_is_the_job": ref_image is job.image,
            "style": round(mine["style"], 4),
            "content": round(mine["content"], 4),
            "style_ratio": round(mine["style"] / theirs["style"], 3),
            "content_ratio": round(mine["content"] / theirs["content"], 3),
        }
        rows.append(row)
        print(row, flush=True)
    clip = clip_run(stylizer, settings, speed, clip_frames)
    return {
        "cpu": cpu_name(),
        "flags": cpu_flags(),
        "cores": os.cpu_count(),
        "precision": choice.precision,
        "precision_reason": choice.reason,
        "limited": {
            k: os.environ[k]
            for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "PRECISION")
            if k in os.environ
        },
        "budget_s": seconds,
        "clip_budget_s": clip_seconds,
        "probe_s": round(probe_s, 1),
        "speed_at_start": at_start,
        "speed": speed.describe(),  # after the photos taught it (the clip was planned with it)
        "style": STYLE,
        "reference": {"size": reference[0], "iterations": reference[1], "phone": phone},
        "photos": rows,
        "clip": clip,
        "load": os.getloadavg(),
        "when": time.ctime(),
    }


def _painting(settings, max_side: int):
    from media.images import load_image
    from styles import load_catalogue

    catalogue = load_catalogue()
    path = catalogue.image_path(catalogue.resolve(STYLE), settings.styles_dir)
    return load_image(path, max_side=max_side)


CLIP_FPS = 12.0
CLIP_SOURCE_SIDE = 320  # what the GIF is made at; the painter decodes it to CPU_CLIP_SIZE


def clip_run(stylizer, settings, speed, frames: int) -> dict:
    """A GIF of `frames` frames at 12 fps (bench_video's panning clip, panning slowly enough to
    stay on the photo for 60 frames), painted as engine/painter/clip_job.py paints a clip sent
    without options: decoded at CPU_CLIP_SIZE and CLIP_MAX_FPS, planned within
    CPU_CLIP_SECONDS from the painter's speed (the one the photo jobs taught), thinned to the
    plan, painted by engine/clips; the total time from the GIF's bytes to the last frame, and
    the flicker of what was painted (engine/clips/flow.py, as bench_video measures it)."""
    import dataclasses

    from bench.bench_budget import default_options
    from bench.bench_video import panning_clip
    from engine.clips.flow import flicker
    from engine.clips.painting import ClipOptions, paint_clip
    from engine.painter.clip_plan import ClipPlan, clip_seconds, plan_clip, thinned
    from media.video import decode_clip, encode_animation
    from tests.clip_support import encode_clip

    pan = 0.03 * 12 / max(12, frames)
    gif = encode_clip(panning_clip(frames, CLIP_SOURCE_SIDE, pan=pan), CLIP_FPS, fmt="gif")
    began = time.perf_counter()
    clip = decode_clip(
        gif,
        max_seconds=settings.clip_max_seconds,
        max_fps=settings.clip_max_fps,
        long_side=settings.cpu_clip_size,
    )
    options = default_options(settings, speed, STYLE)
    own = ClipPlan(max(clip.size), clip.fps, options.iterations, settings.clip_frame_iterations)
    plan = plan_clip(speed, settings.cpu_clip_seconds, clip.size, len(clip.frames), own)
    shown = thinned(clip.frames, clip.fps, plan)
    size = shown[0].size
    predicted = clip_seconds(speed, plan, clip.size, len(shown))
    painting = _painting(settings, 2 * max(size))
    options = dataclasses.replace(options, size=max(size), iterations=plan.first_iterations)
    frame_times: list[float] = []

    def on_frame(progress) -> bool:
        frame_times.append(progress.elapsed)
        return False

    painted = paint_clip(
        stylizer,
        shown,
        [(painting, 1.0)],
        options,
        ClipOptions(frame_iterations=plan.frame_iterations),
        on_frame=on_frame,
    )
    took = time.perf_counter() - began
    fps = min(plan.fps, clip.fps)
    OUT.mkdir(exist_ok=True)
    (OUT / "cpu-budget-clip.mp4").write_bytes(encode_animation(painted, fps))
    measured = flicker(painted, shown)
    return {
        "source": {
            "frames": frames,
            "fps": CLIP_FPS,
            "seconds": frames / CLIP_FPS,
            "side": CLIP_SOURCE_SIDE,
            "gif_kb": round(len(gif) / 1024),
        },
        "plan": dataclasses.asdict(plan),
        "size": list(size),
        "frames": len(shown),
        "fps": fps,
        "predicted_s": round(predicted, 1),
        "first_frame_s": round(frame_times[0], 1) if frame_times else None,
        "seconds": round(took, 1),
        "flicker": round(measured.ratio, 3),
    }


def budget_table(part: dict) -> str:
    flags = ", ".join(part["flags"]) or "flags unknown"
    limited = " ".join(f"{k}={v}" for k, v in part["limited"].items())
    load = ", ".join(f"{x:.1f}" for x in part["load"])
    ref = part["reference"]
    lines = [
        f"{part['cpu']} ({flags}){', ' + limited if limited else ''}, {part['cores']} CPUs, "
        f"load average at the end {load}; {part['precision']} ({part['precision_reason']}); "
        f"CPU_JOB_SECONDS={part['budget_s']:.0f}, CPU_CLIP_SECONDS={part['clip_budget_s']:.0f}; "
        f"speed probe {part['probe_s']} s: {part['speed_at_start']}; after the photos (the "
        f"clip's plan): {part['speed']}",
        "",
        f"The default photo job (*{part['style']}*), judged at {ref['phone']} px against "
        f"{ref['size']} px × {ref['iterations']} iterations:",
        "",
        "| photo | size chosen | iterations | predicted s | painted in s | reference s "
        "| style ratio | content ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in part["photos"]:
        reference = "(the same picture)" if r["reference_is_the_job"] else r["reference_s"]
        lines.append(
            f"| {r['photo']} | {'×'.join(map(str, r['size']))} | {r['iterations']} | "
            f"{r['predicted_s']} | {r['seconds']} | {reference} | {r['style_ratio']:.2f} | "
            f"{r['content_ratio']:.2f} |"
        )
    c = part["clip"]
    p = c["plan"]
    source = c["source"]
    lines += [
        "",
        f"The default clip: a {source['seconds']:g} s GIF, {source['frames']} frames at "
        f"{source['fps']:.0f} fps, {source['side']} px:",
        "",
        "| size | fps | frames | first frame iterations | later frame iterations | predicted s "
        "| first frame s | painted in s | flicker |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {'×'.join(map(str, c['size']))} | {c['fps']:g} | {c['frames']} | "
        f"{p['first_iterations']} | {p['frame_iterations']} | {c['predicted_s']} | "
        f"{c['first_frame_s']} | {c['seconds']} | {c['flicker']:.2f} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--part",
        default="all",
        help="precision, bot, budget, or several (precision,budget); all: every part",
    )
    parser.add_argument("--sizes", default="256,512", help="precision part")
    parser.add_argument("--precision-iterations", type=int, default=300)
    parser.add_argument("--size", type=int, default=256, help="bot part")
    parser.add_argument("--iterations", type=int, default=300, help="bot part")
    parser.add_argument("--repeats", type=int, default=2, help="bot part")
    parser.add_argument("--photos", default=",".join(HELD_OUT), help="budget part")
    parser.add_argument("--seconds", type=float, default=75.0, help="budget: CPU_JOB_SECONDS")
    parser.add_argument(
        "--clip-seconds", type=float, default=180.0, help="budget: CPU_CLIP_SECONDS"
    )
    parser.add_argument("--clip-frames", type=int, default=60, help="budget: at 12 fps")
    parser.add_argument("--reference", default="256x300", help="budget: size x iterations")
    parser.add_argument("--phone", type=int, default=256, help="budget: the judge's size")
    parser.add_argument("--image-size", help="budget: IMAGE_SIZE (tests: tiny)")
    parser.add_argument("--cpu-iterations", help="budget: CPU_ITERATIONS (tests: few)")
    parser.add_argument("--clip-size", help="budget: CPU_CLIP_SIZE (tests: tiny)")
    parser.add_argument("--frame-iterations", help="budget: CLIP_FRAME_ITERATIONS")
    args = parser.parse_args(argv)
    parts = set()
    for name in args.part.split(","):
        if name not in (*PARTS, "all"):
            parser.error(f"--part: {name!r} is none of {', '.join(PARTS)}, all")
        parts.update(PARTS if name == "all" else (name,))
    report: dict = {"cpu": cpu_name(), "cores": os.cpu_count(), "when": time.ctime()}
    print(f"Machine: {report['cpu']}, {report['cores']} CPUs, {report['when']}\n")
    if "precision" in parts:
        sizes = [int(s) for s in args.sizes.split(",")]
        report["precision"] = precision_part(sizes, args.precision_iterations)
        print(precision_table(report["precision"]) + "\n")
    if "bot" in parts:
        report["bot"] = bot_part(args.size, args.iterations, args.repeats)
        print(bot_table(report["bot"]) + "\n")
    if parts & {"precision", "bot"}:
        OUT.mkdir(exist_ok=True)
        (OUT / "cpu.json").write_text(json.dumps(report, indent=2))
    if "budget" in parts:
        extra = {
            "IMAGE_SIZE": args.image_size,
            "CPU_ITERATIONS": args.cpu_iterations,
            "CPU_CLIP_SIZE": args.clip_size,
            "CLIP_FRAME_ITERATIONS": args.frame_iterations,
        }
        size, iterations = (int(n) for n in args.reference.split("x"))
        budget = budget_part(
            args.photos.split(","),
            args.seconds,
            args.clip_seconds,
            args.clip_frames,
            (size, iterations),
            args.phone,
            **{name: value for name, value in extra.items() if value},
        )
        print(budget_table(budget) + "\n")
        OUT.mkdir(exist_ok=True)
        (OUT / "cpu-budget.json").write_text(json.dumps(budget, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
