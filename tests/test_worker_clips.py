"""Clip jobs through real worker processes: painted frame by frame with progress counted in
frames, cancelled, refused, and repainted once after a painter is killed mid-clip."""

from __future__ import annotations

import dataclasses
import io
import itertools

import av
import pytest
from PIL import Image

from bench import hostile_media as hostile
from engine.painter.clip_job import CHECKPOINT_EVERY, CHECKPOINT_NAME
from jobs import Job, JobOptions, JobStatus, JobStore, StyleRef
from jobs.clips import CLIP_RESULT_NAME, clip_content_name, is_clip
from jobs.testing import new_job
from media.messages import CLIP_MESSAGES
from tests.clip_support import encode_clip, moving_shape_frames
from tests.test_worker_harness import (
    WorkerProcess,
    picture,
    shared_worker,
    store_beside,
    wait_progress,
    wait_status,
)

FINISHED = {JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED}
CLIP_ENV = {
    "ITERATIONS": "4",
    "CPU_CLIP_SIZE": "40",
    "CLIP_FRAME_ITERATIONS": "2",
    "CLIP_MAX_SECONDS": "3",
    "CLIP_MAX_FPS": "12",
}
_users = itertools.count(500)


async def add_clip(
    store: JobStore, user_id: int, video: bytes, *, suffix: str = ".mp4", **kw
) -> Job:
    styles = (StyleRef(image="style-0.png"),)
    new = dataclasses.replace(
        new_job(user_id, styles=styles, **kw), content_name=clip_content_name(suffix)
    )
    assert is_clip(new)
    files = {new.content_name: video, "style-0.png": picture(7, (64, 64))}
    job, _ = await store.enqueue(new, files)
    return job


def _frames_of(mp4: bytes) -> list[Image.Image]:
    with av.open(io.BytesIO(mp4)) as container:
        assert not container.streams.audio
        return [frame.to_image() for frame in container.decode(video=0)]


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    with shared_worker(tmp_path_factory.mktemp("clip-worker"), **CLIP_ENV) as worker:
        yield worker


@pytest.fixture
async def store(worker):
    async with store_beside(worker) as store:
        yield store


async def test_a_clip_is_painted_frame_by_frame_into_an_animation(store):
    # 1 s at 24 fps with sound, 64x48: painted as 12 frames at 12 fps, 40x30, no sound.
    video = encode_clip(moving_shape_frames(24, (64, 48)), 24, audio=True)
    job = await add_clip(store, next(_users), video)
    done = await wait_status(store, job.id, FINISHED)
    assert done.status is JobStatus.DONE, done.error
    assert done.iteration == done.total_iterations == 12  # counted in frames
    names = await store.file_names(job.id)
    assert {CLIP_RESULT_NAME, "result.png", "preview.jpg", "painted.json"} <= set(names)
    frames = _frames_of(await store.read_file(job.id, CLIP_RESULT_NAME))
    assert len(frames) == 12 and frames[0].size == (40, 30)
    still = Image.open(io.BytesIO(await store.read_file(job.id, "result.png")))
    assert still.size == (40, 30)


async def test_a_clip_with_size_asks_for_less_never_more(store):
    video = encode_clip(moving_shape_frames(6, (64, 48)), 12)
    small = await add_clip(store, next(_users), video, options=JobOptions(size=32))
    large = await add_clip(store, next(_users), video, options=JobOptions(size=1000))
    for job, size in ((small, (32, 24)), (large, (40, 30))):
        done = await wait_status(store, job.id, FINISHED)
        assert done.status is JobStatus.DONE, done.error
        frames = _frames_of(await store.read_file(job.id, CLIP_RESULT_NAME))
        assert frames[0].size == size


async def test_a_bad_clip_fails_with_one_clear_line(store):
    user = next(_users)
    too_long = await add_clip(store, user, encode_clip(moving_shape_frames(48, (32, 24)), 12))
    garbage = await add_clip(store, user, b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 300)
    failed = [await wait_status(store, job.id, FINISHED) for job in (too_long, garbage)]
    assert [job.status for job in failed] == [JobStatus.FAILED] * 2
    assert "longer than 3 seconds" in failed[0].error
    assert "could not read this video" in failed[1].error


