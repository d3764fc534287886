"""The bot speaks the user's language (#30): the catalogues themselves (complete, same
placeholders, valid HTML, within Telegram's limits), then users of several languages over the
fake Bot API (queue message, progress, result caption and buttons, groups, /settings)."""

from __future__ import annotations

import asyncio
import re
import string

import pytest
from babel.messages.pofile import read_po
from telegram.ext import ExtBot

from bot import i18n, texts
from bot.app import _set_commands
from bot.i18n import catalogue_path, locales, resolve_locale, template, tr_for
from bot.notifier import Notifier
from tests.bot_harness import build_application
from tests.fake_bot_api import DEFAULT_USER_ID, make_user
from tests.style_support import FakeEngine, jobs_of, make_settings, photo, style_bot
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)

TEN = {"en", "ru", "uk", "es", "pt_BR", "de", "fr", "it", "tr", "id"}
ALLOWED_TAGS = {"b", "i", "u", "s", "code", "pre", "a", "blockquote", "tg-spoiler", "strong"}


def _catalogue(locale: str):
    with catalogue_path(locale).open("rb") as file:
        return read_po(file, locale=locale)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _forms(message) -> list[str]:
    value = message.string
    return list(value) if isinstance(value, tuple | list) else [value]


def _ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple) else [message.id]


def check_telegram_html(text: str) -> None:
    """Only Telegram's tags, properly nested, `<` `>` `&` escaped (its HTML parse mode)."""
    stack: list[str] = []
    for match in re.finditer(r"<(/?)([a-z-]+)[^<>]*>|[<>]|&(?!(?:lt|gt|amp|quot);)", text):
        token = match.group(0)
        assert match.group(2), f"unescaped {token!r} in {text!r}"
        tag = match.group(2)
        assert tag in ALLOWED_TAGS, f"tag <{tag}> in {text!r}"
        if match.group(1):
            assert stack and stack.pop() == tag, f"</{tag}> out of order in {text!r}"
        else:
            stack.append(tag)
    assert not stack, f"unclosed {stack} in {text!r}"


def test_the_ten_languages_ship_and_every_catalogue_has_every_message():
    assert set(locales()) >= TEN
    wanted = {(m.context, m.id) for m in template() if m.id}
    for locale in locales():
        if locale == "en":
            continue
        catalogue = _catalogue(locale)
        have = {(m.context, m.id) for m in catalogue if m.id}
        assert have == wanted, f"{locale}: missing {wanted - have}, stale {have - wanted}"
        for message in catalogue:
            if not message.id:
                continue
            assert not message.fuzzy, (locale, message.id)
            assert all(form.strip() or not _ids(message)[0].strip() for form in _forms(message))
            assert len(_forms(message)) == catalogue.num_plurals or len(_forms(message)) == 1


def test_every_translation_has_exactly_its_sources_placeholders():
    for locale in locales()[1:]:
        for message in _catalogue(locale):
            if not message.id:
                continue
            source = set().union(*(_fields(s) for s in _ids(message)))
            for form in _forms(message):
                assert _fields(form) == source, (locale, message.id, form)


def test_html_messages_are_valid_telegram_html_in_every_language():
    html_names = [name for name in vars(texts) if name.endswith("_HTML")]
    assert len(html_names) > 20
    for locale in locales():
        tr = tr_for(locale)
        for name in html_names:
            text = getattr(texts, name)
            values = {f: "x" for f in _fields(text)}
            check_telegram_html(tr(text, **values))
        # and the plain ones, escaped as the handlers escape them
        check_telegram_html(texts.escape(tr(texts.STYLE_HELP)) + tr(texts.COMMANDS_HTML))


def test_the_html_checker_can_fail():
    for bad in ("a < b", "<b>x", "<b><i>x</b></i>", "<div>x</div>", "R&D"):
        with pytest.raises(AssertionError):
            check_telegram_html(bad)


LONG = "W" * 64  # a Telegram name is at most 64 characters
CAPTIONS = ["RESULT_CAPTION", "TIMELAPSE_CAPTION", "PROGRESS", "CLIP_PROGRESS"]
ALERTS = [
    "KEYBOARD_GONE",
    "KEYBOARD_NOT_YOURS",
    "VARIATION_NOT_YOURS",
    "VARIATION_PHOTO_GONE",
    "VARIATION_DONE",
    "VARIATION_TOO_MANY",
    "STRONGEST",
    "SUBTLEST",
    "ALREADY_QUEUED",
    "FULL_RES_GONE",
    "FULL_RES_SENDING",
    "TIMELAPSE_GONE",
    "TIMELAPSE_BUSY",
    "TIMELAPSE_MAKING",
    "SETTINGS_NOT_YOURS",
    "SETTINGS_BAD_BUTTON",
    "SETTINGS_ANSWER",
    "CANCEL_NOT_YOURS",
    "GALLERY_UNKNOWN",
    "ADMIN_REFUSAL",
]


