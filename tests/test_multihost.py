"""Several hosts, simulated on one machine: `python -m bot` and three painters as separate
processes against PostgreSQL over TCP, each painter with its own empty DATA_DIR (no shared
folder). 100 requests are each painted and delivered exactly once while one painter is
SIGKILLed mid-job (its job finishes on another) and PostgreSQL is stopped for OUTAGE seconds
and started again while the bot is taking requests and the painters are painting: nothing is
lost or painted twice, no request gets a second "Queued" message, the bot logs no error, and
/healthz and /metrics answer 503 meanwhile and 200 afterwards.

Whether a request is in flight at the very moment of the stop depends on timing; the test
logs how many updates the bot had to handle again (bot/redelivery.py; `--log-cli-level=INFO`
shows it). tests/test_bot_redelivery.py tests that mechanism on its own.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from pathlib import Path

import pytest

from jobs import JobStatus, JobStore
from tests.bot_harness import ADMIN_ID, free_port, http_get, metric_samples
from tests.fake_bot_api import FakeBotAPI, make_user
from tests.style_support import copy_styles, photo
from tests.test_worker_harness import WorkerProcess
from tests.waiting import PROBE_USER, eventually, notifier_caught_up

pytestmark = pytest.mark.timeout(600)
log = logging.getLogger(__name__)

REQUESTS = 100
PAINTERS = 3
USERS = 10
OUTAGE = 8.0  # seconds PostgreSQL is stopped: longer than /healthz's 5 s database check


def is_result(call) -> bool:
    return call.method == "sendPhoto" and any(
        (data or "").startswith("png:") for _, data in call.buttons()
    )


async def start_painters(tmp_path: Path, url: str, styles: Path) -> list[WorkerProcess]:
    painters = []
    for n in range(PAINTERS):
        data = tmp_path / f"host-{n}" / "data"  # its own, empty
        painters.append(
            WorkerProcess(
                data,
                f"painter-{n}",
                DATABASE_URL=url,
                WORKER_NAME=f"gpu-{n}",
                STYLES_DIR=str(styles),
                IMAGE_SIZE="32",
                ITERATIONS="3",
                STALE_AFTER_SECONDS="5",
            )
        )
    await asyncio.gather(*(p.ready() for p in painters))
    return painters


async def test_bot_and_three_painters_on_postgres(
    spawn_bot, fake_api: FakeBotAPI, bot_env, tmp_path, own_postgres
):
    server = own_postgres.start()
    url = server.url()
    styles = Path(bot_env["STYLES_DIR"])
    copy_styles(styles, ("monet",))
    ops_port = free_port()
    env = {
        **bot_env,
        "DATABASE_URL": url,
        "ENGINE_EXTERNAL": "1",
        "MAX_ACTIVE_JOBS_PER_USER": "100",
        "MAX_ACTIVE_JOBS_PER_CHAT": "100",
        "NOTIFY_POLL_SECONDS": "2",  # NOTIFY does the work; polling is the fallback
        "METRICS_PORT": str(ops_port),
        "METRICS_LISTEN": "127.0.0.1",
    }
    bot = await spawn_bot(env=env)
    await bot.wait_output("Picasso Me started", timeout=60)
    painters = await start_painters(tmp_path, url, styles)
    store = await JobStore.open(tmp_path / "observer", database_url=url)
    try:
        # 1. A long job: SIGKILL its painter mid-job; another painter finishes it.
        long_update = fake_api.photo_update(
            photo(64, 48), "/style monet iterations=80", user=make_user(999, "Long")
        )
        fake_api.push(long_update)
        long_job = await eventually(lambda: _running(store), 60, "the long job to start")
        victim = painters[int(_name(long_job).removeprefix("gpu-"))]
        await eventually(lambda: _progressed(store, long_job.id), 120, "progress")
        victim.kill()

        # 2. 100 requests from 10 users, shared by the painters still alive. PostgreSQL stops
        # for OUTAGE seconds while the bot is taking requests (some are in flight when it
        # stops, more arrive while it is away) and painters are painting; /healthz and
        # /metrics say so meanwhile.
        updates = [
            fake_api.photo_update(photo(40, 30), "/style monet", user=make_user(100 + i % USERS))
            for i in range(REQUESTS)
        ]
        half, quarter = REQUESTS // 2, REQUESTS // 4
        fake_api.push(*updates[:half])
        await eventually(lambda: _done_count(store, 10), 120, "10 jobs done")
        fake_api.push(*updates[half : half + quarter])
        await asyncio.sleep(0.3)
        await asyncio.to_thread(server.stop)
        stopped = asyncio.get_running_loop().time()
        health = asyncio.gather(http_get(ops_port, "/healthz"), http_get(ops_port, "/metrics"))
        await asyncio.sleep(1)
        fake_api.push(*updates[half + quarter :])
        await asyncio.sleep(OUTAGE - (asyncio.get_running_loop().time() - stopped))
        await asyncio.to_thread(server.start)
        (health_status, health_body), (metrics_status, _) = await health
        assert health_status == 503 and "the database is unreachable" in health_body
        assert metrics_status == 503

        try:
            await eventually(
                lambda: len([c for c in fake_api.calls() if is_result(c)]) >= REQUESTS + 1,
                400,
                "every result delivered",
                interval=0.5,
            )
        except AssertionError as exc:
            raise AssertionError(await _diagnosis(store, fake_api, bot, painters)) from exc
        await notifier_caught_up(fake_api, store)  # a duplicate delivery would have come
        results = [c for c in fake_api.calls() if is_result(c)]
        replied = collections.Counter(
            (c.chat_id, (c.params.get("reply_parameters") or {}).get("message_id")) for c in results
        )
        asked = {(u["message"]["chat"]["id"], u["message"]["message_id"]) for u in updates}
        asked.add((long_update["message"]["chat"]["id"], long_update["message"]["message_id"]))
        assert set(replied) == asked and set(replied.values()) == {1}  # each exactly once
        queued = collections.Counter(
            (c.chat_id, (c.params.get("reply_parameters") or {}).get("message_id"))
            for c in fake_api.calls("sendMessage")
            if "Queued" in (c.text or "")
        )
        assert set(queued.values()) <= {1}  # a request handled again said "Queued" once
        assert " ERROR " not in bot.output, _errors(bot.output)
        assert "gave up on update" not in bot.output  # nobody was asked to send it again
        put_back = bot.output.count("bot.redelivery: the database is away")
        log.info("the outage made the bot handle %d update(s) again", put_back)

        jobs = [j for j in await store.list_jobs(limit=1000) if j.user_id != PROBE_USER]
        assert len(jobs) == REQUESTS + 1
        assert all(j.status is JobStatus.DONE and j.delivered_at for j in jobs)
        killed = next(j for j in jobs if j.id == long_job.id)
        assert killed.attempts == 2 and _name(killed) != _name(long_job)
        assert {j.attempts for j in jobs if j.id != long_job.id} == {1}
        painted_by = collections.Counter(_name(j) for j in jobs)
        assert len(painted_by) >= 2, painted_by  # the work was shared
        # /admin lists the painters and names the database, never with its password
        mark = fake_api.mark()
        fake_api.push(fake_api.text_update("/admin", user=make_user(ADMIN_ID, "Admin")))
        replies = await eventually(
            lambda: [
                c for c in fake_api.calls("sendMessage", since=mark) if "Painters" in (c.text or "")
            ],
            30,
            "the /admin overview",
        )
        overview = replies[0].text
        assert "PostgreSQL at 127.0.0.1" in overview and "<code>gpu-" in overview
        assert "done in 24 h" in overview
        assert await http_get(ops_port, "/healthz") == (200, "ok\n")
        status, scrape = await http_get(ops_port, "/metrics")
        done = metric_samples(scrape)[("picasso_jobs_total", (("status", "done"),))]
        assert status == 200 and done == REQUESTS + 1
        for text in (overview, bot.output, *(p.log() for p in painters)):
            assert server.password not in text
    finally:
        await store.close()
        for painter in painters:
            painter.stop()
        await bot.stop()


async def _diagnosis(store: JobStore, fake_api, bot, painters) -> str:
    jobs = await store.list_jobs(limit=1000)
    states = collections.Counter((j.status.value, j.delivered_at is not None) for j in jobs)
    results = len([c for c in fake_api.calls() if is_result(c)])
    problems = _errors(bot.output)
    logs = "\n".join(p.log()[-3000:] for p in painters)
    return f"{len(jobs)} jobs {dict(states)}, {results} results\n" + "\n".join(
        [*problems[-10:], bot.output[-3000:], logs]
    )


def _errors(output: str) -> list[str]:
    """Each ERROR line of a log with its whole traceback (up to the next log line)."""
    errors: list[list[str]] = []
    inside = False
    for line in output.splitlines():
        if line[:4].isdigit() and line[4:5] == "-":  # a log line starts with its date
            inside = " ERROR " in line
            if inside:
                errors.append([])
        if inside:
            errors[-1].append(line)
    return ["\n".join(lines) for lines in errors]


def _name(job) -> str:
    """The painter's name from a worker id `<name>-<pid>-<hex>`."""
    return job.worker_id.rsplit("-", 2)[0]


async def _running(store: JobStore):
    running = await store.list_jobs([JobStatus.RUNNING], limit=1)
    return running[0] if running else None


async def _progressed(store: JobStore, job_id: int) -> bool:
    job = await store.get(job_id)
    return job is not None and job.iteration >= 2


async def _done_count(store: JobStore, at_least: int) -> bool:
    return len(await store.list_jobs([JobStatus.DONE], limit=1000)) >= at_least
