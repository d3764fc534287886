"""Settings of the engine process (environment variables and `.env`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from jobs.backends.url import secret_text
from media.settings import MediaSettings


class EngineSettings(MediaSettings):
    """Everything the engine worker and CLI read from the environment.

    Defaults aim at a GPU box but keep a CPU-only machine usable: on a CPU the
    worker caps the size and iterations (see `CPU_*`) so a default job ends in minutes.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), alias="DATA_DIR")
    database_url: SecretStr | None = Field(None, alias="DATABASE_URL")
    styles_dir: Path = Field(Path("styles"), alias="STYLES_DIR")
    styles_source: str | None = Field(None, alias="STYLES_SOURCE")
    device: str = Field("auto", alias="DEVICE")
    weights: Literal["caffe", "torchvision"] = Field("caffe", alias="VGG_WEIGHTS")
    image_size: int = Field(768, ge=32, le=4096, alias="IMAGE_SIZE")
    max_image_size: int = Field(2048, ge=32, le=8192, alias="MAX_IMAGE_SIZE")
    iterations: int = Field(500, ge=1, le=10000, alias="ITERATIONS")
    max_iterations: int = Field(2000, ge=1, le=20000, alias="MAX_ITERATIONS")
    # Unset: CPU_SIZE_BF16 where the CPU paints in bf16, else CPU_SIZE_FP32 (about two
    # minutes a picture either way on 2 cores; bench/RESULTS.md).
    cpu_image_size: int | None = Field(None, ge=32, le=4096, alias="CPU_IMAGE_SIZE")
    # The time budget of a default job (engine/painter/budget.py): its size is chosen from
    # the speed this painter measures, never under the look side (256 px) nor over IMAGE_SIZE.
    # On a CPU by default (0: off, CPU_IMAGE_SIZE then the fixed size); on a GPU only if set.
    cpu_job_seconds: float = Field(75.0, ge=0, le=3600, alias="CPU_JOB_SECONDS")
    gpu_job_seconds: float = Field(0.0, ge=0, le=3600, alias="GPU_JOB_SECONDS")
    cpu_iterations: int = Field(300, ge=1, le=10000, alias="CPU_ITERATIONS")
    strength: float = Field(1.0, gt=0, le=10, alias="STRENGTH")
    progress_every: int = Field(100, ge=1, alias="PROGRESS_EVERY")
    # Frames kept of each painting as it forms, for the result's timelapse (0 = none).
    timelapse_frames: int = Field(48, ge=0, le=120, alias="TIMELAPSE_FRAMES")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", alias="PRECISION")
    # Clips (videos, GIFs, video messages): longest accepted (the bot refuses longer ones),
    # frame rate cap (faster clips are resampled), long side on a GPU / on a CPU (a clip is
    # never enlarged; size= may ask for less, never more), iterations of every frame after
    # the first (the first gets the photo's ITERATIONS / CPU_ITERATIONS).
    clip_max_seconds: float = Field(10.0, gt=0, le=120, alias="CLIP_MAX_SECONDS")
    clip_max_fps: float = Field(12.0, gt=0, le=60, alias="CLIP_MAX_FPS")
    clip_size: int = Field(512, ge=32, le=2048, alias="CLIP_SIZE")
    cpu_clip_size: int = Field(256, ge=32, le=2048, alias="CPU_CLIP_SIZE")
    clip_frame_iterations: int = Field(40, ge=1, le=2000, alias="CLIP_FRAME_ITERATIONS")
    # A clip's time budget (engine/painter/clip_plan.py): later frames' iterations, frame rate,
    # the first frame's iterations, then the size give way until it fits (0: off).
    cpu_clip_seconds: float = Field(180.0, ge=0, le=7200, alias="CPU_CLIP_SECONDS")
    gpu_clip_seconds: float = Field(0.0, ge=0, le=7200, alias="GPU_CLIP_SECONDS")
    # Queued jobs of one size and plan painted together (1: one at a time). Unset: 1 on a CPU
    # (0.90-0.99x at 256 px, faster only at 128 px), on a GPU as many as fit its free
    # memory, at most 8 (engine/painter/batching.py; bench/RESULTS.md).
    batch_jobs: int | None = Field(None, ge=1, le=64, alias="BATCH_JOBS")
    max_input_pixels: int = Field(60_000_000, ge=1, alias="MAX_INPUT_PIXELS")
    # None: exclusive on the embedded SQLite, shared (many painters) on PostgreSQL.
    engine_exclusive: bool | None = Field(None, alias="ENGINE_EXCLUSIVE")
    worker_name: str | None = Field(None, alias="WORKER_NAME")
    heartbeat_seconds: float = Field(5.0, gt=0, alias="HEARTBEAT_SECONDS")
    stale_after_seconds: float = Field(60.0, gt=0, alias="STALE_AFTER_SECONDS")
    max_attempts: int = Field(3, ge=1, alias="MAX_ATTEMPTS")
    # The longest the painter waits for one database call (a claim, a file read, an outcome
    # written, a progress report, a clip checkpoint): a hung call is an error like any other;
    # it costs that report, or that job's turn (given back to the queue), never the batch.
    # Above the PostgreSQL backend's own limits (a command on a dead connection: 30 s; an away
    # server: 15 s of patience), so an outage still ends as DatabaseUnavailable, waited out.
    db_call_timeout_seconds: float = Field(60.0, gt=0, alias="DB_CALL_TIMEOUT_SECONDS")
    # A painter whose painting has not moved (no iteration, no step of a job's life) for this
    # long is stuck: it gives its jobs back and exits with code 4 (engine/painter/stalls.py).
    painter_stall_seconds: float = Field(600.0, gt=0, alias="PAINTER_STALL_SECONDS")
    poll_seconds: float = Field(0.5, gt=0, le=5, alias="POLL_SECONDS")
    retention_days: float = Field(7.0, ge=0, alias="RETENTION_DAYS")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    log_format: Literal["text", "json"] = Field("text", alias="LOG_FORMAT")
    # This painter's own metrics (device, memory, speed) at /metrics; unset = off.
    worker_metrics_port: int | None = Field(None, ge=0, le=65535, alias="WORKER_METRICS_PORT")
    metrics_listen: str = Field("0.0.0.0", alias="METRICS_LISTEN")

    @field_validator("timelapse_frames")
    @classmethod
    def _photo_and_painting_at_least(cls, value: int) -> int:
        if value == 1:
            raise ValueError("a timelapse needs at least 2 frames (or 0 for none)")
        return value

    @property
    def database(self) -> str | None:
        """DATABASE_URL as text; None: the embedded SQLite in DATA_DIR."""
        return secret_text(self.database_url)
