"""A clip job, painted: the engine side of jobs/clips.py, called by JobRunner for clips.

The clip is decoded from the job file in a child process within the media budget and the clip
limits (media/bounded.py; killed at a cancel or a shutdown; a refusal, a timeout or a memory
kill fails the job with its one line, never retried), painted frame by
frame (engine/clips/painting.py) and stored as an MP4 job file with the last frame as `result.png`.
Progress is reported after every frame ("frame 18 of 60"), with that frame as the preview and
the engine's estimate of the time left (frames x iterations x pixels); a cancel or a shutdown
is looked at every iteration. Every CHECKPOINT_EVERY frames the frames painted so far are kept
as a job file; a painter killed mid-clip leaves the job RUNNING under a dead worker, it goes
back to the queue like a photo's, and the painter that takes it goes on from the last
checkpoint (the frames before it come back JPEG-compressed, as they were kept).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math

import torch
from PIL import Image

from engine.clips.painting import ClipOptions, ClipProgress, paint_clip
from engine.paint import Cancelled, Progress, StylizeOptions
from engine.painter.budget import measure_speed
from engine.painter.clip_plan import PLAN_NAME, SIDES, ClipPlan, plan_clip, thinned
from engine.painter.context import PainterContext
from engine.painter.inputs import JobFailed, JobInputs, load_style
from engine.painter.outcome import JobOutcome, painted_files
from engine.painter.reporting import on_loop, progress_callback
from engine.painter.sizing import oom_message
from jobs import Job
from jobs.clips import CLIP_RESULT_NAME
from jobs.events import job_event
from jobs.failures import refusal
from media.bounded import decode_clip_within
from media.images import encode_image
from media.sandbox import Stopped
from media.timelapse import FrameRecorder, unpack
from media.video import Clip, ClipError, encode_animation

log = logging.getLogger("engine.worker")

MIN_CLIP_SIDE = 32  # smaller frames are too small for VGG19's five poolings
# The frames painted so far are kept as a job file every this many frames: a painter killed
# mid-clip is then followed by one that goes on from there (rewriting all of them each time
# costs one JPEG a frame per checkpoint, small beside painting 8 frames).
CHECKPOINT_EVERY = 8
CHECKPOINT_NAME = "clip-checkpoint.zip"


def clip_side(job: Job, context: PainterContext) -> int:
    """The clip's long side: CLIP_SIZE (GPU) / CPU_CLIP_SIZE (CPU), or less if size= asks
    (not under MIN_CLIP_SIDE)."""
    settings = context.settings
    cap = settings.cpu_clip_size if context.on_cpu else settings.clip_size
    return min(cap, max(MIN_CLIP_SIDE, job.options.size)) if job.options.size else cap


def paint_clip_job(
    context: PainterContext,
    job: Job,
    inputs: JobInputs,
    options: StylizeOptions,
    loop: asyncio.AbstractEventLoop,
) -> JobOutcome:
    """(thread) Decode, paint, encode a clip job; JobFailed for a clip that can't be painted."""
    settings = context.settings
    try:
        clip = decode_clip_within(
            inputs.content,
            settings.clip_limits(settings.clip_max_seconds),
            settings.media_budget(),
            max_fps=settings.clip_max_fps,
            long_side=clip_side(job, context),
            should_stop=lambda: context.should_stop(job.id),
        )
    except ClipError as exc:
        raise JobFailed(refusal("clip", exc.reason, exc.values, exc.user_message)) from exc
    except Stopped as exc:
        raise Cancelled(0) from exc
    plan = _plan(context, job, loop, clip, options)
    frames = thinned(clip.frames, clip.fps, plan)
    fps = min(plan.fps, clip.fps)
    size = frames[0].size
    styles = [(load_style(context, inputs, ref, max(size)), ref.weight) for ref in job.styles]
    options = dataclasses.replace(options, size=max(size), iterations=plan.first_iterations)
    job_event(
        log,
        "clip",
        job,
        frames=len(frames),
        fps=fps,
        width=size[0],
        height=size[1],
        frame_iterations=plan.frame_iterations,
    )
    done = _checkpointed(context, job, loop, size, len(frames))
    if done:
        job_event(log, "resumed", job, frame=len(done) + 1, frames=len(frames))
    try:
        painted = paint_clip(
            context.stylizer,
            frames,
            styles,
            options,
            ClipOptions(frame_iterations=plan.frame_iterations),
            on_frame=_reporter(context, job, loop, done),
            should_stop=lambda: context.moving(job.id),  # every iteration of every frame
            done=done,
        )
    except torch.cuda.OutOfMemoryError as exc:  # a photo is retried smaller; a clip says so
        raise JobFailed(oom_message(max(size))) from exc
    animation = encode_animation(painted, fps)
    # The checkpoint is emptied with the result (the job table has no file delete).
    extra = painted_files(job, options, size, settings)
    extra.update({CLIP_RESULT_NAME: animation, CHECKPOINT_NAME: b""})
    return JobOutcome(encode_image(painted[-1], "PNG"), size, extra)


