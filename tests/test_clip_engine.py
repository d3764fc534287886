"""The clip engine: decoding with limits, encoding, optical flow, the flicker metric on frames
whose answer is known, and painting a tiny clip with and without the temporal method."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image

from engine.clips.flow import flicker, motion, warp
from media.video import ClipError, decode_clip, encode_animation, even_size, probe_clip
from tests.clip_support import (
    encode_clip,
    filmed_upright_on_a_phone,
    moving_shape_frames,
    sound_only_clip,
    still_png,
    texture,
    unknown_codec_clip,
)


def _shifted(count: int, shift: int, size=(64, 48), seed=1) -> list[np.ndarray]:
    """A texture panning `shift` px a frame to the left: frame k = background[:, k*shift:]."""
    width, height = size
    background = texture((width + shift * count, height), seed).astype(np.float32) / 255
    return [background[:, k * shift : k * shift + width].copy() for k in range(count)]


# ------------------------------------------------------------------------------ optical flow
def test_flow_finds_a_pan_and_warping_along_it_rebuilds_the_frame() -> None:
    a, b = _shifted(2, 3)
    move = motion(a, b)
    inner = move.backward[8:-8, 8:-8]
    # b(x) = a(x + 3): the backward flow (b -> a) is +3 px in x, 0 in y.
    assert np.allclose(inner[..., 0].mean(), 3.0, atol=0.15)
    assert abs(inner[..., 1].mean()) < 0.15
    warped = warp(a, move.backward)
    mask = move.mask.astype(bool)
    assert np.abs(warped - b)[mask].mean() < 0.01
    # The columns that came into view on the right are occluded (not in the previous frame).
    assert move.mask[:, -2:].mean() < 0.2
    assert move.mask[:, :-6].mean() > 0.9


# ---------------------------------------------------------------------------- flicker metric
def test_flicker_of_the_source_itself_is_one() -> None:
    frames = _shifted(4, 2)
    assert flicker(frames, frames).ratio == pytest.approx(1.0)


def test_flicker_scales_with_the_contrast_of_the_painting() -> None:
    """Warping is linear and the mask comes from the sources, so frames at twice the contrast
    (around grey) have exactly twice the temporal difference."""
    frames = [0.25 + 0.5 * f for f in _shifted(4, 2)]
    bolder = [0.5 + 2.0 * (f - 0.5) for f in frames]
    assert flicker(bolder, frames).ratio == pytest.approx(2.0, rel=1e-4)


def test_flicker_of_noise_that_does_not_move_with_the_picture() -> None:
    """Each painted frame = its source + its own noise (uniform in +-a). Warped by an integer
    flow the noise stays itself, so the painted difference is E|s_i - s_i-1'| plus the noise's
    E|n1 - n2| = 2a/3 (for small source differences): the ratio is far above 1."""
    rng = np.random.default_rng(0)
    sources = [0.25 + 0.5 * f for f in _shifted(5, 2)]
    noisy = [f + rng.uniform(-0.1, 0.1, f.shape).astype(np.float32) for f in sources]
    result = flicker(noisy, sources)
    expected = (result.source + 2 * 0.1 / 3) / result.source
    assert result.ratio == pytest.approx(expected, rel=0.15)
    assert result.ratio > 3


# -------------------------------------------------------------------------- decoding, limits
def test_decode_resamples_to_the_fps_cap_scales_down_and_drops_the_sound() -> None:
    frames = moving_shape_frames(24, (66, 50))
    data = encode_clip(frames, 24, audio=True)  # 1 s at 24 fps, with sound
    info = probe_clip(data, max_seconds=10)
    assert info.has_audio and info.frames == 24 and info.fps == pytest.approx(24)
    clip = decode_clip(data, max_seconds=10, max_fps=12, long_side=33)
    assert len(clip.frames) == 12 and clip.fps == 12
    assert clip.size == (32, 24)  # long side 33 -> even sides
    assert even_size((67, 51), 1000) == (66, 50)


@pytest.mark.parametrize("fmt", ["gif", "webm"])
def test_gifs_and_webm_are_clips_too(fmt: str) -> None:
    data = encode_clip(moving_shape_frames(10, (40, 30)), 10, fmt=fmt)
    clip = decode_clip(data, max_seconds=10, max_fps=12, long_side=256)
    assert len(clip.frames) == 10 and clip.size == (40, 30)


def test_a_portrait_video_from_a_phone_is_turned_upright() -> None:
    """Stored landscape with a red band on its left edge; the display matrix says a quarter
    turn clockwise, so upright the band is along the top and the clip is portrait."""
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:, :8] = (255, 0, 0)
    frames = [Image.fromarray(stored)] * 4
    data = filmed_upright_on_a_phone(encode_clip(frames, 12), stored_height=48)
    info = probe_clip(data, max_seconds=10)
    assert (info.width, info.height) == (48, 64)
    clip = decode_clip(data, max_seconds=10, max_fps=12, long_side=256)
    first = np.asarray(clip.frames[0])
    assert clip.size == (48, 64) and first.shape[:2] == (64, 48)
    assert first[:6, :, 0].mean() > 200 and first[:6, :, 1:].mean() < 60  # red along the top
    assert first[20:, :, 0].mean() < 60  # and nowhere else


def _still_mp4() -> bytes:
    return encode_clip(moving_shape_frames(1, (32, 32)), 10)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b"not a video at all" * 50, "unreadable"),
        (lambda: encode_clip(moving_shape_frames(40, (32, 24)), 10), "too_long"),
        (lambda: encode_clip(moving_shape_frames(1, (32, 32)), 10), "still"),
        (still_png, "still"),
        (lambda: encode_clip(moving_shape_frames(10, (32, 24)), 10)[:300], "unreadable"),
        (lambda: sound_only_clip(with_video_track=False), "no_video"),
        (lambda: sound_only_clip(with_video_track=True), "no_frames"),
        (unknown_codec_clip, "codec"),
    ],
)
def test_bad_clips_are_refused_with_a_reason(make, reason: str) -> None:
    with pytest.raises(ClipError) as caught:
        probe_clip(make(), max_seconds=3)
    assert caught.value.reason == reason
    assert "\n" not in caught.value.user_message


def test_encoded_animation_is_h264_yuv420p_without_sound() -> None:
    frames = moving_shape_frames(6, (45, 33))  # odd sides
    data = encode_animation(frames, 12)
    with av.open(io.BytesIO(data)) as container:
        assert not container.streams.audio
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (44, 32)
        assert len(list(container.decode(stream))) == 6


# ------------------------------------------------------------------------------ painting
@pytest.fixture
def stylizer(cpu_stylizer):
    return cpu_stylizer


@pytest.fixture(scope="module")
def starry() -> Image.Image:
    from tests.shared_styles import shared_styles_dir

    with Image.open(shared_styles_dir("starry-night") / "starry-night.jpg") as image:
        painting = image.convert("RGB")
    painting.thumbnail((128, 128))
    return painting


def _options(**kw):
    from engine.paint import StylizeOptions

    base = {"size": 48, "iterations": 60, "progress_every": 1, "seed": 0, "precision": "fp32"}
    base.update(kw)
    return StylizeOptions(**base)


def test_temporal_painting_flickers_far_less_than_painting_frames_alone(stylizer, starry) -> None:
    from engine.clips.painting import ClipOptions, paint_clip

    frames = moving_shape_frames(5, (48, 36))
    seen = []
    temporal = paint_clip(
        stylizer,
        frames,
        [(starry, 1.0)],
        _options(),
        ClipOptions(frame_iterations=15),
        on_frame=lambda p: seen.append((p.frame, p.total, p.eta)),
    )
    alone = paint_clip(stylizer, frames, [(starry, 1.0)], _options(), ClipOptions(temporal=False))
    assert [f for f, _, _ in seen] == [1, 2, 3, 4, 5] and seen[-1][2] == 0
    assert all(image.size == (48, 36) for image in temporal)
    ratio_temporal = flicker(temporal, frames).ratio
    ratio_alone = flicker(alone, frames).ratio
    assert ratio_temporal <= 1.5
    assert ratio_alone > 3 * ratio_temporal
    # And the painting is a painting, not the photo warped along.
    assert np.abs(np.asarray(temporal[-1], np.float32) - np.asarray(frames[-1])).mean() > 10


def test_painting_a_clip_goes_on_from_frames_already_painted(stylizer, starry) -> None:
    from engine.clips.painting import ClipOptions, paint_clip

    frames = moving_shape_frames(4, (32, 24))
    paint = {"styles": [(starry, 1.0)], "options": _options(size=32, iterations=8)}
    kept = paint_clip(stylizer, frames[:2], clip=ClipOptions(3), **paint)
    seen = []
    on_frame = lambda p: seen.append(p.frame)  # noqa: E731
    painted = paint_clip(
        stylizer, frames, clip=ClipOptions(3), on_frame=on_frame, done=kept, **paint
    )
    assert seen == [3, 4] and len(painted) == 4
    assert [np.asarray(p).tolist() for p in painted[:2]] == [np.asarray(k).tolist() for k in kept]


def test_painting_a_clip_stops_when_asked(stylizer, starry) -> None:
    from engine.clips.painting import ClipOptions, paint_clip
    from engine.paint import Cancelled

    frames = moving_shape_frames(4, (32, 24))
    painted = []

    def stop_after_two() -> bool:
        return len(painted) >= 2

    with pytest.raises(Cancelled):
        paint_clip(
            stylizer,
            frames,
            [(starry, 1.0)],
            _options(size=32, iterations=10),
            ClipOptions(frame_iterations=5),
            on_frame=lambda p: painted.append(p.frame),
            should_stop=stop_after_two,
        )
    assert painted == [1, 2]


def test_sharp_warping_keeps_detail_through_many_warps() -> None:
    """A fine texture warped back and forth by half a pixel 10 times: bilinear sampling
    smooths it away, bicubic keeps most of it."""
    (frame,) = _shifted(1, 0)
    half = np.zeros(frame.shape[:2] + (2,), np.float32)
    half[..., 0] = 0.5

    def detail(image: np.ndarray) -> float:
        return float(np.abs(np.diff(image[8:-8, 8:-8], axis=1)).mean())

    results = {}
    for sharp in (False, True):
        image = frame
        for _ in range(10):
            image = warp(warp(image, half, sharp=sharp), -half, sharp=sharp)
        results[sharp] = detail(image) / detail(frame)
    assert results[True] > 0.8 > results[False]
