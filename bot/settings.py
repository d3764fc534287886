"""Settings of the bot process (environment variables and `.env`).

The names are a contract with users' `.env` files and the Dockerfile: keep them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from jobs.backends.url import secret_text
from media.settings import MediaSettings

WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class BotSettings(MediaSettings):
    """Everything `python -m bot` reads; the engine subprocess reads its own `EngineSettings`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    telegram_token: SecretStr | None = Field(None, alias="TELEGRAM_TOKEN")
    telegram_base_url: str = Field("https://api.telegram.org/bot", alias="TELEGRAM_BASE_URL")
    telegram_base_file_url: str = Field(
        "https://api.telegram.org/file/bot", alias="TELEGRAM_BASE_FILE_URL"
    )
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(frozenset(), alias="ADMIN_IDS")
    data_dir: Path = Field(Path("data"), alias="DATA_DIR")
    # Unset: the embedded SQLite in DATA_DIR. postgresql://user:password@host:5432/db: a
    # PostgreSQL shared with painters on other hosts (see README, "Scaling out").
    database_url: SecretStr | None = Field(None, alias="DATABASE_URL")
    styles_dir: Path = Field(Path("styles"), alias="STYLES_DIR")
    # The contact sheet `make gallery` renders (with its .json beside it): /styles cuts each
    # painting's examples from it. Missing: /styles shows the paintings alone.
    gallery_sheet: Path = Field(Path("docs/gallery.jpg"), alias="GALLERY_SHEET")
    engine_external: bool = Field(False, alias="ENGINE_EXTERNAL")
    # Limits (each refusal tells the user the number).
    max_active_jobs_per_user: int = Field(3, ge=1, alias="MAX_ACTIVE_JOBS_PER_USER")
    max_active_jobs_per_chat: int = Field(10, ge=1, alias="MAX_ACTIVE_JOBS_PER_CHAT")
    max_download_bytes: int = Field(20 * 1024 * 1024, ge=1, alias="MAX_DOWNLOAD_BYTES")
    max_input_pixels: int = Field(60_000_000, ge=1, alias="MAX_INPUT_PIXELS")
    max_image_size: int = Field(2048, ge=32, alias="MAX_IMAGE_SIZE")
    max_iterations: int = Field(2000, ge=1, alias="MAX_ITERATIONS")
    # Clips longer than this are refused before anything is queued (the engine reads it too).
    clip_max_seconds: float = Field(10.0, gt=0, le=120, alias="CLIP_MAX_SECONDS")
    # How often the bot looks at the job table for progress to show (seconds).
    notify_poll_seconds: float = Field(1.0, gt=0, alias="NOTIFY_POLL_SECONDS")
    # Album items arrive as separate updates: wait this long after the last one.
    album_wait_seconds: float = Field(1.0, gt=0, le=30, alias="ALBUM_WAIT_SECONDS")
    # Seconds the engine gets to requeue its job after SIGTERM before it is killed.
    engine_stop_grace_seconds: float = Field(20.0, gt=0, alias="ENGINE_STOP_GRACE_SECONDS")
    # How many times a 429 (flood control) is retried by the rate limiter.
    rate_limit_retries: int = Field(3, ge=0, le=10, alias="RATE_LIMIT_RETRIES")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    # text for people, json (one object per line) for log shippers.
    log_format: Literal["text", "json"] = Field("text", alias="LOG_FORMAT")
    # Webhook instead of long polling when WEBHOOK_URL is set (the public https URL; the bot
    # serves its path on WEBHOOK_LISTEN:WEBHOOK_PORT, behind a reverse proxy keeping the path).
    webhook_url: AnyHttpUrl | None = Field(None, alias="WEBHOOK_URL")
    webhook_listen: str = Field("0.0.0.0", alias="WEBHOOK_LISTEN")
    webhook_port: int = Field(8443, ge=1, le=65535, alias="WEBHOOK_PORT")
    # Telegram sends it in a header with every update; unset = a random one for each start.
    webhook_secret: SecretStr | None = Field(None, alias="WEBHOOK_SECRET")
    # /metrics (Prometheus) and /healthz on this port; unset = off. 0 = any free port.
    metrics_port: int | None = Field(None, ge=0, le=65535, alias="METRICS_PORT")
    metrics_listen: str = Field("0.0.0.0", alias="METRICS_LISTEN")

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """Telegram takes 1-256 characters: letters, digits, _ and -."""
        if value is not None and not WEBHOOK_SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("use 1 to 256 characters: letters, digits, _ and - only")
        return value

    @property
    def database(self) -> str | None:
        """DATABASE_URL as text; None: the embedded SQLite in DATA_DIR."""
        return secret_text(self.database_url)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        """Accept `ADMIN_IDS=1,2 3` as well as a list."""
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(",", " ").split())
        return value