def _longest(locale: str, name: str) -> str:
    tr = tr_for(locale)
    value = getattr(texts, name)
    fields = set().union(*(_fields(s) for s in (value if isinstance(value, tuple) else [value])))
    longest_painting = max((tr.painting(p) for p in texts.PAINTINGS), key=len)
    blend = " + ".join([f"{longest_painting} 25%"] * 4)  # at most 4 styles
    values = {f: LONG for f in fields}
    values.update({f: blend for f in fields & {"style"}})
    values.update({f: 10**9 for f in fields & {"count", "pos", "iteration", "total", "id"}})
    values.update({f: tr.eta(10**7) for f in fields & {"eta", "elapsed", "duration"}})
    return tr(value, **values)


def test_no_message_passes_telegrams_limits_in_any_language():
    for locale in locales():
        tr = tr_for(locale)
        for name, value in vars(texts).items():
            if name.isupper() and isinstance(value, str | texts.Plural):
                assert len(_longest(locale, name)) <= 4096, (locale, name)
        for name in CAPTIONS:
            assert len(_longest(locale, name)) <= 1024, (locale, name)
        for name in ALERTS:
            assert len(_longest(locale, name)) <= 200, (locale, name)
        assert len(tr(texts.BOT_DESCRIPTION)) <= 512 and len(tr(texts.BOT_SHORT_DESCRIPTION)) <= 120
        for command in [n for n in vars(texts) if n.startswith("COMMAND_")]:
            assert 1 <= len(tr(getattr(texts, command))) <= 256
    longest = max(locales(), key=len)
    assert len(f"uset:{-(2**63)}:lang:{longest}".encode()) <= 64  # the language buttons


def test_language_codes_resolve_with_an_english_fallback():
    assert resolve_locale("ru") == "ru" and resolve_locale("pt-br") == "pt_BR"
    assert resolve_locale("pt") == "pt_BR" and resolve_locale("de-AT") == "de"
    assert resolve_locale("xx") == "en" and resolve_locale(None) == "en"


def test_plurals_numbers_and_durations_per_language():
    ru, de, en = tr_for("ru"), tr_for("de"), tr_for("en")
    assert ru(texts.WAITING_NOTE, count=2).endswith("2 картины.")
    assert ru(texts.WAITING_NOTE, count=5).endswith("5 картин.")
    assert en(texts.WAITING_NOTE, count=1) == "You have 1 picture waiting."
    assert ru.eta(300) == "5 минут" and en.eta(60) == "1 minute" and en.eta(120) == "2 minutes"
    assert de.number(1.5) == "1,5" and en.number(1.5) == "1.5"
    assert en.duration(72) == "1m 12s"


async def test_start_sets_commands_and_descriptions_per_language(fake_api):
    app = build_application(fake_api)
    async with app:
        await _set_commands(app)
    default = '{"type": "default"}'
    assert fake_api.commands[default][0]["command"] == "style"
    assert "Paint a photo" in fake_api.commands[default][0]["description"]
    assert fake_api.commands[default + "ru"][0]["description"].startswith("Нарисовать фото")
    assert (
        fake_api.commands[default + "pt"][1]["description"] == "As pinturas em cujo estilo eu pinto"
    )
    assert "famous paintings" in fake_api.descriptions[("description", "")]
    assert "знаменитых картин" in fake_api.descriptions[("short_description", "ru")]
    assert {code for _, code in fake_api.descriptions} == {
        "",
        "ru",
        "uk",
        "es",
        "pt",
        "de",
        "fr",
        "it",
        "tr",
        "id",
    }


# ------------------------------------------------------------------ over the fake Bot API


def _user(user_id: int, name: str, code: str) -> dict:
    return make_user(user_id, name, name.lower(), language_code=code)


async def _paint_through(fake_api, deps, job):
    """Play the engine and the notifier for `job`: progress, then the result."""
    engine = FakeEngine(deps.store)
    bot = ExtBot(fake_api.token, base_url=fake_api.base_url, base_file_url=fake_api.base_file_url)
    async with bot:
        notifier = Notifier(bot, deps, poll_seconds=0.05)
        claimed = await engine.claim()
        assert claimed.id == job.id
        await engine.progress(claimed, 100, 200)
        await asyncio.sleep(0.05)
        mark = fake_api.mark()
        await notifier.tick()
        progress = fake_api.calls(since=mark)
        await engine.finish(claimed, size=(96, 64))
        mark = fake_api.mark()
        await notifier.tick()
        [result] = fake_api.calls("sendPhoto", since=mark)
        return progress, result


