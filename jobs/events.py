"""One log line per job event, alike in the bot and the engine, for people and log shippers.

Events: queued (bot), started, progress, done, failed, cancelled, requeued (engine),
delivered (bot). Every line names the job, its user and chat; durations are in seconds.
As text: `job 12 started: user=1001 chat=1001 wait_seconds=3.2 attempt=1`; with
LOG_FORMAT=json the same fields are keys (`event`, `job_id`, `user_id`, `chat_id`, ...).
"""

from __future__ import annotations

import logging

from jobs.models import Job


def job_event(
    logger: logging.Logger, event: str, job: Job, *, level: int = logging.INFO, **fields: object
) -> None:
    """Log `event` of `job` with `fields` (floats rounded to milliseconds)."""
    if not logger.isEnabledFor(level):
        return
    values = {k: round(v, 3) if isinstance(v, float) else v for k, v in fields.items()}
    details = " ".join(f"{k}={v}" for k, v in values.items())
    logger.log(
        level,
        "job %d %s: user=%d chat=%d%s",
        job.id,
        event,
        job.user_id,
        job.chat_id,
        f" {details}" if details else "",
        extra={"event": event, "job_id": job.id, "user_id": job.user_id, "chat_id": job.chat_id}
        | values,
    )
