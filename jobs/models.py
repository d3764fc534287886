"""Value types of the job table, shared by the bot and the engine (no torch, no telegram)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from jobs.cost import PainterSpeed
from jobs.failures import Failure, decode


class JobStatus(StrEnum):
    """Lifecycle of a job: queued -> running -> done | failed | cancelled (running may requeue)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE: frozenset[JobStatus] = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
FINISHED: frozenset[JobStatus] = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class EngineLeaseError(RuntimeError):
    """Another live engine holds the lease; the message says which one and what to do."""


class DatabaseUnavailable(ConnectionError):
    """The database cannot be reached now (PostgreSQL down or the connection lost); worth
    retrying. The message names the host, never the password."""


@dataclass(frozen=True)
class StyleRef:
    """One painting of a blend: a catalogue preset OR a file uploaded into the job dir."""

    preset: str | None = None
    image: str | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        if (self.preset is None) == (self.image is None):
            raise ValueError("a StyleRef needs exactly one of preset= or image=")
        if not self.weight > 0:
            raise ValueError(f"style weight must be > 0, got {self.weight}")
        if self.image is not None:
            check_file_name(self.image)


@dataclass(frozen=True)
class JobOptions:
    """Per-job overrides; None means "the engine's default" (EngineSettings)."""

    size: int | None = None
    iterations: int | None = None
    strength: float | None = None
    preserve_colors: bool | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 16:
            raise ValueError(f"size must be >= 16, got {self.size}")
        if self.iterations is not None and self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if self.strength is not None and not self.strength > 0:
            raise ValueError(f"strength must be > 0, got {self.strength}")


@dataclass(frozen=True)
class NewJob:
    """What the bot knows when a request arrives; (chat_id, request_message_id) is unique."""

    user_id: int
    user_name: str
    chat_id: int
    chat_type: str
    request_message_id: int
    reply_to_message_id: int
    content_name: str
    styles: tuple[StyleRef, ...]
    options: JobOptions = JobOptions()
    language: str | None = None  # the locale its messages are written in (None: English)

    def __post_init__(self) -> None:
        check_file_name(self.content_name)
        if not self.styles:
            raise ValueError("a job needs at least one style")
        object.__setattr__(self, "styles", tuple(self.styles))


@dataclass(frozen=True, kw_only=True)
class Job:
    """One row of the `jobs` table (all of NewJob plus state, progress and timestamps)."""

    id: int
    user_id: int
    user_name: str
    chat_id: int
    chat_type: str
    request_message_id: int
    reply_to_message_id: int
    content_name: str
    styles: tuple[StyleRef, ...]
    options: JobOptions
    status: JobStatus
    priority: int
    progress_message_id: int | None
    iteration: int
    total_iterations: int | None
    loss: float | None
    preview_name: str | None
    progress_at: float | None
    attempts: int
    error: str | None  # why it failed, in English (logs, /admin); `failure` for the bot
    result_name: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    delivered_at: float | None
    worker_id: str | None
    cancel_requested: bool
    files_deleted_at: float | None = None
    eta_at: float | None = None  # when the engine expects to finish (unix seconds)
    language: str | None = None  # the locale its messages are written in (None: English)
    failure: Failure | None = None  # the `error` column read (jobs/failures.py); not a column

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        data = {f.name: row[f.name] for f in fields(cls) if f.name != "failure"}
        data["failure"] = decode(data["error"])
        data["error"] = None if data["failure"] is None else data["failure"].text
        data["styles"] = styles_from_json(data["styles"])
        data["options"] = options_from_json(data["options"])
        data["status"] = JobStatus(data["status"])
        data["cancel_requested"] = bool(data["cancel_requested"])
        return cls(**data)


@dataclass
class EngineInfo:
    """A row of the `engines` table: one worker process and the device it drives."""

    worker_id: str
    pid: int
    hostname: str
    device: str
    gpu_memory_mb: int | None
    started_at: float = 0
    last_seen: float = 0
    current_job: int | None = None
    exclusive: bool = True
    name: str = ""  # WORKER_NAME (default: the host name); "" reads as the worker_id
    draining: bool = False  # finishes its current job, takes no new one
    # A GPU this painter found but cannot use, why (e.g. "NVIDIA driver 535.104.05 found but this
    # torch (CUDA 13.0) needs 580+: ..."); None when there is none or it paints on it.
    gpu_unused: str | None = None
    # What painting costs here (jobs/cost.py); None: not measured (no time budget).
    speed: PainterSpeed | None = None

    @property
    def label(self) -> str:
        return self.name or self.worker_id

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EngineInfo:
        data = {f.name: row[f.name] for f in fields(cls)}
        data["exclusive"] = bool(data["exclusive"])
        data["draining"] = bool(data["draining"])
        data["name"] = data["name"] or ""
        data["speed"] = PainterSpeed.from_json(data["speed"])
        return cls(**data)


@dataclass(frozen=True)
class UserSettings:
    """A user's saved defaults; None = use the engine's default."""

    size: int | None = None
    strength: float | None = None
    preserve_colors: bool | None = None
    language: str | None = None  # a locale the user picked; None: their Telegram client's


USER_SETTING_NAMES: frozenset[str] = frozenset(f.name for f in fields(UserSettings))


@dataclass(frozen=True)
class Stats:
    """Counts for the admin's /stats: finished since a time, plus the queue right now."""

    done: int
    failed: int
    cancelled: int
    queued: int
    running: int = 0
    avg_duration: float | None = None


def styles_to_json(styles: tuple[StyleRef, ...]) -> str:
    return json.dumps([asdict(s) for s in styles], separators=(",", ":"))


def styles_from_json(text: str) -> tuple[StyleRef, ...]:
    return tuple(StyleRef(**_known(StyleRef, item)) for item in json.loads(text))


def options_to_json(options: JobOptions) -> str:
    return json.dumps(asdict(options), separators=(",", ":"))


def options_from_json(text: str) -> JobOptions:
    return JobOptions(**_known(JobOptions, json.loads(text)))


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Drop keys a newer version may have written, so old rows and new rows both load."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def check_file_name(name: str) -> None:
    """Names are relative to the job dir; refuse anything that could escape it."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")