@pytest.mark.parametrize(
    ("code", "caption", "queued", "painting", "step", "png"),
    [
        ("ru", "/style звездная ночь", "В очереди", "Звёздная ночь", "Шаг 100/200", "Полное"),
        (
            "es",
            "/style noche estrellada",
            "En cola",
            "La noche estrellada",
            "Paso 100/200",
            "Resolución",
        ),
        ("xx", "/style starry night", "Queued", "The Starry Night", "Step 100/200", "Full"),
    ],
)
async def test_a_user_gets_the_whole_flow_in_their_language(
    fake_api, tmp_path, code, caption, queued, painting, step, png
):
    user = _user(DEFAULT_USER_ID, "Ana", code)
    async with style_bot(fake_api, make_settings(fake_api, tmp_path)) as deps:
        mark = fake_api.mark()
        fake_api.push(fake_api.photo_update(photo(), caption, user=user))
        answer = await fake_api.wait_for("sendMessage", since=mark)
        assert answer.text.startswith(f"🎨 {queued}"), answer.text
        [job] = await eventually(lambda: jobs_of(deps.store, user["id"]))
        assert job.styles[0].preset == "starry-night" and job.language == resolve_locale(code)
        progress, result = await _paint_through(fake_api, deps, job)
        assert any(step in (c.text or "") for c in progress), [c.text for c in progress]
        assert painting in result.text
        labels = [label for label, _ in result.buttons()]
        assert labels[0].startswith(png) and len(labels) == 5
        if code != "xx":
            english = {"Full resolution (PNG)", "➕ Stronger", "➖ Subtler", "🖼 Another style…"}
            assert not english & set(labels)


async def test_did_you_mean_suggests_the_name_in_the_users_language(fake_api, tmp_path):
    user = _user(DEFAULT_USER_ID, "Ana", "ru")
    async with style_bot(fake_api, make_settings(fake_api, tmp_path)):
        mark = fake_api.mark()
        fake_api.push(fake_api.photo_update(photo(), "/style звездня ночь", user=user))
        answer = await fake_api.wait_for("sendMessage", since=mark)
        assert "Я не знаю стиль" in answer.text and "Звёздная ночь" in answer.text


async def test_a_group_answers_each_person_in_their_own_language(fake_api, tmp_path):
    olga, pablo = _user(3001, "Olga", "ru"), _user(3002, "Pablo", "es")
    async with style_bot(fake_api, make_settings(fake_api, tmp_path)) as deps:
        answers = {}
        for user, caption in ((olga, "/style крик"), (pablo, "/style el grito")):
            mark = fake_api.mark()
            fake_api.push(fake_api.photo_update(photo(), caption, user=user, chat="supergroup"))
            answers[user["id"]] = await fake_api.wait_for("sendMessage", since=mark)
        assert "В очереди" in answers[olga["id"]].text
        assert "En cola" in answers[pablo["id"]].text
        [job] = await eventually(lambda: jobs_of(deps.store, pablo["id"]))
        _, result = await _paint_through(fake_api, deps, (await jobs_of(deps.store, olga["id"]))[0])
        assert "Крик" in result.text and "для" in result.text
        # Olga presses Pablo's language-neutral button under her result: told off in Russian.
        mark = fake_api.mark()
        stronger = [data for _, data in result.buttons()][2]
        fake_api.push(fake_api.callback_update(result.result, stronger, user=pablo))
        alert = await fake_api.wait_for("answerCallbackQuery", since=mark)
        assert alert.params["text"].startswith("Estos botones son de")


async def test_settings_switch_a_users_language(fake_api, tmp_path):
    user = _user(DEFAULT_USER_ID, "Ann", "en")
    async with style_bot(fake_api, make_settings(fake_api, tmp_path)) as deps:
        mark = fake_api.mark()
        fake_api.push(fake_api.text_update("/settings language=ru", user=user))
        answer = await fake_api.wait_for("sendMessage", since=mark)
        assert answer.text.startswith("Сохранено") and "Русский" in answer.text
        assert (await deps.store.get_user_settings(user["id"])).language == "ru"
        mark = fake_api.mark()
        fake_api.push(fake_api.photo_update(photo(), "/style monet", user=user))
        queued = await fake_api.wait_for("sendMessage", since=mark)
        assert queued.text.startswith("🎨 В очереди")
        # The button row switches it again, and the answer comes in the new language.
        buttons = dict(answer.buttons())
        mark = fake_api.mark()
        fake_api.push(fake_api.callback_update(answer.result, buttons["Español"], user=user))
        alert = await fake_api.wait_for("answerCallbackQuery", since=mark)
        assert alert.params["text"].startswith("Guardado")
        assert (await deps.store.get_user_settings(user["id"])).language == "es"


def test_every_language_is_compiled_before_a_handler_needs_it():
    """bot.app calls `warm` in a thread at start: afterwards no language is read or compiled
    on the event loop."""
    from styles import load_catalogue

    catalogue = load_catalogue()
    i18n._translations.cache_clear()
    i18n.tr_for.cache_clear()
    i18n._VIEWS.clear()
    i18n.warm(catalogue)
    assert i18n._translations.cache_info().currsize >= len(i18n.locales()) - 1  # en: none
    assert all((id(catalogue), locale) in i18n._VIEWS for locale in i18n.locales())
