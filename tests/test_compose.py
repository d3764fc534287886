"""compose.yaml (never run here: no Docker on these machines) read as Compose would: the bot
is health-checked through /healthz, a painter is not asked for the bot's /healthz."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "compose.yaml"


def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_the_bot_is_checked_through_its_healthz():
    bot = services()["bot"]
    assert bot["healthcheck"]["test"] == ["CMD", "python", "-m", "bot.healthcheck"]
    assert bot["environment"]["ENGINE_EXTERNAL"] == "true"  # painters are their own service
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_a_painter_does_not_inherit_the_bots_health_check():
    """The image's HEALTHCHECK asks the bot's /healthz; a painter serves none, so with it
    every worker container would be marked unhealthy."""
    worker = services()["worker"]
    assert worker["healthcheck"] == {"disable": True}
    assert worker["command"] == ["python", "-m", "engine", "worker"]
    gpu = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and gpu["count"] == 1
    assert worker["environment"]["DATABASE_URL"] == services()["bot"]["environment"]["DATABASE_URL"]
