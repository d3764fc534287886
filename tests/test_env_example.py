"""`.env.example` documents every setting of both processes, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from bot.settings import BotSettings
from engine.painter.settings import EngineSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def _aliases(cls: type[BaseSettings]) -> set[str]:
    return {field.alias or name.upper() for name, field in cls.model_fields.items()}


def test_env_example_lists_every_setting_and_nothing_unknown() -> None:
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    expected = _aliases(BotSettings) | _aliases(EngineSettings)
    assert expected - documented == set(), "settings missing from .env.example"
    assert documented - expected == set(), ".env.example names settings nobody reads"


def test_env_example_parses_with_its_defaults(tmp_path, monkeypatch) -> None:
    """Uncommenting nothing but the token must give a valid configuration."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        ENV_EXAMPLE.read_text().replace("TELEGRAM_TOKEN=", "TELEGRAM_TOKEN=1:x")
    )
    assert BotSettings().telegram_token.get_secret_value() == "1:x"
    assert EngineSettings().iterations > 0
