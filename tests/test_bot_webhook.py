"""`python -m bot` with WEBHOOK_URL: updates arrive by HTTP POST from the fake Bot API (as
Telegram sends them), the secret-token header is checked, health says so. The painting end to
end over the webhook is in tests/test_bot_e2e.py."""

from __future__ import annotations

import pytest

from tests.bot_harness import free_port, http_get
from tests.fake_bot_api import FakeBotAPI
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(90)

SECRET = "hook-secret_42"


def webhook_env(bot_env: dict[str, str], **extra: str) -> dict[str, str]:
    port = free_port()
    return {
        **bot_env,
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/hook",
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_SECRET": SECRET,
        "METRICS_PORT": str(free_port()),
        "METRICS_LISTEN": "127.0.0.1",
        **extra,
    }


async def health(env: dict[str, str]) -> tuple[int, str]:
    return await http_get(env["METRICS_PORT"], "/healthz")


async def healthy(env: dict[str, str]) -> tuple[int, str] | None:
    answer = await health(env)
    return answer if answer[0] == 200 else None


async def test_updates_come_by_webhook_and_the_secret_is_checked(spawn_bot, bot_env, fake_api):
    env = webhook_env(bot_env, LOG_LEVEL="DEBUG")  # PTB logs request parameters at DEBUG
    proc = await spawn_bot(env=env)
    await proc.wait_output("Picasso Me started", timeout=30)
    # setWebhook comes after that line (post_init runs before the webhook server starts)
    await eventually(lambda: fake_api.webhook_url, 15, "setWebhook")
    assert fake_api.webhook_url == env["WEBHOOK_URL"] and fake_api.webhook.secret == SECRET
    assert await eventually(lambda: healthy(env), 15, "/healthz ok") == (200, "ok\n")

    # Telegram's push: the fake POSTs the update with the secret; the bot answers.
    mark = fake_api.mark()
    fake_api.push(fake_api.text_update("/help"))
    await fake_api.wait_for("sendMessage", since=mark, timeout=15)

    # Anyone else: a wrong or missing secret is refused, and nothing is answered.
    stranger = fake_api.text_update("/help")
    stranger["update_id"] = 9999
    mark = fake_api.mark()
    assert await fake_api.webhook.post(stranger, secret="wrong") == 403
    assert await fake_api.webhook.post(stranger, secret=None) == 403
    assert await fake_api.webhook.post(stranger, url=env["WEBHOOK_URL"] + "x") == 404
    fake_api.push(fake_api.text_update("/start"))  # a real update after them gets through
    answer = await fake_api.wait_for("sendMessage", since=mark, timeout=15)
    assert fake_api.calls("sendMessage", since=mark) == [answer]

    assert fake_api.calls("getUpdates") == []  # no long polling in webhook mode
    assert await proc.stop(timeout=30) == 0, proc.output
    assert SECRET not in proc.output and fake_api.token not in proc.output


async def test_without_a_webhook_the_bot_long_polls_and_drops_an_old_webhook(
    spawn_bot, bot_env, fake_api: FakeBotAPI
):
    fake_api.webhook.set("http://127.0.0.1:9/left-over", "old")
    env = {**bot_env, "METRICS_PORT": str(free_port()), "METRICS_LISTEN": "127.0.0.1"}
    proc = await spawn_bot(env=env)
    await proc.wait_output("Picasso Me started", timeout=30)
    await fake_api.wait_for("getUpdates", lambda c: c.ok, timeout=15)
    assert fake_api.webhook_url == ""
    assert await health(env) == (200, "ok\n")
    assert await healthcheck(spawn_bot, env) == (0, "ok")  # Docker's HEALTHCHECK command
    assert await proc.stop(timeout=30) == 0, proc.output
    code, output = await healthcheck(spawn_bot, env)
    assert code == 1 and "no answer from http://127.0.0.1:" in output


async def healthcheck(spawn_bot, env: dict[str, str]) -> tuple[int, str]:
    """`python -m bot.healthcheck`: (exit code, output)."""
    check = await spawn_bot(env=env, args=("-m", "bot.healthcheck"))
    await check.proc.wait()
    await check.stop()
    return check.returncode, check.output.strip()


async def test_a_bad_webhook_secret_is_refused_at_start(spawn_bot, bot_env):
    proc = await spawn_bot(env=webhook_env(bot_env, WEBHOOK_SECRET="not allowed!"))
    await proc.proc.wait()
    await proc.stop()
    assert proc.returncode == 2, proc.output
    assert "WEBHOOK_SECRET" in proc.output and "Traceback" not in proc.output
