"""End to end: `python -m bot` as a subprocess against the fake Bot API, with the REAL engine
worker started by the bot's supervisor (CPU, 64 px, a few hundred iterations).

Slow-ish (each test starts torch + VGG19 in a child process; about 3-4 minutes for the file
on 2 CPU cores): `pytest tests/test_bot_e2e.py`.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from jobs import Job, JobStatus, JobStore
from jobs.painted import PAINTED_NAME, Painted
from styles import load_catalogue
from tests.bot_harness import free_port, http_get, metric_samples
from tests.fake_bot_api import DEFAULT_USER_ID, Call, FakeBotAPI, make_user
from tests.style_support import copy_styles, decode, decode_video, difference, photo
from tests.waiting import eventually, notifier_caught_up

pytestmark = pytest.mark.timeout(300)

ALICE = make_user(DEFAULT_USER_ID, "Alice", "alice")
BOB = make_user(2002, "Bob")
CAROL = make_user(3003, "Carol")


@pytest.fixture
def e2e_env(bot_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    copy_styles(Path(bot_env["STYLES_DIR"]), ("monet", "udnie"))
    return {
        **bot_env,
        "ENGINE_EXTERNAL": "0",
        "DEVICE": "cpu",
        "IMAGE_SIZE": "64",
        "ITERATIONS": "200",
        "CPU_IMAGE_SIZE": "64",
        "CPU_ITERATIONS": "5000",  # ITERATIONS decides (the engine caps CPU jobs otherwise)
        "PROGRESS_EVERY": "100",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "POLL_SECONDS": "0.2",
        "HEARTBEAT_SECONDS": "1",
        "NOTIFY_POLL_SECONDS": "0.2",
        "ENGINE_STOP_GRACE_SECONDS": "20",
    }


async def start(spawn_bot, env: dict[str, str]):
    proc = await spawn_bot(env=env)
    await proc.wait_output("Picasso Me started", timeout=60)
    if env.get("ENGINE_EXTERNAL") == "0":
        await proc.wait_output("ready on", timeout=120)  # the engine loaded VGG19
    return proc


async def wait_call(
    fake: FakeBotAPI,
    predicate: Callable[[Call], bool],
    timeout: float = 60.0,  # noqa: ASYNC109
    *,
    since: int = 0,
    proc=None,
) -> Call:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for call in fake.calls(since=since):
            if call.ok and predicate(call):
                return call
        if asyncio.get_running_loop().time() > deadline:
            seen = [(c.method, c.text) for c in fake.calls(since=since) if c.method != "getUpdates"]
            output = proc.output[-4000:] if proc is not None else ""
            raise AssertionError(f"no matching call in {timeout}s; seen {seen}\n{output}")
        await asyncio.sleep(0.05)


def caption(call: Call) -> str:
    media = call.params.get("media")
    if isinstance(media, dict):
        return media.get("caption") or ""
    return call.text or ""


def read_environ(pid: int) -> bytes:
    path = Path(f"/proc/{pid}/environ")
    return path.read_bytes() if path.exists() else b""


def preview_field(call: Call) -> str:
    """Where the preview image of a progress call was uploaded."""
    return call.params["media"]["media"] if call.method == "editMessageMedia" else "photo"


def replies_to(call: Call, message_id: int) -> bool:
    return (call.params.get("reply_parameters") or {}).get("message_id") == message_id


def answers(call: Call, update: dict) -> bool:
    """`call` was sent to the chat of `update` as a reply to its message."""
    message = update["message"]
    return call.chat_id == message["chat"]["id"] and replies_to(call, message["message_id"])


def id_of(job: Job) -> int:
    return job.id


def is_result(call: Call) -> bool:
    return call.method == "sendPhoto" and any(
        (data or "").startswith("png:") for _, data in call.buttons()
    )


async def test_private_photo_result_png_timelapse_and_stronger(spawn_bot, fake_api, e2e_env):
    env = {**e2e_env, "ITERATIONS": "300"}  # 100 and 200 are then both progress reports
    proc = await start(spawn_bot, env)
    update = fake_api.photo_update(photo(96, 64), "/style monet", user=ALICE)
    photo_id = update["message"]["message_id"]
    fake_api.push(update)
    queued = await wait_call(
        fake_api, lambda c: c.method == "sendMessage" and replies_to(c, photo_id), 10, proc=proc
    )
    assert "Queued" in queued.text or "Painting now" in queued.text
    step = await wait_call(
        fake_api,
        lambda c: c.method in ("sendPhoto", "editMessageMedia") and "100/300" in caption(c),
        proc=proc,
    )
    preview = decode(step.file_bytes(preview_field(step)))
    assert max(preview.size) <= 320  # the engine's preview, shown while it paints
    await wait_call(
        fake_api,
        lambda c: c.method in ("sendPhoto", "editMessageMedia") and "200/300" in caption(c),
        proc=proc,
    )
    result = await wait_call(fake_api, is_result, proc=proc)
    assert replies_to(result, photo_id)
    image = decode(result.file_bytes("photo"))
    assert max(image.size) == 64
    done = await wait_call(fake_api, lambda c: "Done in" in (c.text or caption(c)), proc=proc)
    assert done.method in ("editMessageCaption", "editMessageText")

    buttons = dict(result.buttons())
    mark = fake_api.mark()
    fake_api.push(fake_api.callback_update(result, buttons["Full resolution (PNG)"], user=ALICE))
    document = await wait_call(fake_api, lambda c: c.method == "sendDocument", 20, since=mark)
    png = document.file_bytes("document")
    assert png.startswith(b"\x89PNG") and decode(png).size == image.size

    # The timelapse: the engine's frames, from the photo to the painting, as an MP4.
    mark = fake_api.mark()
    fake_api.push(fake_api.callback_update(result, buttons["🎞 Timelapse"], user=ALICE))
    animation = await wait_call(fake_api, lambda c: c.method == "sendAnimation", 30, since=mark)
    frames = decode_video(animation.file_bytes(animation.params["animation"]))
    assert len(frames) >= 24
    sent = decode(photo(96, 64))
    assert difference(frames[0], sent) < 0.5 * difference(frames[0], image)
    assert difference(frames[-1], image) < 0.5 * difference(frames[-1], sent)

    # Stronger: the same photo again, with more of the painting in it.
    mark = fake_api.mark()
    fake_api.push(fake_api.callback_update(result, buttons["➕ Stronger"], user=ALICE))
    stronger = await wait_call(fake_api, is_result, 120, since=mark, proc=proc)
    assert replies_to(stronger, photo_id)
    assert difference(decode(stronger.file_bytes("photo")), image) > 0.01
    async with await JobStore.open(Path(env["DATA_DIR"])) as store:
        first, second = sorted(await store.user_jobs(ALICE["id"], active_only=False), key=id_of)
        records = [await store.read_file(j.id, PAINTED_NAME) for j in (first, second)]
        painted = [Painted.from_json(r) for r in records]
        # Stronger steps the multiplier asked for; the loss used it times Monet's own balance.
        assert [p.strength_asked for p in painted] == [1.0, 1.5]
        own = load_catalogue().resolve("monet").defaults["strength"]
        assert [p.strength for p in painted] == [own, round(1.5 * own, 4)]
        assert second.options.strength == 1.5
    assert await proc.stop(timeout=60) == 0
    assert "stopping the engine" in proc.output


async def test_keyboard_group_and_own_style_flows(spawn_bot, fake_api, e2e_env):
    # Three paintings: who asked and who is credited is the point, not how well they are painted.
    proc = await start(spawn_bot, {**e2e_env, "ITERATIONS": "50"})
    # Keyboard: a private photo without caption, tap "Udnie".
    pic = fake_api.photo_update(photo(80, 60), user=BOB)
    fake_api.push(pic)
    keyboard = await wait_call(fake_api, lambda c: bool(c.buttons()), 10, proc=proc)
    data = dict(keyboard.buttons())["Udnie"]
    fake_api.push(fake_api.callback_update(keyboard, data, user=BOB))
    await wait_call(
        fake_api, lambda c: c.method == "editMessageText" and "Queued" in (c.text or ""), 10
    )

    # Group: Carol replies /style monet to Alice's photo; the result credits Carol.
    group_photo = fake_api.photo_update(photo(64, 64), user=ALICE, chat="supergroup")
    fake_api.push(group_photo)
    command = fake_api.text_update(
        "/style@PicassoMeTestBot monet",
        user=CAROL,
        chat="supergroup",
        reply_to=group_photo["message"],
    )
    fake_api.push(command)

    # Own style: Alice replies to her photo with a painting captioned /style.
    content = fake_api.photo_update(photo(72, 48), user=ALICE)
    fake_api.push(content)
    painting = fake_api.photo_update(
        photo(64, 64, color=(20, 20, 220)), "/style", user=ALICE, reply_to=content["message"]
    )
    fake_api.push(painting)

    bob_result = await wait_call(fake_api, lambda c: is_result(c) and answers(c, pic), proc=proc)
    assert "Udnie" in bob_result.text
    group_result = await wait_call(
        fake_api,
        lambda c: is_result(c) and answers(c, group_photo),
        proc=proc,
    )
    assert "The Water-Lily Pond" in group_result.text
    assert f'<a href="tg://user?id={CAROL["id"]}">Carol</a>' in group_result.text
    own_result = await wait_call(
        fake_api,
        lambda c: is_result(c) and answers(c, content),
        proc=proc,
    )
    assert "your painting" in own_result.text
    assert await proc.stop(timeout=60) == 0


async def test_bad_inputs_get_clear_replies(spawn_bot, fake_api, e2e_env):
    env = {**e2e_env, "ENGINE_EXTERNAL": "1"}  # nothing gets painted here
    proc = await start(spawn_bot, env)
    cases = [
        (fake_api.photo_update(photo(), "/style monnet"), "Did you mean monet"),
        (
            fake_api.document_update(b"%PDF-1.4 ...", "application/pdf", "a.pdf", "/style monet"),
            "isn't an image",
        ),
        (
            fake_api.document_update(
                b"\xff\xd8\xff" + bytes(21 * 1024 * 1024), "image/jpeg", "big.jpg", "/style monet"
            ),
            "up to 20.0 MB",
        ),
        (
            fake_api.document_update(
                photo(400, 300)[:3000], "image/jpeg", "cut.jpg", "/style monet"
            ),
            "damaged or cut off",
        ),
        (
            fake_api.document_update(photo(2000, 40), "image/jpeg", "thin.jpg", "/style monet"),
            "long and thin",
        ),
        (fake_api.sticker_update(), "Stickers"),
        # Clips are painted (tests/test_bot_clips.py); these bytes are no video.
        (fake_api.video_update(caption="/style monet"), "could not read this video"),
        (fake_api.animation_update(caption="/style monet"), "could not read this video"),
        (fake_api.photo_update(photo(), "/style monet size=abc"), "size"),
    ]
    await expect_answers(fake_api, cases, proc)
    assert await proc.stop(timeout=30) == 0


async def expect_answers(
    fake: FakeBotAPI, cases: list[tuple[dict, str]], proc, within: float = 10.0
) -> None:
    """Push each update and wait for the bot's one-line reply to it, containing the text."""
    for update, expected in cases:
        message_id = update["message"]["message_id"]
        fake.push(update)
        answer = await wait_call(
            fake,
            lambda c, m=message_id: c.method == "sendMessage" and replies_to(c, m),
            within,
            proc=proc,
        )
        assert expected in answer.text and "\n" not in answer.text, (expected, answer.text)


