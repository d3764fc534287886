"""The buttons under a result (bot/handlers/results.py, variations.py, bot/timelapse.py): the
real app and notifier against the fake Bot API, a real job store; the engine is played by
`FakeEngine` (the real engine's part is in test_bot_e2e.py and test_engine_timelapse.py)."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image, ImageSequence

import bot.timelapse
from bot.context import BotDeps
from bot.handlers.results import TIMELAPSE_FILE_ID_NAME
from bot.handlers.variations import strength_used, variation_key
from bot.timelapse import MAX_BYTES, TimelapseError, timelapse_video
from jobs import JobOptions, JobStatus, StyleRef
from jobs.painted import PAINTED_NAME, Painted
from jobs.testing import enqueue
from media.timelapse import FRAMES_NAME, FrameRecorder
from styles import Catalogue, load_catalogue
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


def painted(
    strength: float = 1.0, preserve_colors: bool = False, asked: float | None = None
) -> bytes:
    asked = strength if asked is None else asked
    return Painted(strength, 1.0, preserve_colors, 96, 300, strength_asked=asked).to_json()


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
        assert rows(result) == [
            ["🎞 Timelapse", "Full resolution (PNG)"],
            ["➕ Stronger", "➖ Subtler", "🎨 Keep colours", "🖼 Another style…"],
        ]
        assert result.buttons()[:2] == [
            ("🎞 Timelapse", f"tl:{job.id}"),
            ("Full resolution (PNG)", f"png:{job.id}"),
        ]
        # Colours kept already: the toggle goes back; no frames (TIMELAPSE_FRAMES=0): no button.
        kept, _, result = await paint(
            fake_api, deps, caption="/style monet colors=keep", extra={PAINTED_NAME: painted()}
        )
        assert rows(result) == [
            ["Full resolution (PNG)"],
            ["➕ Stronger", "➖ Subtler", "🎨 Painting's colours", "🖼 Another style…"],
        ]
        assert "The Water-Lily Pond · your colours" in result.text

        # The PNG's button goes once it is sent; the others stay.
        first = fake_api.calls("sendPhoto")[0]
        mark = fake_api.mark()
        fake_api.push(fake_api.callback_update(first, f"png:{job.id}"))
        edit = await fake_api.wait_for("editMessageReplyMarkup", since=mark)
        assert fake_api.calls("sendDocument", since=mark)
        assert rows(edit) == [["🎞 Timelapse"], rows(first)[1]]


# ----------------------------------------------------------------------------- timelapse


async def test_timelapse_sends_a_looping_mp4_from_the_photo_to_the_painting(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, update, result = await paint(fake_api, deps)
        sent = await tap(fake_api, result, f"tl:{job.id}", method="sendAnimation", timeout=30)
        assert (
            sent.ok
            and sent.params["reply_parameters"]["message_id"] == (result.result["message_id"])
        )
        assert "The Water-Lily Pond" in sent.text
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


async def test_without_pyav_the_timelapse_is_an_animated_gif(fake_api, settings, monkeypatch):
    """PyAV is a dependency, but a platform may lack its wheel: Pillow's GIF then."""
    monkeypatch.setattr(bot.timelapse, "av", None)
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, update, result = await paint(fake_api, deps)
        sent = await tap(fake_api, result, f"tl:{job.id}", method="sendAnimation", timeout=30)
        upload = sent.files[sent.params["animation"].removeprefix("attach://")]
        assert upload.filename.endswith("-timelapse.gif") and len(upload.data) <= MAX_BYTES
        with Image.open(io.BytesIO(upload.data)) as gif:
            assert gif.format == "GIF" and gif.info["loop"] == 0
            frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]
        assert len(frames) >= 24
        original = decode(fake_api.files[update["message"]["photo"][-1]["file_id"]].data)
        painting = Image.new("RGB", (96, 64), RESULT_COLOUR)
        assert difference(frames[0], original) < 0.08 < difference(frames[0], painting)
        assert difference(frames[-1], painting) < 0.08 < difference(frames[-1], original)


