"""Timelapse and clip checkpoint frames come back in the order they were kept, past frame 999
(their names sort as text otherwise: frame-1000 before frame-101)."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

from media.timelapse import FrameRecorder, unpack


def _jpeg(level: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (level, level, level)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_frames_are_unpacked_by_their_number_not_as_text() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, level in (("frame-1000.jpg", 200), ("frame-101.jpg", 100), ("frame-99.jpg", 0)):
            archive.writestr(name, _jpeg(level))
    levels = [frame.getpixel((0, 0))[0] for frame in unpack(buffer.getvalue())]
    assert [round(level / 10) for level in levels] == [0, 10, 20]


def test_a_recorder_of_more_than_a_thousand_frames_round_trips_in_order() -> None:
    recorder = FrameRecorder(2)
    for index in range(1002):
        level = 250 if index == 1000 else 100 if index == 101 else 0
        recorder.add(Image.new("RGB", (2, 2), (level, level, level)))
    frames = unpack(recorder.pack())
    assert len(frames) == 1002
    assert round(frames[101].getpixel((0, 0))[0] / 10) == 10
    assert round(frames[1000].getpixel((0, 0))[0] / 10) == 25
