"""A local fake of the Telegram Bot API, spoken to by the real python-telegram-bot over HTTP.

Start it (``async with FakeBotAPI() as fake``), point the client at ``fake.base_url`` and
``fake.base_file_url``, push updates built with the ``fake.*_update`` builders via
``fake.push(...)``, and await what the bot sent with ``await fake.wait_for("sendMessage", ...)``.

What it emulates (enough of the Bot API for this project; see ``_HANDLERS``):

- ``getMe``, ``deleteWebhook``, ``getUpdates`` with real semantics: ``offset`` confirms and drops
  every update below it; long polling waits up to ``timeout`` seconds for an update,
  ``timeout=0`` answers at once.
- ``setWebhook``: from then on pushed updates are POSTed to the bot's URL with the secret-token
  header, retried until it answers 2xx, and ``getUpdates`` answers 409 (as Telegram does) until
  ``deleteWebhook``; ``fake.webhook`` (tests/fake_webhook.py) records the deliveries and can
  POST an update by hand (``await fake.webhook.post(update, secret=...)``).
- ``getFile`` (file paths like ``photos/F0001.jpg`` that never exist locally, 400 "file is too
  big" over 20 MB) and ``GET /file/bot<token>/<path>`` serving the registered bytes.
- ``send*`` (message, photo, document, video, animation, sticker, audio, voice, mediaGroup),
  ``edit*`` (text, caption, media, replyMarkup), ``deleteMessage``, ``answerCallbackQuery``,
  ``sendChatAction``, ``setMyCommands``/``getMyCommands``, ``setMyDescription`` and
  ``setMyShortDescription`` (recorded in ``descriptions``), ``getChat``, ``getChatMember``, ...
  Each answer is realistic ``Message`` JSON with per-chat increasing ``message_id`` (a
  ``sendPhoto`` answer has a ``photo`` array, etc.). Sent files are registered, so the
  returned ``file_id`` can be re-sent or downloaded.
- Telegram's traps: editing with identical content and markup answers 400 "message is not
  modified"; editing a deleted message answers 400 "message to edit not found".

Every call is recorded as a :class:`Call` (method, parsed params, uploaded files with their
bytes, monotonic time, the result sent back). Unknown methods answer 404 "Not Found: method not
found" (PTB raises ``InvalidToken`` for it) and are listed in ``fake.unknown_methods``.

Knobs: ``fake.fail_next(method, n, retry_after=...)`` (429 flood control),
``fake.fail_next_with(method, n, status, description)`` (any error),
``fake.delete_message(chat_id, message_id)`` (the user deleted it: edits get 400).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fake_webhook import WebhookPusher

DEFAULT_TOKEN = "123456:TEST-token_for-the-fake-api"
BOT_ID = 123456
BOT_USERNAME = "PicassoMeTestBot"
BOT_NAME = "Picasso Me"

DEFAULT_USER_ID = 1001
DEFAULT_GROUP_ID = -1001234567890

MAX_DOWNLOAD = 20 * 1024 * 1024

# Params that are plain text even when they look like JSON (everything else is JSON-decoded:
# PTB sends non-string values json.dumps'ed).
_TEXT_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "url",
        "description",
        "short_description",
        "title",
        "query",
        "emoji",
        "language_code",
        "inline_message_id",
        "secret_token",
        "name",
    }
)


class FakeApiError(Exception):
    """Raised inside a method handler to answer with a Bot API error."""

    def __init__(self, status: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    time: float  # time.monotonic()
    status: int = 200
    result: Any = None  # the `result` answered (None for errors)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        """`text` or `caption` of the call."""
        return self.params.get("text", self.params.get("caption"))

    def buttons(self) -> list[tuple[str, str | None]]:
        """Inline keyboard of the call as (text, callback_data or url) pairs, row by row."""
        markup = self.params.get("reply_markup") or {}
        out = []
        for row in markup.get("inline_keyboard", []):
            for button in row:
                out.append((button.get("text"), button.get("callback_data") or button.get("url")))
        return out

    def file_bytes(self, field_name: str) -> bytes | None:
        """Bytes uploaded for `field_name` (or for `attach://field_name`)."""
        if field_name.startswith("attach://"):
            field_name = field_name[len("attach://") :]
        uploaded = self.files.get(field_name)
        return uploaded.data if uploaded else None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    kind: str
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int = 3  # seconds, for clips (what the message says; the data may disagree)


@dataclass
class _Fail:
    count: int
    status: int
    description: str
    parameters: dict | None = None


def make_user(
    user_id: int = DEFAULT_USER_ID,
    first_name: str = "Alice",
    username: str | None = None,
    *,
    last_name: str | None = None,
    language_code: str | None = "en",
    is_bot: bool = False,
) -> dict:
    user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if last_name:
        user["last_name"] = last_name
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def make_chat(
    chat_id: int = DEFAULT_GROUP_ID, chat_type: str = "supergroup", title: str = "Art club"
) -> dict:
    """A group/supergroup/channel chat dict (private chats come from the user)."""
    return {"id": chat_id, "type": chat_type, "title": title}


def private_chat(user: dict) -> dict:
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    if user.get("username"):
        chat["username"] = user["username"]
    return chat


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def command_entities(text: str) -> list[dict]:
    """`bot_command` entities like Telegram would compute them (offsets in UTF-16 units)."""
    out = []
    for match in _COMMAND_RE.finditer(text):
        out.append(
            {
                "type": "bot_command",
                "offset": _utf16_len(text[: match.start()]),
                "length": _utf16_len(match.group()),
            }
        )
    return out


def _image_size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return (100, 100)


def _json_response(payload: dict, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json")


class FakeBotAPI:
    """The fake server. One instance per test; bind to 127.0.0.1 on a free port."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_id: int = BOT_ID,
        username: str = BOT_USERNAME,
        first_name: str = BOT_NAME,
        strict_not_modified: bool = True,
    ):
        self.token = token
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.strict_not_modified = strict_not_modified
        self.port: int | None = None
        self.recorded: list[Call] = []
        self.unknown_methods: list[str] = []
        self.files: dict[str, StoredFile] = {}
        self.messages: dict[tuple[int, int], dict] = {}  # (chat_id, message_id) -> Message
        self.deleted: set[tuple[int, int]] = set()
        self.chats: dict[int, dict] = {}
        self.commands: dict[str, list] = {}
        # setMyDescription / setMyShortDescription: (method, language_code or "") -> text
        self.descriptions: dict[tuple[str, str], str] = {}
        self.webhook = WebhookPusher(self)
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._message_ids: dict[int, int] = {}
        self._media_groups = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._fails: dict[str, list[_Fail]] = {}
        self._hangs: dict[str, int] = {}  # method -> calls left to leave unanswered
        self._unhang = asyncio.Event()  # set at stop: the unanswered calls end
        self.hung: list[Call] = []  # calls never answered (not in `calls`: never handled)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.polls_in_flight = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle_method)
        app.router.add_get("/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        return self

    @property
    def webhook_url(self) -> str:
        return self.webhook.url

    async def stop(self) -> None:
        self._closing = True
        self._unhang.set()
        await self.webhook.close()
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------------ knobs
    def fail_next(self, method: str, count: int = 1, *, retry_after: float = 1) -> None:
        """The next `count` calls of `method` answer 429 Too Many Requests."""
        self._fails.setdefault(method, []).append(
            _Fail(
                count,
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        )

    def fail_next_with(
        self, method: str, count: int = 1, *, status: int = 400, description: str = "Bad Request"
    ) -> None:
        """The next `count` calls of `method` answer `status` with `description`."""
        self._fails.setdefault(method, []).append(_Fail(count, status, description))

    def hang_next(self, method: str, count: int = 1) -> None:
        """The next `count` calls of `method` are never answered, as if they never reached
        Telegram (the bot's request times out); they are kept in `hung`."""
        self._hangs[method] = self._hangs.get(method, 0) + count

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """Pretend the message was deleted (by the user): edits of it answer 400."""
        self.deleted.add((chat_id, message_id))

    # ------------------------------------------------------------------ recorded calls
    def calls(self, method: str | None = None, *, since: int = 0) -> list[Call]:
        """Recorded calls (optionally of one method), from index `since` of all calls."""
        return [c for c in self.recorded[since:] if method is None or c.method == method]

    def mark(self) -> int:
        """Index to pass as `since=` to only look at calls made from now on."""
        return len(self.recorded)

    def clear_calls(self) -> None:
        self.recorded.clear()

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: int = 0,
        count: int = 1,
    ) -> Call:
        """Wait until `count` successful-or-not calls of `method` matching `predicate` were
        recorded (from index `since`); return the `count`-th. Raises TimeoutError with the
        calls seen so far."""

        def matching() -> list[Call]:
            return [c for c in self.calls(method, since=since) if predicate is None or predicate(c)]

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    while len(found := matching()) < count:
                        await self._changed.wait()
                    return found[count - 1]
        except TimeoutError:
            seen = [(c.method, c.params) for c in self.recorded[since:]]
            raise TimeoutError(
                f"no {count} call(s) of {method} matching within {timeout}s; calls seen: {seen}"
            ) from None

    async def wait_for_all(
        self,
        method: str,
        count: int,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: int = 0,
    ) -> list[Call]:
        """Wait for `count` matching calls and return all matching calls seen by then."""
        await self.wait_for(method, predicate, timeout, since=since, count=count)
        return [c for c in self.calls(method, since=since) if predicate is None or predicate(c)]

    async def wait_idle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no call (other than long polls) was recorded for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = next((c.time for c in reversed(self.recorded) if c.method != "getUpdates"), 0.0)
            idle_for = time.monotonic() - last
            if idle_for >= quiet:
                return
            await asyncio.sleep(quiet - idle_for)
        raise TimeoutError("the bot kept calling the API")

    async def wait_for_poll(self, *, since: int = 0, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a getUpdates is in flight or was answered (from call index `since`)."""
        async with asyncio.timeout(timeout), self._changed:
            while self.polls_in_flight == 0 and not self.calls("getUpdates", since=since):
                await self._changed.wait()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ updates
    def push(self, *updates: dict | Iterable[dict]) -> list[int]:
        """Queue updates (dicts, or lists of them like `album_update`) for getUpdates."""
        ids = []
        for item in updates:
            batch = [item] if isinstance(item, dict) else list(item)
            for update in batch:
                update.setdefault("update_id", next(self._update_ids))
                self._updates.append(update)
                ids.append(update["update_id"])
        self._schedule_notify()
        return ids

    async def say(
        self,
        text: str,
        *,
        user: dict | int | None = None,
        chat: dict | str | None = None,
        method: str = "sendMessage",
    ) -> Call:
        """Push a text message from `user` and return the bot's first `method` call after it."""
        mark = self.mark()
        self.push(self.text_update(text, user=user, chat=chat))
        return await self.wait_for(method, since=mark)

    async def press(
        self, message_call: Call, data: str, *, user: dict | int | None = None
    ) -> tuple[Call, int]:
        """Tap an inline button of `message_call`; (the bot's answerCallbackQuery, the mark
        taken before the tap, to look for the bot's other reactions)."""
        mark = self.mark()
        self.push(self.callback_update(message_call, data, user=user))
        return await self.wait_for("answerCallbackQuery", since=mark), mark

    async def push_and_wait(self, *updates: dict | Iterable[dict], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Push updates and wait until the bot has fetched them (they were in a getUpdates
        answer)."""
        ids = self.push(*updates)
        last = max(ids)

        def delivered(call: Call) -> bool:
            return any(u["update_id"] == last for u in (call.result or []))

        await self.wait_for("getUpdates", delivered, timeout)

    @property
    def pending_updates(self) -> list[dict]:
        return list(self._updates)

    def _schedule_notify(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.create_task(self._notify())

    # ------------------------------------------------------------------ files
    def _store_file(
        self,
        data: bytes,
        kind: str,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        extension: str = "jpg",
    ) -> StoredFile:
        n = next(self._file_ids)
        prefix = {"photo": "AgAC", "document": "BQAC", "video": "BAAC", "sticker": "CAAC"}.get(
            kind, "AwAC"
        )
        folder = {"photo": "photos", "document": "documents", "sticker": "stickers"}.get(
            kind, f"{kind}s"
        )
        width = height = None
        if kind in ("photo", "sticker") or (mime_type or "").startswith("image/"):
            width, height = _image_size(data)
        stored = StoredFile(
            file_id=f"{prefix}-fake-{kind}-{n:04d}",
            file_unique_id=f"U{n:04d}",
            file_path=f"{folder}/F{n:04d}.{extension}",
            data=data,
            kind=kind,
            mime_type=mime_type,
            file_name=file_name,
            width=width,
            height=height,
        )
        self.files[stored.file_id] = stored
        return stored

    def add_photo_file(self, data: bytes) -> str:
        """Register photo bytes the bot can getFile/download; returns the file_id."""
        return self._store_file(data, "photo").file_id

    def add_document_file(self, data: bytes, mime: str, name: str) -> str:
        ext = name.rsplit(".", 1)[-1] if "." in name else "bin"
        return self._store_file(
            data, "document", mime_type=mime, file_name=name, extension=ext
        ).file_id

    def file_data(self, file_id: str) -> bytes:
        return self.files[file_id].data

    def _photo_sizes(self, stored: StoredFile) -> list[dict]:
        """A `photo` array: a thumbnail entry plus the full-size entry (last = largest)."""
        w, h = stored.width or 100, stored.height or 100
        full = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": w,
            "height": h,
            "file_size": len(stored.data),
        }
        scale = 90 / max(w, h)
        if scale >= 1:
            return [full]
        thumb = {
            "file_id": stored.file_id + "-thumb",
            "file_unique_id": stored.file_unique_id + "t",
            "width": max(1, round(w * scale)),
            "height": max(1, round(h * scale)),
            "file_size": max(1, len(stored.data) // 20),
        }
        return [thumb, full]

    def _media_field(self, stored: StoredFile, kind: str) -> dict[str, Any]:
        """The message fields describing `stored` sent as `kind`."""
        if kind == "photo":
            return {"photo": self._photo_sizes(stored)}
        base = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        if kind == "document":
            base["file_name"] = stored.file_name or "file"
            if stored.mime_type:
                base["mime_type"] = stored.mime_type
            return {"document": base}
        if kind == "sticker":
            base.update(
                width=512,
                height=512,
                is_animated=False,
                is_video=False,
                type="regular",
                emoji="🎨",
            )
            return {"sticker": base}
        if kind == "video_note":  # round: one side, no mime type, no caption
            base.update(length=stored.width or 240, duration=stored.duration)
            return {kind: base}
        if kind in ("video", "animation"):
            base.update(
                width=stored.width or 320, height=stored.height or 240, duration=stored.duration
            )
            if stored.mime_type:
                base["mime_type"] = stored.mime_type
            fields: dict[str, Any] = {kind: base}
            if kind == "animation":
                fields["document"] = dict(base)
            return fields
        if kind in ("audio", "voice"):
            base["duration"] = 3
            return {kind: base}
        raise ValueError(kind)

    # ------------------------------------------------------------------ update builders
    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _resolve(self, user: dict | int | None, chat: dict | str | None) -> tuple[dict, dict]:
        if user is None:
            user = make_user()
        elif isinstance(user, int):
            user = make_user(user, first_name=f"User{user}")
        if chat is None or chat == "private":
            chat = private_chat(user)
        elif isinstance(chat, str):
            chat = make_chat(DEFAULT_GROUP_ID if chat == "supergroup" else -4001, chat)
        self.chats[chat["id"]] = chat
        return user, chat

    def _message(
        self,
        *,
        user: dict | int | None,
        chat: dict | str | None,
        reply_to: dict | None = None,
        date: int | None = None,
        **fields: Any,
    ) -> dict:
        user, chat = self._resolve(user, chat)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": date or int(time.time()),
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update({k: v for k, v in fields.items() if v is not None})
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def text_update(
        self,
        text: str,
        *,
        user: dict | int | None = None,
        chat: dict | str | None = None,
        reply_to: dict | None = None,
    ) -> dict:
        """A message with `text` (commands get `bot_command` entities)."""
        entities = command_entities(text) or None
        message = self._message(
            user=user, chat=chat, reply_to=reply_to, text=text, entities=entities
        )
        return {"message": message}

    command_update = text_update

    def photo_update(
        self,
        photo: bytes | str,
        caption: str | None = None,
        *,
        user: dict | int | None = None,
        chat: dict | str | None = None,
        reply_to: dict | None = None,
        media_group_id: str | None = None,
    ) -> dict:
        """A photo message; `photo` is image bytes (registered) or a file_id from add_photo_file."""
        file_id = photo if isinstance(photo, str) else self.add_photo_file(photo)
        message = self._message(
            user=user,
            chat=chat,
            reply_to=reply_to,
            photo=self._photo_sizes(self.files[file_id]),
            caption=caption,
            caption_entities=command_entities(caption) if caption else None,
            media_group_id=media_group_id,
        )
        return {"message": message}

    def document_update(
        self,
        data: bytes | str,
        mime: str = "image/png",
        name: str = "painting.png",
        caption: str | None = None,
        *,
        user: dict | int | None = None,
        chat: dict | str | None = None,
        reply_to: dict | None = None,
    ) -> dict:
        file_id = data if isinstance(data, str) else self.add_document_file(data, mime, name)
        message = self._message(
            user=user,
            chat=chat,
            reply_to=reply_to,
            caption=caption,
            caption_entities=command_entities(caption) if caption else None,
            **self._media_field(self.files[file_id], "document"),
        )
        return {"message": message}

    def _other_media_update(
        self,
        kind: str,
        data: bytes,
        mime: str | None,
        caption: str | None,
        duration: int = 3,
        *,
        user: dict | int | None = None,
        chat: dict | str | None = None,
        reply_to: dict | None = None,
    ) -> dict:
        stored = self._store_file(data, kind, mime_type=mime, extension="mp4")
        stored.duration = duration
        message = self._message(
            caption=caption,
            caption_entities=command_entities(caption) if caption else None,
            user=user,
            chat=chat,
            reply_to=reply_to,
            **self._media_field(stored, kind),
        )
        return {"message": message}

    def sticker_update(
        self,
        data: bytes = b"RIFF-fake-webp",
        *,
        user: dict | int | None = None,
        chat: dict | str | None = None,
        reply_to: dict | None = None,
    ) -> dict:
        stored = self._store_file(data, "sticker", mime_type="image/webp", extension="webp")
        message = self._message(
            user=user, chat=chat, reply_to=reply_to, **self._media_field(stored, "sticker")
        )
        return {"message": message}

    def video_update(
        self,
        data: bytes = b"fake-mp4",
        caption: str | None = None,
        *,
        duration: int = 3,
        **kw: Any,  # user, chat, reply_to
    ) -> dict:
        return self._other_media_update("video", data, "video/mp4", caption, duration, **kw)

    def animation_update(
        self,
        data: bytes = b"fake-gif-mp4",
        caption: str | None = None,
        *,
        duration: int = 3,
        **kw: Any,  # user, chat, reply_to
    ) -> dict:
        return self._other_media_update("animation", data, "video/mp4", caption, duration, **kw)

    def video_note_update(self, data: bytes = b"fake-round-mp4", *, duration=3, **kw) -> dict:
        """A round video message (it never has a caption: ask by replying to it)."""
        return self._other_media_update("video_note", data, None, None, duration, **kw)

    def album_update(
        self,
        photos: Sequence[bytes | str],
        caption: str | None = None,
        *,
        user: dict | int | None = None,
        chat: dict | str | None = None,
        reply_to: dict | None = None,
    ) -> list[dict]:
        """Updates of an album: one photo message each, sharing a media_group_id; the caption
        (if any) on the first item, as Telegram clients do."""
        group_id = f"1{next(self._media_groups):017d}"
        user, chat = self._resolve(user, chat)
        return [
            self.photo_update(
                photo,
                caption if i == 0 else None,
                user=user,
                chat=chat,
                reply_to=reply_to,
                media_group_id=group_id,
            )
            for i, photo in enumerate(photos)
        ]

    def edited_update(
        self, update_or_message: dict, *, text: str | None = None, caption: str | None = None
    ) -> dict:
        """An `edited_message` update for a message built earlier, with new text/caption."""
        original = update_or_message.get("message", update_or_message)
        message = dict(original)
        message["edit_date"] = int(time.time())
        if text is not None:
            message["text"] = text
            message["entities"] = command_entities(text)
        if caption is not None:
            message["caption"] = caption
            message["caption_entities"] = command_entities(caption)
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return {"edited_message": message}

    def callback_update(
        self,
        message: dict | Call,
        data: str,
        *,
        user: dict | int | None = None,
    ) -> dict:
        """A callback_query pressing a button with `data` on `message` (a Message dict, or a
        recorded Call of a send/edit, whose result is used)."""
        if isinstance(message, Call):
            message = message.result
        if isinstance(message, list):
            message = message[0]
        if user is None:
            user = make_user()
        elif isinstance(user, int):
            user = make_user(user, first_name=f"User{user}")
        # Use the latest known state of the message (after edits).
        key = (message["chat"]["id"], message["message_id"])
        message = self.messages.get(key, message)
        return {
            "callback_query": {
                "id": str(4_000_000 + next(self._callback_ids)),
                "from": user,
                "message": message,
                "chat_instance": f"ci{message['chat']['id']}",
                "data": data,
            }
        }

    # ------------------------------------------------------------------ HTTP
    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    async def _parse(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        if request.method == "GET":
            raw = dict(request.query)
        elif request.content_type == "application/json":
            body = await request.read()
            return (json.loads(body) if body else {}), files
        else:
            raw = {}
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(value.filename, value.content_type, value.file.read())
                else:
                    raw[key] = value
        for key, value in raw.items():
            if isinstance(value, bytes):
                value = value.decode()
            if key in _TEXT_PARAMS:
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except (ValueError, TypeError):
                params[key] = value
        # A single upload without attach:// (e.g. sendPhoto photo=<file>) is a param too.
        for key in files:
            params.setdefault(key, f"attach://{key}")
        return params, files

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await self._parse(request)
        call = Call(method, params, files, time.monotonic())
        if request.match_info["token"] != self.token:
            call.status, call.error = 401, "Unauthorized"
            return await self._answer(
                call, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        if self._hangs.get(method, 0) > 0:
            self._hangs[method] -= 1
            self.hung.append(call)
            await self._notify()
            await self._unhang.wait()  # until the server stops; the client gave up long ago
            return web.Response(status=503)
        fail = self._take_fail(method)
        if fail is not None:
            payload: dict[str, Any] = {
                "ok": False,
                "error_code": fail.status,
                "description": fail.description,
            }
            if fail.parameters:
                payload["parameters"] = fail.parameters
            call.status, call.error = fail.status, fail.description
            return await self._answer(call, payload)
        handler = _HANDLERS.get(method.lower())
        if handler is None:
            self.unknown_methods.append(method)
            call.status, call.error = 404, "Not Found: method not found"
            return await self._answer(
                call, {"ok": False, "error_code": 404, "description": call.error}
            )
        try:
            if method == "getUpdates":
                # Record the poll only when it answers (so `calls` shows what was delivered).
                result = await self._get_updates(params)
            else:
                result = await handler(self, params, files)
        except FakeApiError as exc:
            call.status, call.error = exc.status, exc.description
            payload = {"ok": False, "error_code": exc.status, "description": exc.description}
            if exc.parameters:
                payload["parameters"] = exc.parameters
            return await self._answer(call, payload)
        call.result = result
        call.time = time.monotonic() if method == "getUpdates" else call.time
        return await self._answer(call, {"ok": True, "result": result})

    async def _answer(self, call: Call, payload: dict) -> web.Response:
        self.recorded.append(call)
        await self._notify()
        return _json_response(payload, call.status)

    def _take_fail(self, method: str) -> _Fail | None:
        queue = self._fails.get(method)
        if not queue:
            return None
        fail = queue[0]
        fail.count -= 1
        if fail.count <= 0:
            queue.pop(0)
        return fail

    # ------------------------------------------------------------------ methods
    async def _get_updates(self, params: dict) -> list[dict]:
        if self.webhook.url:
            raise FakeApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")

        def confirm() -> None:
            if offset is None:
                return
            if offset < 0:
                del self._updates[: max(0, len(self._updates) + offset)]
            else:
                self._updates[:] = [u for u in self._updates if u["update_id"] >= offset]

        def selected() -> list[dict]:
            out = self._updates
            if allowed:
                out = [u for u in out if any(k in u for k in allowed)]
            return out[:limit]

        confirm()
        if timeout > 0 and not selected():
            self.polls_in_flight += 1
            await self._notify()
            try:
                async with asyncio.timeout(timeout), self._changed:
                    while not selected() and not self._closing:
                        await self._changed.wait()
            except TimeoutError:
                pass
            finally:
                self.polls_in_flight -= 1
        return [json.loads(json.dumps(u)) for u in selected()]

    def _chat_for(self, chat_id: Any) -> dict:
        if isinstance(chat_id, str) and not chat_id.lstrip("-").isdigit():
            raise FakeApiError(400, "Bad Request: chat not found")
        chat_id = int(chat_id)
        if chat_id in self.chats:
            return self.chats[chat_id]
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}

    def _new_bot_message(self, params: dict, **fields: Any) -> dict:
        if "chat_id" not in params:
            raise FakeApiError(400, "Bad Request: chat_id is empty")
        chat = self._chat_for(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
        }
        reply_id = (params.get("reply_parameters") or {}).get("message_id") or params.get(
            "reply_to_message_id"
        )
        if reply_id:
            key = (chat["id"], int(reply_id))
            replied = None if key in self.deleted else self.messages.get(key)
            allow = (params.get("reply_parameters") or {}).get(
                "allow_sending_without_reply"
            ) or params.get("allow_sending_without_reply")
            if key in self.deleted and not allow:
                raise FakeApiError(400, "Bad Request: message to be replied not found")
            if replied is not None:
                message["reply_to_message"] = {
                    k: v for k, v in replied.items() if k != "reply_to_message"
                }
        if params.get("reply_markup") and "inline_keyboard" in params["reply_markup"]:
            message["reply_markup"] = params["reply_markup"]
        message.update({k: v for k, v in fields.items() if v is not None})
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    @staticmethod
    def _check_text(text: Any, limit: int, what: str) -> None:
        if text is None or text == "":
            if what == "text":
                raise FakeApiError(400, "Bad Request: message text is empty")
            return
        if _utf16_len(str(text)) > limit:
            raise FakeApiError(400, f"Bad Request: {what} is too long")

    def _check_parse_mode(self, text: str | None, parse_mode: str | None) -> None:
        """Reject obviously broken HTML like Telegram does (unescaped `<`/`&`, bad tags)."""
        if not text or (parse_mode or "").upper() != "HTML":
            return
        allowed = {
            "b",
            "strong",
            "i",
            "em",
            "u",
            "ins",
            "s",
            "strike",
            "del",
            "a",
            "code",
            "pre",
            "tg-spoiler",
            "span",
            "blockquote",
            "tg-emoji",
            "br",
        }
        for match in re.finditer(
            r"<(/?)([^\s>/]*)[^>]*>|<|&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text
        ):
            if match.group(0) in ("<",) or match.group(0).startswith("&"):
                raise FakeApiError(
                    400,
                    "Bad Request: can't parse entities: unsupported start tag or unescaped "
                    f"character at byte offset {match.start()}",
                )
            if match.group(2).lower() not in allowed:
                raise FakeApiError(
                    400,
                    f'Bad Request: can\'t parse entities: unsupported start tag "{match.group(2)}"'
                    f" at byte offset {match.start()}",
                )

    def _stored_from_param(
        self, value: Any, files: dict[str, UploadedFile], kind: str
    ) -> StoredFile:
        """A file sent by upload (attach://name), by file_id, or by URL."""
        if isinstance(value, str) and value.startswith("attach://"):
            uploaded = files.get(value[len("attach://") :])
            if uploaded is None:
                raise FakeApiError(400, f"Bad Request: file {value} not found in request")
            name = uploaded.filename or "file"
            ext = name.rsplit(".", 1)[-1] if "." in name else "jpg"
            if kind == "photo":
                ext = "jpg"
            stored = self._store_file(
                uploaded.data,
                kind,
                mime_type=uploaded.content_type,
                file_name=uploaded.filename,
                extension=ext,
            )
            if kind == "photo":
                self._check_photo(stored)
            return stored
        if isinstance(value, str) and value in self.files:
            return self.files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self._store_file(b"", kind)
        raise FakeApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    @staticmethod
    def _check_photo(stored: StoredFile) -> None:
        if len(stored.data) > 10 * 1024 * 1024:
            raise FakeApiError(400, "Bad Request: file is too big")
        w, h = stored.width or 1, stored.height or 1
        if w + h > 10000 or max(w / h, h / w) > 20:
            raise FakeApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")

    def _target(self, params: dict, *, for_edit: bool = True) -> tuple[int, int] | None:
        if params.get("inline_message_id"):
            return None
        if "chat_id" not in params or "message_id" not in params:
            raise FakeApiError(400, "Bad Request: message identifier is not specified")
        chat = self._chat_for(params["chat_id"])
        key = (chat["id"], int(params["message_id"]))
        if key in self.deleted or (key[1] > self._message_ids.get(chat["id"], 0)):
            what = "to edit" if for_edit else "to delete"
            raise FakeApiError(400, f"Bad Request: message {what} not found")
        return key

    def _edit(self, params: dict, changes: dict[str, Any], drop: Iterable[str] = ()) -> Any:
        key = self._target(params)
        if key is None:
            return True
        old = self.messages.get(key) or {
            "message_id": key[1],
            "from": self.bot_user,
            "chat": self._chat_for(key[0]),
            "date": int(time.time()),
        }
        new = dict(old)
        for name in drop:
            new.pop(name, None)
        new.update({k: v for k, v in changes.items() if v is not None})
        markup = params.get("reply_markup")
        if markup and "inline_keyboard" in markup:
            new["reply_markup"] = markup
        else:
            new.pop("reply_markup", None)
        if self.strict_not_modified and _same_content(old, new):
            raise FakeApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the "
                "message",
            )
        new["edit_date"] = int(time.time())
        self.messages[key] = new
        return new


def _same_content(old: dict, new: dict) -> bool:
    keys = ("text", "caption", "reply_markup", "photo", "document", "video", "animation")
    return all(old.get(k) == new.get(k) for k in keys)


# ---------------------------------------------------------------------- method table
Handler = Callable[[FakeBotAPI, dict, dict], Awaitable[Any]]


async def _true(fake: FakeBotAPI, params: dict, files: dict) -> bool:
    return True


async def _get_me(fake: FakeBotAPI, params: dict, files: dict) -> dict:
    return {
        **fake.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


async def _delete_webhook(fake: FakeBotAPI, params: dict, files: dict) -> bool:
    await fake.webhook.delete()
    if params.get("drop_pending_updates"):
        fake._updates.clear()
    return True


async def _set_webhook(fake: FakeBotAPI, params: dict, files: dict) -> bool:
    if params.get("drop_pending_updates"):
        fake._updates.clear()
    fake.webhook.set(params.get("url", ""), params.get("secret_token"))
    await fake._notify()
    return True


async def _get_webhook_info(fake: FakeBotAPI, params: dict, files: dict) -> dict:
    return {
        "url": fake.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": len(fake._updates),
    }


async def _get_file(fake: FakeBotAPI, params: dict, files: dict) -> dict:
    file_id = params.get("file_id")
    stored = fake.files.get(file_id)
    if stored is None and isinstance(file_id, str) and file_id.endswith("-thumb"):
        stored = fake.files.get(file_id[: -len("-thumb")])
    if stored is None:
        raise FakeApiError(400, "Bad Request: invalid file_id")
    if len(stored.data) > MAX_DOWNLOAD:
        raise FakeApiError(400, "Bad Request: file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "file_path": stored.file_path,
    }


async def _send_message(fake: FakeBotAPI, params: dict, files: dict) -> dict:
    fake._check_text(params.get("text"), 4096, "text")
    fake._check_parse_mode(params.get("text"), params.get("parse_mode"))
    return fake._new_bot_message(params, text=params["text"])


def _sender(kind: str) -> Handler:
    async def send(fake: FakeBotAPI, params: dict, files: dict) -> dict:
        if kind not in params:
            raise FakeApiError(400, f"Bad Request: there is no {kind} in the request")
        fake._check_text(params.get("caption"), 1024, "message caption")
        fake._check_parse_mode(params.get("caption"), params.get("parse_mode"))
        stored = fake._stored_from_param(params[kind], files, kind)
        if kind in ("video", "animation") and "width" in params and "height" in params:
            stored.width, stored.height = int(params["width"]), int(params["height"])
        return fake._new_bot_message(
            params, caption=params.get("caption") or None, **fake._media_field(stored, kind)
        )

    return send


async def _send_media_group(fake: FakeBotAPI, params: dict, files: dict) -> list[dict]:
    media = params.get("media")
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise FakeApiError(400, "Bad Request: wrong number of media specified (must be 2-10)")
    kinds = {item.get("type") for item in media}
    if len(kinds) > 1 and (kinds & {"document", "audio"}):
        raise FakeApiError(400, "Bad Request: documents/audio can't be mixed with other media")
    group_id = f"2{next(fake._media_groups):017d}"
    stored_items = []
    for item in media:
        fake._check_text(item.get("caption"), 1024, "message caption")
        fake._check_parse_mode(item.get("caption"), item.get("parse_mode"))
        stored_items.append(fake._stored_from_param(item.get("media"), files, item["type"]))
    out = []
    for item, stored in zip(media, stored_items, strict=True):
        out.append(
            fake._new_bot_message(
                params,
                caption=item.get("caption") or None,
                media_group_id=group_id,
                **fake._media_field(stored, item["type"]),
            )
        )
    return out


async def _edit_text(fake: FakeBotAPI, params: dict, files: dict) -> Any:
    fake._check_text(params.get("text"), 4096, "text")
    fake._check_parse_mode(params.get("text"), params.get("parse_mode"))
    return fake._edit(params, {"text": params["text"]})


async def _edit_caption(fake: FakeBotAPI, params: dict, files: dict) -> Any:
    fake._check_text(params.get("caption"), 1024, "message caption")
    fake._check_parse_mode(params.get("caption"), params.get("parse_mode"))
    key = fake._target(params)
    if key is not None:
        old = fake.messages.get(key, {})
        if old and not any(k in old for k in ("photo", "document", "video", "animation")):
            raise FakeApiError(400, "Bad Request: there is no caption in the message to edit")
    return fake._edit(params, {"caption": params.get("caption") or None}, drop=("caption",))


async def _edit_media(fake: FakeBotAPI, params: dict, files: dict) -> Any:
    media = params.get("media")
    if not isinstance(media, dict) or "type" not in media:
        raise FakeApiError(400, "Bad Request: can't parse InputMedia")
    fake._check_text(media.get("caption"), 1024, "message caption")
    fake._check_parse_mode(media.get("caption"), media.get("parse_mode"))
    key = fake._target(params)
    if key is not None:
        old = fake.messages.get(key, {})
        if old and not any(k in old for k in ("photo", "document", "video", "animation")):
            raise FakeApiError(400, "Bad Request: there is no media in the message to edit")
    stored = fake._stored_from_param(media.get("media"), files, media["type"])
    changes = {"caption": media.get("caption") or None, **fake._media_field(stored, media["type"])}
    return fake._edit(params, changes, drop=("caption", "photo", "document", "video", "animation"))


async def _edit_markup(fake: FakeBotAPI, params: dict, files: dict) -> Any:
    return fake._edit(params, {})


async def _delete_message(fake: FakeBotAPI, params: dict, files: dict) -> bool:
    key = fake._target(params, for_edit=False)
    if key is not None:
        fake.deleted.add(key)
    return True


async def _delete_messages(fake: FakeBotAPI, params: dict, files: dict) -> bool:
    chat = fake._chat_for(params["chat_id"])
    for message_id in params.get("message_ids", []):
        fake.deleted.add((chat["id"], int(message_id)))
    return True


async def _set_my_commands(fake: FakeBotAPI, params: dict, files: dict) -> bool:
    scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
    fake.commands[scope + str(params.get("language_code", ""))] = params.get("commands", [])
    return True


def _description_setter(field: str, limit: int):
    """setMyDescription / setMyShortDescription: Telegram's length limit, kept per language."""

    async def handler(fake: FakeBotAPI, params: dict, files: dict) -> bool:
        text = str(params.get(field, ""))
        if len(text) > limit:
            what = field.replace("_", " ")
            raise FakeApiError(400, f"Bad Request: bot {what} is too long")
        fake.descriptions[(field, str(params.get("language_code", "")))] = text
        return True

    return handler


_set_my_description = _description_setter("description", 512)
_set_my_short_description = _description_setter("short_description", 120)


async def _get_my_commands(fake: FakeBotAPI, params: dict, files: dict) -> list:
    scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
    return fake.commands.get(scope + str(params.get("language_code", "")), [])


async def _delete_my_commands(fake: FakeBotAPI, params: dict, files: dict) -> bool:
    scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
    fake.commands.pop(scope + str(params.get("language_code", "")), None)
    return True


async def _get_chat(fake: FakeBotAPI, params: dict, files: dict) -> dict:
    chat = fake._chat_for(params.get("chat_id"))
    return {
        **chat,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
        },
    }


async def _get_chat_member(fake: FakeBotAPI, params: dict, files: dict) -> dict:
    user_id = int(params["user_id"])
    user = fake.bot_user if user_id == fake.bot_user["id"] else make_user(user_id, f"User{user_id}")
    return {"status": "member", "user": user}


async def _get_chat_administrators(fake: FakeBotAPI, params: dict, files: dict) -> list:
    return [
        {
            "status": "creator",
            "user": make_user(DEFAULT_USER_ID),
            "is_anonymous": False,
        }
    ]


async def _copy_or_forward(fake: FakeBotAPI, params: dict, files: dict) -> dict:
    source = fake.messages.get(
        (fake._chat_for(params["from_chat_id"])["id"], int(params["message_id"]))
    )
    if source is None:
        raise FakeApiError(400, "Bad Request: message to copy not found")
    keep = {k: v for k, v in source.items() if k in ("text", "caption", "photo", "document")}
    return fake._new_bot_message(params, **keep)


async def _copy_message(fake: FakeBotAPI, params: dict, files: dict) -> dict:
    message = await _copy_or_forward(fake, params, files)
    return {"message_id": message["message_id"]}


_HANDLERS: dict[str, Handler] = {
    name.lower(): handler
    for name, handler in {
        "getMe": _get_me,
        "logOut": _true,
        "close": _true,
        "getUpdates": _true,  # handled specially in _handle_method
        "deleteWebhook": _delete_webhook,
        "setWebhook": _set_webhook,
        "getWebhookInfo": _get_webhook_info,
        "getFile": _get_file,
        "sendMessage": _send_message,
        "sendPhoto": _sender("photo"),
        "sendDocument": _sender("document"),
        "sendVideo": _sender("video"),
        "sendAnimation": _sender("animation"),
        "sendSticker": _sender("sticker"),
        "sendAudio": _sender("audio"),
        "sendVoice": _sender("voice"),
        "sendMediaGroup": _send_media_group,
        "editMessageText": _edit_text,
        "editMessageCaption": _edit_caption,
        "editMessageMedia": _edit_media,
        "editMessageReplyMarkup": _edit_markup,
        "deleteMessage": _delete_message,
        "deleteMessages": _delete_messages,
        "forwardMessage": _copy_or_forward,
        "copyMessage": _copy_message,
        "answerCallbackQuery": _true,
        "sendChatAction": _true,
        "setMessageReaction": _true,
        "setMyCommands": _set_my_commands,
        "setMyDescription": _set_my_description,
        "setMyShortDescription": _set_my_short_description,
        "getMyCommands": _get_my_commands,
        "deleteMyCommands": _delete_my_commands,
        "setMyName": _true,
        "setChatMenuButton": _true,
        "getChat": _get_chat,
        "getChatMember": _get_chat_member,
        "getChatAdministrators": _get_chat_administrators,
        "leaveChat": _true,
    }.items()
}


def tiny_jpeg(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 80, 40)
) -> bytes:
    """A small real JPEG (for photo updates)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG")
    return buffer.getvalue()


def tiny_png(
    width: int = 64, height: int = 48, color: tuple[int, int, int] = (40, 80, 200)
) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()
