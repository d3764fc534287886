"""The styles catalogue: facts match SOURCES.md, look-ups forgive users, errors help them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import styles
from styles import Catalogue, Preset, UnknownStyleError, defaults_for, load_catalogue
from styles.catalogue import CatalogueError, normalize_name
from tests.shared_styles import shared_styles_dir

REPO = Path(__file__).resolve().parents[1]


def parse_sources(path: Path) -> list[dict[str, str]]:
    """Rows of the markdown table in SOURCES.md, keyed by header, backticks stripped."""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    table = [ln for ln in lines if ln.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    rows = []
    for line in table[2:]:  # skip the |---| separator
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        assert len(cells) == len(header), f"malformed SOURCES.md row: {line}"
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


@pytest.fixture(scope="module")
def sources() -> list[dict[str, str]]:
    rows = parse_sources(shared_styles_dir() / "SOURCES.md")
    assert len(rows) == 14
    return rows


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def test_every_sources_row_matches_the_catalogue(sources, cat):
    assert cat.names == [row["preset"] for row in sources]  # same presets, same order
    for row in sources:
        preset = cat.resolve(row["preset"])
        assert preset.name == row["preset"]
        assert preset.url == row["raw URL"]
        assert preset.sha256 == row["sha256"]
        assert preset.file == f"{row['preset']}.jpg"
        assert preset.aliases == tuple(a.strip() for a in row["aliases"].split(","))
        assert preset.title == row["title"]
        assert preset.artist == row["artist"]
        assert preset.year == row["year"]
        assert preset.bytes == int(row["bytes"])


def test_urls_are_pinned_to_the_listed_commit(sources):
    for row in sources:
        expected = (
            f"https://raw.githubusercontent.com/{row['source repo']}/{row['commit']}/{row['path']}"
        )
        assert row["raw URL"] == expected, row["preset"]
        assert len(row["commit"]) == 40


def test_shared_files_match_size_and_sha256(cat):
    folder = shared_styles_dir()
    assert [p.name for p in cat.available(folder)] == cat.names
    bad = [p.name for p in cat.presets if not styles.verify(folder, p)]
    assert bad == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("starry-night", "starry-night"),
        ("Starry Night", "starry-night"),
        ("STARRY_NIGHT", "starry-night"),
        ("  starry   night ", "starry-night"),
        ("vangogh", "starry-night"),
        ("VanGogh", "starry-night"),
        ("monet", "monet"),
        ("Water Lilies", "monet"),
        ("water_lily_pond", "monet"),
        ("udnie", "udnie"),
        ("Hokusai", "great-wave"),
        ("the kiss", "klimt"),
        ("Juan_Gris", "cubism"),
    ],
)
def test_resolve_by_name_alias_and_case(cat, query, expected):
    assert cat.resolve(query).name == expected
    assert query in cat


def test_every_alias_resolves_to_its_preset(cat):
    for preset in cat.presets:
        assert cat.resolve(preset.name) is preset
        for alias in preset.aliases:
            assert cat.resolve(alias) is preset
    assert cat.resolve(cat.presets[0]) is cat.presets[0]  # a Preset passes through


def test_unknown_style_lists_close_matches(cat):
    with pytest.raises(UnknownStyleError) as info:
        cat.resolve("monnet")
    assert str(info.value) == "Unknown style 'monnet'. Did you mean: monet?"
    assert info.value.name == "monnet"
    assert info.value.suggestions == ["monet"]
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize(
    ("typo", "hint"), [("vangog", "vangogh"), ("kandinski", "kandinsky"), ("Starry_Nite", None)]
)
def test_close_matches_cover_aliases(cat, typo, hint):
    with pytest.raises(UnknownStyleError) as info:
        cat.resolve(typo)
    if hint:
        assert hint in info.value.suggestions
    else:
        assert cat.resolve(info.value.suggestions[0]).name == "starry-night"


def test_unknown_style_without_matches(cat):
    with pytest.raises(UnknownStyleError) as info:
        cat.resolve("zzzzzz")
    assert str(info.value) == "Unknown style 'zzzzzz'."
    assert info.value.suggestions == []
    assert "zzzzzz" not in cat


def test_suggestions_name_each_preset_once(cat):
    suggestions = cat.suggest("kis")
    owners = [cat.resolve(s).name for s in suggestions]
    assert owners.count("klimt") == 1


def test_normalize_name():
    assert normalize_name(" Great_Wave ") == "great-wave"
    assert normalize_name("woman with--hat") == "woman-with-hat"


def test_image_path_and_available(cat, tmp_path):
    assert cat.image_path("monet", tmp_path) == tmp_path / "monet.jpg"
    assert cat.image_path(cat.resolve("udnie"), str(tmp_path)) == tmp_path / "udnie.jpg"
    assert cat.available(tmp_path) == []
    (tmp_path / "udnie.jpg").write_bytes(b"x")
    (tmp_path / "monet.jpg").write_bytes(b"x")
    (tmp_path / "scream.jpg").mkdir()  # a folder is not a painting
    assert [p.name for p in cat.available(tmp_path)] == ["monet", "udnie"]


def test_presets_are_frozen_hashable_and_described(cat):
    preset = cat.resolve("monet")
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.name = "other"  # type: ignore[misc]
    assert len({p for p in cat.presets}) == len(cat)
    for p in cat.presets:
        assert 0 < len(p.blurb) <= 80 and "\n" not in p.blurb
        assert isinstance(p.defaults, dict)
        assert p.year in p.label and p.artist in p.label
    cat.presets.clear()  # callers get a copy
    assert len(cat.presets) == 14


def test_load_catalogue_is_cached(cat):
    assert load_catalogue() is cat
    assert load_catalogue(styles.catalogue.DEFAULT_CATALOGUE_PATH) is cat


VALID_ENTRY = """
[presets.alpha]
aliases = ["first"]
title = "Alpha"
artist = "A. Artist"
year = "1900"
blurb = "test painting"
url = "https://example.invalid/alpha.jpg"
sha256 = "{sha}"
file = "alpha.jpg"
bytes = 10
"""


VALID = VALID_ENTRY.format(sha="a" * 64)


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_custom_catalogue_with_defaults(tmp_path):
    text = VALID + "\n[presets.alpha.defaults]\nstyle_scale = 1.5\n"
    cat = load_catalogue(write_toml(tmp_path, text))
    (preset,) = cat.presets
    assert preset == Preset(
        name="alpha",
        aliases=("first",),
        title="Alpha",
        artist="A. Artist",
        year="1900",
        url="https://example.invalid/alpha.jpg",
        sha256="a" * 64,
        file="alpha.jpg",
        bytes=10,
        blurb="test painting",
        defaults={"style_scale": 1.5},
    )
    assert cat.resolve("FIRST") is preset


@pytest.mark.parametrize("default", ["stregth = 1.5", "strength = 0", "strength = true"])
def test_preset_defaults_are_checked(tmp_path, default):
    """A misspelt or nonsensical default is an error, not silently ignored by the engine."""
    with pytest.raises(CatalogueError, match="alpha"):
        load_catalogue(write_toml(tmp_path, VALID + f"\n[presets.alpha.defaults]\n{default}\n"))


def test_a_blend_takes_the_defaults_of_its_heaviest_painting():
    def preset(name: str, **defaults: float) -> Preset:
        return Preset(
            name=name, aliases=(), title=name, artist="A", year="1900", url="https://x.invalid",
            sha256="a" * 64, file=f"{name}.jpg", bytes=1, blurb="", defaults=defaults,
        )  # fmt: skip

    light, bold = preset("light", strength=0.5), preset("bold", style_scale=2.0)
    assert defaults_for([(light, 0.7), (bold, 0.3)]) == {"strength": 0.5}
    assert defaults_for([(light, 0.2), (bold, 0.8)]) == {"style_scale": 2.0}
    assert defaults_for([(light, 0.0)]) == {}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (VALID_ENTRY.format(sha="xyz"), "sha256"),
        (VALID.replace('title = "Alpha"\n', ""), "'title'"),
        (VALID.replace("bytes = 10", 'bytes = "10"'), "bytes"),
        (VALID.replace('file = "alpha.jpg"', 'file = "../a.jpg"'), "file"),
        (VALID + 'colour = "red"\n', "unknown keys"),
        (
            VALID + VALID_ENTRY.format(sha="b" * 64).replace("alpha]", "beta]"),
            "clashes",
        ),
        ("title = 'no presets'\n", "no [presets"),
        ("[presets\n", "catalogue.toml"),
    ],
)
def test_malformed_catalogue_is_rejected(tmp_path, text, needle):
    with pytest.raises(CatalogueError) as info:
        load_catalogue(write_toml(tmp_path, text))
    assert needle in str(info.value)


def test_importing_styles_pulls_in_neither_torch_nor_telegram():
    code = (
        "import sys, styles, styles.fetch; "
        "bad = [m for m in ('torch', 'telegram') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr + result.stdout
