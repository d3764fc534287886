"""The buttons under a result (bot/handlers/results.py, bot/timelapse.py): the
real app and notifier against the fake Bot API, a real job store; the engine is played by
`FakeEngine` (the real engine's part is in test_bot_e2e.py and test_engine_timelapse.py)."""

from __future__ import annotations

import pytest
from PIL import Image

from bot.handlers.results import TIMELAPSE_FILE_ID_NAME
from bot.timelapse import MAX_BYTES
from engine.painted import PAINTED_NAME, Painted
from engine.timelapse import FRAMES_NAME, FrameRecorder
from tests.fake_bot_api import DEFAULT_USER_ID, Call, make_user
from tests.style_support import (
    FakeEngine,
    decode,
    decode_video,
    difference,
    jobs_of,
    make_settings,
    photo,
    style_bot,
)
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(90)

ALICE = make_user(DEFAULT_USER_ID, "Alice", "alice")
BOB = make_user(2002, "Bob")
RESULT_COLOUR = (30, 160, 90)  # what FakeEngine paints


@pytest.fixture
def settings(fake_api, tmp_path):
    return make_settings(fake_api, tmp_path, NOTIFY_POLL_SECONDS="0.1")


def frames_file(start: Image.Image, end: Image.Image, count: int = 30) -> bytes:
    """What the engine keeps: `count` frames going from `start` to `end`."""
    recorder = FrameRecorder(count)
    recorder.start(count)
    for i in range(count):
        recorder.add(Image.blend(start, end, i / (count - 1)))
    return recorder.pack()


def painted(strength: float = 1.0, preserve_colors: bool = False) -> bytes:
    return Painted(strength, 1.0, preserve_colors, 96, 300).to_json()


async def paint(fake, deps, *, user=ALICE, chat=None, caption="/style monet", extra=None):
    """A photo asked for, painted by FakeEngine, delivered by the notifier: (job, photo update,
    the result's sendPhoto call)."""
    sent = photo(96, 64)
    update = fake.photo_update(sent, caption, user=user, chat=chat)
    mark = fake.mark()
    fake.push(update)
    engine = FakeEngine(deps.store)
    job = await eventually(lambda: _queued(deps, user["id"], update))
    assert (await engine.claim()).id == job.id
    if extra is None:
        end = Image.new("RGB", (96, 64), RESULT_COLOUR)
        extra = {FRAMES_NAME: frames_file(decode(sent), end), PAINTED_NAME: painted()}
    await engine.finish(job, size=(96, 64), extra_files=extra)
    result = await fake.wait_for("sendPhoto", lambda c: bool(c.buttons()), 10, since=mark)
    return await deps.store.get(job.id), update, result


async def _queued(deps, user_id, update):
    for job in await jobs_of(deps.store, user_id):
        if job.request_message_id == update["message"]["message_id"] and job.progress_message_id:
            return job
    return None


async def tap(fake, result: Call | dict, data: str, user=ALICE, *, method: str, **wait):
    """Press a button on `result`; the first `method` call the bot makes afterwards."""
    mark = fake.mark()
    fake.push(fake.callback_update(result, data, user=user))
    return await fake.wait_for(method, since=mark, **wait)


def button(result: Call, label: str) -> str:
    [data] = [data for text, data in result.buttons() if text == label]
    return data


def rows(call: Call) -> list[list[str]]:
    markup = call.params.get("reply_markup") or {}
    return [[b["text"] for b in row] for row in markup.get("inline_keyboard", [])]


# ----------------------------------------------------------------------------- the buttons


async def test_a_result_has_two_rows_of_buttons(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, _, result = await paint(fake_api, deps)
        assert rows(result) == [["🎞 Timelapse", "Full resolution (PNG)"]]
        assert result.buttons()[:2] == [
            ("🎞 Timelapse", f"tl:{job.id}"),
            ("Full resolution (PNG)", f"png:{job.id}"),
        ]
        # No frames (TIMELAPSE_FRAMES=0): no timelapse button.
        _, _, result = await paint(fake_api, deps, extra={PAINTED_NAME: painted()})
        assert rows(result) == [["Full resolution (PNG)"]]

        # The PNG's button goes once it is sent; the others stay.
        first = fake_api.calls("sendPhoto")[0]
        mark = fake_api.mark()
        fake_api.push(fake_api.callback_update(first, f"png:{job.id}"))
        edit = await fake_api.wait_for("editMessageReplyMarkup", since=mark)
        assert fake_api.calls("sendDocument", since=mark)
        assert rows(edit) == [["🎞 Timelapse"]]


# ----------------------------------------------------------------------------- timelapse


async def test_timelapse_sends_a_looping_mp4_from_the_photo_to_the_painting(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, update, result = await paint(fake_api, deps)
        sent = await tap(fake_api, result, f"tl:{job.id}", method="sendAnimation", timeout=30)
        assert (
            sent.ok
            and sent.params["reply_parameters"]["message_id"] == (result.result["message_id"])
        )
        assert "Monet" in sent.text
        video = sent.file_bytes(sent.params["animation"])
        assert 0 < len(video) <= MAX_BYTES
        frames = decode_video(video)
        assert len(frames) >= 24
        original = decode(fake_api.files[update["message"]["photo"][-1]["file_id"]].data)
        painting = Image.new("RGB", (96, 64), RESULT_COLOUR)
        assert difference(frames[0], original) < 0.05 < difference(frames[0], painting)
        assert difference(frames[-1], painting) < 0.05 < difference(frames[-1], original)
        assert (sent.params["width"], sent.params["height"]) == (96, 64)

        # Made once: the next tap re-sends Telegram's copy by its file_id.
        await eventually(lambda: deps.store.read_file(job.id, TIMELAPSE_FILE_ID_NAME))
        again = await tap(fake_api, result, f"tl:{job.id}", method="sendAnimation")
        assert again.params["animation"] == sent.result["animation"]["file_id"]
        assert not again.files


async def test_a_double_tap_makes_one_timelapse(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, _, result = await paint(fake_api, deps)
        mark = fake_api.mark()
        fake_api.push(fake_api.callback_update(result, f"tl:{job.id}"))
        fake_api.push(fake_api.callback_update(result, f"tl:{job.id}"))
        await fake_api.wait_for("sendAnimation", since=mark, timeout=30)
        await fake_api.wait_idle()
        assert len(fake_api.calls("sendAnimation", since=mark)) == 1
        answers = [c.params.get("text") for c in fake_api.calls("answerCallbackQuery", since=mark)]
        assert "The timelapse is on its way." in answers


async def test_cleaned_up_results_say_so(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, _, result = await paint(fake_api, deps)
        await eventually(lambda: _delivered(deps, job.id))
        assert await deps.store.cleanup(older_than=-60) == 1
        alert = await tap(fake_api, result, f"tl:{job.id}", method="answerCallbackQuery")
        assert "expired" in alert.params["text"] and alert.params["show_alert"]
        await fake_api.wait_idle()
        assert not fake_api.calls("sendAnimation")
        assert len(await jobs_of(deps.store, ALICE["id"])) == 1


async def _delivered(deps, job_id):
    job = await deps.store.get(job_id)
    return job.delivered_at is not None
