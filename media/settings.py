"""The media budgets as settings (#28), shared by the bot's and the painter's settings classes:
each process decodes untrusted files within them (media/bounded.py)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from media.sandbox import Budget
from media.video import ClipLimits


class MediaSettings(BaseSettings):
    """Budgets of one decoding (a photo, a clip) and the limits a clip's header is held to."""

    # Wall seconds (the child's start-up included) and memory above the child's own
    # interpreter that one decoding may spend; past either it is killed and the file refused.
    media_decode_seconds: float = Field(10.0, gt=0, le=300, alias="MEDIA_DECODE_SECONDS")
    media_decode_memory_mb: int = Field(300, ge=64, le=16384, alias="MEDIA_DECODE_MEMORY_MB")
    media_decode_threads: int = Field(2, ge=1, le=16, alias="MEDIA_DECODE_THREADS")
    # A clip's frames may be at most this many pixels (1920x1080), and at most this many
    # source frames are read (12 s at 60 fps); refused from the header where it tells.
    clip_max_pixels_per_frame: int = Field(
        1920 * 1080, ge=64 * 64, alias="CLIP_MAX_PIXELS_PER_FRAME"
    )
    clip_max_source_frames: int = Field(720, ge=2, alias="CLIP_MAX_SOURCE_FRAMES")

    def media_budget(self) -> Budget:
        return Budget(
            self.media_decode_seconds, self.media_decode_memory_mb, self.media_decode_threads
        )

    def clip_limits(self, max_seconds: float) -> ClipLimits:
        return ClipLimits(
            max_seconds,
            self.clip_max_pixels_per_frame,
            self.clip_max_source_frames,
            self.media_decode_threads,
        )
