"""Why a job failed, in words the bot can say in the user's language (#30).

A failure is a sentence's key, the values that fill it, and its English (for logs, /admin and
anyone reading the job table). The keys are those of MESSAGES below, the painter's own
sentences, or a media refusal, `clip.<reason>` / `image.<reason>` (media/messages.py's tables,
which the bot already translates). The bot reads MESSAGES from here (bot/texts.py re-exports
them, so they are in every catalogue); the engine fails a job with `failure(key, **values)`.

The job table keeps a failure in its one `error` text column as a JSON object
(`{"text": …, "key": …, "values": {…}}`); a plain sentence there (rows written before, or
`fail()` given a string) still reads, as English without a key. A value is a number, a short
name, or a failure itself (the refusal a sentence quotes); one named `painting` is a preset's
slug, which the bot shows as that painting's name in the user's language.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# A sentence, or (singular, plural) chosen by the `count` value.
Template = str | tuple[str, str]

MESSAGES: dict[str, Template] = {
    "generic": (
        "Sorry, something went wrong while painting this picture. "
        "Please try again later, or with another photo."
    ),
    # A picture whose numbers stopped being finite and did not recover (engine/paint/guard.py).
    "lost": (
        "Sorry, the painting of this picture went wrong part-way and could not be saved. "
        "Please try again, perhaps with another photo or painting."
    ),
    "out_of_memory": (
        "Your picture did not fit in the painter's memory, even at {size} px. "
        "Please try a smaller size, for example size={smaller}."
    ),
    "photo_missing": "The photo for this job is missing on the server; please send it again.",
    "style_missing": "Your style picture is missing on the server; please send it again.",
    "style_picture": "About your style picture: {refusal}",
    "unknown_painting": "I don't know a painting called '{name}'.",
    "painting_missing": (
        "The painting '{painting}' is not installed on this server; "
        "the admin should run `make styles`."
    ),
    "painting_damaged": (
        "The painting '{painting}' on this server is damaged; the admin should run `make styles`."
    ),
    # The painter's painting thread stood still on this picture MAX_ATTEMPTS times
    # (engine/painter/stalls.py).
    "painting_stalled": (
        "Sorry, the painter kept getting stuck on this picture, so I gave up on it. "
        "Try again with a smaller size (for example size=512) or another photo."
    ),
    "gave_up": (
        "Sorry, the painter crashed {count} time while working on this picture, so I gave up "
        "on it. Try again with a smaller size (for example size=512) or another photo.",
        "Sorry, the painter crashed {count} times while working on this picture, so I gave up "
        "on it. Try again with a smaller size (for example size=512) or another photo.",
    ),
}

MEDIA_KINDS = ("clip", "image")  # refusals keyed `clip.<reason>`, `image.<reason>`

Value = Any  # str | int | float | Failure


@dataclass(frozen=True)
class Failure:
    """A failure told to a user: `key` (None: a plain sentence, an old row), `values`, and
    `text`, its English."""

    text: str
    key: str | None = None
    values: Mapping[str, Value] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


def placeholders(template: Template) -> set[str]:
    forms = template if isinstance(template, tuple) else (template,)
    return {name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name}


def failure(key: str, /, **values: Value) -> Failure:
    """One of MESSAGES, filled in; its values must be exactly the sentence's placeholders."""
    template = MESSAGES[key]
    wanted = placeholders(template) | ({"count"} if isinstance(template, tuple) else set())
    if set(values) != wanted:
        raise ValueError(f"failure {key!r} takes {sorted(wanted)}, not {sorted(values)}")
    if isinstance(template, tuple):
        template = template[0] if values["count"] == 1 else template[1]
    return Failure(template.format(**{k: _english(v) for k, v in values.items()}), key, values)


def refusal(kind: str, reason: str, values: Mapping[str, Value], text: str) -> Failure:
    """A media refusal (media/messages.py: `kind` "clip" or "image", its `reason`, values) with
    its English sentence, as media wrote it."""
    if kind not in MEDIA_KINDS:
        raise ValueError(f"no refusals of kind {kind!r}")
    return Failure(text, f"{kind}.{reason}", dict(values))


def _english(value: Value) -> Value:
    if isinstance(value, Failure):
        return value.text
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ------------------------------------------------------------------------ the error column


def encode(error: str | Failure) -> str:
    """What the `error` column keeps: a plain sentence as it is, a failure as JSON."""
    if isinstance(error, str):
        return error
    return json.dumps(_to_json(error), ensure_ascii=False, separators=(",", ":"))


def decode(stored: str | None) -> Failure | None:
    """The failure in an `error` column; a plain sentence (an old row) reads as English with
    no key."""
    if stored is None:
        return None
    if stored.startswith("{"):
        try:
            found = _from_json(json.loads(stored))
        except (ValueError, TypeError, KeyError):
            found = None
        if found is not None:
            return found
    return Failure(stored)


def _to_json(failure: Failure) -> dict[str, Any]:
    values = {
        name: _to_json(value) if isinstance(value, Failure) else value
        for name, value in failure.values.items()
    }
    return {"text": failure.text, "key": failure.key, "values": values}


def _from_json(data: Any) -> Failure | None:
    if not isinstance(data, dict) or set(data) != {"text", "key", "values"}:
        return None
    text, key, values = data["text"], data["key"], data["values"]
    if not isinstance(text, str) or not isinstance(key, str | None) or not isinstance(values, dict):
        return None
    read: dict[str, Value] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            value = _from_json(value)
            if value is None:
                return None
        read[name] = value
    return Failure(text, key, read)
