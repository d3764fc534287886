"""Metrics and health: the table snapshot (counts, histograms, painters), its Prometheus text,
and the bot's /metrics and /healthz served on METRICS_PORT against the fake Bot API."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bot.metrics import BotMetrics
from jobs import EngineInfo, JobOptions, JobStatus, JobStore
from jobs.liveness import this_host
from jobs.testing import PLACEHOLDER, FakeClock, enqueue
from tests.bot_harness import http_get, metric_samples
from tests.style_support import FakeEngine, make_settings, photo, style_bot
from tests.test_worker_harness import WorkerProcess, add_job, wait_status
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)


async def a_busy_install(
    tmp_path: Path, database_url: str | None = None
) -> tuple[JobStore, FakeClock]:
    """One job done (waited 10 s, painted 40 s), one failed, one cancelled, one queued for 30 s,
    a live painter and a silent one."""
    clock = FakeClock()
    store = await JobStore.open(
        tmp_path / "data", database_url=database_url, clock=clock, stale_after=60
    )
    done = await enqueue(store, user_id=1)
    failed = await enqueue(store, user_id=2)
    cancelled = await enqueue(store, user_id=3)
    live = EngineInfo("live", os.getpid(), this_host(), "cpu", None)
    await store.register_engine(live, exclusive=False)
    await store.register_engine(EngineInfo("gone", 1, "elsewhere", "cuda:1", None), exclusive=False)
    clock.advance(10)
    assert (await store.claim("live")).id == done.id
    clock.advance(40)
    assert await store.finish(done.id, PLACEHOLDER)
    assert (await store.claim("live")).id == failed.id
    clock.advance(2)
    assert await store.fail(failed.id, "broken photo")
    await store.cancel(cancelled.id)
    await enqueue(store, user_id=4)
    clock.advance(30)
    await store.heartbeat("live", None)
    return store, clock


async def test_the_snapshot_counts_outcomes_timings_and_painters(tmp_path, database_url):
    store, _ = await a_busy_install(tmp_path, database_url)  # the same SQL on both backends
    try:
        snap = await store.metrics_snapshot()
    finally:
        await store.close()
    assert snap.finished == {"cancelled": 1, "done": 1, "failed": 1}
    assert (snap.queued, snap.running, snap.undelivered) == (1, 0, 3)
    assert snap.oldest_queued_age == 30
    assert snap.job_seconds.count == 1 and snap.job_seconds.total == 40
    assert dict(zip(snap.job_seconds.bounds, snap.job_seconds.cumulative, strict=True))[30] == 0
    assert dict(zip(snap.job_seconds.bounds, snap.job_seconds.cumulative, strict=True))[60] == 1
    # waits of finished jobs that started: 10 s (done) and 50 s (failed); never the cancelled
    assert snap.wait_seconds.count == 2 and snap.wait_seconds.total == 60
    painters = {p.worker_id: p for p in snap.painters}
    assert painters["live"].alive and painters["live"].heartbeat_age == 0
    assert not painters["gone"].alive and painters["gone"].heartbeat_age == 82


async def test_the_snapshot_renders_as_prometheus_text(tmp_path):
    store, _ = await a_busy_install(tmp_path)
    try:
        text = BotMetrics().render(await store.metrics_snapshot()).decode()
    finally:
        await store.close()
    found = metric_samples(text)
    for status in ("done", "failed", "cancelled"):
        assert found[("picasso_jobs_total", (("status", status),))] == 1
    assert found[("picasso_queue_depth", ())] == 1
    assert found[("picasso_job_seconds_bucket", (("le", "30.0"),))] == 0
    assert found[("picasso_job_seconds_bucket", (("le", "60.0"),))] == 1
    assert found[("picasso_job_seconds_bucket", (("le", "+Inf"),))] == 1
    assert found[("picasso_job_seconds_sum", ())] == 40
    assert found[("picasso_wait_seconds_count", ())] == 2
    assert found[("picasso_painters_up", ())] == 1
    gone = (("device", "cuda:1"), ("worker", "gone"))
    assert found[("picasso_painter_heartbeat_age_seconds", gone)] == 82
    assert ("process_resident_memory_bytes", ()) in found


async def test_an_empty_install_reports_zeros(tmp_path):
    async with await JobStore.open(tmp_path / "data") as store:
        found = metric_samples(BotMetrics().render(await store.metrics_snapshot()).decode())
    assert found[("picasso_jobs_total", (("status", "done"),))] == 0
    assert found[("picasso_job_seconds_count", ())] == 0
    assert found[("picasso_oldest_queued_seconds", ())] == 0
    assert found[("picasso_painters_up", ())] == 0


async def test_the_bot_serves_metrics_and_health_while_polling(fake_api, tmp_path):
    settings = make_settings(fake_api, tmp_path, METRICS_PORT=0, METRICS_LISTEN="127.0.0.1")
    async with style_bot(fake_api, settings, notifier=True) as deps:
        port = deps.app.bot_data["ops_server"].port
        status, body = await http_get(port, "/healthz")
        assert (status, body) == (503, "no successful getUpdates yet\n")  # first long poll

        async def healthy() -> bool:
            return await http_get(port, "/healthz") == (200, "ok\n")

        await eventually(healthy, 10, "the first getUpdates")

        # A photo painted (by a stand-in engine) and delivered; one 429 and one refusal on the way.
        fake_api.fail_next("sendMessage", 1, retry_after=1)
        fake_api.push(fake_api.photo_update(photo(), "/style monet"))
        await fake_api.wait_for("sendMessage", lambda c: c.ok, timeout=15)
        fake_api.fail_next_with("sendPhoto", 1, status=403, description="Forbidden: blocked")
        engine = FakeEngine(deps.store)
        await engine.finish(await engine.claim())
        await fake_api.wait_for("sendPhoto", timeout=15)

        status, text = await http_get(port, "/metrics")
        assert status == 200
        found = metric_samples(text)
        assert found[("picasso_jobs_total", (("status", "done"),))] == 1
        assert found[("picasso_job_seconds_count", ())] == 1
        assert found[("picasso_telegram_updates_total", ())] >= 1
        assert found[("picasso_telegram_flood_waits_total", ())] == 1
        assert found[("picasso_telegram_flood_wait_seconds_total", ())] == 1
        errors = {k[1]: v for k, v in found.items() if k[0] == "picasso_telegram_errors_total"}
        assert errors[(("code", "429"), ("method", "sendMessage"))] == 1
        assert errors[(("code", "403"), ("method", "sendPhoto"))] == 1
        assert fake_api.token not in text

        # Deaf: no successful getUpdates for two minutes.
        watch = deps.app.bot_data["telegram_watch"]
        saved, watch.last_poll = watch.last_poll, watch.clock() - 120
        status, body = await http_get(port, "/healthz")
        assert status == 503 and "no successful getUpdates for 120 s" in body
        watch.last_poll = saved

        # The database gone.
        await deps.store.close()
        status, body = await http_get(port, "/healthz")
        assert status == 503 and "the database is unreachable" in body
        status, _ = await http_get(port, "/metrics")
        assert status == 503


@pytest.mark.timeout(200)
async def test_a_painter_whose_metrics_port_is_taken_still_paints(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "data"
        async with await JobStore.open(data) as store:
            job = await add_job(store, options=JobOptions(iterations=2))
            worker = WorkerProcess(data, WORKER_METRICS_PORT=str(port), METRICS_LISTEN="127.0.0.1")
            try:
                done = await wait_status(store, job.id, {JobStatus.DONE, JobStatus.FAILED})
            finally:
                worker.stop()
    assert done.status is JobStatus.DONE, done.error
    assert f"painter metrics not served on port {port}" in worker.log()
