"""`/admin …`: admins see and control the queue; everyone else is refused and nothing changes."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest

from bot.handlers import register_all
from jobs import EngineInfo, JobStatus, JobStore, NewJob, StyleRef
from jobs.liveness import this_host
from jobs.testing import PLACEHOLDER, enqueue
from tests.bot_harness import ADMIN_ID
from tests.fake_bot_api import BOT_USERNAME, FakeBotAPI, make_chat, make_user

pytestmark = pytest.mark.timeout(60)

ADMIN = make_user(ADMIN_ID, "Ada", "ada_admin")
MALLORY = make_user(666, "Mallory")
GROUP = make_chat(-100555, "supergroup", "Art club")


async def say(fake: FakeBotAPI, text: str, *, user=ADMIN, chat=None):
    return await fake.say(text, user=user, chat=chat)


async def press(fake: FakeBotAPI, message_call, data: str, *, user=ADMIN):
    return await fake.press(message_call, data, user=user)


@pytest.fixture
async def app(start_app):
    return await start_app([register_all])


async def snapshot(store: JobStore, job_ids, user_ids) -> tuple:
    """Everything an admin command could change."""
    jobs = [dataclasses.astuple(await store.get(i)) for i in job_ids]
    banned = [await store.is_banned(u) for u in user_ids]
    return jobs, banned, await store.is_paused(), await store.queue_order()


@pytest.fixture
async def populated(job_store: JobStore, tmp_path):
    """Bob's job runs; Carol's two jobs and Dave's one wait."""
    running = await enqueue(job_store, user_id=2)
    assert (await job_store.claim("w1")).id == running.id
    queued = [
        await enqueue(job_store, user_id=3),
        await enqueue(job_store, user_id=3),
        await enqueue(job_store, user_id=4),
    ]
    return running, queued


@pytest.mark.parametrize(
    "command",
    [
        "/admin",
        "/admin jobs",
        "/admin pause",
        "/admin resume",
        "/admin cancel {queued}",
        "/admin cancel {running}",
        "/admin bump {last}",
        "/admin ban 3",
        "/admin unban 5",
        f"/admin@{BOT_USERNAME} pause",
        "/admin whatever",
    ],
)
async def test_non_admins_are_refused_and_nothing_changes(
    app, fake_api, job_store, populated, command
):
    running, queued = populated
    await job_store.set_banned(5, True)
    ids = [running.id, *(j.id for j in queued)]
    before = await snapshot(job_store, ids, [3, 5])
    text = command.format(queued=queued[0].id, running=running.id, last=queued[-1].id)
    for chat in (None, GROUP):
        call = await say(fake_api, text, user=MALLORY, chat=chat)
        assert call.params["text"] == "Sorry, that's for admins only."
        assert "reply_markup" not in call.params
    assert await snapshot(job_store, ids, [3, 5]) == before


async def test_non_admins_cannot_press_admin_buttons(app, fake_api, job_store, populated):
    overview = await say(fake_api, "/admin")
    for data in ("admin:pause", "admin:jobs", "admin:refresh"):
        answer, mark = await press(fake_api, overview, data, user=MALLORY)
        assert answer.params["text"] == "Sorry, that's for admins only."
        assert answer.params["show_alert"] is True
    await fake_api.wait_idle()
    assert not await job_store.is_paused()
    assert fake_api.calls("editMessageText") == [] and len(fake_api.calls("sendMessage")) == 1


