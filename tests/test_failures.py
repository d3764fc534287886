"""Why a job failed, in the user's language (#30): jobs/failures.py's encoding of the `error`
column (and the old plain rows), every sentence the painter can fail a job with in every
catalogue, the bot's translation, and over the fake Bot API a job failed by the real
JobRunner told to a Russian user in Russian and to an `xx` user in English."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from telegram.ext import ExtBot

from bot import texts
from bot.i18n import catalogue_path, failure_msg, locales, tr_for
from bot.notifier import Notifier
from engine.painter.inputs import GENERIC_ERROR, JobFailed, image_refusal
from engine.painter.runner import JobRunner
from engine.painter.sizing import oom_message
from jobs import JobStatus, JobStore
from jobs.engines import gave_up_message
from jobs.failures import (
    MEDIA_KINDS,
    MESSAGES,
    Failure,
    decode,
    encode,
    failure,
    placeholders,
    refusal,
)
from media.images import CorruptImageError
from media.messages import CLIP_MESSAGES, IMAGE_MESSAGES
from tests.fake_bot_api import DEFAULT_USER_ID, make_user
from tests.style_support import jobs_of, make_settings, photo, style_bot
from tests.test_worker_harness import add_job
from tests.test_worker_unit import ScriptedStylizer
from tests.test_worker_unit import settings as engine_settings
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]


def _style_refusal() -> Failure:
    return failure("style_picture", refusal=image_refusal(CorruptImageError("truncated")))


# ------------------------------------------------------------------ the error column


def test_a_failure_round_trips_through_the_error_column():
    for why in (
        oom_message(700),
        failure("painting_missing", painting="starry-night"),
        failure("gave_up", count=3),
        refusal("clip", "too_long", {"limit": 10}, "This clip is longer than 10 seconds…"),
        refusal("image", "too_many_pixels", {"megapixels": 60.0, "limit": 40}, "too large"),
        _style_refusal(),
    ):
        stored = encode(why)
        assert decode(stored) == why
        assert json.loads(stored)["text"] == why.text  # the English, readable in the row


def test_old_plain_rows_still_read_as_english_without_a_key():
    for old in (
        "Sorry, the painter crashed 3 times while working on this picture, so I gave up on it.",
        "That file is not a picture.",
        "{not json at all",
        '{"text": "a JSON object of another shape"}',
        '{"text": "x", "key": "generic", "values": {"refusal": {"text": 1}}}',
        "",
    ):
        assert decode(old) == Failure(old)
        assert encode(old) == old  # fail() given a plain sentence keeps it as it is
    assert decode(None) is None


async def test_the_store_keeps_the_failure_and_the_english(tmp_path):
    async with await JobStore.open(tmp_path / "data") as store:
        coded, plain = await add_job(store, 1, seed=1), await add_job(store, 2, seed=2)
        assert await store.fail(coded.id, oom_message(700))
        assert await store.fail(plain.id, "An old sentence.")
        got = await store.get(coded.id)
        assert got.failure == oom_message(700)
        assert got.error == oom_message(700).text and "size=448" in got.error  # logs, /admin
        old = await store.get(plain.id)
        assert (old.error, old.failure) == ("An old sentence.", Failure("An old sentence."))
        assert (await store.get(coded.id)).status is JobStatus.FAILED


def test_failures_check_their_values_and_write_english():
    assert failure("gave_up", count=1).text.startswith("Sorry, the painter crashed 1 time while")
    assert "crashed 3 times" in failure("gave_up", count=3).text
    assert decode(gave_up_message(3)) == failure("gave_up", count=3)
    assert _style_refusal().text.startswith("About your style picture: This image looks damaged")
    with pytest.raises(KeyError):
        failure("no_such_failure")
    with pytest.raises(ValueError):
        failure("out_of_memory", size=700)  # `smaller` left out
    with pytest.raises(ValueError):
        refusal("audio", "too_long", {}, "x")
    with pytest.raises(TypeError):
        JobFailed("a plain sentence")  # type: ignore[arg-type]


# ------------------------------------------------------------------ every sentence, every language


def _calls(function: str) -> list[ast.Call]:
    """Every call of `function` in the engine's and the job table's source."""
    found = []
    for package in ("engine", "jobs"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", getattr(node.func, "attr", None))
                    if name == function:
                        found.append(node)
    return found


def test_every_failure_the_engine_raises_is_a_known_sentence_with_its_values():
    """A new failure("key", ...) must be in MESSAGES (so in every catalogue, next test) with
    exactly its placeholders; JobFailed takes a Failure, never a sentence."""
    calls = _calls("failure")
    assert len(calls) >= 9
    for call in calls:
        assert isinstance(call.args[0], ast.Constant), ast.unparse(call)
        key = call.args[0].value
        assert key in MESSAGES, ast.unparse(call)
        template = MESSAGES[key]
        wanted = placeholders(template) | ({"count"} if isinstance(template, tuple) else set())
        assert {k.arg for k in call.keywords} == wanted, ast.unparse(call)
    for call in _calls("JobFailed"):
        assert not isinstance(call.args[0], ast.Constant | ast.JoinedStr), ast.unparse(call)
    for call in _calls("refusal"):
        if isinstance(call.args[0], ast.Constant):
            assert call.args[0].value in MEDIA_KINDS, ast.unparse(call)


def test_every_failure_sentence_is_translated_in_every_catalogue():
    wanted = {key: template for key, template in MESSAGES.items()}
    wanted.update({f"clip.{r}": t for r, t in CLIP_MESSAGES.items()})
    wanted.update({f"image.{r}": t for r, t in IMAGE_MESSAGES.items()})
    for locale in locales()[1:]:
        with catalogue_path(locale).open("rb") as file:
            catalogue = read_po(file, locale=locale)
        for key, template in wanted.items():
            message = catalogue.get(template[0] if isinstance(template, tuple) else template)
            assert message is not None, f"{locale}: no translation of {key}"
            forms = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(forms) and not message.fuzzy, (locale, key)


def test_the_bot_says_each_failure_in_the_readers_language():
    ru, en = tr_for("ru"), tr_for("en")
    oom = oom_message(700)
    assert ru(failure_msg(oom)).startswith("Ваша картинка не поместилась")
    assert "700 px" in ru(failure_msg(oom)) and "size=448" in ru(failure_msg(oom))
    assert en(failure_msg(oom)) == oom.text
    missing = failure("painting_missing", painting="starry-night")
    assert ru(failure_msg(missing)).startswith("Картина «Звёздная ночь» не установлена")
    assert "'The Starry Night'" in en(failure_msg(missing))  # the name, not the slug
    assert "'starry-night'" in missing.text  # logs and /admin keep the slug
    assert ru(failure_msg(failure("gave_up", count=2))).startswith("Простите, у художника 2 раза")
    assert ru(failure_msg(failure("gave_up", count=5))).startswith("Простите, у художника 5 раз ")
    nested = ru(failure_msg(_style_refusal()))
    assert nested == "Насчёт вашей картинки для стиля: " + ru(texts.IMAGE_REFUSED["corrupt"])
    clip = refusal("clip", "too_long", {"limit": 10}, "English")
    assert tr_for("de")(failure_msg(clip)) == tr_for("de")(texts.CLIP_REFUSED["too_long"], limit=10)
    # Old rows (no key) and keys this bot does not know: their English, translated only where
    # the sentence is word for word a catalogue message.
    assert ru(failure_msg(Failure("An old sentence."))) == "An old sentence."
    assert ru(failure_msg(Failure(GENERIC_ERROR.text))) == ru(failure_msg(GENERIC_ERROR))
    assert ru(failure_msg(Failure("From a newer painter.", "new_key", {"x": 1}))).startswith("From")
    assert ru(failure_msg(Failure("New media.", "clip.new_reason"))) == "New media."
    assert ru(failure_msg(Failure(""))) == ru(texts.FAILED_FALLBACK)


def test_a_failure_fits_in_a_caption_in_every_language():
    """The failure replaces the progress message, a photo's caption (1,024 characters)."""
    long_values = {"size": 10**5, "smaller": 10**5, "name": "W" * 64, "count": 10**3}
    for locale in locales():
        tr = tr_for(locale)
        longest_painting = max((tr.painting(p) for p in texts.PAINTINGS), key=len)
        for key, template in MESSAGES.items():
            values = {k: long_values.get(k) for k in placeholders(template) | {"count"}}
            values["painting"] = longest_painting
            values["refusal"] = max((tr(t) for t in texts.IMAGE_REFUSED.values()), key=len)
            text = tr(texts.FAILED, error=tr(texts.FAILURES[key], **values))
            assert len(text) <= 1024, (locale, key)