async def test_killed_mid_job_result_arrives_exactly_once(spawn_bot, fake_api, e2e_env):
    # Killed at 100 of 300: mid-job with 200 iterations to spare; the next engine paints all 300.
    env = {**e2e_env, "ITERATIONS": "300"}
    proc = await start(spawn_bot, env)
    update = fake_api.photo_update(photo(96, 64), "/style monet", user=ALICE)
    photo_id = update["message"]["message_id"]
    fake_api.push(update)
    await wait_call(
        fake_api,
        lambda c: c.method in ("sendPhoto", "editMessageMedia") and "100/300" in caption(c),
        proc=proc,
    )
    # Crash: engine and bot both SIGKILLed, nothing gets to clean up.
    data_dir = Path(env["DATA_DIR"])
    store = await JobStore.open(data_dir)
    try:
        [engine] = await store.engines()
        environ = await asyncio.to_thread(read_environ, engine.pid)
        assert env["TELEGRAM_TOKEN"].encode() not in environ  # the engine never gets it
        os.kill(engine.pid, signal.SIGKILL)
        proc.proc.kill()
        await proc.proc.wait()
        [job] = await store.user_jobs(ALICE["id"], active_only=False)
        assert job.status is JobStatus.RUNNING

        proc2 = await start(spawn_bot, env)
        result = await wait_call(fake_api, is_result, 240, proc=proc2)
        assert replies_to(result, photo_id)
        await notifier_caught_up(fake_api, store)
        results = [c for c in fake_api.calls() if c.ok and is_result(c)]
        assert len(results) == 1
        [job] = await store.user_jobs(ALICE["id"], active_only=False)
        assert job.status is JobStatus.DONE and job.delivered_at is not None
        assert await proc2.stop(timeout=60) == 0
    finally:
        await store.close()