async def test_overview(app, fake_api, job_store, populated, tmp_path):
    running, queued = populated
    await job_store.register_engine(
        EngineInfo(
            worker_id="w1",
            pid=os.getpid(),
            hostname=this_host(),
            device="cuda:0 (NVIDIA H200)",
            gpu_memory_mb=143_771,
        )
    )
    await job_store.heartbeat("w1", running.id)
    await job_store.report_progress(running.id, "w1", iteration=200, total=500, loss=12345.6)
    # One done and one failed in the last 24 hours.
    done = await enqueue(job_store, user_id=7)
    failed = await enqueue(job_store, user_id=8)
    await job_store.bump(done.id)
    await job_store.bump(failed.id)

    call = await say(fake_api, "/admin")
    text = call.params["text"]
    assert "Queue: 5 queued, 1 running" in text
    assert f"Running: <b>#{running.id}</b> monet for user2 (<code>2</code>)" in text
    assert "step 200/500 (40%)" in text
    assert "Painters (1):\n• ✅ <code>w1</code> on " in text and "NVIDIA H200" in text
    assert "GPU memory 140 GiB" in text and "heartbeat 0s ago" in text
    assert f"job #{running.id}; 0 done in 24 h" in text
    assert "Paused: no" in text
    assert "Last 24 h: 0 done, 0 failed, 0 cancelled" in text
    assert [d for _, d in call.buttons()] == ["admin:refresh", "admin:pause", "admin:jobs"]

    # Finish the running job and fail the bumped one; Refresh shows it.
    await job_store.finish(running.id, PLACEHOLDER)
    await job_store.fail(failed.id, "boom")
    answer, mark = await press(fake_api, call, "admin:refresh")
    edit = await fake_api.wait_for("editMessageText", since=mark)
    assert "Last 24 h: 1 done, 1 failed, 0 cancelled; average" in edit.params["text"]
    assert "Running: nothing" in edit.params["text"]


async def test_overview_engine_stale_or_missing(app, fake_api, job_store, tmp_path):
    text = (await say(fake_api, "/admin")).params["text"]
    assert "Painters: ❌ none registered" in text
    # An engine last heard of two minutes ago, on another host (no pid check).
    old = await JobStore.open(tmp_path / "data", clock=lambda: time.time() - 120)
    try:
        await old.register_engine(
            EngineInfo(
                worker_id="gpu-box", pid=1, hostname="elsewhere", device="cpu", gpu_memory_mb=None
            )
        )
    finally:
        await old.close()
    text = (await say(fake_api, "/admin")).params["text"]
    assert "⚠️ stale <code>gpu-box</code> on elsewhere, cpu; heartbeat 2m ago; idle" in text


async def test_pause_and_resume(app, fake_api, job_store, populated):
    text = (await say(fake_api, "/admin pause")).params["text"]
    assert text.startswith("⏸ Paused")
    assert await job_store.is_paused()
    assert await job_store.claim("w2") is None  # the engine takes nothing new
    text = (await say(fake_api, f"/admin@{BOT_USERNAME} resume", chat=GROUP)).params["text"]
    assert text.startswith("▶️ Resumed")
    assert not await job_store.is_paused()
    assert await job_store.claim("w2") is not None


async def test_painters_listed_and_drained_by_name(app, fake_api, job_store, populated):
    running, queued = populated
    for name, host in (("gpu-a", "host-a"), ("gpu-b", "host-b")):
        info = EngineInfo(f"{name}-7-ab", 7, host, "NVIDIA H200 (cuda:0)", 143_771, name=name)
        await job_store.register_engine(info, exclusive=False)
    claimed = await job_store.claim("gpu-b-7-ab")
    text = (await say(fake_api, "/admin")).params["text"]
    assert "Painters (2):" in text
    assert "<code>gpu-a</code> on host-a, NVIDIA H200 (cuda:0), GPU memory 140 GiB" in text
    assert "<code>gpu-b</code> on host-b" in text and f"job #{claimed.id}; 0 done in 24 h" in text

    text = (await say(fake_api, "/admin drain gpu-b")).params["text"]
    assert text.startswith("⏏ Draining <code>gpu-b</code>: it finishes job")
    assert f"#{claimed.id}, then takes no new jobs" in text
    assert await job_store.finish(claimed.id, b"png", worker_id="gpu-b-7-ab")
    await job_store.heartbeat("gpu-b-7-ab", None)
    assert await job_store.claim("gpu-b-7-ab") is None
    text = (await say(fake_api, "/admin")).params["text"]
    assert "idle; 1 done in 24 h — ⏏ drained (takes no jobs)" in text
    text = (await say(fake_api, "/admin drain gpu-z")).params["text"]
    assert text == "No painter is called <code>gpu-z</code>. Painters: gpu-a, gpu-b."
    assert (await say(fake_api, "/admin drain")).params["text"].startswith("Usage:")
    text = (await say(fake_api, "/admin undrain gpu-b")).params["text"]
    assert text == "▶️ <code>gpu-b</code> takes jobs again."
    assert await job_store.claim("gpu-b-7-ab") is not None


