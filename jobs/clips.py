"""Clips (videos, GIFs, video messages) in the job table: a clip is a job like a photo.

Same table, fair queue, leases, crash recovery and delivery; what makes a job a clip is its
content file's name (`clip.<ext>`, the video as the user sent it). The engine paints it frame
by frame and stores the painted animation as `CLIP_RESULT_NAME` beside `result.png` (the last
painted frame, a still of the result); progress is counted in frames (`iteration` = frames
painted, `total_iterations` = frames). A variation (Stronger, Another style…) reuses the
content file, so it is a clip too. No schema change: older rows are photos.
"""

from __future__ import annotations

from jobs.models import Job, NewJob

CLIP_STEM = "clip"
CLIP_RESULT_NAME = "clip-painted.mp4"
CLIP_PATTERN = CLIP_STEM + ".%"  # SQL LIKE: the content names of clips


def clip_content_name(suffix: str) -> str:
    """The content file's name for a clip with this suffix (".mp4", ".gif", ...)."""
    suffix = suffix if suffix.startswith(".") else f".{suffix}"
    return CLIP_STEM + suffix


def is_clip(job: Job | NewJob | str) -> bool:
    """Whether the job (or a content file name) is a clip."""
    name = job if isinstance(job, str) else job.content_name
    return name.startswith(CLIP_STEM + ".")
