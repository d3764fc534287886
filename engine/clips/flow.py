"""Optical flow between frames, warping along it, occlusions, and the flicker metric.

After Ruder, Dosovitskiy & Brox, *Artistic style transfer for videos* (2016): the previous
painted frame, warped by the flow between the *source* frames onto the current one, is both
where the current frame starts and what its non-occluded pixels are kept close to. The flow is
OpenCV's DIS (dense inverse search, Kroeger et al. 2016): no model weights, a few
milliseconds a frame at clip sizes on a CPU.

Conventions: frames are HxWx3 float32 arrays in [0, 1] (or uint8); a flow is HxWx2 float32
(dx, dy) in pixels. `flow(a, b)` maps each pixel x of `a` to where it is in `b`: a(x) ~
b(x + flow(x)). So to bring the previous frame onto the current one, use the flow *from the
current to the previous* frame: warped(x) = previous(x + flow(current, previous)(x)).

Torch-free (numpy and OpenCV).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

# DIS preset: MEDIUM is the sensible middle at 256-512 px (ULTRAFAST misses larger motions).
_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM


def as_array(frame: Image.Image | np.ndarray) -> np.ndarray:
    """HxWx3 float32 in [0, 1]."""
    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"), dtype=np.float32) / 255.0
    array = np.asarray(frame)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32, copy=False)


def _grey(frame: np.ndarray) -> np.ndarray:
    array = as_array(frame)
    grey = array @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(grey * 255.0 + 0.5, 0, 255).astype(np.uint8)


def optical_flow(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> np.ndarray:
    """Dense flow from frame `a` to frame `b` (see the module's conventions)."""
    dis = cv2.DISOpticalFlow_create(_PRESET)
    dis.setUseSpatialPropagation(True)
    return dis.calc(_grey(a), _grey(b), None)


def warp(image: np.ndarray, flow: np.ndarray, *, sharp: bool = False) -> np.ndarray:
    """`image` sampled at x + flow(x) (outside the frame: the nearest edge pixel). Bilinear;
    `sharp`: bicubic, clipped to [0, 1]. A painting warped from frame to frame a hundred
    times needs it: bilinear sampling blurs a little at every step, and the blur adds up: on
    the bench clip's 12 frames the brushwork's detail fell from 10.3 to 7.3-8.3 bilinearly, to
    9.5-10.0 bicubically; frames painted alone stay at 9.9-10.2 (bench/RESULTS.md)."""
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = xs + flow[..., 0]
    map_y = ys + flow[..., 1]
    interpolation = cv2.INTER_CUBIC if sharp else cv2.INTER_LINEAR
    warped = cv2.remap(
        as_array(image), map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE
    )
    return np.clip(warped, 0.0, 1.0, out=warped) if sharp else warped


def consistency_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """HxW float32: 1 where the current frame's pixel is seen in the previous frame too, 0 where
    it is occluded (or came into view), after Ruder et al.'s forward-backward check.

    `backward` is the flow current -> previous, `forward` previous -> current. A pixel x is
    trusted when following `backward` and then `forward` back lands near x again
    (|w + w'|^2 <= 0.01 (|w|^2 + |w'|^2) + 0.5), its previous position lies inside the frame,
    and it is not on a motion boundary (a steep change of the flow)."""
    height, width = backward.shape[:2]
    forward_there = warp(forward, backward)  # w'(x) = forward(x + w(x))
    total = backward + forward_there
    lhs = (total**2).sum(-1)
    rhs = 0.01 * ((backward**2).sum(-1) + (forward_there**2).sum(-1)) + 0.5
    consistent = lhs <= rhs
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    px, py = xs + backward[..., 0], ys + backward[..., 1]
    inside = (px >= 0) & (px <= width - 1) & (py >= 0) & (py <= height - 1)
    du_y, du_x = np.gradient(backward[..., 0])
    dv_y, dv_x = np.gradient(backward[..., 1])
    gradient = du_x**2 + du_y**2 + dv_x**2 + dv_y**2
    boundary = gradient > 0.01 * (backward**2).sum(-1) + 0.002
    # A boundary pixel with a tiny flow gradient is harmless; only strong ones count.
    boundary &= gradient > 0.05
    return (consistent & inside & ~boundary).astype(np.float32)


@dataclass(frozen=True)
class Motion:
    """What the painting of one frame needs to know about the previous one."""

    backward: np.ndarray  # flow current -> previous
    mask: np.ndarray  # 1 = not occluded

    @property
    def coverage(self) -> float:
        return float(self.mask.mean())


def motion(previous: np.ndarray | Image.Image, current: np.ndarray | Image.Image) -> Motion:
    """Flows both ways between two source frames and the occlusion mask of the current one."""
    backward = optical_flow(current, previous)
    forward = optical_flow(previous, current)
    return Motion(backward=backward, mask=consistency_mask(backward, forward))


def temporal_difference(
    painted: Sequence[Image.Image | np.ndarray], motions: Sequence[Motion]
) -> list[float]:
    """For each frame i >= 1: mean |painted_i - warp(painted_{i-1})| over its non-occluded
    pixels (and the three channels); `motions[i-1]` is the motion from frame i-1 to frame i."""
    out = []
    for i, move in enumerate(motions, start=1):
        current = as_array(painted[i])
        warped = warp(painted[i - 1], move.backward)
        mask = move.mask[..., None]
        weight = mask.sum() * current.shape[-1]
        out.append(float((np.abs(current - warped) * mask).sum() / max(weight, 1.0)))
    return out


@dataclass(frozen=True)
class Flicker:
    ratio: float  # painted / source; 1 = the painting adds no motion of its own
    painted: float  # mean temporal difference of the painted frames
    source: float  # the same of the source frames


def flicker(
    painted: Sequence[Image.Image | np.ndarray],
    sources: Sequence[Image.Image | np.ndarray],
    motions: Sequence[Motion] | None = None,
) -> Flicker:
    """The flicker of a painted clip: the mean absolute difference between each painted frame
    and the previous painted frame warped onto it, over non-occluded pixels, divided by the same
    for the source frames. The flow and the occlusions come from the source frames (computed
    here unless given). Painted frames of another size than the sources are resized to them."""
    if len(painted) != len(sources) or len(sources) < 2:
        raise ValueError("flicker needs at least two painted frames, one per source frame")
    size = (as_array(sources[0]).shape[1], as_array(sources[0]).shape[0])
    painted = [_at(frame, size) for frame in painted]
    if motions is None:
        motions = [motion(a, b) for a, b in zip(sources, sources[1:], strict=False)]
    p = float(np.mean(temporal_difference(painted, motions)))
    s = float(np.mean(temporal_difference(sources, motions)))
    return Flicker(ratio=p / s if s > 0 else float("inf"), painted=p, source=s)


def _at(frame: Image.Image | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    array = as_array(frame)
    if (array.shape[1], array.shape[0]) != size:
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    return array
