"""Every job of a batch ends, whatever happens to its neighbours (#28, goal 4): a fault injected
into one job of three at each step of its life — claim, decode, paint (out of memory), its
progress callback, its timelapse frame, encode, settle — first an exception, then a hang: the
other two are done once (one successful finish each), the faulty one ends with its own message
or goes back to the queue, nothing is left RUNNING. The real JobStore (SQLite in tmp_path), the
real JobRunner and VGG19 at 64 px on the CPU; each fault is a monkeypatch of the function of
that step. A hung database call on the event loop is bounded by DB_CALL_TIMEOUT_SECONDS (an
error like the exception); a hung decode is killed with its child at MEDIA_DECODE_SECONDS.
A clip's hung frame costs the clip alone. (The deliver step: tests/test_bot_notifier.py.)"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import io
import os
import sys
import threading
import time

import pytest
from PIL import Image

import engine.painter.clip_job as clip_job_module
import engine.painter.runner as runner_module
import engine.painter.worker as worker_module
from engine.paint import PaintingLost
from engine.painter.inputs import GENERIC_ERROR, LOST_ERROR
from engine.painter.runner import JobRunner
from engine.painter.stalls import PAINTER_STUCK, STALLED
from engine.painter.worker import Worker
from jobs import JobStatus, JobStore
from jobs.liveness import pid_alive
from media.timelapse import FrameRecorder
from tests.clip_support import encode_clip, moving_shape_frames
from tests.test_worker_batch import SMALL, Spy, _claim_all, settings
from tests.test_worker_clips import add_clip
from tests.test_worker_harness import add_job
from tests.waiting import eventually

HANG = 3600.0  # "never answers": every hang below is cut short by a timeout or a kill
# A clip small and short (tests/test_worker_clips.py), with no time budget to measure for.
CLIP_SETTINGS = {
    "CPU_CLIP_SIZE": 40,
    "CPU_ITERATIONS": 4,
    "CLIP_FRAME_ITERATIONS": 2,
    "CPU_CLIP_SECONDS": 0,
}


class Boom(RuntimeError):
    """The injected fault."""


class FakeOutOfMemory(__import__("torch").cuda.OutOfMemoryError):
    """Out of GPU memory, raised on the CPU."""


@pytest.fixture
async def store(tmp_path):
    async with await JobStore.open(tmp_path / "data") as store:
        yield store


@pytest.fixture
async def jobs(store):
    return [await add_job(store, user, seed=user, options=SMALL) for user in (1, 2, 3)]


@pytest.fixture
def finished(store, monkeypatch) -> collections.Counter:
    """How many times each job was recorded DONE with its result (a successful finish)."""
    counts: collections.Counter = collections.Counter()
    real = store.finish

    async def finish(job_id, *args, **kwargs):
        changed = await real(job_id, *args, **kwargs)
        counts[job_id] += bool(changed)
        return changed

    monkeypatch.setattr(store, "finish", finish)
    return counts


def _runner(store, stylizer, tmp_path, **env) -> JobRunner:
    options = {"DB_CALL_TIMEOUT_SECONDS": 0.2, **env}
    return JobRunner(store, Spy(stylizer), settings(tmp_path, **options), "w")


async def _run(store, runner, jobs) -> list[JobStatus | None]:
    statuses = await runner.run_batch(await _claim_all(store, jobs))
    await _nothing_running(store, jobs)
    return statuses


async def _nothing_running(store, jobs) -> None:
    for job in jobs:
        assert (await store.get(job.id)).status is not JobStatus.RUNNING, job.id


async def _done_once(store, finished, *jobs) -> None:
    """Each job DONE, its result recorded exactly once."""
    for job in jobs:
        assert (await store.get(job.id)).status is JobStatus.DONE, job.id
        assert finished[job.id] == 1, (job.id, finished)


async def _again(store, runner, job) -> JobStatus | None:
    """The job, back in the queue, claimed and painted again (alone)."""
    claimed = await store.claim_job("w", job.id)
    assert claimed is not None
    [status] = await runner.run_batch([claimed])
    await _nothing_running(store, [job])
    return status


async def _given_back_then_failed(store, runner, jobs, finished) -> None:
    """The middle job goes back to the queue, the others are done once; painted again at its
    MAX_ATTEMPTS (2 here), the same trouble fails it with the generic message."""
    runner.settings.max_attempts = 2
    statuses = await _run(store, runner, jobs)
    assert statuses == [JobStatus.DONE, JobStatus.QUEUED, JobStatus.DONE]
    await _done_once(store, finished, jobs[0], jobs[2])
    assert await _again(store, runner, jobs[1]) is JobStatus.FAILED
    assert (await store.get(jobs[1].id)).failure == GENERIC_ERROR


async def _hang(*args, **kwargs):
    await asyncio.sleep(HANG)


async def _size(store, job) -> tuple[int, int]:
    done = await store.get(job.id)
    data = await store.read_file(job.id, done.result_name)
    return Image.open(io.BytesIO(data)).size


async def test_a_photo_that_cannot_be_decoded_fails_alone(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished
):
    bad = await store.read_file(jobs[1].id, jobs[1].content_name)
    real = runner_module.load_content

    def load_content(context, data, size):
        if data == bad:
            raise Boom("decode")
        return real(context, data, size)

    monkeypatch.setattr(runner_module, "load_content", load_content)
    statuses = await _run(store, _runner(store, cpu_stylizer, tmp_path), jobs)
    assert statuses == [JobStatus.DONE, JobStatus.FAILED, JobStatus.DONE]
    assert (await store.get(jobs[1].id)).failure == GENERIC_ERROR
    await _done_once(store, finished, jobs[0], jobs[2])


def _callback_fault(monkeypatch, bad_id: int, fault) -> None:
    """The bad job's progress callback does `fault(progress)` at its third iteration."""
    real = runner_module.progress_callback

    def progress_callback(context, job, loop):
        callback = real(context, job, loop)
        if job.id != bad_id:
            return callback

        def faulty(progress):
            if progress.iteration == 3:
                fault(progress)
            return callback(progress)

        return faulty

    monkeypatch.setattr(runner_module, "progress_callback", progress_callback)


