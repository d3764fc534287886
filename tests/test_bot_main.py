"""`python -m bot`: the missing-token message, token redaction in logs (text and JSON), a
clean start/stop."""

from __future__ import annotations

import io
import json
import logging
import signal
from pathlib import Path

import pytest

from jobs import JobStore
from jobs.logs import REDACTED, RedactFilter, setup_logging
from tests.fake_bot_api import DEFAULT_TOKEN, DEFAULT_USER_ID
from tests.style_support import FakeEngine, photo

pytestmark = pytest.mark.timeout(90)


async def test_without_token_it_explains_how_to_get_one(spawn_bot, bot_env):
    env = {k: v for k, v in bot_env.items() if k != "TELEGRAM_TOKEN"}
    proc = await spawn_bot(env=env)
    await proc.proc.wait()
    await proc.stop()  # collects the rest of the output
    assert proc.returncode == 2
    assert "@BotFather" in proc.output and ".env" in proc.output
    assert "Traceback" not in proc.output


def _capture(redactor: RedactFilter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redactor)
    logger = logging.getLogger("tests.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_filter_redacts_messages_arguments_and_tracebacks():
    token = DEFAULT_TOKEN
    logger, stream = _capture(RedactFilter([token]))
    logger.info("POST https://api.telegram.org/bot%s/getMe", token)
    logger.info(f"plain {token} and url-encoded {token.replace(':', '%3A')}")
    try:
        raise RuntimeError(f"connect failed for https://api.telegram.org/bot{token}/getUpdates")
    except RuntimeError:
        logger.exception("network error")
    output = stream.getvalue()
    assert token not in output
    assert "TEST-token_for-the-fake-api" not in output
    assert output.count(REDACTED) == 4
    assert "RuntimeError" in output  # the traceback itself is kept


def test_setup_logging_quiets_httpx_and_filters_root_handlers():
    root = logging.getLogger()
    saved, saved_level = root.handlers[:], root.level
    root.handlers[:] = [logging.StreamHandler(io.StringIO())]
    try:
        redactor = setup_logging(secrets=[DEFAULT_TOKEN])
        assert logging.getLogger("httpx").level == logging.WARNING
        assert all(redactor in h.filters for h in root.handlers)
    finally:
        for handler in root.handlers:
            handler.removeFilter(redactor)
        root.handlers[:] = saved
        root.setLevel(saved_level)


async def test_bot_runs_and_never_logs_the_token(spawn_bot, bot_env, fake_api):
    """The real `python -m bot` against the fake API, with DEBUG logs: no token anywhere."""
    env = dict(bot_env, LOG_LEVEL="DEBUG")
    proc = await spawn_bot(env=env)
    await proc.wait_output("Picasso Me started as @PicassoMeTestBot", timeout=30)
    fake_api.push(fake_api.text_update("/style monet"))
    await fake_api.wait_for("sendMessage", timeout=10)
    code = await proc.stop(signal.SIGTERM, timeout=30)
    assert code == 0, proc.output
    assert "Picasso Me stopped" in proc.output
    assert fake_api.token not in proc.output
    assert "TEST-token_for-the-fake-api" not in proc.output


async def test_rejected_token_is_explained_without_printing_it(spawn_bot, bot_env):
    wrong = "999999:WRONG-token-that-must-not-be-printed"
    proc = await spawn_bot(env=dict(bot_env, TELEGRAM_TOKEN=wrong))
    await proc.proc.wait()
    await proc.stop()
    assert proc.returncode == 2, proc.output
    assert "rejected" in proc.output and "@BotFather" in proc.output
    assert "WRONG-token" not in proc.output


async def test_json_logs_show_job_events_and_never_the_token(spawn_bot, bot_env, fake_api):
    """LOG_FORMAT=json: every line one object; queued and delivered carry the job's ids."""
    proc = await spawn_bot(env=dict(bot_env, LOG_FORMAT="json", LOG_LEVEL="DEBUG"))
    await proc.wait_output("Picasso Me started", timeout=30)
    update = fake_api.photo_update(photo(), "/style monet")
    fake_api.push(update)
    await fake_api.wait_for("sendMessage", lambda c: "Queued" in (c.text or ""), timeout=15)
    async with await JobStore.open(Path(bot_env["DATA_DIR"])) as store:
        engine = FakeEngine(store)
        await engine.finish(await engine.claim())
    await fake_api.wait_for("sendPhoto", timeout=15)
    await proc.wait_output('"event": "delivered"', timeout=15)
    assert await proc.stop(signal.SIGTERM, timeout=30) == 0, proc.output
    entries = [json.loads(line) for line in proc.output.splitlines() if line.strip()]
    events = {e["event"]: e for e in entries if "event" in e}
    chat = update["message"]["chat"]["id"]
    for name in ("queued", "delivered"):
        assert events[name]["chat_id"] == chat and events[name]["user_id"] == DEFAULT_USER_ID
        assert events[name]["job_id"] == 1
    assert events["delivered"]["status"] == "done" and events["delivered"]["seconds"] >= 0
    assert fake_api.token not in proc.output
    assert "TEST-token_for-the-fake-api" not in proc.output
