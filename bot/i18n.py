"""The bot's languages (#30): gettext catalogues read through Babel, numbers and durations by
Babel's CLDR data.

A language is one catalogue file, `bot/locales/<locale>/LC_MESSAGES/messages.po` (its
template, `bot/locales/messages.pot`, is written by `python -m bot.i18n extract` from
`bot/texts.py` and the paintings' blurbs in `styles/catalogue.toml`); a new file is picked up
at start, nothing to register. The .po files are compiled in memory when a language is first
used (Babel's `write_mo` into `gettext.GNUTranslations`), so there are no .mo files to build or
ship, and a fresh clone, `make run` and the Docker image all work as they are.

Who hears what: a message is written in the language of the person it is for — the one who
asked (their choice in /settings, else their Telegram app's `language_code`), English for a
language we lack. A job remembers its language (`jobs.language`), so progress and results sent
long after the request are in it too; so is why the painter failed it (`failure_msg`: the job
table keeps a failure's key and values, jobs/failures.py).
"""

from __future__ import annotations

import functools
import gettext
import io
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal
from babel.units import format_unit

from bot import texts
from bot.texts import Plural
from jobs.failures import Failure

if TYPE_CHECKING:
    from telegram import User

    from bot.context import BotDeps
    from styles import Catalogue

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"
DEFAULT_LOCALE = "en"
PAINTING = "painting"  # msgctxt of the paintings' names
BLURB = "blurb"  # msgctxt of the paintings' one-line descriptions (styles/catalogue.toml)
# Leading articles: "noche estrellada" finds «La noche estrellada», "kuss" «Der Kuss».
_ARTICLES_TEXT = "the a an la el los las le les l il lo gli i o os as der die das den ein eine un"
_ARTICLES = frozenset(_ARTICLES_TEXT.split())


def catalogue_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def locales() -> tuple[str, ...]:
    """English (the source), then every language that has a catalogue file."""
    found = sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (DEFAULT_LOCALE, *(name for name in found if name != DEFAULT_LOCALE))


def resolve_locale(code: str | None) -> str:
    """A Telegram `language_code` ("ru", "pt-br", "en-US", "de-AT") or a locale ("pt_BR") as
    one of `locales()`; English for anything we don't speak."""
    if not code:
        return DEFAULT_LOCALE
    known = {name.lower().replace("_", "-"): name for name in locales()}
    tag = code.strip().lower().replace("_", "-")
    if tag in known:
        return known[tag]
    base = tag.split("-")[0]
    if base in known:
        return known[base]
    for key, name in known.items():  # "pt" (or "pt-pt") -> pt_BR: closer than English
        if key.split("-")[0] == base:
            return name
    return DEFAULT_LOCALE


def telegram_code(locale: str) -> str:
    """The two-letter ISO 639-1 code the Bot API's setMy* methods take ("pt" for pt_BR)."""
    return locale.split("_")[0].lower()