async def test_flood_from_one_user_does_not_starve_another(spawn_bot, fake_api, e2e_env):
    env = {**e2e_env, "MAX_ACTIVE_JOBS_PER_USER": "50", "ITERATIONS": "100"}
    proc = await start(spawn_bot, env)
    for _ in range(30):
        fake_api.push(fake_api.photo_update(photo(64, 48), "/style monet", user=ALICE))
    bob = fake_api.photo_update(photo(64, 48), "/style udnie", user=BOB)
    fake_api.push(bob)
    result = await wait_call(
        fake_api, lambda c: is_result(c) and c.chat_id == BOB["id"], 180, proc=proc
    )
    assert replies_to(result, bob["message"]["message_id"])
    store = await JobStore.open(Path(env["DATA_DIR"]))
    try:
        # Bob's photo may be taken in (and painted) before the last of Alice's 30 are: each
        # is vetted in its own child process, slower than a 64 px painting on a busy CPU.
        async def all_taken_in() -> bool:
            return len(await store.list_jobs(limit=100)) == 31

        await eventually(all_taken_in, 120, "all 31 photos taken in")
        jobs = await store.list_jobs(limit=100)
        # Fair order: once Bob's job is queued it is the next to start, however many of
        # Alice's came before it (how many that is depends on how fast the bot took her 30
        # photos in, each vetted in its own child process: #28).
        [bob_job] = [j for j in jobs if j.user_id == BOB["id"]]
        started = sorted((j for j in jobs if j.started_at), key=lambda j: j.started_at)
        after_bob = [j for j in started if j.started_at >= bob_job.created_at]
        assert after_bob[0].id == bob_job.id, [(j.id, j.user_id) for j in started]
    finally:
        await store.close()
    assert await proc.stop(timeout=60) == 0