def test_a_gif_too_big_shrinks_until_it_fits():
    # Noise does not compress: the bytes follow the frames' area. Their size is not the point
    # (each try quantises every frame: 31 frames of 300 x 200 took over a minute on a busy CPU).
    recorder = FrameRecorder(8)
    recorder.start(8)
    noise = np.random.default_rng(0)
    for _ in range(9):
        recorder.add(Image.fromarray(noise.integers(0, 255, (100, 150, 3), dtype=np.uint8)))
    full = timelapse_video(recorder.pack(), gif=True, max_bytes=50 * 1024 * 1024)
    small = timelapse_video(recorder.pack(), gif=True, max_bytes=len(full.data) // 2)
    assert (full.extension, full.width) == ("gif", 150)
    assert small.width < full.width and len(small.data) <= len(full.data) // 2
    with pytest.raises(TimelapseError):
        timelapse_video(recorder.pack(), gif=True, max_bytes=1000)


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
        for data, expected in [
            (f"tl:{job.id}", "expired"),
            (f"var:{job.id}:more", "cleaned up"),
            (f"var:{job.id}:styles", "cleaned up"),
            (f"var:{job.id}:style:udnie", "cleaned up"),
        ]:
            alert = await tap(fake_api, result, data, method="answerCallbackQuery")
            assert expected in alert.params["text"] and alert.params["show_alert"]
        await fake_api.wait_idle()
        assert not fake_api.calls("sendAnimation")
        assert len(await jobs_of(deps.store, ALICE["id"])) == 1


async def _delivered(deps, job_id):
    job = await deps.store.get(job_id)
    return job.delivered_at is not None


# ----------------------------------------------------------------------------- variations


async def test_stronger_queues_the_same_photo_stronger_and_only_once(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, update, result = await paint(fake_api, deps)
        photo_id = update["message"]["message_id"]
        mark = fake_api.mark()
        fake_api.push(fake_api.callback_update(result, f"var:{job.id}:more"))
        fake_api.push(fake_api.callback_update(result, f"var:{job.id}:more"))  # double tap
        queued = await fake_api.wait_for("sendMessage", since=mark)
        assert "Queued" in queued.text and "Stronger: strength 1.5" in queued.text
        assert queued.params["reply_parameters"]["message_id"] == photo_id
        await fake_api.wait_idle()
        assert len(fake_api.calls("sendMessage", since=mark)) == 1
        answers = [c.params.get("text") for c in fake_api.calls("answerCallbackQuery", since=mark)]
        assert "That one is already in the works." in answers

        jobs = await jobs_of(deps.store, ALICE["id"])
        [new] = [j for j in jobs if j.id != job.id]
        assert new.options == JobOptions(strength=1.5)
        assert new.styles == job.styles and new.reply_to_message_id == photo_id
        assert new.request_message_id == variation_key(result.result["message_id"], "more", 0)
        assert new.progress_message_id == queued.result["message_id"]
        original = await deps.store.read_file(job.id, job.content_name)
        assert await deps.store.read_file(new.id, new.content_name) == original

        # Its result carries on from 1.5; Subtler of the first one goes down from 1.
        engine = FakeEngine(deps.store)
        await engine.claim()
        mark = fake_api.mark()
        await engine.finish(new, extra_files={PAINTED_NAME: painted(1.5)})
        second = await fake_api.wait_for("sendPhoto", lambda c: bool(c.buttons()), since=mark)
        assert second.params["reply_parameters"]["message_id"] == photo_id
        assert "The Water-Lily Pond · strength 1.5 · 96×64" in second.text  # what sets it apart
        await tap(fake_api, second, f"var:{new.id}:more", method="sendMessage")
        await tap(fake_api, result, f"var:{job.id}:less", method="sendMessage")
        strengths = sorted(j.options.strength or 0 for j in await jobs_of(deps.store, ALICE["id"]))
        assert strengths == [0, 0.67, 1.5, 2.25]


async def test_a_failed_variation_can_be_tapped_again_a_painted_one_not(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, _, result = await paint(fake_api, deps)
        await tap(fake_api, result, f"var:{job.id}:colors", method="sendMessage")
        [first] = [j for j in await jobs_of(deps.store, ALICE["id"]) if j.id != job.id]
        assert first.options.preserve_colors is True
        assert await deps.store.cancel(first.id) is JobStatus.CANCELLED
        queued = await tap(fake_api, result, f"var:{job.id}:colors", method="sendMessage")
        assert "Keeping your photo's colours" in queued.text
        again = [j for j in await jobs_of(deps.store, ALICE["id"]) if j.is_active]
        assert [j.request_message_id for j in again] == [
            variation_key(result.result["message_id"], "colors", 1)
        ]
        engine = FakeEngine(deps.store)
        await engine.claim()
        await engine.finish(again[0])
        alert = await tap(
            fake_api, result, f"var:{job.id}:colors", method="answerCallbackQuery", timeout=10
        )
        assert alert.params["text"] == "That one is painted already — it's above. 🙂"


async def test_another_style_offers_the_keyboard_and_queues_once(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, update, result = await paint(fake_api, deps, caption="/style monet strength=2")
        keyboard = await tap(fake_api, result, f"var:{job.id}:styles", method="sendMessage")
        assert keyboard.params["reply_parameters"]["message_id"] == result.result["message_id"]
        labels = [text for text, _ in keyboard.buttons()]
        assert "Udnie" in labels and "The Water-Lily Pond" not in labels
        data = dict(keyboard.buttons())["Udnie"]
        assert data == f"var:{job.id}:style:udnie"
        edit = await tap(fake_api, keyboard, data, method="editMessageText")
        assert "Queued" in edit.text and "Now as Udnie" in edit.text
        mark = fake_api.mark()
        fake_api.push(fake_api.callback_update(keyboard, dict(keyboard.buttons())["The Kiss"]))
        await fake_api.wait_for("answerCallbackQuery", since=mark)
        [new] = [j for j in await jobs_of(deps.store, ALICE["id"]) if j.id != job.id]
        assert new.styles == (StyleRef(preset="udnie"),)
        assert new.options == job.options  # strength=2 was the user's: it carries over
        assert new.request_message_id == keyboard.result["message_id"]
        assert new.progress_message_id == keyboard.result["message_id"]
        assert new.reply_to_message_id == update["message"]["message_id"]


async def test_in_groups_only_the_asker_may_make_variations(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, _, result = await paint(fake_api, deps, chat="supergroup")
        for kind in ("more", "less", "colors", "styles"):
            alert = await tap(
                fake_api, result, f"var:{job.id}:{kind}", user=BOB, method="answerCallbackQuery"
            )
            assert "for @alice" in alert.params["text"] and alert.params["show_alert"]
        assert len(await jobs_of(deps.store, ALICE["id"])) == 1
        assert await jobs_of(deps.store, BOB["id"]) == []
        # Anyone may watch the timelapse; Alice may make variations.
        await tap(fake_api, result, f"tl:{job.id}", user=BOB, method="sendAnimation", timeout=30)
        queued = await tap(fake_api, result, f"var:{job.id}:more", method="sendMessage")
        assert queued.chat_id == job.chat_id and "Queued" in queued.text


async def test_variations_respect_the_limits(fake_api, tmp_path):
    settings = make_settings(fake_api, tmp_path, MAX_ACTIVE_JOBS_PER_USER=1)
    async with style_bot(fake_api, settings, notifier=True) as deps:
        job, _, result = await paint(fake_api, deps)
        await tap(fake_api, result, f"var:{job.id}:more", method="sendMessage")
        alert = await tap(fake_api, result, f"var:{job.id}:less", method="answerCallbackQuery")
        assert "the limit is 1" in alert.params["text"]
        assert len(await jobs_of(deps.store, ALICE["id"])) == 2


async def test_the_strength_a_variation_starts_from(fake_api, settings, job_store):
    """The multiplier asked for, not the strength the loss used (that is the painting's own
    times it): the engine's record first; without one (older results), the job's own
    strength, else 1, whatever the painting's own default."""
    catalogue = Catalogue(
        dataclasses.replace(p, defaults={"strength": 0.6}) if p.name == "monet" else p
        for p in load_catalogue().presets
    )
    deps = BotDeps(settings, job_store, catalogue)
    engine = FakeEngine(job_store)

    async def done(styles, options: JobOptions | None = None, record: bytes | None = None):
        job = await enqueue(job_store, styles=styles, options=options or JobOptions())
        await engine.claim()
        await engine.finish(job, extra_files={PAINTED_NAME: record} if record else None)
        return await job_store.get(job.id)

    monet_job = await done((StyleRef(preset="monet"),))
    assert await strength_used(deps, monet_job) == 1.0
    assert await strength_used(deps, await done((StyleRef(preset="udnie"),))) == 1.0
    asked = await done((StyleRef(preset="monet"),), JobOptions(strength=2.0))
    assert await strength_used(deps, asked) == 2.0
    recorded = await done((StyleRef(preset="monet"),), record=painted(1.02, asked=1.7))
    assert await strength_used(deps, recorded) == 1.7
    older = await done(
        (StyleRef(preset="udnie"),),
        record=b'{"strength": 1.3, "style_scale": 1,'
        b' "preserve_colors": false, "size": 96, "iterations": 300}',
    )
    assert await strength_used(deps, older) == 1.3  # before the multiplier was recorded


async def test_a_variation_of_your_own_painting_copies_the_painting_too(fake_api, settings):
    async with style_bot(fake_api, settings, notifier=True) as deps:
        content = fake_api.photo_update(photo(96, 64))
        fake_api.push(content)
        painting = fake_api.photo_update(
            photo(64, 64, color=(20, 20, 220)), "/style", reply_to=content["message"]
        )
        mark = fake_api.mark()
        fake_api.push(painting)
        await fake_api.wait_for("sendMessage", since=mark)
        [job] = await eventually(lambda: jobs_of(deps.store, ALICE["id"]))
        engine = FakeEngine(deps.store)
        await engine.claim()
        await engine.finish(job, extra_files={PAINTED_NAME: painted()})
        result = await fake_api.wait_for("sendPhoto", lambda c: bool(c.buttons()), since=mark)
        assert "your painting" in result.text
        await tap(fake_api, result, f"var:{job.id}:less", method="sendMessage")
        [new] = [j for j in await jobs_of(deps.store, ALICE["id"]) if j.id != job.id]
        assert new.styles == job.styles == (StyleRef(image="style-1.jpg"),)
        assert new.options.strength == 0.67
        for name in ("content.jpg", "style-1.jpg"):
            assert await deps.store.read_file(new.id, name) == await deps.store.read_file(
                job.id, name
            )
