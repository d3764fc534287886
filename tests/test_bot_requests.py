"""`/style …` parsing (bot/requests.py): pure, no Telegram."""

from __future__ import annotations

import pytest

from bot.requests import (
    NotForMe,
    RequestError,
    StyleChoice,
    is_style_command,
    parse_style_command,
)
from styles import load_catalogue

CAT = load_catalogue()


def parse(text: str, **kw):
    kw.setdefault("max_size", 2048)
    kw.setdefault("max_iterations", 2000)
    kw.setdefault("bot_username", "PicassoMeTestBot")
    return parse_style_command(text, CAT, **kw)


def test_single_style_and_no_options():
    req = parse("/style monet")
    assert req.styles == (StyleChoice("monet", 1.0),)
    assert (req.size, req.strength, req.preserve_colors, req.seed, req.iterations) == (None,) * 5
    assert req.notes == ()


def test_blend_with_all_options():
    req = parse("/style monet:0.7 udnie:0.3 size=1024 strength=1.5 colors=keep seed=3")
    assert req.styles == (StyleChoice("monet", 0.7), StyleChoice("udnie", 0.3))
    assert req.size == 1024 and req.strength == 1.5 and req.preserve_colors is True
    assert req.seed == 3


def test_aliases_case_and_separators():
    req = parse("/STYLE VanGogh, Hokusai=2 iters=300 colours=style")
    assert [c.preset for c in req.styles] == ["starry-night", "great-wave"]
    assert req.styles[1].weight == 2
    assert req.iterations == 300 and req.preserve_colors is False


def test_percent_weights_and_duplicates_merge():
    req = parse("/style monet:70% udnie:30% monet:10%")
    assert req.styles[0] == StyleChoice("monet", pytest.approx(0.8))


def test_bare_command_has_no_styles():
    assert parse("/style").has_styles is False
    assert parse("/style size=512").size == 512


def test_addressed_to_this_bot_or_another():
    assert parse("/style@PicassoMeTestBot monet").styles[0].preset == "monet"
    assert parse("/style@picassometestbot monet").styles[0].preset == "monet"
    with pytest.raises(NotForMe):
        parse("/style@SomeOtherBot monet")


def test_size_above_limit_is_lowered_with_a_note():
    req = parse("/style monet size=5000", max_size=2048)
    assert req.size == 2048
    assert "2048" in str(req.notes[0])


def test_iterations_are_capped():
    req = parse("/style monet iterations=99999", max_iterations=1000)
    assert req.iterations == 1000 and req.notes


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("/style monnet", "monet"),  # close match suggested
        ("/style zzzzzz", "/styles"),
        ("/style monet size=abc", "size"),
        ("/style monet size=10", "at least"),
        ("/style monet strength=0", "strength"),
        ("/style monet strength=99", "strength"),
        ("/style monet colors=purple", "keep or style"),
        ("/style monet seed=-1", "seed"),
        ("/style monet:0", "weight"),
        ("/style monet:abc", "weight"),
        ("/style monet foo=1", "Options"),
        ("/style monet udnie klimt scream seurat", "at most"),
    ],
)
def test_errors_are_user_readable(text, needle):
    with pytest.raises(RequestError) as info:
        parse(text)
    assert needle in str(info.value)


def test_unknown_style_mentions_styles_command():
    with pytest.raises(RequestError) as info:
        parse("/style monnet")
    message = str(info.value)
    assert "monet" in message and "/styles" in message


def test_is_style_command():
    assert is_style_command("/style monet")
    assert is_style_command("/style@Bot")
    assert is_style_command("/style")
    assert not is_style_command("/styles")
    assert not is_style_command("hello /style")
    assert not is_style_command(None)