def _plan(
    context: PainterContext,
    job: Job,
    loop: asyncio.AbstractEventLoop,
    clip: Clip,
    options: StylizeOptions,
) -> ClipPlan:
    """(thread) The clip's plan within its budget: the one kept with the job by a painter
    before this one (a crash mid-clip: the same frames, so its checkpoint fits), else a new
    one, kept for whoever may take over."""
    try:
        kept = on_loop(loop, context.store.read_file(job.id, PLAN_NAME))
    except Exception:  # noqa: BLE001 - a kept plan is a help; a new one is as good
        kept = None
    plan = ClipPlan.from_json(kept) if kept else None
    if plan is not None:
        return plan
    settings = context.settings
    own = ClipPlan(max(clip.size), clip.fps, options.iterations, settings.clip_frame_iterations)
    budget = settings.cpu_clip_seconds if context.on_cpu else settings.gpu_clip_seconds
    if budget and context.speed is None and own.side > SIDES[-1]:
        # The first clip this painter paints with a budget that has something to choose.
        precision = context.stylizer.precision_for(settings.precision).precision
        context.speed = measure_speed(context.stylizer, precision)
    plan = plan_clip(
        context.speed, budget, clip.size, len(clip.frames), own, keep_side=bool(job.options.size)
    )
    write = context.store.write_file(job.id, PLAN_NAME, plan.to_json(), worker_id=context.worker_id)
    try:
        on_loop(loop, write)
    except Exception as exc:  # noqa: BLE001 - painting goes on; a takeover plans again
        log.warning("job %s: clip plan not kept (%s)", job.id, exc)
    return plan


def _checkpointed(
    context: PainterContext,
    job: Job,
    loop: asyncio.AbstractEventLoop,
    size: tuple[int, int],
    frames: int,
) -> list[Image.Image]:
    """(thread) The frames a painter before this one painted and kept (a crash mid-clip), if
    they fit this clip; else none (and the clip is painted from its first frame)."""
    read = context.store.read_file(job.id, CHECKPOINT_NAME)
    try:
        data = on_loop(loop, read, context.settings.db_call_timeout_seconds)
        kept = unpack(data) if data else []
    except Exception:  # a checkpoint is a help, never a reason to fail
        log.exception("job %s: checkpoint unreadable; painting from the first frame", job.id)
        return []
    if not kept or len(kept) >= frames or any(frame.size != size for frame in kept):
        return []
    return kept


def _checkpoint(
    context: PainterContext, job: Job, loop: asyncio.AbstractEventLoop, painted: list[Image.Image]
) -> None:
    """(thread) Keep the frames painted so far as a job file, so that a painter taking over
    after a crash goes on from there instead of the first frame."""
    recorder = FrameRecorder(2, side=max(painted[0].size))
    for frame in painted:
        recorder.add(frame)
    write = context.store.write_file(
        job.id, CHECKPOINT_NAME, recorder.pack(), worker_id=context.worker_id
    )
    try:
        on_loop(loop, write, context.settings.db_call_timeout_seconds)
    except Exception as exc:  # painting goes on; a crash would then repaint more
        log.warning("job %s: checkpoint not written (%s)", job.id, exc)


def _reporter(
    context: PainterContext, job: Job, loop: asyncio.AbstractEventLoop, done: list[Image.Image]
):
    """After every painted frame, the runner's own progress report (the database hears it
    whatever PROGRESS_EVERY says): frames painted as the iteration, the frame just painted as
    the preview, the clip's time left. True (stop) when the job was cancelled or taken from
    this worker. (The painter's iterations metric counts a clip's frames.)"""
    report = progress_callback(context, job, loop)

    painted = list(done)

    def on_frame(progress: ClipProgress) -> bool:
        painted.append(progress.last)
        if progress.frame % CHECKPOINT_EVERY == 0 and progress.frame < progress.total:
            _checkpoint(context, job, loop, painted)  # before the report that shows the frame

        def render(side: int) -> Image.Image:
            thumb = progress.last.copy()
            thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
            return thumb

        snapshot = Progress(
            iteration=progress.frame,
            total=progress.total,
            raw_loss=math.nan,
            elapsed=progress.elapsed,
            eta=progress.eta,
            size=progress.last.size,
            final=True,  # report now, whatever PROGRESS_EVERY says
            _render=render,
        )
        return bool(report(snapshot))

    return on_frame