@functools.cache
def _translations(locale: str) -> gettext.NullTranslations:
    path = catalogue_path(locale)
    if locale == DEFAULT_LOCALE or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as file:
        catalog = read_po(file, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class ByteSize(int):
    """A number of bytes, written as a size in the reader's language (`3.2 MB`, `3,2 МБ`)."""


class PaintingName(str):
    """A preset's slug, written as the reader's language names its painting."""


@dataclass(frozen=True)
class Msg:
    """A message with its values, translated when it is said (exceptions and notes are made
    before anyone knows who will read them). `str()` gives the English."""

    text: str | Plural
    args: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return tr_for(DEFAULT_LOCALE)(self)


def msg(text: str | Plural, /, **args: Any) -> Msg:
    return Msg(text, args)


def failure_msg(failure: Failure) -> Msg:
    """Why a job failed (jobs/failures.py), to be said in the reader's language: the painter's
    sentences (texts.FAILURES) and the media refusals (texts.CLIP_REFUSED / IMAGE_REFUSED) by
    key. A failure without a key (an old row) or with one this bot does not know is its English,
    translated only where it is word for word a catalogue message (old rows of sentences with
    no values)."""
    kind, _, reason = (failure.key or "").partition(".")
    tables = {"clip": texts.CLIP_REFUSED, "image": texts.IMAGE_REFUSED}
    table = tables.get(kind, {}) if reason else texts.FAILURES
    template = table.get(reason or kind)
    if template is None:  # ("" would be gettext's catalogue header)
        return Msg(failure.text or texts.FAILED_FALLBACK)
    return Msg(template, {name: _failure_value(name, v) for name, v in failure.values.items()})


def _failure_value(name: str, value: Any) -> Any:
    if isinstance(value, Failure):
        return failure_msg(value)
    if name == "painting":  # a preset's slug (jobs/failures.py)
        return PaintingName(value)
    return value


class Tr:
    """One language: `tr(texts.X, name=value)` translates and fills in; floats in the values
    are written the language's way (1,5), `Msg` values are translated too. A `Plural` picks its
    form by the `count` value."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._t = _translations(locale)

    def __repr__(self) -> str:
        return f"Tr({self.locale!r})"

    def __call__(self, text: str | Plural | Msg, /, **args: Any) -> str:
        if isinstance(text, Msg):
            return self(text.text, **text.args)
        if isinstance(text, Plural):
            template = self._t.ngettext(text.singular, text.plural, int(args["count"]))
        else:
            template = self._t.gettext(text)
        if not args:
            return template
        return template.format(**{key: self._value(value) for key, value in args.items()})

    def _value(self, value: Any) -> Any:
        if isinstance(value, Msg):
            return self(value)
        if isinstance(value, PaintingName):
            return self.painting(value)
        if isinstance(value, ByteSize):
            return self.size(value)
        if isinstance(value, float):
            return self.number(value)
        return value

    def number(self, value: float) -> str:
        """1.5 -> "1.5", "1,5" (de, ru, fr…)."""
        return format_decimal(value, format="#,##0.###", locale=self.locale)

    def painting(self, preset: str) -> str:
        """A preset's painting as this language names it ("The Starry Night", «Звёздная
        ночь»); a preset without a name in texts.PAINTINGS shows its slug title-cased."""
        english = texts.PAINTINGS.get(preset)
        if english is None:
            return preset.replace("-", " ").title()
        return self._t.pgettext(PAINTING, english)

    def blurb(self, english: str) -> str:
        return self._t.pgettext(BLURB, english)

    def unit(self, value: float, unit: str, length: str = "narrow") -> str:
        return format_unit(value, unit, length=length, locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        """`42 s`, `1 min 12 s`, `1 h 3 min` in the language's short units, rounded."""
        if seconds is None:
            return self(texts.UNKNOWN_TIME)
        total = max(0, int(round(seconds)))
        if total < 60:
            return self.unit(total, "duration-second")
        minutes, secs = divmod(total, 60)
        if minutes < 60:
            parts = [(minutes, "duration-minute"), (secs, "duration-second")]
        else:
            hours, minutes = divmod(minutes, 60)
            parts = [(hours, "duration-hour"), (minutes, "duration-minute")]
        return " ".join(self.unit(v, unit) for v, unit in parts if v or unit == parts[0][1])

    def eta(self, seconds: float | None) -> str:
        """A rough wait in words: `a few seconds`, `1 minute`, `5 минут`, `1 hour 20 minutes`."""
        if seconds is None:
            return self(texts.UNKNOWN_TIME)
        if seconds < 45:
            return self(texts.ETA_SECONDS if seconds < 15 else texts.ETA_UNDER_MINUTE)
        minutes = max(1, round(seconds / 60))
        if minutes < 60:
            return self.unit(minutes, "duration-minute", "long")
        hours, minutes = divmod(minutes, 60)
        words = [self.unit(hours, "duration-hour", "long")]
        if minutes:
            words.append(self.unit(minutes, "duration-minute", "long"))
        return " ".join(words)

    def size(self, nbytes: int) -> str:
        """A file size: `3.2 MB`, `3,2 МБ`, `3,2 Mo`."""
        if nbytes >= 1024 * 1024:
            return format_unit(
                nbytes / (1024 * 1024),
                "digital-megabyte",
                length="short",
                format="#,##0.0",
                locale=self.locale,
            )
        if nbytes >= 1024:
            return self.unit(round(nbytes / 1024), "digital-kilobyte", "short")
        return self.unit(nbytes, "digital-byte", "short")

    def language_name(self, locale: str) -> str:
        """A language's own name for itself ("Русский", "Português (Brasil)")."""
        return language_name(locale)


