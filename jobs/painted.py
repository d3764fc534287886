"""What the engine actually used for a job, kept next to its result (`PAINTED_NAME`).

Why: a job leaves options it did not set to the engine (the painting's own defaults, then
STRENGTH and friends in the engine's settings, which the bot does not read). A variation of a
result ("Stronger") must start from the strength that was really used. Torch-free JSON, so the
bot can read it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

PAINTED_NAME = "painted.json"


@dataclass(frozen=True)
class Painted:
    strength: float  # what the loss used: strength_asked x the painting's own default
    style_scale: float
    preserve_colors: bool
    size: int
    iterations: int
    strength_asked: float = 1.0  # the job's multiplier (its own, else STRENGTH)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Painted | None:
        """None for anything unreadable (a record is a help, never a reason to fail)."""
        try:
            values = json.loads(data)
            return cls(
                strength=float(values["strength"]),
                style_scale=float(values["style_scale"]),
                preserve_colors=bool(values["preserve_colors"]),
                size=int(values["size"]),
                iterations=int(values["iterations"]),
                # Records from before paintings had their own strength: asked == used.
                strength_asked=float(values.get("strength_asked", values["strength"])),
            )
        except (ValueError, KeyError, TypeError):
            return None
