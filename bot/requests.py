"""Parse `/style …` commands into a typed request (no Telegram, no I/O).

Grammar (tokens separated by spaces or commas, case-insensitive):

    /style[@BotName] [name[:weight] …] [size=N] [strength=X] [colors=keep|style]
                     [seed=N] [iterations=N]

`name` is a preset name or alias from the catalogue (`starry-night`, `vangogh`, …); a blend of
several paintings gives each a weight (`monet:0.7 udnie:0.3`, default 1). `name=weight` and
`name*weight` are accepted too. A size above MAX_IMAGE_SIZE is lowered to it (with a note);
nonsense is refused with a message meant for the user.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from bot import texts
from bot.i18n import Msg, msg
from styles import Catalogue, UnknownStyleError

MAX_STYLES = 4
MIN_SIZE = 64
MAX_STRENGTH = 10.0

_COMMAND_RE = re.compile(r"^/style(?:@(?P<bot>\w+))?(?=\s|$)", re.IGNORECASE)
_WEIGHTED_RE = re.compile(r"^(?P<name>[^:=*]+)[:=*](?P<weight>[^:=*]+)$")

_OPTION_ALIASES = {
    "size": "size",
    "s": "size",
    "px": "size",
    "strength": "strength",
    "str": "strength",
    "colors": "colors",
    "colours": "colors",
    "color": "colors",
    "colour": "colors",
    "seed": "seed",
    "iterations": "iterations",
    "iters": "iterations",
    "steps": "iterations",
}
_OPTION_LIST = "size=1024, strength=1.5, colors=keep or colors=style, seed=3"
_KEEP_COLORS = {"keep", "original", "preserve", "photo", "mine", "yes", "true", "on", "1"}
_STYLE_COLORS = {"style", "painting", "paint", "no", "false", "off", "0", "new"}


class RequestError(ValueError):
    """The command can't be understood; `message` says why, for the user (translated when it
    is said; `str(error)` is the English)."""

    def __init__(self, message: Msg | str) -> None:
        self.message = message if isinstance(message, Msg) else msg(message)
        super().__init__(str(self.message))


class NotForMe(Exception):
    """`/style@OtherBot …`: the command is addressed to another bot in the group."""


@dataclass(frozen=True)
class StyleChoice:
    preset: str  # canonical catalogue name
    weight: float = 1.0


@dataclass(frozen=True)
class StyleRequest:
    """What the user asked for; `None` options mean "user default, else engine default"."""

    styles: tuple[StyleChoice, ...] = ()
    size: int | None = None
    strength: float | None = None
    preserve_colors: bool | None = None
    seed: int | None = None
    iterations: int | None = None
    notes: tuple[Msg, ...] = field(default=())  # e.g. "size lowered to 2048"

    @property
    def has_styles(self) -> bool:
        return bool(self.styles)


def is_style_command(text: str | None) -> bool:
    return bool(text) and _COMMAND_RE.match(text.strip()) is not None


def parse_style_command(
    text: str,
    catalogue: Catalogue,
    *,
    max_size: int,
    max_iterations: int,
    bot_username: str | None = None,
) -> StyleRequest:
    """Parse a `/style …` text or caption.

    Raises `NotForMe` when addressed to another bot, `RequestError` (user-readable) otherwise.
    """
    text = (text or "").strip()
    match = _COMMAND_RE.match(text)
    if match is None:
        raise RequestError(texts.STYLE_USAGE)
    target = match.group("bot")
    if target and bot_username and target.lower() != bot_username.lstrip("@").lower():
        raise NotForMe(target)
    rest = text[match.end() :]
    tokens = [t for t in re.split(r"[\s,;]+", rest) if t]
    return parse_arguments(tokens, catalogue, max_size=max_size, max_iterations=max_iterations)


def parse_arguments(
    tokens: list[str],
    catalogue: Catalogue,
    *,
    max_size: int,
    max_iterations: int,
) -> StyleRequest:
    weights: dict[str, float] = {}
    options: dict[str, object] = {}
    notes: list[Msg] = []
    tokens = [t.strip() for t in tokens if t.strip()]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        key, sep, value = token.partition("=")
        option = _OPTION_ALIASES.get(key.lower()) if sep else None
        if option is not None:
            _parse_option(option, key, value, options, notes, max_size, max_iterations)
            i += 1
            continue
        span = _name_span(tokens, i, catalogue)
        if span > 1:  # a name of several words: "starry night", "звёздная ночь:0.7"
            token = " ".join(tokens[i : i + span])
        name, weight = _split_weight(token, catalogue)
        preset = _resolve(name, catalogue, _word_run(tokens, i))
        weights[preset] = weights.get(preset, 0.0) + weight
        i += max(1, span)
    if len(weights) > MAX_STYLES:
        raise RequestError(msg(texts.TOO_MANY_STYLES, max=MAX_STYLES))
    return StyleRequest(
        styles=tuple(StyleChoice(name, w) for name, w in weights.items()),
        size=options.get("size"),  # type: ignore[arg-type]
        strength=options.get("strength"),  # type: ignore[arg-type]
        preserve_colors=options.get("colors"),  # type: ignore[arg-type]
        seed=options.get("seed"),  # type: ignore[arg-type]
        iterations=options.get("iterations"),  # type: ignore[arg-type]
        notes=tuple(notes),
    )


MAX_NAME_WORDS = 6


def _name_part(token: str) -> str:
    match = _WEIGHTED_RE.match(token)
    return match.group("name") if match else token


def _word_run(tokens: list[str], start: int) -> list[str]:
    """The words from `start` that may be one painting's name (no options, no weights but on
    the last)."""
    run: list[str] = []
    for token in tokens[start : start + MAX_NAME_WORDS]:
        if "=" in token:
            break
        run.append(token)
        if _name_part(token) != token:
            break
    return run


def _name_span(tokens: list[str], start: int, catalogue: Catalogue) -> int:
    """How many words from `start` make the longest known name (0: none of two or more)."""
    run = _word_run(tokens, start)
    for count in range(len(run), 1, -1):
        if _name_part(" ".join(run[:count])) in catalogue:
            return count
    return 0


def _split_weight(token: str, catalogue: Catalogue) -> tuple[str, float]:
    if token in catalogue:
        return token, 1.0
    match = _WEIGHTED_RE.match(token)
    if match is None:
        if "=" in token:
            raise RequestError(msg(texts.BAD_OPTION, token=token, options=_OPTION_LIST))
        return token, 1.0
    name, raw_weight = match.group("name"), match.group("weight")
    if "=" in token and name not in catalogue:
        # `key=value` with an unknown key: an option typo rather than a style.
        raise RequestError(msg(texts.BAD_OPTION, token=token, options=_OPTION_LIST))
    weight = _parse_float(raw_weight.rstrip("%"))
    if raw_weight.endswith("%") and weight is not None:
        weight /= 100
    if weight is None:
        raise RequestError(msg(texts.BAD_WEIGHT, token=token))
    if not (weight > 0) or not math.isfinite(weight) or weight > 100:
        raise RequestError(msg(texts.BAD_WEIGHT, token=token))
    return name, weight


def _resolve(name: str, catalogue: Catalogue, run: list[str] = ()) -> str:
    try:
        return catalogue.resolve(name).name
    except UnknownStyleError as exc:
        suggestions = exc.suggestions
        if len(run) > 1:  # "noche estrelada": a name of several words, mistyped
            words = " ".join(_name_part(t) for t in run)
            near = catalogue.suggest(words)
            if near:
                name, suggestions = words, near
        raise RequestError(unknown_style_message(name, suggestions)) from exc


def unknown_style_message(name: str, suggestions: list[str]) -> Msg:
    shown = name if len(name) <= 40 else name[:37] + "…"
    if suggestions:
        quoted = ", ".join(suggestions)
        head = msg(texts.UNKNOWN_STYLE_SUGGEST, name=shown, suggestions=quoted)
    else:
        head = msg(texts.UNKNOWN_STYLE, name=shown)
    return msg("{head} {see}", head=head, see=msg(texts.SEE_STYLES))


def _parse_option(
    option: str,
    key: str,
    value: str,
    options: dict[str, object],
    notes: list[Msg],
    max_size: int,
    max_iterations: int,
) -> None:
    value = value.strip()
    if option == "size":
        size = _parse_int(value.lower().removesuffix("px"))
        if size is None or size <= 0:
            raise RequestError(
                msg(texts.BAD_VALUE, key=key, expected=msg(texts.EXPECT_PIXELS), value=value)
            )
        if size < MIN_SIZE:
            raise RequestError(msg(texts.SIZE_TOO_SMALL, min=MIN_SIZE))
        if size > max_size:
            notes.append(msg(texts.SIZE_CLAMPED, asked=size, size=max_size))
            size = max_size
        options["size"] = size
    elif option == "strength":
        strength = _parse_float(value.lower().removesuffix("x"))
        if strength is None or not (0 < strength <= MAX_STRENGTH):
            raise RequestError(
                msg(
                    texts.BAD_VALUE,
                    key=key,
                    expected=msg(texts.EXPECT_STRENGTH, max=MAX_STRENGTH),
                    value=value,
                )
            )
        options["strength"] = strength
    elif option == "colors":
        lowered = value.lower()
        if lowered in _KEEP_COLORS:
            options["colors"] = True
        elif lowered in _STYLE_COLORS:
            options["colors"] = False
        else:
            raise RequestError(
                msg(texts.BAD_VALUE, key=key, expected=msg(texts.EXPECT_COLORS), value=value)
            )
    elif option == "seed":
        seed = _parse_int(value)
        if seed is None or not (0 <= seed < 2**32):
            raise RequestError(
                msg(texts.BAD_VALUE, key=key, expected=msg(texts.EXPECT_SEED), value=value)
            )
        options["seed"] = seed
    elif option == "iterations":
        iterations = _parse_int(value)
        if iterations is None or iterations <= 0:
            raise RequestError(
                msg(texts.BAD_VALUE, key=key, expected=msg(texts.EXPECT_POSITIVE), value=value)
            )
        if iterations > max_iterations:
            notes.append(msg(texts.ITERATIONS_CLAMPED, iterations=max_iterations))
            iterations = max_iterations
        options["iterations"] = iterations


def _parse_int(value: str) -> int | None:
    try:
        return int(value.replace("_", ""))
    except ValueError:
        return None


def _parse_float(value: str) -> float | None:
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        return None
    return number if math.isfinite(number) else None
