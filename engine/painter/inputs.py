"""A job's inputs as the photo and the clip paths both load them: its files (read from the job
table before painting starts), its paintings, and the failure a user is told about."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image

from engine.painter.context import PainterContext
from jobs import StyleRef
from media.bounded import load_image_within
from media.images import ImageError, load_image
from styles import UnknownStyleError

log = logging.getLogger("engine.worker")

GENERIC_ERROR = (
    "Sorry, something went wrong while painting this picture. "
    "Please try again later, or with another photo."
)

# A picture whose numbers stopped being finite and did not recover (engine/paint/guard.py).
LOST_ERROR = (
    "Sorry, the painting of this picture went wrong part-way and could not be saved. "
    "Please try again, perhaps with another photo or painting."
)


class JobFailed(Exception):
    """This job cannot be painted; `user_message` says why, in words for the user."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


@dataclass(frozen=True)
class JobInputs:
    """A job's files, read from the job table: the photo (or clip) and uploaded paintings by
    name."""

    content: bytes
    uploads: Mapping[str, bytes]


def missing_preset_message(name: str) -> str:
    return (
        f"The painting '{name}' is not installed on this server; "
        "the admin should run `make styles`."
    )


def load_content(context: PainterContext, data: bytes, size: int) -> Image.Image:
    """The job's photo, upright RGB, at most `size` long."""
    settings = context.settings
    try:
        return load_image_within(
            data, settings.media_budget(), max_side=size, max_pixels=settings.max_input_pixels
        )
    except ImageError as exc:
        raise JobFailed(exc.user_message) from exc


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
            raise JobFailed(f"About your style picture: {exc.user_message}") from exc
    assert ref.preset is not None
    catalogue = context.catalogue
    try:
        preset = catalogue.resolve(ref.preset)
    except UnknownStyleError as exc:
        raise JobFailed(f"I don't know a painting called '{ref.preset}'.") from exc
    path = catalogue.image_path(preset, context.settings.styles_dir)
    if not path.is_file():
        raise JobFailed(missing_preset_message(preset.name))
    try:
        return load_image(path, max_side=max_side, max_pixels=max_pixels)
    except ImageError as exc:
        log.error("preset %s at %s is unreadable: %s", preset.name, path, exc)
        raise JobFailed(
            f"The painting '{preset.name}' on this server is damaged; "
            "the admin should run `make styles`."
        ) from exc
