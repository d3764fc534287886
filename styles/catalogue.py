"""The list of style presets (paintings) and how user input maps onto them.

Kept free of torch and telegram so that the bot, the engine and the CLI can all share one
source of truth: `catalogue.toml` next to this module.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_REQUIRED_STR = ("title", "artist", "year", "url", "sha256", "file", "blurb")


class CatalogueError(ValueError):
    """The catalogue file is malformed (a bug in the repo, not in user input)."""


class UnknownStyleError(LookupError):
    """A style name that matches no preset or alias; carries close matches for a hint."""

    def __init__(self, name: str, suggestions: Iterable[str] = ()) -> None:
        self.name = name
        self.suggestions: list[str] = list(suggestions)
        message = f"Unknown style {name!r}."
        if self.suggestions:
            message += f" Did you mean: {', '.join(self.suggestions)}?"
        super().__init__(message)


@dataclass(frozen=True)
class Preset:
    """One painting users can pick as a style."""

    name: str
    aliases: tuple[str, ...]
    title: str
    artist: str
    year: str
    url: str
    sha256: str
    file: str
    bytes: int
    blurb: str
    # Engine option overrides for this painting (e.g. style_scale); a dict is unhashable,
    # so it takes no part in hashing.
    defaults: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def label(self) -> str:
        """Human-readable one-liner, e.g. 'The Starry Night — Vincent van Gogh, 1889'."""
        return f"{self.title} — {self.artist}, {self.year}"


# Engine options a preset may set for itself (used when the job does not set them).
PRESET_DEFAULT_KEYS = ("strength", "style_scale")


def defaults_for(presets: Iterable[tuple[Preset, float]]) -> dict[str, float]:
    """The preset defaults a blend uses: those of its most heavily weighted preset."""
    weighted = [(weight, preset) for preset, weight in presets if weight > 0]
    if not weighted:
        return {}
    return dict(max(weighted, key=lambda pair: pair[0])[1].defaults)


def normalize_name(name: str) -> str:
    """Canonical lookup key: case and diacritics folded (so `ё` is `е`, `é` is `e`), `_`,
    spaces, dashes and quotes collapsed to a single `-`."""
    folded = unicodedata.normalize("NFKD", name.strip().casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[\s_\-'’«»“”\"]+", "-", folded).strip("-")


class Catalogue:
    """Ordered presets plus a name/alias index for forgiving look-ups.

    `names`: more names to know the presets by (the bot's names of the paintings in a user's
    language), as (preset, name as typed, name as a suggestion shows it); a name that is
    already a preset's name or alias keeps meaning that one."""

    def __init__(
        self, presets: Iterable[Preset], names: Iterable[tuple[str, str, str]] = ()
    ) -> None:
        self._presets: tuple[Preset, ...] = tuple(presets)
        self._index: dict[str, Preset] = {}
        self._shown: dict[str, str] = {}  # index key -> how a suggestion writes it
        for preset in self._presets:
            for key in (preset.name, *preset.aliases):
                norm = normalize_name(key)
                other = self._index.get(norm)
                if other is not None:
                    raise CatalogueError(
                        f"style name {key!r} of {preset.name!r} clashes with {other.name!r}"
                    )
                self._index[norm] = preset
        for preset_name, typed, shown in names:
            owner = self._index[normalize_name(preset_name)]
            key = normalize_name(typed)
            if key and key not in self._index:
                self._index[key] = owner
                self._shown[key] = shown

    def with_names(self, names: Iterable[tuple[str, str, str]]) -> Catalogue:
        """This catalogue knowing its presets by more names too (see the class)."""
        return Catalogue(self._presets, names)

    @property
    def presets(self) -> list[Preset]:
        """Presets in catalogue order (a fresh list; the catalogue itself is immutable)."""
        return list(self._presets)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._presets]

    def __len__(self) -> int:
        return len(self._presets)

    def __iter__(self) -> Iterator[Preset]:
        return iter(self._presets)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalize_name(name) in self._index

    def resolve(self, name: str | Preset) -> Preset:
        """Find a preset by name or alias, forgiving case, `_` and spaces."""
        if isinstance(name, Preset):
            return name
        preset = self._index.get(normalize_name(name))
        if preset is None:
            raise UnknownStyleError(name, self.suggest(name))
        return preset

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Close matches among names and aliases, at most one per preset, best first."""
        matches = difflib.get_close_matches(normalize_name(name), self._index, n=20, cutoff=0.6)
        seen: set[str] = set()
        out: list[str] = []
        for key in matches:
            owner = self._index[key].name
            if owner not in seen:
                seen.add(owner)
                out.append(self._shown.get(key, key))
        return out[:limit]

    def image_path(self, preset: Preset | str, styles_dir: str | Path) -> Path:
        """Where the painting's file lives (or would live) inside `styles_dir`."""
        return Path(styles_dir) / self.resolve(preset).file

    def available(self, styles_dir: str | Path) -> list[Preset]:
        """Presets whose file exists in `styles_dir` (cheap; `styles.fetch.verify` checks bytes)."""
        return [p for p in self._presets if self.image_path(p, styles_dir).is_file()]


def _parse_preset(name: str, raw: Any) -> Preset:
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"preset {name!r}: expected a table")
    if not _NAME_RE.match(name):
        raise CatalogueError(f"preset {name!r}: names are lower-case words joined by '-'")
    known = {*_REQUIRED_STR, "aliases", "bytes", "defaults"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CatalogueError(f"preset {name!r}: unknown keys {unknown}")
    for key in _REQUIRED_STR:
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise CatalogueError(f"preset {name!r}: {key!r} must be a non-empty string")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise CatalogueError(f"preset {name!r}: 'aliases' must be a list of strings")
    size = raw.get("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise CatalogueError(f"preset {name!r}: 'bytes' must be a positive integer")
    if not _SHA256_RE.match(raw["sha256"]):
        raise CatalogueError(f"preset {name!r}: 'sha256' must be 64 lower-case hex digits")
    if Path(raw["file"]).name != raw["file"]:
        raise CatalogueError(f"preset {name!r}: 'file' must be a bare file name")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, Mapping):
        raise CatalogueError(f"preset {name!r}: 'defaults' must be a table")
    for key, value in defaults.items():
        # A typo here would otherwise be silently ignored by the engine.
        if key not in PRESET_DEFAULT_KEYS:
            raise CatalogueError(
                f"preset {name!r}: unknown default {key!r} (use {', '.join(PRESET_DEFAULT_KEYS)})"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise CatalogueError(f"preset {name!r}: default {key!r} must be a positive number")
    return Preset(
        name=name,
        aliases=tuple(aliases),
        title=raw["title"],
        artist=raw["artist"],
        year=raw["year"],
        url=raw["url"],
        sha256=raw["sha256"],
        file=raw["file"],
        bytes=size,
        blurb=raw["blurb"],
        defaults=dict(defaults),
    )


def parse_catalogue(data: Mapping[str, Any]) -> Catalogue:
    """Build a catalogue from already-parsed TOML data, validating every entry."""
    presets = data.get("presets")
    if not isinstance(presets, Mapping) or not presets:
        raise CatalogueError("catalogue has no [presets.<name>] tables")
    return Catalogue(_parse_preset(name, raw) for name, raw in presets.items())


@functools.cache
def _load_cached(path: Path) -> Catalogue:
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(f"{path}: {exc}") from exc
    return parse_catalogue(data)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load (once per path, then cached) the catalogue; default is the bundled TOML."""
    return _load_cached(Path(path or DEFAULT_CATALOGUE_PATH).resolve())