@functools.cache
def language_name(locale: str) -> str:
    name = Locale.parse(locale).get_display_name(locale) or locale
    return name[:1].upper() + name[1:]


@functools.cache
def tr_for(locale: str | None) -> Tr:
    """The translator of a locale or Telegram language code (English when we lack it)."""
    return Tr(resolve_locale(locale))


async def locale_of(d: BotDeps, user: User | None) -> str:
    """The language to speak to `user` in: their /settings choice, else their app's."""
    if user is None:
        return DEFAULT_LOCALE
    chosen = (await d.store.get_user_settings(user.id)).language
    if chosen in locales():
        return chosen
    return resolve_locale(user.language_code)


async def tr_of(d: BotDeps, user: User | None) -> Tr:
    return tr_for(await locale_of(d, user))


# ------------------------------------------------------------------------ painting names


def _typed_forms(name: str) -> list[str]:
    """How a user may type a painting's name: as it is, and without its leading article."""
    words = [w for w in re.split(r"[\s'’]+", name.strip()) if w]
    forms = [name]
    if len(words) > 1 and words[0].casefold() in _ARTICLES:
        forms.append(" ".join(words[1:]))
    return forms


_VIEWS: dict[tuple[int, str], tuple[Catalogue, Catalogue]] = {}


def warm(catalogue: Catalogue) -> None:
    """Read and compile every language's catalogue, and its view of the paintings' names, once
    (tens of ms of file reading and parsing): called in a thread at start, so no handler on the
    event loop is the first to pay for a language."""
    for locale in locales():
        catalogue_for(catalogue, locale)


def catalogue_for(catalogue: Catalogue, locale: str) -> Catalogue:
    """The catalogue that also knows the paintings by their names in `locale` and in English
    (`/style звездная ночь`, `/style noche estrellada`, `/style the kiss`), with the same
    forgiving matching and suggestions as the slugs."""
    key = (id(catalogue), locale)
    cached = _VIEWS.get(key)
    if cached is not None and cached[0] is catalogue:
        return cached[1]
    names: list[tuple[str, str, str]] = []
    for language in dict.fromkeys([locale, DEFAULT_LOCALE]):
        tr = tr_for(language)
        for preset in catalogue:
            shown = tr.painting(preset.name)
            names.extend((preset.name, typed, shown) for typed in _typed_forms(shown))
    view = catalogue.with_names(names)
    _VIEWS[key] = (catalogue, view)
    return view


# ------------------------------------------------------------------------ the template


def template() -> Catalog:
    """Every message of bot/texts.py, the paintings' names and their blurbs, as a catalogue
    template (what `extract` writes to bot/locales/messages.pot)."""
    from styles import load_catalogue

    catalog = Catalog(project="Picasso Me", domain=DOMAIN, fuzzy=False)
    for name, value in vars(texts).items():
        if not name.isupper():
            continue
        if name == "PAINTINGS":
            for preset, english in value.items():
                catalog.add(english, context=PAINTING, auto_comments=[f"{name}[{preset}]"])
        elif isinstance(value, Plural):
            catalog.add(tuple(value), auto_comments=[name])
        elif isinstance(value, dict):
            for key, text in value.items():
                if isinstance(text, Plural):
                    catalog.add(tuple(text), auto_comments=[f"{name}[{key}]"])
                else:
                    _add(catalog, text, f"{name}[{key}]")
        elif isinstance(value, str):
            _add(catalog, value, name)
    for preset in load_catalogue():
        catalog.add(preset.blurb, context=BLURB, auto_comments=[f"blurb of {preset.name}"])
    return catalog


def _add(catalog: Catalog, text: str, comment: str) -> None:
    existing = catalog.get(text)
    if existing is not None:
        existing.auto_comments.append(comment)
        return
    catalog.add(text, auto_comments=[comment])


def write_template(path: Path = TEMPLATE) -> None:
    with path.open("wb") as file:
        write_po(file, template(), width=100, omit_header=False, sort_output=False)


def _main(argv: Iterable[str]) -> int:
    args = list(argv)
    if args[:1] == ["extract"]:
        write_template()
        print(f"wrote {TEMPLATE}")
        return 0
    print(
        "usage: python -m bot.i18n extract   (writes bot/locales/messages.pot; a new language: "
        "copy it to bot/locales/<locale>/LC_MESSAGES/messages.po and translate)"
    )
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
