"""The fake Bot API against the real python-telegram-bot client over HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import InputMediaPhoto
from telegram.error import BadRequest, RetryAfter
from telegram.ext import CommandHandler, MessageHandler, filters

from tests.bot_harness import build_application, running
from tests.fake_bot_api import FakeBotAPI, make_chat, tiny_jpeg

pytestmark = pytest.mark.timeout(60)


async def test_get_me(fake_api: FakeBotAPI):
    app = build_application(fake_api)
    async with app:
        assert app.bot.username == fake_api.bot_user["username"]
        assert app.bot.id == fake_api.bot_user["id"]
    assert fake_api.calls("getMe")


async def test_wrong_token_is_rejected(fake_api: FakeBotAPI):
    from telegram.error import InvalidToken

    app = build_application(fake_api)
    fake_api.token = "123:real"  # the app now holds a token the server no longer accepts
    with pytest.raises(InvalidToken):
        await app.initialize()


async def test_long_polling_delivers_a_queued_update(fake_api: FakeBotAPI):
    seen: list[str] = []

    async def on_start(update, context):
        seen.append(update.effective_message.text)
        await update.effective_message.reply_text("hello <b>there</b>", parse_mode="HTML")

    app = build_application(
        fake_api, register=[lambda a: a.add_handler(CommandHandler("start", on_start))]
    )
    async with running(app, fake_api, poll_timeout=5):
        # The poll is waiting now; an update must arrive without the poll timing out.
        await asyncio.sleep(0.2)
        started = time.monotonic()
        fake_api.push(fake_api.text_update("/start"))
        call = await fake_api.wait_for("sendMessage", timeout=4)
        assert time.monotonic() - started < 2
    assert seen == ["/start"]
    assert call.params["chat_id"] == 1001
    assert call.params["parse_mode"] == "HTML"
    assert call.result["message_id"] >= 2  # the user's /start was message 1 in that chat


async def test_get_updates_timeout_zero_answers_at_once(fake_api: FakeBotAPI):
    app = build_application(fake_api)
    async with app:
        started = time.monotonic()
        assert await app.bot.get_updates(timeout=0) == ()
        assert time.monotonic() - started < 1
        started = time.monotonic()
        assert await app.bot.get_updates(timeout=1) == ()
        assert time.monotonic() - started >= 0.9


async def test_offset_confirms_and_drops(fake_api: FakeBotAPI):
    first, second, third = fake_api.push(
        fake_api.text_update("a"), fake_api.text_update("b"), fake_api.text_update("c")
    )
    app = build_application(fake_api)
    async with app:
        updates = await app.bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == [first, second, third]
        # Not confirmed: delivered again.
        assert len(await app.bot.get_updates(timeout=0)) == 3
        updates = await app.bot.get_updates(offset=second, timeout=0)
        assert [u.message.text for u in updates] == ["b", "c"]
        assert [u["update_id"] for u in fake_api.pending_updates] == [second, third]
        assert await app.bot.get_updates(offset=third + 1, timeout=0) == ()
        assert fake_api.pending_updates == []


async def test_multipart_send_photo_is_recorded_with_its_bytes(fake_api: FakeBotAPI):
    data = tiny_jpeg(120, 80)
    app = build_application(fake_api)
    async with app:
        message = await app.bot.send_photo(1001, photo=data, caption="done")
        assert message.photo[-1].width == 120 and message.photo[-1].height == 80
        # The returned file_id can be re-sent and downloaded.
        again = await app.bot.send_photo(1001, photo=message.photo[-1].file_id)
        assert again.photo[-1].file_id == message.photo[-1].file_id
        downloaded = await (
            await app.bot.get_file(message.photo[-1].file_id)
        ).download_as_bytearray()
        assert bytes(downloaded) == data
    call = fake_api.calls("sendPhoto")[0]
    assert call.params["caption"] == "done"
    assert call.file_bytes(call.params["photo"]) == data


async def test_media_group_and_document(fake_api: FakeBotAPI):
    app = build_application(fake_api)
    async with app:
        messages = await app.bot.send_media_group(
            -100, [InputMediaPhoto(tiny_jpeg(), caption=f"n{i}") for i in range(3)]
        )
        assert len({m.media_group_id for m in messages}) == 1
        assert [m.caption for m in messages] == ["n0", "n1", "n2"]
        assert [m.message_id for m in messages] == [1, 2, 3]
        doc = await app.bot.send_document(-100, document=b"PNGDATA", filename="result.png")
        assert doc.document.file_name == "result.png"
        assert doc.message_id == 4
        with pytest.raises(BadRequest, match="(?i)wrong number of media"):
            await app.bot.send_media_group(-100, [InputMediaPhoto(tiny_jpeg())] * 11)
    call = fake_api.calls("sendMediaGroup")[0]
    assert len(call.params["media"]) == 3
    assert all(call.file_bytes(item["media"]) for item in call.params["media"])


async def test_edits_not_modified_and_deleted(fake_api: FakeBotAPI):
    app = build_application(fake_api)
    async with app:
        message = await app.bot.send_message(1001, "Queued")
        edited = await app.bot.edit_message_text("Running 10%", 1001, message.message_id)
        assert edited.text == "Running 10%"
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await app.bot.edit_message_text("Running 10%", 1001, message.message_id)
        fake_api.delete_message(1001, message.message_id)
        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await app.bot.edit_message_text("Running 20%", 1001, message.message_id)
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await app.bot.send_message(1001, "a < b", parse_mode="HTML")


async def test_rate_limit_knob_makes_the_limiter_retry(fake_api: FakeBotAPI):
    fake_api.fail_next("sendMessage", 2, retry_after=1)
    app = build_application(fake_api)  # AIORateLimiter(max_retries=3)
    async with app:
        started = time.monotonic()
        await app.bot.send_message(1001, "hi")
        assert time.monotonic() - started >= 2
    statuses = [c.status for c in fake_api.calls("sendMessage")]
    assert statuses == [429, 429, 200]

    fake_api.fail_next("sendMessage", 1, retry_after=1)
    bare = build_application(fake_api, rate_limiter=False)
    async with bare:
        with pytest.raises(RetryAfter):
            await bare.bot.send_message(1001, "hi")


async def test_builders_reach_the_right_handlers(fake_api: FakeBotAPI):
    seen: list[str] = []

    def register(app):
        async def photo(update, context):
            seen.append(f"photo:{update.message.caption}:{update.effective_chat.type}")
            file = await update.message.photo[-1].get_file()
            data = await file.download_as_bytearray()
            seen.append(f"bytes:{len(data)}")

        async def doc(update, context):
            seen.append(f"doc:{update.message.document.mime_type}")

        async def edited(update, context):
            seen.append(f"edited:{update.edited_message.text}")

        async def reply(update, context):
            seen.append(f"reply:{update.message.reply_to_message.message_id}")

        async def callback(update, context):
            await update.callback_query.answer()
            seen.append(f"cb:{update.callback_query.data}")

        from telegram.ext import CallbackQueryHandler

        app.add_handler(
            MessageHandler(filters.PHOTO & filters.CaptionRegex(r"^/style(@\w+)?(\s|$)"), photo)
        )
        app.add_handler(MessageHandler(filters.Document.IMAGE, doc))
        app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, edited))
        app.add_handler(MessageHandler(filters.REPLY & filters.TEXT, reply))
        app.add_handler(CallbackQueryHandler(callback))

    app = build_application(fake_api, register=[register])
    group = make_chat(-100777, "supergroup", "Art club")
    data = tiny_jpeg()
    async with running(app, fake_api):
        photo_update = fake_api.photo_update(data, "/style@PicassoMeTestBot monet", chat=group)
        fake_api.push(photo_update)
        fake_api.push(fake_api.document_update(b"png", "image/png", "x.png"))
        fake_api.push(fake_api.edited_update(fake_api.text_update("old"), text="new"))
        fake_api.push(fake_api.text_update("/style udnie", reply_to=photo_update["message"]))
        sent = await app.bot.send_message(1001, "pick", reply_markup=_keyboard())
        fake_api.push(fake_api.callback_update(sent.to_dict(), "style:monet"))
        await fake_api.wait_for("answerCallbackQuery")
        await fake_api.wait_idle()
    assert seen == [
        "photo:/style@PicassoMeTestBot monet:supergroup",
        f"bytes:{len(data)}",
        "doc:image/png",
        "edited:new",
        f"reply:{photo_update['message']['message_id']}",
        "cb:style:monet",
    ]
    album = fake_api.album_update([data, data], "/style monet")
    assert len({u["message"]["media_group_id"] for u in album}) == 1
    assert album[0]["message"]["caption"] == "/style monet" and "caption" not in album[1]["message"]


def _keyboard():
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup([[InlineKeyboardButton("Monet", callback_data="style:monet")]])


async def test_unknown_method_is_visible(fake_api: FakeBotAPI):
    from telegram.error import EndPointNotFound

    fake_api.allow_unknown = True
    app = build_application(fake_api)
    async with app:
        with pytest.raises(EndPointNotFound):
            await app.bot.do_api_request("sendTotallyNewThing", api_kwargs={"chat_id": 1})
    assert fake_api.unknown_methods == ["sendTotallyNewThing"]


_SUBPROCESS_BOT = """
import os
from telegram.ext import ApplicationBuilder, CommandHandler

async def start(update, context):
    await update.message.reply_text("pong " + os.environ["DATA_DIR"][-4:])

app = (
    ApplicationBuilder()
    .token(os.environ["TELEGRAM_TOKEN"])
    .base_url(os.environ["TELEGRAM_BASE_URL"])
    .base_file_url(os.environ["TELEGRAM_BASE_FILE_URL"])
    .build()
)
app.add_handler(CommandHandler("start", start))
print("polling", flush=True)
app.run_polling(timeout=1)
"""


async def test_spawn_bot_runs_a_subprocess_against_the_fake(fake_api: FakeBotAPI, spawn_bot):
    proc = await spawn_bot(args=("-c", _SUBPROCESS_BOT))
    await proc.wait_output("polling", timeout=20)
    fake_api.push(fake_api.text_update("/start"))
    call = await fake_api.wait_for("sendMessage", timeout=20)
    assert call.params["text"] == "pong data"
    assert await proc.stop() == 0, proc.output
    # run_polling confirmed the update on the way out: nothing is delivered twice.
    assert fake_api.pending_updates == []
