"""A job's inputs as the photo and the clip paths both load them: its files (read from the job
table before painting starts), its paintings, and the failure a user is told about."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image

from engine.painter.context import PainterContext
from jobs import StyleRef
from jobs.failures import Failure, failure, refusal
from media.bounded import load_image_within
from media.images import ImageError, load_image
from styles import UnknownStyleError

log = logging.getLogger("engine.worker")

GENERIC_ERROR = failure("generic")
# A picture whose numbers stopped being finite and did not recover (engine/paint/guard.py).
LOST_ERROR = failure("lost")


class JobFailed(Exception):
    """This job cannot be painted; `failure` says why (jobs/failures.py: the bot says it in the
    user's language), `user_message` is its English."""

    def __init__(self, failure: Failure) -> None:
        if not isinstance(failure, Failure):
            raise TypeError(f"JobFailed takes a jobs.failures.Failure, not {failure!r}")
        super().__init__(failure.text)
        self.failure = failure

    @property
    def user_message(self) -> str:
        return self.failure.text


def image_refusal(exc: ImageError) -> Failure:
    """A refused picture (media/messages.py's reason and values) as a job's failure."""
    return refusal("image", exc.reason, exc.values, exc.user_message)


@dataclass(frozen=True)
class JobInputs:
    """A job's files, read from the job table: the photo (or clip) and uploaded paintings by
    name."""

    content: bytes
    uploads: Mapping[str, bytes]


def load_content(context: PainterContext, data: bytes, size: int) -> Image.Image:
    """The job's photo, upright RGB, at most `size` long."""
    settings = context.settings
    try:
        return load_image_within(
            data, settings.media_budget(), max_side=size, max_pixels=settings.max_input_pixels
        )
    except ImageError as exc:
        raise JobFailed(image_refusal(exc)) from exc


def load_style(context: PainterContext, inputs: JobInputs, ref: StyleRef, size: int) -> Image.Image:
    """One of the job's paintings: an upload, or a preset from STYLES_DIR."""
    # Twice the output size leaves room for a style_scale > 1 without upscaling paintings.
    max_side = 2 * size
    max_pixels = context.settings.max_input_pixels
    if ref.image is not None:
        try:
            upload = inputs.uploads[ref.image]
            budget = context.settings.media_budget()
            return load_image_within(upload, budget, max_side=max_side, max_pixels=max_pixels)
        except ImageError as exc:
            raise JobFailed(failure("style_picture", refusal=image_refusal(exc))) from exc
    assert ref.preset is not None
    catalogue = context.catalogue
    try:
        preset = catalogue.resolve(ref.preset)
    except UnknownStyleError as exc:
        raise JobFailed(failure("unknown_painting", name=ref.preset)) from exc
    path = catalogue.image_path(preset, context.settings.styles_dir)
    if not path.is_file():
        raise JobFailed(failure("painting_missing", painting=preset.name))
    try:
        return load_image(path, max_side=max_side, max_pixels=max_pixels)
    except ImageError as exc:
        log.error("preset %s at %s is unreadable: %s", preset.name, path, exc)
        raise JobFailed(failure("painting_damaged", painting=preset.name)) from exc
