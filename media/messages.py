"""The one-line refusals of untrusted media, in English, by reason.

A refusal (`ClipError`, `ImageError`) carries a `reason` (a key here) and the values its
sentence needs; the English sentence is filled in for logs and for the painter's job error,
and bot/texts.py re-exports these tables so the bot says the same in the user's language
(bot/locales/*/messages.po). Values are numbers or short names, never sentences.
"""

from __future__ import annotations

from typing import Any

CLIP_MESSAGES: dict[str, str] = {
    "unreadable": "I could not read this video: the file is damaged or not a video.",
    "no_video": "This file has no video in it.",
    "codec": "I can't decode this video's format ({codec}); please send it as MP4 (H.264).",
    "container": (
        "I can't open this kind of video file ({container}); please send it as MP4, WebM or GIF."
    ),
    "no_frames": "This video has no frames to paint.",
    "still": "This is a still picture, not a video: send it as a photo.",
    "too_long": "This clip is longer than {limit} seconds; please send at most {limit} s.",
    "too_big": (
        "This clip's frames are too large ({width}×{height}); "
        "please send one of at most {megapixels} megapixels a frame (1920×1080 is fine)."
    ),
    "too_many_frames": (
        "This clip has too many frames ({frames} or more); I read at most {limit} frames."
    ),
    "too_slow": "This clip takes too long to decode; please send a shorter or smaller one.",
    "too_heavy": "This clip needs too much memory to decode; please send a smaller one.",
}

IMAGE_MESSAGES: dict[str, str] = {
    "bad": "Something is wrong with this image — please try another one.",
    "not_image": (
        "That file is not an image I can read (I understand JPEG, PNG, WebP, GIF, BMP and TIFF)."
    ),
    "corrupt": "This image looks damaged or cut off — please send it again.",
    "empty": "That file is empty — please send the picture again.",
    "no_pixels": "This image has no pixels in it — please send another one.",
    "too_large": "This image is too large; please send a smaller one.",
    "too_many_pixels": (
        "This image is too large ({megapixels} megapixels); "
        "please send one under {limit} megapixels."
    ),
    "shape": (
        "This image is too long and thin for me to paint — "
        "please crop it closer to a normal photo shape."
    ),
    "colour_mode": "This image uses a colour format I can't read — please send a JPEG or PNG.",
    "too_slow": "This image takes too long to decode; please send a smaller one.",
    "too_heavy": "This image needs too much memory to decode; please send a smaller one.",
}


def english(table: dict[str, str], reason: str, args: dict[str, Any]) -> str:
    """The English sentence of `reason`, its values filled in (numbers as they come)."""
    return table[reason].format(**{key: _plain(value) for key, value in args.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 60.0 megapixels reads "60"
    return value