async def test_painted_over_a_webhook_once_and_counted(spawn_bot, fake_api, e2e_env):
    """Updates pushed by HTTP POST as Telegram does; a redelivered update is not painted
    twice; /metrics, /healthz and the painter's own metrics are scraped after the job."""
    hook_port = free_port()
    env = {
        **e2e_env,
        "WEBHOOK_URL": f"http://127.0.0.1:{hook_port}/telegram",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(hook_port),
        "WEBHOOK_SECRET": "e2e-secret",
        "METRICS_PORT": str(free_port()),
        "METRICS_LISTEN": "127.0.0.1",
        "WORKER_METRICS_PORT": str(free_port()),
    }
    proc = await start(spawn_bot, env)
    update = fake_api.photo_update(photo(96, 64), "/style monet", user=ALICE)
    photo_id = update["message"]["message_id"]
    fake_api.push(update)
    await wait_call(
        fake_api, lambda c: c.method == "sendMessage" and replies_to(c, photo_id), 20, proc=proc
    )
    assert await fake_api.webhook.post(update) == 200  # Telegram delivers it again
    result = await wait_call(fake_api, is_result, proc=proc)
    assert replies_to(result, photo_id)
    assert max(decode(result.file_bytes("photo")).size) == 64

    store = await JobStore.open(Path(env["DATA_DIR"]))
    try:

        async def delivered() -> bool:  # marked once sendPhoto has returned to the bot
            jobs = await store.list_jobs()
            return [(j.status, j.delivered_at is not None) for j in jobs] == [
                (JobStatus.DONE, True)
            ]

        await eventually(delivered, 10, "the one job marked delivered")
        [engine] = await store.engines()
        environ = await asyncio.to_thread(read_environ, engine.pid)
        assert b"e2e-secret" not in environ and env["TELEGRAM_TOKEN"].encode() not in environ
    finally:
        await store.close()
    status, text = await http_get(env["METRICS_PORT"], "/metrics")
    assert status == 200
    bot = metric_samples(text)
    assert bot[("picasso_jobs_total", (("status", "done"),))] == 1
    assert bot[("picasso_job_seconds_count", ())] == 1
    assert bot[("picasso_wait_seconds_count", ())] == 1
    assert bot[("picasso_queue_depth", ())] == 0
    assert bot[("picasso_painters_up", ())] == 1
    assert bot[("picasso_telegram_updates_total", ())] == 2
    assert await http_get(env["METRICS_PORT"], "/healthz") == (200, "ok\n")
    status, text = await http_get(env["WORKER_METRICS_PORT"], "/metrics")
    assert status == 200
    painter = metric_samples(text)
    assert painter[("picasso_worker_jobs_total", (("status", "done"),))] == 1
    assert painter[("picasso_worker_iterations_total", ())] >= 200
    assert painter[("picasso_worker_iterations_per_second", ())] > 0
    assert painter[("picasso_worker_busy", ())] == 0
    info = dict(next(k for k in painter if k[0] == "picasso_worker_info")[1])
    assert info["device"] == "cpu" and info["precision"] in ("fp32", "bf16")
    assert painter[("process_resident_memory_bytes", ())] > 0

    async with await JobStore.open(Path(env["DATA_DIR"])) as store:
        await notifier_caught_up(fake_api, store)
    assert len([c for c in fake_api.calls() if c.ok and is_result(c)]) == 1
    assert await proc.stop(timeout=60) == 0
