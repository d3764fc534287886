"""Arithmetic of waiting times (pure functions, so they are easy to test)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def running_remaining(
    *,
    now: float,
    started_at: float,
    progress_at: float | None,
    iteration: int,
    total: int | None,
    avg_duration: float | None,
    eta_at: float | None = None,
) -> float | None:
    """Seconds left for a running job: the engine's own estimate when it gave one, else its
    pace once it reported an iteration, else the recent average duration minus what it has
    already run."""
    if eta_at is not None:
        return max(0.0, eta_at - now)
    if total and iteration > 0 and progress_at is not None and progress_at > started_at:
        per_iteration = (progress_at - started_at) / iteration
        return max(0.0, per_iteration * (total - iteration) - (now - progress_at))
    if avg_duration is None:
        return None
    return max(0.0, avg_duration - (now - started_at))


def queued_finish(
    *,
    ahead: int,
    running_left: list[float],
    workers: int,
    avg_duration: float,
    durations: Sequence[float] | None = None,
) -> float:
    """Seconds until a queued job with `ahead` jobs before it finishes: each worker frees up
    when its current job ends, then takes the next job, each lasting `avg_duration` (or, with
    `durations`, its own: the jobs ahead in order, then this one; a clip lasts longer)."""
    if durations is None:
        durations = [avg_duration] * (ahead + 1)
    free_at = sorted(running_left)[:workers]
    free_at += [0.0] * (max(1, workers) - len(free_at))
    heapq.heapify(free_at)
    for index in range(ahead):
        heapq.heappush(free_at, heapq.heappop(free_at) + durations[index])
    return free_at[0] + durations[ahead]
