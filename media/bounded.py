"""The doors untrusted media comes in by (#28): a clip probed or decoded, a picture decoded,
each in a child process within a Budget of wall time and memory (media/sandbox.py).

Over its budget a clip is refused as "too_slow" / "too_heavy" (ClipError), a picture likewise
(ImageError), a decoder that crashed as unreadable; a stop (`should_stop`) raises
sandbox.Stopped. The answers are exactly what media/video.py and media/images.py give in
this process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from PIL import Image

from media import images
from media.images import CorruptImageError, ImageError
from media.sandbox import Budget, ChildFailed, Outcome, OverBudget, run
from media.video import Clip, ClipError, ClipInfo, ClipLimits, resample

__all__ = ["Budget", "decode_clip_within", "load_image_within", "probe_clip_within"]


def probe_clip_within(data: bytes, limits: ClipLimits, budget: Budget) -> ClipInfo:
    """media.video.probe_clip, in a child within `budget`."""
    outcome = _clip("probe_clip", data, _params(limits), budget, None)
    return ClipInfo(**outcome.result["info"])


def decode_clip_within(
    data: bytes,
    limits: ClipLimits,
    budget: Budget,
    *,
    max_fps: float,
    long_side: int,
    should_stop: Callable[[], bool] | None = None,
) -> Clip:
    """media.video.decode_clip, in a child within `budget`; killed when `should_stop()`."""
    params = {**_params(limits), "max_fps": max_fps, "long_side": long_side}
    outcome = _clip("decode_clip", data, params, budget, should_stop)
    info = ClipInfo(**outcome.result["info"])
    size = tuple(outcome.result["size"])
    kept = [Image.frombytes("RGB", size, blob) for blob in outcome.blobs]
    fps, picks = resample(outcome.result["instants"], info, max_fps)
    return Clip(frames=[kept[k] for k in picks], fps=fps, info=info)


def load_image_within(data: bytes, budget: Budget, **options: Any) -> Image.Image:
    """media.images.load_image (max_side, max_pixels, max_aspect), in a child within
    `budget`."""
    try:
        outcome = run("load_image", data, options, budget)
    except OverBudget as exc:
        reason = "too_slow" if exc.what == "time" else "too_heavy"
        raise ImageError(str(exc), reason) from exc
    except ChildFailed as exc:
        raise CorruptImageError(str(exc)) from exc
    error = outcome.result.get("error")
    if error is not None:
        if error["kind"] == "memory":
            raise ImageError("out of memory decoding", "too_heavy")
        cls = getattr(images, error["class"], ImageError)
        raise cls(error["detail"], error["reason"], **error["values"])
    return Image.frombytes("RGB", tuple(outcome.result["size"]), outcome.blobs[0])


def _params(limits: ClipLimits) -> dict[str, Any]:
    params = asdict(limits)
    params.pop("threads")  # the budget's
    return params


def _clip(
    task: str,
    data: bytes,
    params: dict[str, Any],
    budget: Budget,
    should_stop: Callable[[], bool] | None,
) -> Outcome:
    try:
        outcome = run(task, data, params, budget, should_stop)
    except OverBudget as exc:
        raise ClipError("too_slow" if exc.what == "time" else "too_heavy") from exc
    except ChildFailed as exc:
        raise ClipError("unreadable") from exc
    error = outcome.result.get("error")
    if error is not None:
        if error["kind"] == "memory":
            raise ClipError("too_heavy")
        raise ClipError(error["reason"], **error["values"])
    return outcome