async def test_pause_button(app, fake_api, job_store):
    overview = await say(fake_api, "/admin")
    answer, mark = await press(fake_api, overview, "admin:pause")
    edit = await fake_api.wait_for("editMessageText", since=mark)
    assert await job_store.is_paused()
    assert "Paused: ⏸ yes" in edit.params["text"]
    assert ("▶️ Resume", "admin:resume") in edit.buttons()
    answer, mark = await press(fake_api, edit, "admin:resume")
    await fake_api.wait_for("editMessageText", since=mark)
    assert not await job_store.is_paused()


async def test_cancel_queued_and_running(app, fake_api, job_store, populated):
    running, queued = populated
    text = (await say(fake_api, f"/admin cancel {queued[0].id}")).params["text"]
    assert text == f"Cancelled job #{queued[0].id}."
    assert (await job_store.get(queued[0].id)).status is JobStatus.CANCELLED
    text = (await say(fake_api, f"/admin cancel #{running.id}")).params["text"]
    assert "Asked the engine to stop" in text
    assert (await job_store.get(running.id)).cancel_requested
    text = (await say(fake_api, f"/admin cancel {queued[0].id}")).params["text"]
    assert "isn't active" in text
    text = (await say(fake_api, "/admin cancel")).params["text"]
    assert text == "Usage: <code>/admin cancel ID</code>"


async def test_bump(app, fake_api, job_store, populated):
    running, queued = populated
    last = queued[-1]
    assert await job_store.queue_position(last.id) != 1
    text = (await say(fake_api, f"/admin bump {last.id}")).params["text"]
    assert text.startswith(f"Job #{last.id} runs next")
    assert await job_store.queue_position(last.id) == 1
    text = (await say(fake_api, f"/admin bump {running.id}")).params["text"]
    assert "isn't queued" in text


async def test_ban_and_unban(app, fake_api, job_store, populated):
    text = (await say(fake_api, "/admin ban 3")).params["text"]
    assert "User <code>3</code> is banned" in text and "2 active jobs" in text
    assert await job_store.is_banned(3)
    text = (await say(fake_api, "/admin unban 3")).params["text"]
    assert "unbanned" in text
    assert not await job_store.is_banned(3)
    text = (await say(fake_api, f"/admin ban {ADMIN_ID}")).params["text"]
    assert text == "Admins can't be banned."
    assert not await job_store.is_banned(ADMIN_ID)
    text = (await say(fake_api, "/admin ban someone")).params["text"]
    assert "Usage" in text


async def test_jobs_list_escapes_user_names(app, fake_api, job_store, populated, tmp_path):
    running, queued = populated
    new = NewJob(
        user_id=9,
        user_name="<b>Eve</b> & co",
        chat_id=9,
        chat_type="private",
        request_message_id=1,
        reply_to_message_id=1,
        content_name="content.jpg",
        styles=(StyleRef(preset="udnie"),),
    )
    eve, _ = await job_store.enqueue(new, {"content.jpg": PLACEHOLDER})
    await job_store.bump(eve.id)
    call = await say(fake_api, "/admin jobs")
    assert call.ok
    text = call.params["text"]
    assert "(1 running, 4 queued)" in text
    assert f"🖌 <b>#{running.id}</b>" in text
    assert (
        f"⏳ #1: <b>#{eve.id}</b> udnie — &lt;b&gt;Eve&lt;/b&gt; &amp; co (<code>9</code>) ⬆️"
        in text
    )
    order = await job_store.queue_order()
    positions = [text.index(f"<b>#{job_id}</b>") for job_id in order]
    assert positions == sorted(positions)

    # The Jobs button sends the same list.
    overview = await say(fake_api, "/admin")
    answer, mark = await press(fake_api, overview, "admin:jobs")
    listed = await fake_api.wait_for("sendMessage", since=mark)
    assert listed.params["text"] == text


async def test_empty_queue_and_usage(app, fake_api):
    assert (await say(fake_api, "/admin jobs")).params["text"] == "📋 The queue is empty."
    assert "Admin commands" in (await say(fake_api, "/admin frobnicate")).params["text"]
