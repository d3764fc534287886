"""The job table shared by the bot and the engine (see jobs/api_spec.md).

Imports neither torch nor telegram, so both sides (and tests) load it cheaply.
"""

from jobs.files import PREVIEW_NAME, RESULT_NAME
from jobs.models import (
    ACTIVE,
    FINISHED,
    DatabaseUnavailable,
    EngineInfo,
    EngineLeaseError,
    Job,
    JobOptions,
    JobStatus,
    NewJob,
    Stats,
    StyleRef,
    UserSettings,
)
from jobs.store import JobStore

__all__ = [
    "ACTIVE",
    "FINISHED",
    "DatabaseUnavailable",
    "EngineInfo",
    "EngineLeaseError",
    "Job",
    "JobOptions",
    "JobStatus",
    "JobStore",
    "NewJob",
    "PREVIEW_NAME",
    "RESULT_NAME",
    "Stats",
    "StyleRef",
    "UserSettings",
]
