"""Albums: items arrive as separate updates and are collected for ALBUM_WAIT_SECONDS after
the last one. Two photos captioned `/style` = own painting (first = content, second = style);
an album captioned with a preset queues one job per photo (at most MAX_ALBUM_JOBS)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot import texts
from bot.context import BotDeps, deps
from bot.i18n import msg, tr_of
from bot.redelivery import again_or_apologise, tried
from bot.replies import safe_reply
from bot.requests import is_style_command
from bot.submit import Responder, Submission, attachment_or_refuse, parse_request, submit
from jobs import DatabaseUnavailable

log = logging.getLogger(__name__)


MAX_ALBUM_JOBS = 10


@dataclass
class _Album:
    items: list[Update] = field(default_factory=list)
    deadline: float = 0.0
    timer: asyncio.Task[None] | None = None


def _albums(context: ContextTypes.DEFAULT_TYPE) -> dict[tuple[int, str], _Album]:
    return context.application.bot_data.setdefault("style_albums", {})


async def on_album_item(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Collect the photos of an album; act once no new item arrived for a moment."""
    message = update.effective_message
    if message is None or message.media_group_id is None:
        return
    if update.edited_message is not None:
        return  # edits of album captions are ignored
    key = (message.chat_id, message.media_group_id)
    albums = _albums(context)
    album = albums.setdefault(key, _Album())
    album.items.append(update)
    loop = asyncio.get_running_loop()
    album.deadline = loop.time() + deps(context).settings.album_wait_seconds
    if album.timer is not None:
        return  # the running timer sees the later deadline

    async def fire() -> None:
        while (left := album.deadline - loop.time()) > 0:  # noqa: ASYNC110 (a debounce)
            await asyncio.sleep(left)
        albums.pop(key, None)
        try:
            await _process_album(context, album.items)
        except DatabaseUnavailable as exc:  # its items come back together: one album again
            await again_or_apologise(context, album.items, exc)
            return
        except Exception:
            log.exception("album %s failed", key)
        tried(context.application, album.items)

    album.timer = context.application.create_task(fire(), name=f"album-{key[1]}")


async def _process_album(context: ContextTypes.DEFAULT_TYPE, items: list[Update]) -> None:
    items = sorted(items, key=lambda u: u.effective_message.message_id)  # type: ignore[union-attr]
    messages = [u.effective_message for u in items if u.effective_message is not None]
    captioned = next((m for m in messages if is_style_command(m.caption)), None)
    first = messages[0]
    user = first.from_user
    if user is None:
        return
    d = deps(context)
    tr = await tr_of(d, user)
    if captioned is None:
        if first.chat.type == ChatType.PRIVATE:
            await safe_reply(context.bot, first.chat_id, first.message_id, tr(texts.STYLE_USAGE))
        return
    responder = Responder(context.bot, captioned.chat_id, captioned.message_id, tr=tr)
    request = await parse_request(context, captioned.caption or "", responder)
    if request is None:
        return
    max_bytes = d.settings.max_download_bytes
    if not request.has_styles:
        if len(messages) != 2:
            await responder.say(texts.ALBUM_OWN_STYLE_NEEDS_TWO)
            return
        content = await attachment_or_refuse(messages[0], responder, max_bytes)
        style = await attachment_or_refuse(messages[1], responder, max_bytes)
        if content is None or style is None:
            return
        sub = Submission(
            user,
            first.chat,
            request_message_id=captioned.message_id,
            reply_to_message_id=messages[0].message_id,
            content=content,
            request=request,
            style_image=style,
        )
        await submit(context, sub, responder)
        return
    if len(messages) > MAX_ALBUM_JOBS:
        await responder.say(msg(texts.ALBUM_TOO_MANY, count=MAX_ALBUM_JOBS))
    for message in messages[:MAX_ALBUM_JOBS]:
        one = Responder(context.bot, message.chat_id, message.message_id, tr=tr)
        attachment = await attachment_or_refuse(message, one, max_bytes)
        if attachment is None:
            continue
        sub = Submission(
            user,
            message.chat,
            request_message_id=message.message_id,
            reply_to_message_id=message.message_id,
            content=attachment,
            request=request,
        )
        job = await submit(context, sub, one)
        if job is None and await _at_limit(d, user.id):
            break


async def _at_limit(d: BotDeps, user_id: int) -> bool:
    return await d.store.active_count(user_id=user_id) >= d.settings.max_active_jobs_per_user
