"""A clip's plan within its time budget (#29): what gives way, in which order, and the frames
the plan keeps."""

from __future__ import annotations

from PIL import Image

from engine.painter.budget import PaintSpeed
from engine.painter.clip_plan import ClipPlan, clip_seconds, plan_clip, thinned

OWN = ClipPlan(side=256, fps=12.0, first_iterations=300, frame_iterations=40)
SIZE = (256, 192)
FRAMES = 60  # a 5 s GIF at 12 fps


def test_a_fast_painter_keeps_the_settings_plan():
    fast = PaintSpeed(per_unit=0.01, per_iteration=0.0)
    assert plan_clip(fast, 180, SIZE, FRAMES, OWN) == OWN
    assert plan_clip(None, 180, SIZE, FRAMES, OWN) == OWN  # no speed measured: as set
    assert plan_clip(PaintSpeed(100.0, 1.0), 0, SIZE, FRAMES, OWN) == OWN  # no budget


def test_later_frames_give_way_first_then_the_rate_then_the_first_frame_then_the_size():
    speed = PaintSpeed(per_unit=4.0, per_iteration=0.01)
    plan = plan_clip(speed, 180, SIZE, FRAMES, OWN)
    assert clip_seconds(speed, plan, SIZE, round(FRAMES * plan.fps / 12)) <= 180
    assert plan != OWN and plan.frame_iterations < 40
    if plan.fps < 12:
        assert plan.frame_iterations == 16  # the rate goes only once iterations are down
    slow = plan_clip(PaintSpeed(per_unit=40.0, per_iteration=0.1), 180, SIZE, FRAMES, OWN)
    assert slow.side < 256 and slow.fps == 6.0 and slow.first_iterations == 150
    kept = plan_clip(PaintSpeed(40.0, 0.1), 180, SIZE, FRAMES, OWN, keep_side=True)
    assert kept.side == 256  # size= asked: only the rest gives way


def test_the_plan_survives_the_job_table():
    plan = ClipPlan(224, 8.0, 200, 16)
    assert ClipPlan.from_json(plan.to_json()) == plan
    assert ClipPlan.from_json(b"not json") is None


def test_thinned_frames_follow_the_plans_rate_and_side():
    frames = [Image.new("RGB", (256, 192), (k, 0, 0)) for k in range(24)]  # 2 s at 12 fps
    half = thinned(frames, 12.0, ClipPlan(192, 6.0, 300, 40))
    assert len(half) == 12 and half[0].size == (192, 144)
    assert [f.getpixel((0, 0))[0] for f in half] == list(range(0, 24, 2))
    assert thinned(frames, 12.0, OWN) == frames
