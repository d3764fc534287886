"""The style flows (bot/handlers/style*.py, albums.py, results.py; bot/submit.py, bot/intake.py)
with the real PTB client against the fake Bot API over HTTP; jobs land in a real job store (no
engine needed)."""

from __future__ import annotations

import asyncio
import os

import pytest

from jobs import EngineInfo, JobOptions, JobStatus, StyleRef
from jobs.cost import PainterSpeed
from jobs.liveness import this_host
from jobs.testing import PLACEHOLDER, enqueue
from tests.bot_harness import all_handled
from tests.fake_bot_api import DEFAULT_GROUP_ID, DEFAULT_USER_ID, make_user
from tests.style_support import (
    FakeEngine,
    jobs_of,
    make_settings,
    photo,
    style_bot,
    truncated_jpeg,
)
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)

ALICE = make_user(DEFAULT_USER_ID, "Alice", "alice")
BOB = make_user(2002, "Bob")


def replies_to(message_id: int):
    def check(call) -> bool:
        params = call.params.get("reply_parameters") or {}
        return params.get("message_id") == message_id

    return check


async def answer_to(fake, update, method: str = "sendMessage", timeout: float = 5.0):  # noqa: ASYNC109
    """Push `update` and wait for the bot's `method` call replying to that message."""
    mark = fake.mark()
    fake.push(update)
    message_id = update["message"]["message_id"]
    return await fake.wait_for(method, replies_to(message_id), timeout, since=mark)


async def progress_set(deps, user_id):
    """The user's jobs once every one has its progress message recorded."""
    jobs = await jobs_of(deps.store, user_id)
    return jobs if jobs and all(j.progress_message_id for j in jobs) else None


@pytest.fixture
def settings(fake_api, tmp_path):
    return make_settings(fake_api, tmp_path)


# ----------------------------------------------------------------------------- happy paths