# ------------------------------------------------------------------ over the fake Bot API


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ru", "😕 Картина «Звёздная ночь» не установлена на этом сервере"),
        ("xx", "😕 The painting 'The Starry Night' is not installed on this server"),
    ],
)
async def test_a_painter_failure_reaches_the_user_in_their_language(
    fake_api, tmp_path, code, expected
):
    """The real JobRunner fails the job (its painting is not installed on the painter), the
    notifier tells the user."""
    user = make_user(DEFAULT_USER_ID, "Ana", "ana", language_code=code)
    async with style_bot(fake_api, make_settings(fake_api, tmp_path)) as deps:
        mark = fake_api.mark()
        caption = "/style звездная ночь" if code == "ru" else "/style starry night"
        fake_api.push(fake_api.photo_update(photo(), caption, user=user))
        await fake_api.wait_for("sendMessage", since=mark)
        [job] = await eventually(lambda: jobs_of(deps.store, user["id"]))
        assert (await deps.store.claim("w")).id == job.id
        painter = engine_settings(tmp_path, STYLES_DIR=tmp_path / "painter-styles")
        runner = JobRunner(deps.store, ScriptedStylizer(device="cpu"), painter, "w")
        assert await runner.run(job) is JobStatus.FAILED
        failed = await deps.store.get(job.id)
        assert failed.failure == failure("painting_missing", painting="starry-night")
        assert failed.error.startswith("The painting 'starry-night' is not installed")  # English
        bot = ExtBot(
            fake_api.token, base_url=fake_api.base_url, base_file_url=fake_api.base_file_url
        )
        async with bot:
            mark = fake_api.mark()
            await Notifier(bot, deps, poll_seconds=0.05).tick()
        said = [c.text for c in fake_api.calls(since=mark) if c.text]
        assert any(text.startswith(expected) for text in said), said
        if code == "ru":
            assert not any("not installed" in text for text in said), said