async def test_a_failing_progress_callback_fails_its_job_alone(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished
):
    def fault(progress):
        raise Boom("callback")

    _callback_fault(monkeypatch, jobs[1].id, fault)
    statuses = await _run(store, _runner(store, cpu_stylizer, tmp_path), jobs)
    assert statuses == [JobStatus.DONE, JobStatus.FAILED, JobStatus.DONE]
    await _done_once(store, finished, jobs[0], jobs[2])


async def test_out_of_memory_in_one_pictures_path_paints_it_again_smaller(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished
):
    tries = []

    def fault(progress):
        tries.append(progress.size)
        if len(tries) == 1:
            raise FakeOutOfMemory("CUDA out of memory (injected)")

    _callback_fault(monkeypatch, jobs[1].id, fault)
    statuses = await _run(store, _runner(store, cpu_stylizer, tmp_path), jobs)
    assert statuses == [JobStatus.DONE] * 3
    assert await _size(store, jobs[0]) == (64, 48)
    assert max(await _size(store, jobs[1])) < 64  # painted again at the smaller size
    await _done_once(store, finished, *jobs)


async def test_a_failing_timelapse_frame_fails_its_job_alone(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished
):
    made: list[FrameRecorder] = []

    class Recorder(FrameRecorder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

        def add(self, frame):
            if self is made[1] and len(self) == 2:
                raise Boom("timelapse frame")
            super().add(frame)

    monkeypatch.setattr(runner_module, "FrameRecorder", Recorder)
    statuses = await _run(store, _runner(store, cpu_stylizer, tmp_path), jobs)
    assert statuses == [JobStatus.DONE, JobStatus.FAILED, JobStatus.DONE]
    await _done_once(store, finished, jobs[0], jobs[2])


@pytest.mark.parametrize("error", [Boom("encode"), FakeOutOfMemory("encode")])
async def test_a_failing_encode_ends_its_job_alone(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, error, finished
):
    real = runner_module.encode_image
    calls = []

    def encode_image(image, *args, **kwargs):
        calls.append(image.size)
        if len(calls) == 2:
            raise error
        return real(image, *args, **kwargs)

    monkeypatch.setattr(runner_module, "encode_image", encode_image)
    statuses = await _run(store, _runner(store, cpu_stylizer, tmp_path), jobs)
    if isinstance(error, FakeOutOfMemory):  # painted again, smaller
        assert statuses == [JobStatus.DONE] * 3
        assert max(await _size(store, jobs[1])) < 64
    else:
        assert statuses == [JobStatus.DONE, JobStatus.FAILED, JobStatus.DONE]
    await _done_once(store, finished, *(job for job in jobs if job is not jobs[1]))


async def test_a_picture_that_is_lost_to_nan_fails_with_its_own_message(
    store, jobs, tmp_path, cpu_stylizer, finished
):
    runner = _runner(store, cpu_stylizer, tmp_path)
    real = runner.stylizer.stylize_batch

    def stylize_batch(requests):
        outcomes = real(requests)
        outcomes[1] = PaintingLost("injected")
        return outcomes

    runner.stylizer.stylize_batch = stylize_batch
    statuses = await _run(store, runner, jobs)
    assert statuses == [JobStatus.DONE, JobStatus.FAILED, JobStatus.DONE]
    assert (await store.get(jobs[1].id)).failure == LOST_ERROR
    await _done_once(store, finished, jobs[0], jobs[2])


@pytest.mark.parametrize("fault", ["error", "hang"])
async def test_an_outcome_that_cannot_be_recorded_goes_back_to_the_queue(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished, fault
):
    """Its attempt counted: once it has had MAX_ATTEMPTS it fails with the generic message
    instead of coming back forever."""
    real = store.finish

    async def finish(job_id, *args, **kwargs):
        if job_id == jobs[1].id:
            if fault == "hang":
                await _hang()  # bounded by DB_CALL_TIMEOUT_SECONDS (0.2 s here)
            raise Boom("settle")
        return await real(job_id, *args, **kwargs)

    monkeypatch.setattr(store, "finish", finish)
    await _given_back_then_failed(store, _runner(store, cpu_stylizer, tmp_path), jobs, finished)
    assert finished[jobs[1].id] == 0


async def test_a_photo_whose_reading_hangs_goes_back_to_the_queue(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished
):
    """A read of the job's files that never answers is the database's trouble: the job is
    given back (its attempt counted), the others are painted; at MAX_ATTEMPTS it fails."""
    real = store.read_file

    async def read_file(job_id, name):
        if job_id == jobs[1].id:
            await _hang()
        return await real(job_id, name)

    monkeypatch.setattr(store, "read_file", read_file)
    await _given_back_then_failed(store, _runner(store, cpu_stylizer, tmp_path), jobs, finished)


async def test_a_hung_decode_is_killed_and_its_job_fails_alone(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished
):
    """The bad photo's decoder child never answers: it is killed at MEDIA_DECODE_SECONDS
    and the job fails with the image refusal "takes too long to decode"."""
    bad = await store.read_file(jobs[1].id, jobs[1].content_name)
    real, hung = os.posix_spawn, []

    def posix_spawn(path, argv, env, *, file_actions):
        stdin = next(fd for action, fd, target in file_actions if target == 0)
        if os.pread(stdin, len(bad) + 1, 0) == bad:  # the bad photo's decoder: it hangs
            argv = [sys.executable, "-c", f"import time; time.sleep({HANG})"]
            hung.append(real(path, argv, env, file_actions=file_actions))
            return hung[-1]
        return real(path, argv, env, file_actions=file_actions)

    monkeypatch.setattr(os, "posix_spawn", posix_spawn)
    runner = _runner(store, cpu_stylizer, tmp_path, MEDIA_DECODE_SECONDS=3)
    statuses = await _run(store, runner, jobs)
    assert statuses == [JobStatus.DONE, JobStatus.FAILED, JobStatus.DONE]
    failure = (await store.get(jobs[1].id)).failure
    assert failure.key == "image.too_slow", failure
    await _done_once(store, finished, jobs[0], jobs[2])
    assert len(hung) == 1
    assert not pid_alive(hung[0])  # killed and reaped


async def test_when_the_painting_thread_itself_fails_every_job_ends(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch
):
    runner = _runner(store, cpu_stylizer, tmp_path)

    def paint_all(ready, loop):
        raise Boom("the thread")

    monkeypatch.setattr(runner, "_paint_all", paint_all)
    statuses = await _run(store, runner, jobs)
    assert statuses == [JobStatus.FAILED] * 3


async def test_a_hung_progress_report_costs_that_report_not_the_batch(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished
):
    real = store.report_progress
    hung = []

    async def report_progress(job_id, *args, **kwargs):
        if job_id == jobs[1].id:
            hung.append(job_id)
            await asyncio.sleep(3600)  # bounded by DB_CALL_TIMEOUT_SECONDS (0.2 s here)
        return await real(job_id, *args, **kwargs)

    monkeypatch.setattr(store, "report_progress", report_progress)
    statuses = await _run(store, _runner(store, cpu_stylizer, tmp_path), jobs)
    assert statuses == [JobStatus.DONE] * 3
    assert hung
    await _done_once(store, finished, *jobs)


def _worker(store, stylizer, tmp_path, **env) -> Worker:
    """A worker painting batches of up to three with `stylizer` (no model of its own)."""
    options = {"BATCH_JOBS": 3, "DB_CALL_TIMEOUT_SECONDS": 0.2, "POLL_SECONDS": 0.05, **env}
    worker = Worker(settings(tmp_path, **options), store)
    worker.runner = JobRunner(store, stylizer, worker.settings, worker.worker_id)
    return worker


async def _serve(worker, jobs, timeout=180.0) -> int:  # noqa: ASYNC109
    """What Worker.run does once its model is loaded (its loop and heartbeat), until every
    job has ended or the worker stops by itself; its exit code."""
    store = worker.store
    await store.register_engine(worker.info, exclusive=False)

    async def ended() -> bool:
        now = [(await store.get(job.id)).status for job in jobs]
        return not {JobStatus.QUEUED, JobStatus.RUNNING} & set(now)

    beating = asyncio.create_task(worker._heartbeat_loop())
    serving = asyncio.create_task(worker._loop())
    settled = asyncio.create_task(eventually(ended, timeout, "every job ended"))
    try:
        await asyncio.wait({serving, settled}, return_when=asyncio.FIRST_COMPLETED)
        worker.request_stop("test")
        await serving
        if settled.done():
            settled.result()  # a time-out's AssertionError
    finally:
        for task in (settled, beating):
            task.cancel()
    return worker.exit_code


@pytest.mark.parametrize("fault", ["error", "hang"])
async def test_a_mate_whose_claim_fails_stays_queued_and_the_others_are_painted(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished, fault
):
    """The claim's error (or its want of an answer) ends the search for mates: the head is
    painted, the mate stays queued and is painted later."""
    worker = _worker(store, Spy(cpu_stylizer), tmp_path)
    real, tried = store.claim_job, []

    async def claim_job(worker_id, job_id):
        if job_id == jobs[1].id:
            tried.append(job_id)
            if fault == "hang":
                await _hang()
            raise Boom("claim")
        return await real(worker_id, job_id)

    monkeypatch.setattr(store, "claim_job", claim_job)
    head = await store.claim(worker.worker_id)
    batch = await worker._with_mates(head)
    assert [job.id for job in batch] == [jobs[0].id]
    await worker._run(batch)
    assert (await store.get(jobs[0].id)).status is JobStatus.DONE
    assert (await store.get(jobs[1].id)).status is JobStatus.QUEUED
    await _nothing_running(store, jobs)
    assert await _serve(worker, jobs) == 0  # job 2 is claimed as a head, job 3 its mate
    await _done_once(store, finished, *jobs)
    assert tried == [jobs[1].id]


async def test_a_claim_that_hangs_costs_that_turn_only(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished
):
    worker = _worker(store, Spy(cpu_stylizer), tmp_path)
    real, hung = store.claim, []

    async def claim(worker_id):
        if not hung:
            hung.append(worker_id)
            await _hang()
        return await real(worker_id)

    monkeypatch.setattr(store, "claim", claim)
    assert await _serve(worker, jobs) == 0
    assert hung
    await _done_once(store, finished, *jobs)


async def test_a_stuck_painter_stops_its_heartbeat_until_the_painting_moves(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch
):
    """A hang inside the painting thread (a step that never returns) cannot be interrupted:
    the heartbeat stops saying the worker is alive (so that, should the batch's giving back
    fail too, recover_stale takes its jobs) and tells the worker (`stuck`); the stamp is
    touched at every iteration and step of a job's life."""
    worker = Worker(settings(tmp_path, HEARTBEAT_SECONDS=0.01, PAINTER_STALL_SECONDS=0.05), store)
    worker.runner = JobRunner(store, cpu_stylizer, worker.settings, worker.worker_id)
    beats: list[float] = []

    async def heartbeat(worker_id, job_id):
        beats.append(time.monotonic())
        return True

    monkeypatch.setattr(store, "heartbeat", heartbeat)
    worker.current_jobs = worker.runner.context.painting = (jobs[0].id,)
    worker.runner.context.moved = time.monotonic() - 10
    loop = asyncio.create_task(worker._heartbeat_loop())
    try:
        await eventually(worker.stuck.is_set, what="the watchdog told")
        assert beats == []
        worker.runner.context.touch()
        await eventually(lambda: beats, what="a heartbeat once the painting moved")
    finally:
        loop.cancel()


# ------------------------------------------------------------- hangs in the painting thread
STALL = 4.0  # PAINTER_STALL_SECONDS here: above a decode child's start-up on a busy CPU


class Hang:
    """A step of the painting thread that never returns while the test runs: it waits for
    `release` (set as the test ends, `hang` fixture), then raises, so the thread ends."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.times = 0

    def __call__(self, *args, **kwargs):
        self.times += 1
        self.release.wait()
        raise Boom("released as the test ends")


@pytest.fixture
async def hang():
    """(async: torn down before the event loop, whose executor then joins the freed threads)"""
    hang = Hang()
    yield hang
    hang.release.set()


@dataclasses.dataclass
class Decoded:
    """The photos the painting threads decoded: whether each was the bad job's, in order, and
    the pictures made of the bad one (by id)."""

    bad: bytes
    was_bad: list[bool] = dataclasses.field(default_factory=list)
    pictures: set[int] = dataclasses.field(default_factory=set)


@pytest.fixture
async def decoded(store, jobs, monkeypatch) -> Decoded:
    """Tells a step of the bad job (jobs[1]) from the others' where it is not handed the job."""
    seen = Decoded(await store.read_file(jobs[1].id, jobs[1].content_name))
    real = runner_module.load_content

    def load_content(context, data, size):
        picture = real(context, data, size)
        seen.was_bad.append(data == seen.bad)
        if data == seen.bad:
            seen.pictures.add(id(picture))
        return picture

    monkeypatch.setattr(runner_module, "load_content", load_content)
    return seen


async def _stuck_and_restarted(
    store, jobs, stylizer, tmp_path, spy=Spy, **env
) -> tuple[list[int], list]:
    """Workers one after another over the same store, as the bot's supervisor restarts a
    stuck one, until every job has ended: each one's exit code, and what the first left."""
    codes, after_first = [], None
    while not codes or not await _all_ended(store, jobs):
        assert len(codes) < 4, codes
        worker = _worker(
            store,
            spy(stylizer),
            tmp_path,
            HEARTBEAT_SECONDS=0.05,
            PAINTER_STALL_SECONDS=STALL,
            MAX_ATTEMPTS=2,
            **env,
        )
        codes.append(await _serve(worker, jobs))
        if after_first is None:
            after_first = [await store.get(job.id) for job in jobs]
    await _nothing_running(store, jobs)
    return codes, after_first


async def _all_ended(store, jobs) -> bool:
    now = [(await store.get(job.id)).status for job in jobs]
    return not {JobStatus.QUEUED, JobStatus.RUNNING} & set(now)


async def _culprit_failed_others_done(store, jobs, finished, codes) -> None:
    """The bad job (jobs[1]) failed with "painting_stalled" at its second stall, the others
    done once; each stall ended its worker with PAINTER_STUCK."""
    assert codes.count(PAINTER_STUCK) == 2 and set(codes) <= {0, PAINTER_STUCK}, codes
    bad = await store.get(jobs[1].id)
    assert bad.status is JobStatus.FAILED and bad.failure == STALLED, bad
    assert bad.attempts == 2
    await _done_once(store, finished, jobs[0], jobs[2])


async def _blamed_stalls(store, jobs, stylizer, tmp_path, finished) -> list[int]:
    """Painted by workers restarted after each stall: the first stall was in the bad job's own
    step, so it went back with its attempt counted, the others with theirs given back
    (batchable again); the bad job, alone, stalled again and failed; exit codes."""
    codes, after_first = await _stuck_and_restarted(store, jobs, stylizer, tmp_path)
    assert [job.status for job in after_first] == [JobStatus.QUEUED] * 3
    assert [job.attempts for job in after_first] == [0, 1, 0]
    await _culprit_failed_others_done(store, jobs, finished, codes)
    return codes


async def test_a_hung_progress_callback_costs_its_job_alone(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished, hang
):
    _callback_fault(monkeypatch, jobs[1].id, hang)
    await _blamed_stalls(store, jobs, cpu_stylizer, tmp_path, finished)
    assert hang.times == 2


async def test_a_hung_timelapse_frame_costs_its_job_alone(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished, hang, decoded
):
    class Recorder(FrameRecorder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.bad = decoded.was_bad[-1]  # made right after its job's photo is decoded

        def add(self, frame):
            if self.bad and len(self) == 2:
                hang()
            super().add(frame)

    monkeypatch.setattr(runner_module, "FrameRecorder", Recorder)
    await _blamed_stalls(store, jobs, cpu_stylizer, tmp_path, finished)


async def test_a_hung_encode_costs_its_job_alone(
    store, jobs, tmp_path, cpu_stylizer, monkeypatch, finished, hang
):
    """The encode step: JobRunner._outcome (the result as PNG, with its extra files)."""
    real = JobRunner._outcome

    def outcome(self, painting, image):
        if painting.job.id == jobs[1].id:
            hang()
        return real(self, painting, image)

    monkeypatch.setattr(JobRunner, "_outcome", outcome)
    await _blamed_stalls(store, jobs, cpu_stylizer, tmp_path, finished)


async def test_a_hung_painting_requeues_the_batch_then_finds_its_culprit_alone(
    store, jobs, tmp_path, cpu_stylizer, finished, hang, decoded
):
    """The paint step: the batch's shared iterations stand still (nobody's step known): every
    job goes back with its attempt counted, so each is then painted alone; alone, the bad
    one hangs again and fails, the others are done once."""
    real_batch, real_alone = cpu_stylizer.stylize_batch, cpu_stylizer.stylize
    batches: list[int] = []

    class Hanging(Spy):
        def stylize_batch(self, requests):
            batches.append(len(requests))
            if any(id(request.content) in decoded.pictures for request in requests):
                hang()
            return real_batch(requests)

        def stylize(self, content, *args, **kwargs):
            batches.append(1)
            if id(content) in decoded.pictures:
                hang()
            return real_alone(content, *args, **kwargs)

    codes, after_first = await _stuck_and_restarted(store, jobs, cpu_stylizer, tmp_path, Hanging)
    assert [job.status for job in after_first] == [JobStatus.QUEUED] * 3
    assert [job.attempts for job in after_first] == [1, 1, 1]
    await _culprit_failed_others_done(store, jobs, finished, codes)
    assert batches[0] == 3 and set(batches[1:]) == {1}, batches  # then each alone


async def test_every_iteration_of_a_clip_tells_the_watchdog_it_moves(
    store, tmp_path, cpu_stylizer, monkeypatch
):
    """A clip's frame may take longer than PAINTER_STALL_SECONDS (a first frame of 300
    iterations on a busy CPU): its stop check, made at every iteration, touches the painting
    as a photo's progress callback does, so only a frame that stands still is a stall."""
    clip = await add_clip(store, 9, encode_clip(moving_shape_frames(3, (48, 36)), 12))
    runner = _runner(store, cpu_stylizer, tmp_path, **CLIP_SETTINGS)
    moved: list[bool] = []

    def paint_clip(stylizer, frames, styles, options, clip, *, on_frame, should_stop, done):
        for _ in range(3):  # three iterations of the first frame
            runner.context.moved = before = time.monotonic() - 100.0
            assert should_stop() is False
            moved.append(runner.context.moved > before)
        return [frame.convert("RGB") for frame in frames]

    monkeypatch.setattr(clip_job_module, "paint_clip", paint_clip)
    assert await _run(store, runner, [clip]) == [JobStatus.DONE]
    assert moved == [True, True, True]


async def test_a_hung_clip_frame_costs_the_clip_alone(
    store, jobs, tmp_path, cpu_stylizer, finished, hang
):
    """A clip's later frame that never ends: the clip (painted alone) goes back with its
    attempt counted, hangs again and fails at MAX_ATTEMPTS; the photos are done once."""
    clip = await add_clip(store, 9, encode_clip(moving_shape_frames(6, (48, 36)), 12))
    painted_frames: list[int] = []

    class HangingClip(Spy):
        def stylize(self, content, *args, **kwargs):
            if kwargs.get("init") is not None:  # a clip's later frame starts from the last
                hang()
            painted_frames.append(1)
            return cpu_stylizer.stylize(content, *args, **kwargs)

    everything = [*jobs, clip]
    codes, after_first = await _stuck_and_restarted(
        store, everything, cpu_stylizer, tmp_path, HangingClip, **CLIP_SETTINGS
    )
    assert codes.count(PAINTER_STUCK) == 2 and set(codes) <= {0, PAINTER_STUCK}, codes
    assert after_first[-1].status is JobStatus.QUEUED and after_first[-1].attempts == 1
    failed = await store.get(clip.id)
    assert failed.status is JobStatus.FAILED and failed.failure == STALLED, failed
    assert failed.attempts == 2 and hang.times == 2, painted_frames
    assert len(painted_frames) == 2  # its first frame, once per attempt
    await _done_once(store, finished, *jobs)


async def test_a_stuck_painter_exits_at_once_with_its_own_code(tmp_path, monkeypatch):
    """run_worker ends the process with os._exit(PAINTER_STUCK): asyncio.run would wait for
    the hung thread for ever. (The supervisor's restart: tests/test_bot_supervisor.py.)"""
    exits, killed = [], []

    class Exited(BaseException):
        pass

    def _exit(code):
        exits.append(code)
        raise Exited

    async def run(self):
        self.exit_code = PAINTER_STUCK

    monkeypatch.setattr(worker_module.os, "_exit", _exit)
    monkeypatch.setattr(worker_module.sandbox, "kill_all", lambda: killed.append(True))
    monkeypatch.setattr(Worker, "run", run)
    with pytest.raises(Exited):
        await worker_module.run_worker(settings(tmp_path))
    assert exits == [PAINTER_STUCK] and killed
