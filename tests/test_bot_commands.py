"""User commands (/start /help /styles /queue /cancel /settings): the real PTB client against the
fake Bot API over HTTP, with a real JobStore."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.handlers import register_all
from bot.handlers.gallery import album_chunks
from jobs import JobOptions, JobStatus, StyleRef
from jobs.testing import PLACEHOLDER, enqueue
from tests.fake_bot_api import BOT_USERNAME, FakeBotAPI, make_chat, make_user

pytestmark = pytest.mark.timeout(60)

ALICE = make_user(1001, "Alice")
BOB = make_user(1002, "Bob")
GROUP = make_chat(-100555, "supergroup", "Art club")


async def say(fake: FakeBotAPI, text: str, *, user=ALICE, chat=None, method="sendMessage"):
    return await fake.say(text, user=user, chat=chat, method=method)


async def press(fake: FakeBotAPI, message_call, data: str, *, user=ALICE):
    return await fake.press(message_call, data, user=user)


@pytest.fixture
async def app(start_app):
    return await start_app([register_all])


# --- /start, /help -----------------------------------------------------------------------


async def test_help_explains_the_syntax(app, fake_api: FakeBotAPI):
    call = await say(fake_api, "/help")
    text = call.params["text"]
    assert call.params["parse_mode"] == "HTML"
    for example in ("/style monet", "monet:0.7 udnie:0.3", "size=1024", "colors=keep", "reply"):
        assert example in text
    assert "/styles" in text and "/queue" in text and "/cancel" in text and "/settings" in text
    assert "groups" in text.lower()
    assert "own" in text.lower() or "painting" in text.lower()


async def test_start_greets_with_an_escaped_name(app, fake_api: FakeBotAPI):
    call = await say(fake_api, "/start", user=make_user(1003, "<Bob & Co>"))
    assert "Hi &lt;Bob &amp; Co&gt;!" in call.params["text"]
    assert "/style monet" in call.params["text"]
    assert call.ok  # the fake rejects broken HTML


async def test_commands_in_groups_with_bot_name(app, fake_api: FakeBotAPI):
    call = await say(fake_api, f"/help@{BOT_USERNAME}", chat=GROUP)
    assert call.params["chat_id"] == GROUP["id"]
    # In groups the answer quotes the command (and survives its deletion).
    assert call.params["reply_parameters"]["allow_sending_without_reply"] is True
    assert (
        call.params["reply_parameters"]["message_id"]
        == call.result["reply_to_message"]["message_id"]
    )
    # Addressed to another bot: ignored.
    mark = fake_api.mark()
    fake_api.push(fake_api.text_update("/help@SomeOtherBot", chat=GROUP))
    await fake_api.wait_idle()
    assert fake_api.calls("sendMessage", since=mark) == []


async def test_edited_commands_do_not_run_again(app, fake_api: FakeBotAPI):
    original = fake_api.text_update("/help")
    fake_api.push(original)
    await fake_api.wait_for("sendMessage")
    mark = fake_api.mark()
    await fake_api.push_and_wait(fake_api.edited_update(original, text="/help"))
    await fake_api.wait_idle()
    assert fake_api.calls("sendMessage", since=mark) == []


# --- /styles -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 36))
def test_album_chunks_are_telegram_sized(n):
    chunks = album_chunks(list(range(n)))
    assert [x for c in chunks for x in c] == list(range(n))
    assert all(len(c) <= 10 for c in chunks)
    if n > 1:
        assert all(len(c) >= 2 for c in chunks)
    assert len(chunks) == -(-n // 10)


async def test_styles_sends_albums_then_a_keyboard(app, fake_api: FakeBotAPI, bot_deps):
    presets = bot_deps.catalogue.available(bot_deps.settings.styles_dir)
    assert len(presets) > 10  # the gallery needs several albums
    mark = fake_api.mark()
    fake_api.push(fake_api.text_update("/styles"))
    keyboard = await fake_api.wait_for("sendMessage", since=mark, timeout=20)
    albums = fake_api.calls("sendMediaGroup", since=mark)
    assert len(albums) == 2
    items = [item for call in albums for item in call.params["media"]]
    assert all(2 <= len(call.params["media"]) <= 10 for call in albums)
    assert len(items) == len(presets)
    for preset, item, call in zip(
        presets, items, [c for c in albums for _ in c.params["media"]], strict=True
    ):
        assert item["type"] == "photo"
        assert f"/style {preset.name}" in item["caption"]
        assert item["parse_mode"] == "HTML"
        with Image.open(io.BytesIO(call.file_bytes(item["media"]))) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) <= 320
    # The keyboard comes after the albums and has one button per painting.
    assert keyboard.time > albums[-1].time
    assert [data for _, data in keyboard.buttons()] == [f"gallery:{p.name}" for p in presets]

    # A second /styles re-sends Telegram's file_ids instead of uploading again.
    mark = fake_api.mark()
    fake_api.push(fake_api.text_update("/styles", chat=GROUP))
    await fake_api.wait_for("sendMessage", since=mark, timeout=20)
    again = fake_api.calls("sendMediaGroup", since=mark)
    assert len(again) == 2 and all(not call.files for call in again)
    assert all(call.params["chat_id"] == GROUP["id"] for call in again)

    # A button shows the painting's story; pressing it twice is harmless.
    answer, mark = await press(fake_api, keyboard, "gallery:monet")
    edit = await fake_api.wait_for("editMessageText", since=mark)
    monet = bot_deps.catalogue.resolve("monet")
    assert "Claude Monet" in edit.params["text"] and "/style monet" in edit.params["text"]
    assert monet.blurb in edit.params["text"]
    answer, mark = await press(fake_api, keyboard, "gallery:monet")
    same = await fake_api.wait_for("editMessageText", since=mark)
    assert same.status == 400 and "not modified" in same.error  # swallowed by the handler


async def test_styles_falls_back_to_uploads_if_file_ids_are_refused(
    app, fake_api: FakeBotAPI, bot_deps
):
    await say(fake_api, "/styles")
    fake_api.fail_next_with(
        "sendMediaGroup", 1, status=400, description="Bad Request: wrong file identifier"
    )
    mark = fake_api.mark()
    fake_api.push(fake_api.text_update("/styles"))
    await fake_api.wait_for("sendMessage", since=mark, timeout=20)
    calls = fake_api.calls("sendMediaGroup", since=mark)
    assert [c.status for c in calls] == [400, 200, 200]
    # The refused album is uploaded again; the next album's file_ids still work.
    assert calls[1].files and not calls[2].files


async def test_styles_with_one_image_sends_a_photo(app, fake_api: FakeBotAPI, styles_dir):
    for path in sorted(styles_dir.iterdir())[1:]:
        path.unlink()
    keyboard = await say(fake_api, "/styles")
    (photo,) = fake_api.calls("sendPhoto")
    assert fake_api.calls("sendMediaGroup") == []
    assert "/style " in photo.params["caption"] and photo.files
    assert len(keyboard.buttons()) == 1


async def test_styles_without_images(app, fake_api: FakeBotAPI, styles_dir):
    for path in styles_dir.iterdir():
        path.unlink()
    call = await say(fake_api, "/styles")
    assert "No paintings" in call.params["text"]
    assert fake_api.calls("sendMediaGroup") == []


# --- /queue ------------------------------------------------------------------------------


async def test_queue_shows_places_and_progress(app, fake_api, job_store, tmp_path):
    other = await enqueue(job_store, user_id=BOB["id"])
    await job_store.claim("w1")  # Bob's job runs
    first = await enqueue(job_store, user_id=ALICE["id"])
    second = await enqueue(
        job_store,
        user_id=ALICE["id"],
        styles=(StyleRef(preset="monet", weight=0.7), StyleRef(preset="udnie", weight=0.3)),
    )
    call = await say(fake_api, "/queue")
    text = call.params["text"]
    assert f"#{first.id}</b> · monet · ⏳ #1 in line" in text
    assert f"#{second.id}</b> · monet 70% + udnie 30% · ⏳ #2 in line" in text
    assert f"<b>#{other.id}</b>" not in text
    assert "3 in line overall" in text

    # Alice's own running job shows its progress.
    await job_store.cancel(other.id)
    await job_store.mark_cancelled(other.id)
    running = await job_store.claim("w1")
    assert running.id == first.id
    await job_store.report_progress(first.id, "w1", iteration=100, total=500, loss=1.5)
    text = (await say(fake_api, "/queue")).params["text"]
    assert f"#{first.id}</b> · monet · 🖌 painting now, step 100/500" in text
    assert f"#{second.id}</b> · monet 70% + udnie 30% · ⏳ #1 in line" in text

    # With a finished job as history, places come with an ETA.
    await job_store.finish(first.id, PLACEHOLDER)
    third = await enqueue(job_store, user_id=ALICE["id"])
    assert (await job_store.claim("w1")).id == second.id
    text = (await say(fake_api, "/queue")).params["text"]
    assert "left" in text.split("\n")[1]  # the running one
    assert f"#{third.id}</b> · monet · ⏳ #1 in line, done in about " in text


async def test_queue_in_a_group_and_when_empty(app, fake_api, job_store, tmp_path):
    text = (await say(fake_api, "/queue")).params["text"]
    assert "no pictures in the works" in text
    await enqueue(job_store, user_id=BOB["id"], chat_id=GROUP["id"])
    await enqueue(job_store, user_id=BOB["id"])
    text = (await say(fake_api, f"/queue@{BOT_USERNAME}", chat=GROUP)).params["text"]
    assert "no pictures in the works" in text
    assert "This group has 1 picture in the works; 2 in line overall." in text
    await job_store.set_paused(True)
    text = (await say(fake_api, "/queue", user=BOB, chat=GROUP)).params["text"]
    assert "from another chat" in text and "paused" in text


# --- /cancel -----------------------------------------------------------------------------


async def test_cancel_a_single_queued_job(app, fake_api, job_store, tmp_path):
    job = await enqueue(job_store, user_id=ALICE["id"])
    text = (await say(fake_api, "/cancel")).params["text"]
    assert text == f"Cancelled #{job.id}."
    assert (await job_store.get(job.id)).status is JobStatus.CANCELLED
    assert (await say(fake_api, "/cancel")).params["text"] == "You have nothing to cancel."


async def test_cancel_a_running_job(app, fake_api, job_store, tmp_path):
    job = await enqueue(job_store, user_id=ALICE["id"])
    await job_store.claim("w1")
    text = (await say(fake_api, f"/cancel {job.id}")).params["text"]
    assert text.startswith(f"Stopping #{job.id}")
    stored = await job_store.get(job.id)
    assert stored.status is JobStatus.RUNNING and stored.cancel_requested
    # The worker sees the request at its next progress report.
    assert await job_store.report_progress(job.id, "w1", iteration=1, total=10, loss=None)


async def test_cancel_by_id_refuses_other_peoples_jobs(app, fake_api, job_store, tmp_path):
    bobs = await enqueue(job_store, user_id=BOB["id"])
    for text in (f"/cancel {bobs.id}", f"/cancel #{bobs.id}", "/cancel 99999"):
        answer = (await say(fake_api, text)).params["text"]
        assert "can't find an active picture" in answer
    assert (await job_store.get(bobs.id)).status is JobStatus.QUEUED
    answer = (await say(fake_api, "/cancel soon")).params["text"]
    assert "/cancel 12" in answer


async def test_cancel_with_several_jobs_lists_buttons(app, fake_api, job_store, tmp_path):
    first = await enqueue(job_store, user_id=ALICE["id"])
    second = await enqueue(job_store, user_id=ALICE["id"])
    third = await enqueue(job_store, user_id=ALICE["id"])
    await job_store.claim("w1")  # the first runs
    menu = await say(fake_api, "/cancel", chat=GROUP)
    assert "3 pictures" in menu.params["text"]
    data = [d for _, d in menu.buttons()]
    assert data == [f"ucancel:{ALICE['id']}:{j.id}" for j in (first, second, third)] + [
        f"ucancel:{ALICE['id']}:all"
    ]
    # Nothing is cancelled until a button is pressed.
    assert await job_store.active_count(user_id=ALICE["id"]) == 3

    # Bob can't press Alice's buttons.
    answer, _ = await press(fake_api, menu, f"ucancel:{ALICE['id']}:{second.id}", user=BOB)
    assert answer.params.get("show_alert") is True
    assert (await job_store.get(second.id)).status is JobStatus.QUEUED

    answer, mark = await press(fake_api, menu, f"ucancel:{ALICE['id']}:{second.id}")
    assert (await job_store.get(second.id)).status is JobStatus.CANCELLED
    edit = await fake_api.wait_for("editMessageText", since=mark)
    assert edit.params["text"] == f"Cancelled #{second.id}."
    assert [d for _, d in edit.buttons()][:-1] == [
        f"ucancel:{ALICE['id']}:{j.id}" for j in (first, third)
    ]

    answer, mark = await press(fake_api, edit, f"ucancel:{ALICE['id']}:all")
    await fake_api.wait_for("editMessageText", since=mark)
    assert (await job_store.get(third.id)).status is JobStatus.CANCELLED
    running = await job_store.get(first.id)
    assert running.status is JobStatus.RUNNING and running.cancel_requested


# --- /settings ---------------------------------------------------------------------------


async def test_settings_text_form_is_persisted(app, fake_api, job_store):
    call = await say(fake_api, "/settings")
    assert "Size: default" in call.params["text"]
    assert any(d == f"uset:{ALICE['id']}:size:1024" for _, d in call.buttons())

    call = await say(fake_api, "/settings size=768 strength=1.2 colors=keep")
    assert "Saved" in call.params["text"] and "768 px" in call.params["text"]
    saved = await job_store.get_user_settings(ALICE["id"])
    assert (saved.size, saved.strength, saved.preserve_colors) == (768, 1.2, True)
    assert ("✓ 768px", f"uset:{ALICE['id']}:size:768") in call.buttons()

    await say(fake_api, "/settings size=default colours=style")
    saved = await job_store.get_user_settings(ALICE["id"])
    assert (saved.size, saved.strength, saved.preserve_colors) == (None, 1.2, False)

    await say(fake_api, "/settings reset")
    saved = await job_store.get_user_settings(ALICE["id"])
    assert (saved.size, saved.strength, saved.preserve_colors) == (None, None, None)


@pytest.mark.parametrize(
    "args", ["monet", "size=huge", "strength=-1", "colors=purple", "seed=3", "nonsense=1"]
)
async def test_settings_refuses_nonsense(app, fake_api, job_store, args):
    call = await say(fake_api, f"/settings {args}")
    assert "Saved" not in call.params["text"]
    assert await job_store.get_user_settings(ALICE["id"]) == await job_store.get_user_settings(0)


async def test_settings_size_is_clamped_to_the_limit(app, fake_api, job_store, bot_deps):
    call = await say(fake_api, "/settings size=100000")
    assert call.ok
    limit = bot_deps.settings.max_image_size
    assert (await job_store.get_user_settings(ALICE["id"])).size == limit


async def test_settings_buttons(app, fake_api, job_store):
    menu = await say(fake_api, "/settings", chat=GROUP)
    answer, mark = await press(fake_api, menu, f"uset:{ALICE['id']}:strength:1.5")
    edit = await fake_api.wait_for("editMessageText", since=mark)
    assert (await job_store.get_user_settings(ALICE["id"])).strength == 1.5
    assert "Strength: 1.5" in edit.params["text"]
    assert "strength" in answer.params["text"]

    answer, mark = await press(fake_api, edit, f"uset:{ALICE['id']}:colors:keep")
    await fake_api.wait_for("editMessageText", since=mark)
    assert (await job_store.get_user_settings(ALICE["id"])).preserve_colors is True

    # Someone else's menu: refused, nothing stored for either user.
    answer, _ = await press(fake_api, menu, f"uset:{ALICE['id']}:size:512", user=BOB)
    assert answer.params["show_alert"] is True
    assert (await job_store.get_user_settings(ALICE["id"])).size is None
    assert (await job_store.get_user_settings(BOB["id"])).size is None

    # Forged or stale data is refused.
    for data in (f"uset:{ALICE['id']}:size:99999", f"uset:{ALICE['id']}:iterations:5"):
        answer, _ = await press(fake_api, menu, data)
        assert answer.params["show_alert"] is True
    assert (await job_store.get_user_settings(ALICE["id"])).size is None

    answer, mark = await press(fake_api, edit, f"uset:{ALICE['id']}:reset:all")
    await fake_api.wait_for("editMessageText", since=mark)
    saved = await job_store.get_user_settings(ALICE["id"])
    assert (saved.size, saved.strength, saved.preserve_colors) == (None, None, None)


async def test_job_options_are_untouched_by_settings(app, fake_api, job_store, tmp_path):
    # /settings changes defaults for new pictures only; queued jobs keep their options.
    job = await enqueue(job_store, user_id=ALICE["id"], options=JobOptions(size=512))
    await say(fake_api, "/settings size=1024")
    assert (await job_store.get(job.id)).options.size == 512
