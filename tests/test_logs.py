"""Logs a machine can read: one line per job event, LOG_FORMAT=json, secrets never shown."""

from __future__ import annotations

import io
import json
import logging

import pytest

from jobs import JobOptions, JobStatus, JobStore
from jobs.events import job_event
from jobs.logs import PASSWORD_REDACTED, REDACTED, JsonFormatter, RedactFilter
from jobs.testing import enqueue
from tests.fake_bot_api import DEFAULT_TOKEN
from tests.test_worker_harness import WorkerProcess, add_job, wait_status

DSN = "postgresql://picasso:s3cret-pass@db:5432/picasso"


def json_logger(secrets=(DEFAULT_TOKEN,)) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter(secrets))
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_job_event_is_one_json_object_with_ids_and_durations(job_store, tmp_path):
    job = await enqueue(job_store, user_id=77, chat_id=-100)
    logger, stream = json_logger()
    job_event(logger, "started", job, wait_seconds=1.23456, attempt=1)
    [entry] = lines(stream)
    expected = f"job {job.id} started: user=77 chat=-100 wait_seconds=1.235 attempt=1"
    assert entry["message"] == expected
    assert entry["event"] == "started" and entry["level"] == "INFO"
    assert (entry["job_id"], entry["user_id"], entry["chat_id"]) == (job.id, 77, -100)
    assert entry["wait_seconds"] == 1.235 and entry["attempt"] == 1
    assert entry["logger"] == "tests.json" and entry["time"].endswith("+00:00")


def test_json_lines_never_show_the_token_or_a_database_password():
    logger, stream = json_logger()
    logger.info("POST https://api.telegram.org/bot%s/getMe", DEFAULT_TOKEN)
    logger.warning("could not connect", extra={"database": DSN})
    try:
        raise ConnectionError(f"connect to {DSN} failed (bot{DEFAULT_TOKEN})")
    except ConnectionError:
        logger.exception("database down")
    output = stream.getvalue()
    assert DEFAULT_TOKEN not in output and "s3cret" not in output
    first, second, third = lines(stream)
    assert REDACTED in first["message"]
    assert second["database"] == f"postgresql://picasso:{PASSWORD_REDACTED}@db:5432/picasso"
    assert "ConnectionError" in third["exc_info"] and REDACTED in third["exc_info"]


def test_text_lines_hide_database_passwords_too():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    logger = logging.getLogger("tests.text")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.warning("database %s unreachable", DSN)
    assert "s3cret" not in stream.getvalue() and "picasso:***@db" in stream.getvalue()


@pytest.mark.timeout(200)
async def test_the_worker_logs_each_job_event_as_json(tmp_path):
    data = tmp_path / "data"
    async with await JobStore.open(data) as store:
        job = await add_job(store, 55, options=JobOptions(iterations=2))
        worker = WorkerProcess(data, LOG_FORMAT="json")
        try:
            done = await wait_status(store, job.id, {JobStatus.DONE, JobStatus.FAILED})
            assert done.status is JobStatus.DONE, done.error
        finally:
            worker.stop()
    entries = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert not [line for line in worker.log().splitlines() if " INFO engine" in line]
    events = {e["event"]: e for e in entries if e.get("job_id") == job.id}
    assert {"started", "progress", "done"} <= set(events), entries
    for entry in events.values():
        assert (entry["user_id"], entry["chat_id"]) == (55, 55)
    assert events["started"]["wait_seconds"] >= 0 and events["started"]["iterations"] == 2
    assert events["done"]["seconds"] > 0 and events["done"]["width"] == 64
