"""Clips end to end: `python -m bot` against the fake Bot API with the real engine worker (CPU,
40 px, a few iterations a frame). A video, a GIF (Telegram's MP4 animation) and a round video
message in, a painted looping animation out; progress counted in frames; cancel; the bad
inputs, each refused in one line with nothing queued; an engine killed mid-clip."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pytest
from PIL import Image

from bench import hostile_media as hostile
from jobs import JobStatus, JobStore
from jobs.clips import is_clip
from tests.clip_support import (
    encode_clip,
    moving_shape_frames,
    sound_only_clip,
    still_png,
    unknown_codec_clip,
)
from tests.fake_bot_api import Call, make_chat
from tests.style_support import copy_styles, decode_video
from tests.test_bot_e2e import (
    ALICE,
    BOB,
    caption,
    expect_answers,
    replies_to,
    start,
    wait_call,
)
from tests.waiting import notifier_caught_up

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def clip_env(bot_env: dict[str, str]) -> dict[str, str]:
    copy_styles(Path(bot_env["STYLES_DIR"]), ("monet",))
    return {
        **bot_env,
        "ENGINE_EXTERNAL": "0",
        "DEVICE": "cpu",
        "PRECISION": "fp32",
        # No time budget for photos (fixed sizes): the engine then skips measuring its speed
        # at start (measure_speed, tens of seconds on a loaded CPU, every engine start).
        "CPU_JOB_SECONDS": "0",
        "CPU_ITERATIONS": "6",  # the first frame
        "CLIP_FRAME_ITERATIONS": "3",  # every later one
        "CPU_CLIP_SIZE": "40",
        "CLIP_MAX_SECONDS": "3",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "POLL_SECONDS": "0.2",
        "HEARTBEAT_SECONDS": "1",
        "NOTIFY_POLL_SECONDS": "0.2",
    }


def clip(frames: int = 12, fps: float = 12, *, audio: bool = False) -> bytes:
    return encode_clip(moving_shape_frames(frames, (64, 48)), fps, audio=audio)


def is_animation_for(message_id: int, chat_id: int = ALICE["id"]):
    return lambda c: (
        c.method == "sendAnimation" and c.chat_id == chat_id and replies_to(c, message_id)
    )


def button_data(call: Call) -> list[str]:
    return [data or "" for _, data in call.buttons()]


async def test_a_video_with_sound_comes_back_painted_as_a_silent_animation(
    spawn_bot, fake_api, clip_env
):
    proc = await start(spawn_bot, clip_env)
    # 1 s at 24 fps with sound: painted as 12 frames at 12 fps (CLIP_MAX_FPS), 40x30.
    update = fake_api.video_update(clip(24, 24, audio=True), "/style monet", duration=1)
    video_id = update["message"]["message_id"]
    fake_api.push(update)
    queued = await wait_call(
        fake_api, lambda c: c.method == "sendMessage" and replies_to(c, video_id), 20, proc=proc
    )
    assert "sound is dropped" in queued.text
    await wait_call(
        fake_api,
        lambda c: c.method in ("editMessageMedia", "sendPhoto") and "of 12" in caption(c),
        120,
        proc=proc,
    )
    result = await wait_call(fake_api, is_animation_for(video_id), 180, proc=proc)
    frames = decode_video(result.file_bytes("animation"))
    assert len(frames) == 12 and frames[0].size == (40, 30)
    caption_text = result.params.get("caption") or ""
    assert "The Water-Lily Pond" in caption_text or "monet" in caption(result).lower()
    data = button_data(result)
    assert any(d.endswith(":more") for d in data) and any(d.endswith(":styles") for d in data)
    assert not any(d.startswith(("png:", "tl:")) for d in data)  # no PNG, no timelapse
    progress_edits = [
        c for c in fake_api.calls() if c.method == "editMessageMedia" and "Frame" in caption(c)
    ]
    assert progress_edits, "progress was shown in frames"
    # "Stronger" under the result: the same clip again, painted and sent as an animation.
    stronger = next(d for d in data if d.endswith(":more"))
    await fake_api.press(result, stronger, user=ALICE)
    await wait_call(
        fake_api,
        lambda c: c.method == "sendAnimation" and c is not result and replies_to(c, video_id),
        180,
        proc=proc,
    )
    sound_notes = [c for c in fake_api.calls("sendMessage") if "sound is dropped" in (c.text or "")]
    assert len(sound_notes) == 1  # said once, with the first request
    assert await proc.stop(timeout=30) == 0


async def test_a_gif_in_a_group_and_a_round_video_message_by_keyboard(
    spawn_bot, fake_api, clip_env
):
    proc = await start(spawn_bot, clip_env)
    group = make_chat()
    gif = fake_api.animation_update(clip(8, 8), user=BOB, chat=group)  # no caption: nothing
    fake_api.push(gif)
    ask = fake_api.text_update(
        "/style monet strength=2", user=BOB, chat=group, reply_to=gif["message"]
    )
    fake_api.push(ask)
    gif_id = gif["message"]["message_id"]
    # A round video message in private: no caption possible, so the style keyboard.
    note = fake_api.video_note_update(clip(6, 6), user=ALICE, duration=1)
    note_id = note["message"]["message_id"]
    fake_api.push(note)
    menu = await wait_call(
        fake_api, lambda c: c.method == "sendMessage" and replies_to(c, note_id), 20, proc=proc
    )
    monet = next(d for d in button_data(menu) if d.startswith("style:monet:"))
    await fake_api.press(menu, monet, user=ALICE)
    in_group = await wait_call(fake_api, is_animation_for(gif_id, group["id"]), 180, proc=proc)
    assert in_group.chat_id == group["id"] and "Bob" in in_group.params.get("caption", "")
    assert "strength 2" in in_group.params.get("caption", "")
    assert len(decode_video(in_group.file_bytes("animation"))) == 8
    private = await wait_call(fake_api, is_animation_for(note_id), 180, proc=proc)
    assert len(decode_video(private.file_bytes("animation"))) == 6
    assert await proc.stop(timeout=30) == 0


async def test_cancel_stops_a_clip(spawn_bot, fake_api, clip_env):
    env = {**clip_env, "CLIP_FRAME_ITERATIONS": "300"}
    proc = await start(spawn_bot, env)
    update = fake_api.video_update(clip(24, 12), "/style monet", duration=2)
    video_id = update["message"]["message_id"]
    fake_api.push(update)
    await wait_call(
        fake_api,
        lambda c: c.method in ("editMessageMedia", "sendPhoto") and "Frame 1 of 24" in caption(c),
        120,
        proc=proc,
    )
    fake_api.push(fake_api.text_update("/cancel"))
    await wait_call(fake_api, lambda c: "Cancelled" in caption(c), 60, proc=proc)
    async with await JobStore.open(Path(env["DATA_DIR"])) as store:
        await notifier_caught_up(fake_api, store)
    assert not [c for c in fake_api.calls("sendAnimation") if replies_to(c, video_id)]
    assert await proc.stop(timeout=30) == 0


async def test_bad_clips_get_one_line_and_nothing_is_queued(spawn_bot, fake_api, clip_env):
    env = {**clip_env, "ENGINE_EXTERNAL": "1"}  # nothing gets painted here
    proc = await start(spawn_bot, env)
    big = b"\x00\x00\x00\x18ftypmp42" + bytes(21 * 1024 * 1024)
    cases = [
        (fake_api.video_update(clip(), "/style monet", duration=30), "at most 3 seconds"),
        (fake_api.video_update(clip(48, 12), "/style monet", duration=1), "longer than 3"),
        (fake_api.video_update(big, "/style monet"), "up to 20.0 MB"),
        (fake_api.video_update(b"garbage" * 100, "/style monet"), "could not read"),
        (fake_api.animation_update(still_png(), "/style monet"), "still picture"),
        (fake_api.video_update(sound_only_clip(True), "/style monet"), "no frames"),
        (fake_api.video_update(unknown_codec_clip(), "/style monet"), "can't decode"),
    ]
    await expect_answers(fake_api, cases, proc, within=20)
    async with await JobStore.open(Path(env["DATA_DIR"])) as store:
        assert await store.user_jobs(ALICE["id"], active_only=False) == []
        # A video sent as a file is a clip like any other.
        as_file = fake_api.document_update(clip(), "video/mp4", "holiday.mp4", "/style monet")
        await expect_answers(fake_api, [(as_file, "Queued")], proc, within=20)
        [job] = await store.user_jobs(ALICE["id"], active_only=False)
        assert is_clip(job) and job.content_name == "clip.mp4"
    assert await proc.stop(timeout=30) == 0


async def test_hostile_clips_and_pictures_get_their_line_within_ten_seconds(
    spawn_bot, fake_api, clip_env
):
    """#28: each answered within 10 s (the decode budget) with its one line, nothing
    queued."""
    env = {**clip_env, "ENGINE_EXTERNAL": "1", "CLIP_MAX_SECONDS": "10"}
    proc = await start(spawn_bot, env)
    big_png = io.BytesIO()
    Image.new("RGBA", (7000, 7000), (10, 20, 30, 200)).save(big_png, "PNG", compress_level=1)
    cases = [
        (fake_api.video_update(hostile.huge_frames(2), "/style monet", duration=2), "7680×4320"),
        (fake_api.animation_update(hostile.gif_screen(), "/style monet"), "6000×6000"),
        (fake_api.video_update(hostile.too_many_frames(900), "/style monet"), "too many frames"),
        (fake_api.video_update(hostile.microsecond_frames(), "/style monet"), "too many frames"),
        (fake_api.video_update(hostile.mislabelled_png(), "/style monet"), "still picture"),
        (
            fake_api.document_update(big_png.getvalue(), "image/png", "big.png", "/style monet"),
            "too much memory",
        ),
    ]
    await expect_answers(fake_api, cases, proc, within=10)
    async with await JobStore.open(Path(env["DATA_DIR"])) as store:
        assert await store.user_jobs(ALICE["id"], active_only=False) == []
    assert await proc.stop(timeout=30) == 0


async def test_an_engine_killed_mid_clip_the_clip_arrives_once(spawn_bot, fake_api, clip_env):
    env = {**clip_env, "CLIP_FRAME_ITERATIONS": "12", "STALE_AFTER_SECONDS": "3"}
    proc = await start(spawn_bot, env)
    update = fake_api.video_update(clip(24, 12), "/style monet", duration=2)
    video_id = update["message"]["message_id"]
    fake_api.push(update)
    await wait_call(
        fake_api, lambda c: "Frame 2 of 24" in caption(c) or "Frame 3 of 24" in caption(c),
        120, proc=proc,
    )  # fmt: skip
    async with await JobStore.open(Path(env["DATA_DIR"])) as store:
        [engine] = await store.engines()
        os.kill(engine.pid, signal.SIGKILL)  # the bot's supervisor starts another
        result = await wait_call(fake_api, is_animation_for(video_id), 240, proc=proc)
        [job] = await store.user_jobs(ALICE["id"], active_only=False)
        assert is_clip(job) and job.status is JobStatus.DONE and job.attempts == 2
        await notifier_caught_up(fake_api, store)
    assert len(decode_video(result.file_bytes("animation"))) == 24
    assert len([c for c in fake_api.calls("sendAnimation") if replies_to(c, video_id)]) == 1
    assert await proc.stop(timeout=30) == 0