async def test_captioned_photo_is_queued_with_position(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        sent = photo()
        update = fake_api.photo_update(sent, "/style monet", user=ALICE)
        started = asyncio.get_running_loop().time()
        call = await answer_to(fake_api, update)
        assert asyncio.get_running_loop().time() - started < 1.5
        assert "Queued" in call.text and "next" in call.text
        [job] = await eventually(lambda: progress_set(deps, ALICE["id"]))
        assert job.styles == (StyleRef(preset="monet"),)
        assert job.chat_type == "private" and job.user_name == "@alice"
        assert job.request_message_id == job.reply_to_message_id == update["message"]["message_id"]
        assert job.progress_message_id == call.result["message_id"]
        assert job.content_name == "content.jpg"
        assert await deps.store.read_file(job.id, job.content_name) == sent

        second = fake_api.photo_update(photo(), "/style udnie", user=ALICE)
        call = await answer_to(fake_api, second)
        assert "#2 in line" in call.text
        assert "2 pictures waiting" in call.text


async def test_options_caption_and_bot_mention(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        update = fake_api.photo_update(
            photo(),
            "/style@PicassoMeTestBot monet:0.7 udnie:0.3 size=9999 strength=1.5 colors=keep seed=3",
            user=ALICE,
        )
        call = await answer_to(fake_api, update)
        assert "2048" in call.text  # the size was lowered, and the user is told
        [job] = await jobs_of(deps.store, ALICE["id"])
        assert job.styles == (StyleRef("monet", weight=0.7), StyleRef("udnie", weight=0.3))
        assert job.options == JobOptions(size=2048, strength=1.5, preserve_colors=True, seed=3)


async def test_command_for_another_bot_is_ignored(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        fake_api.push(fake_api.photo_update(photo(), "/style@OtherBot monet", user=ALICE))
        await all_handled(deps.app, fake_api)
        assert not fake_api.calls("sendMessage")
        assert await jobs_of(deps.store, ALICE["id"]) == []


async def test_user_defaults_are_overridden_by_the_caption(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        await deps.store.set_user_settings(
            ALICE["id"], size=512, strength=2.0, preserve_colors=True
        )
        await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet strength=0.5"))
        [job] = await jobs_of(deps.store, ALICE["id"])
        assert job.options == JobOptions(size=512, strength=0.5, preserve_colors=True)


async def test_reply_with_style_command_in_a_group(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        pic = fake_api.photo_update(photo(), user=BOB, chat="supergroup")
        fake_api.push(pic)
        command = fake_api.text_update(
            "/style@PicassoMeTestBot udnie", user=ALICE, chat="supergroup", reply_to=pic["message"]
        )
        call = await answer_to(fake_api, command)
        assert "Queued" in call.text
        [job] = await jobs_of(deps.store, ALICE["id"])
        assert job.chat_id == DEFAULT_GROUP_ID and job.chat_type == "supergroup"
        assert job.reply_to_message_id == pic["message"]["message_id"]
        assert job.request_message_id == command["message"]["message_id"]
        # The uncaptioned group photo itself got no keyboard (groups are not spammed).
        assert not [c for c in fake_api.calls("sendMessage") if c.buttons()]


async def test_style_command_without_photo_explains(fake_api, settings):
    async with style_bot(fake_api, settings):
        call = await answer_to(fake_api, fake_api.text_update("/style monet"))
        assert "photo" in call.text
        call = await answer_to(fake_api, fake_api.text_update("/style"))
        assert "/style" in call.text


async def test_keyboard_flow(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        pic = fake_api.photo_update(photo(), user=ALICE)
        keyboard = await answer_to(fake_api, pic)
        buttons = dict(keyboard.buttons())
        assert buttons["The Water-Lily Pond"] == f"style:monet:{ALICE['id']}"
        assert len(buttons) == len(deps.catalogue)

        # Somebody else can't use Alice's menu.
        mark = fake_api.mark()
        fake_api.push(fake_api.callback_update(keyboard, f"style:monet:{ALICE['id']}", user=BOB))
        alert = await fake_api.wait_for("answerCallbackQuery", since=mark)
        assert alert.params.get("show_alert") is True
        assert await jobs_of(deps.store, BOB["id"]) == []

        mark = fake_api.mark()
        pond = buttons["The Water-Lily Pond"]
        fake_api.push(fake_api.callback_update(keyboard, pond, user=ALICE))
        edit = await fake_api.wait_for("editMessageText", since=mark)
        assert "Queued" in edit.text and not edit.buttons()
        [job] = await eventually(lambda: progress_set(deps, ALICE["id"]))
        assert job.request_message_id == keyboard.result["message_id"]
        assert job.progress_message_id == keyboard.result["message_id"]
        assert job.reply_to_message_id == pic["message"]["message_id"]

        # A second tap (double tap, or a redelivered update): still one job.
        pond = buttons["The Water-Lily Pond"]
        fake_api.push(fake_api.callback_update(keyboard, pond, user=ALICE))
        await all_handled(deps.app, fake_api)
        assert len(await jobs_of(deps.store, ALICE["id"])) == 1


async def test_bare_style_caption_offers_the_keyboard(fake_api, settings):
    async with style_bot(fake_api, settings):
        call = await answer_to(fake_api, fake_api.photo_update(photo(), "/style"))
        assert call.buttons()


# ----------------------------------------------------------------------------- own style


async def test_own_style_by_replying_with_the_painting(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        content = fake_api.photo_update(photo(color=(10, 200, 10)), user=ALICE, chat="supergroup")
        fake_api.push(content)
        painting = fake_api.photo_update(
            photo(color=(200, 10, 10)),
            "/style",
            user=ALICE,
            chat="supergroup",
            reply_to=content["message"],
        )
        call = await answer_to(fake_api, painting)
        assert "Queued" in call.text
        [job] = await jobs_of(deps.store, ALICE["id"])
        assert job.styles == (StyleRef(image="style-1.jpg"),)
        assert job.reply_to_message_id == content["message"]["message_id"]
        assert await deps.store.file_names(job.id) == ["content.jpg", "style-1.jpg"]


async def test_own_style_album_of_two(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        album = fake_api.album_update([photo(), photo(color=(0, 0, 255))], "/style", user=ALICE)
        mark = fake_api.mark()
        fake_api.push(album)
        first = album[0]["message"]["message_id"]
        call = await fake_api.wait_for("sendMessage", replies_to(first), since=mark)
        assert "Queued" in call.text
        [job] = await jobs_of(deps.store, ALICE["id"])
        assert job.styles == (StyleRef(image="style-1.jpg"),)
        assert job.reply_to_message_id == first
        await fake_api.wait_idle()
        assert len(fake_api.calls("sendMessage", since=mark)) == 1  # no keyboard for item 2


async def test_album_with_a_preset_paints_every_photo(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        album = fake_api.album_update([photo(), photo(), photo()], "/style monet", user=ALICE)
        mark = fake_api.mark()
        fake_api.push(album)
        await fake_api.wait_for_all("sendMessage", 3, since=mark)
        jobs = await jobs_of(deps.store, ALICE["id"])
        assert sorted(j.reply_to_message_id for j in jobs) == [
            u["message"]["message_id"] for u in album
        ]


async def test_album_of_three_without_style_explains(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        album = fake_api.album_update([photo(), photo(), photo()], "/style", user=ALICE)
        mark = fake_api.mark()
        fake_api.push(album)
        call = await fake_api.wait_for("sendMessage", since=mark)
        assert "two photos" in call.text
        assert await jobs_of(deps.store, ALICE["id"]) == []


# ----------------------------------------------------------------------------- bad input


async def test_unknown_style_suggests_close_matches(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        call = await answer_to(fake_api, fake_api.photo_update(photo(), "/style monnet"))
        assert "monet" in call.text and "/styles" in call.text
        assert await jobs_of(deps.store, ALICE["id"]) == []


async def test_file_over_20_mb_is_refused_before_download(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        big = b"\xff\xd8\xff" + b"\0" * (21 * 1024 * 1024)
        update = fake_api.document_update(big, "image/jpeg", "huge.jpg", "/style monet")
        call = await answer_to(fake_api, update)
        assert "20.0 MB" in call.text
        assert not fake_api.calls("getFile")
        assert await jobs_of(deps.store, ALICE["id"]) == []


async def test_document_that_is_not_an_image(fake_api, settings):
    async with style_bot(fake_api, settings):
        update = fake_api.document_update(b"%PDF-1.4", "application/pdf", "cv.pdf", "/style monet")
        call = await answer_to(fake_api, update)
        assert "isn't an image" in call.text
        # An image file that is really something else is caught after download.
        update = fake_api.document_update(b"hello", "image/png", "fake.png", "/style monet")
        call = await answer_to(fake_api, update)
        assert "not an image" in call.text


async def test_image_document_is_accepted(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        update = fake_api.document_update(photo(fmt="PNG"), "image/png", "me.png", "/style monet")
        call = await answer_to(fake_api, update)
        assert "Queued" in call.text
        [job] = await jobs_of(deps.store, ALICE["id"])
        assert job.content_name == "content.png"


async def test_truncated_image(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        update = fake_api.document_update(truncated_jpeg(), "image/jpeg", "cut.jpg", "/style monet")
        call = await answer_to(fake_api, update)
        assert "damaged or cut off" in call.text
        assert await jobs_of(deps.store, ALICE["id"]) == []


async def test_thin_and_huge_images(fake_api, tmp_path):
    settings = make_settings(fake_api, tmp_path, MAX_INPUT_PIXELS=200_000, MAX_IMAGE_SIZE=256)
    async with style_bot(fake_api, settings) as deps:
        thin = fake_api.document_update(photo(1100, 50), "image/jpeg", "thin.jpg", "/style monet")
        call = await answer_to(fake_api, thin)
        assert "long and thin" in call.text and "1100×50" in call.text
        huge = fake_api.document_update(photo(600, 400), "image/jpeg", "big.jpg", "/style monet")
        call = await answer_to(fake_api, huge)
        assert "too large" in call.text
        big = fake_api.document_update(photo(400, 300), "image/jpeg", "ok.jpg", "/style monet")
        call = await answer_to(fake_api, big)
        assert "Queued" in call.text and "256 px" in call.text  # the downscale is noted
        assert len(await jobs_of(deps.store, ALICE["id"])) == 1


@pytest.mark.parametrize("kind", ["sticker", "video", "animation"])
async def test_unpaintable_media_get_a_hint(fake_api, settings, kind):
    """Stickers get a hint; videos and GIFs are clips (tests/test_bot_clips.py), and these
    fake ones (a few bytes, no video) are refused as unreadable."""
    async with style_bot(fake_api, settings) as deps:
        if kind == "sticker":
            update = fake_api.sticker_update()
        else:
            update = getattr(fake_api, f"{kind}_update")(caption="/style monet")
        call = await answer_to(fake_api, update)
        expected = {"sticker": "Stickers", "video": "could not read this video"}
        assert expected.get(kind, "could not read this video") in call.text
        assert await jobs_of(deps.store, ALICE["id"]) == []


async def test_style_reply_to_a_sticker(fake_api, settings):
    async with style_bot(fake_api, settings):
        sticker = fake_api.sticker_update(chat="supergroup")
        fake_api.push(sticker)
        command = fake_api.text_update(
            "/style monet", chat="supergroup", reply_to=sticker["message"]
        )
        call = await answer_to(fake_api, command)
        assert "Stickers" in call.text


# ----------------------------------------------------------------------------- limits, bans


async def test_per_user_limit(fake_api, tmp_path):
    settings = make_settings(fake_api, tmp_path, MAX_ACTIVE_JOBS_PER_USER=2)
    async with style_bot(fake_api, settings) as deps:
        for _ in range(2):
            call = await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet"))
            assert "Queued" in call.text
        call = await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet"))
        assert "already have 2 pictures" in call.text and "limit is 2" in call.text
        assert len(await jobs_of(deps.store, ALICE["id"])) == 2
        # Another user is not affected.
        call = await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet", user=BOB))
        assert "Queued" in call.text


async def test_per_chat_limit_in_groups(fake_api, tmp_path):
    settings = make_settings(fake_api, tmp_path, MAX_ACTIVE_JOBS_PER_CHAT=1)
    async with style_bot(fake_api, settings) as deps:
        first = fake_api.photo_update(photo(), "/style monet", user=ALICE, chat="supergroup")
        assert "Queued" in (await answer_to(fake_api, first)).text
        second = fake_api.photo_update(photo(), "/style monet", user=BOB, chat="supergroup")
        call = await answer_to(fake_api, second)
        assert "This chat already has 1" in call.text
        assert await jobs_of(deps.store, BOB["id"]) == []


async def test_banned_user_is_refused_politely(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        await deps.store.set_banned(ALICE["id"], True)
        call = await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet"))
        assert "Sorry" in call.text
        assert await jobs_of(deps.store, ALICE["id"]) == []


async def test_paused_engine_is_mentioned(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        await deps.store.set_paused(True)
        call = await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet"))
        assert "paused by an admin" in call.text


async def test_running_job_is_reported_as_painting_now(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet", user=BOB))
        await FakeEngine(deps.store).claim()
        call = await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet"))
        assert "you're next" in call.text


# ----------------------------------------------------------------------------- idempotency


async def test_redelivered_update_makes_no_second_job(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        update = fake_api.photo_update(photo(), "/style monet")
        again = {"message": dict(update["message"])}
        await answer_to(fake_api, update)
        mark = fake_api.mark()
        await fake_api.push_and_wait(again)
        await all_handled(deps.app, fake_api)
        assert len(await jobs_of(deps.store, ALICE["id"])) == 1
        assert not fake_api.calls("sendMessage", since=mark)
        assert not fake_api.calls("getFile", since=mark)


async def test_edits(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        update = fake_api.photo_update(photo(), "/style monet")
        await answer_to(fake_api, update)
        mark = fake_api.mark()
        await fake_api.push_and_wait(fake_api.edited_update(update, caption="/style udnie"))
        await all_handled(deps.app, fake_api)
        [job] = await jobs_of(deps.store, ALICE["id"])
        assert job.styles == (StyleRef(preset="monet"),)
        assert not fake_api.calls("sendMessage", since=mark)

        # A typo fixed by editing: the request was never queued, so the edit counts.
        typo = fake_api.photo_update(photo(), "/style monnet")
        await answer_to(fake_api, typo)
        mark = fake_api.mark()
        fake_api.push(fake_api.edited_update(typo, caption="/style monet"))
        call = await fake_api.wait_for("sendMessage", since=mark)
        assert "Queued" in call.text
        assert len(await jobs_of(deps.store, ALICE["id"])) == 2


# ----------------------------------------------------------------------------- full resolution


async def test_full_resolution_button_sends_the_png(fake_api, settings):
    async with style_bot(fake_api, settings) as deps:
        await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet"))
        engine = FakeEngine(deps.store)
        job = await engine.claim()
        await engine.finish(job, size=(120, 80))
        # The result message the notifier would have sent:
        result = await deps.app.bot.send_photo(ALICE["id"], photo())
        mark = fake_api.mark()
        fake_api.push(fake_api.callback_update(result.to_dict(), f"png:{job.id}"))
        doc = await fake_api.wait_for("sendDocument", since=mark)
        data = doc.file_bytes("document")
        assert data == await deps.store.read_file(job.id, "result.png")
        assert doc.files["document"].filename == f"picasso-{job.id}.png"
        assert (doc.params.get("reply_parameters") or {}).get("message_id") == result.message_id

        # Expired files (retention cleanup): a clear alert, nothing sent.
        await deps.store.mark_delivered(job.id)
        assert await deps.store.cleanup(older_than=-60) == 1
        mark = fake_api.mark()
        fake_api.push(fake_api.callback_update(result.to_dict(), f"png:{job.id}"))
        alert = await fake_api.wait_for("answerCallbackQuery", since=mark)
        assert "expired" in alert.params["text"]
        assert not fake_api.calls("sendDocument", since=mark)
        assert (await deps.store.get(job.id)).status is JobStatus.DONE


async def test_the_queued_message_says_what_a_size_of_its_own_costs(fake_api, settings):
    """Default photos took a minute; a live painter published a slow speed (2 s an iteration
    at 1024 px, 300 iterations): size=1024 waits for the default job ahead, then ten minutes."""
    async with style_bot(fake_api, settings) as deps:
        store = deps.store
        done = await enqueue(store, user_id=9)
        assert (await store.claim("cpu-1")).id == done.id
        await store.finish(done.id, PLACEHOLDER)
        await store._db.run(
            "UPDATE jobs SET started_at = finished_at - 60 WHERE id = ?", (done.id,)
        )
        speed = PainterSpeed(((256, 0.1), (1024, 2.0), (2048, 8.0)), 300, 2000, 256)
        painter = EngineInfo("cpu-1", os.getpid(), this_host(), "cpu", None, speed=speed)
        await store.register_engine(painter, exclusive=False)
        call = await answer_to(fake_api, fake_api.photo_update(photo(), "/style monet", user=ALICE))
        assert "next, about 1 minute." in call.text
        update = fake_api.photo_update(photo(), "/style monet size=1024", user=BOB)
        call = await answer_to(fake_api, update)
        assert "#2 in line, about 11 minutes." in call.text