async def test_hostile_clips_fail_once_with_their_line_never_retried(store):
    """#28: refused by the painter's decode (from the header, in its child): FAILED at the
    first attempt with the one-line reason, the painter alive for the next job."""
    user = next(_users)
    cases = [
        (hostile.huge_frames(2), "frames are too large (7680×4320)"),
        (hostile.gif_screen(65535, 200), "frames are too large (65535×65535)"),
        (hostile.microsecond_frames(1000), "too many frames"),
    ]
    jobs = [await add_clip(store, user, data) for data, _ in cases]
    for job, (_, expected) in zip(jobs, cases, strict=True):
        failed = await wait_status(store, job.id, FINISHED)
        assert failed.status is JobStatus.FAILED and failed.attempts == 1
        assert expected in failed.error and "\n" not in failed.error


async def test_a_clip_past_the_decoding_time_fails_once_never_retried(tmp_path):
    """A decode killed at MEDIA_DECODE_SECONDS is the clip's failure (JobFailed), not a crash
    that MAX_ATTEMPTS would retry."""
    data = tmp_path / "data"
    (tmp_path / "styles").mkdir()
    async with await JobStore.open(data) as store:
        job = await add_clip(store, 1, encode_clip(moving_shape_frames(24, (64, 48)), 12))
        worker = WorkerProcess(data, **CLIP_ENV, MEDIA_DECODE_SECONDS="0.05")
        try:
            failed = await wait_status(store, job.id, FINISHED)
        finally:
            worker.stop()
        assert failed.status is JobStatus.FAILED and failed.attempts == 1
        assert failed.error == CLIP_MESSAGES["too_slow"]


async def test_cancel_a_clip_mid_way(store, worker):
    slow = {"options": JobOptions(iterations=400)}
    video = encode_clip(moving_shape_frames(24, (64, 48)), 12)
    job = await add_clip(store, next(_users), video, **slow)
    await wait_progress(store, job.id, iteration=0)
    assert await store.cancel(job.id) is JobStatus.RUNNING
    cancelled = await wait_status(store, job.id, FINISHED, within=60)
    assert cancelled.status is JobStatus.CANCELLED
    assert CLIP_RESULT_NAME not in await store.file_names(job.id)


async def test_a_painter_killed_mid_clip_the_next_goes_on_from_its_checkpoint(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "styles").mkdir()
    env = {**CLIP_ENV, "CLIP_FRAME_ITERATIONS": "15"}  # slow enough to be killed mid-clip
    async with await JobStore.open(data) as store:
        video = encode_clip(moving_shape_frames(24, (64, 48)), 12)  # 2 s: 24 frames
        job = await add_clip(store, 1, video)
        first = WorkerProcess(data, "first", **env)
        try:  # frame 8 is reported after the checkpoint of frames 1-8 was written
            running = await wait_progress(store, job.id, iteration=CHECKPOINT_EVERY + 1)
            assert running.total_iterations == 24 and running.attempts == 1
        finally:
            first.kill()
        assert CHECKPOINT_NAME in await store.file_names(job.id)
        assert (await store.get(job.id)).status is JobStatus.RUNNING  # nobody knows yet
        second = WorkerProcess(data, "second", **CLIP_ENV)  # the rest at CLIP_ENV's pace
        try:
            done = await wait_status(store, job.id, FINISHED)
            assert done.status is JobStatus.DONE, done.error
            assert done.attempts == 2
            assert "recovered jobs of dead workers: [1]" in second.log()
            resumed = [line for line in second.log().splitlines() if " resumed:" in line]
            assert len(resumed) == 1 and "frame=9 frames=24" in resumed[0]
            reported = [line for line in second.log().splitlines() if " progress:" in line]
            assert reported and not any("iteration=8 " in line for line in reported)
            assert any("iteration=9 " in line for line in reported)  # 1-8 not painted again
            frames = _frames_of(await store.read_file(job.id, CLIP_RESULT_NAME))
            assert len(frames) == 24
            assert await store.read_file(job.id, CHECKPOINT_NAME) == b""  # emptied when done
            assert second.log().count(f"job {job.id} done") == 1
        finally:
            second.stop()
