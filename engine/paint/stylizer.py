"""Gatys style transfer: optimise the output's pixels against VGG19 features, coarse to fine.

`Stylizer` is the painting's front door: VGG19 on one device (engine/paint/model.py) and the
painting loop (engine/paint/batch.py), which paints several pictures at once; `stylize` is a
batch of one. One iteration is one loss evaluation and one L-BFGS step (engine/paint/lbfgs.py:
its state stays on the device, so an iteration never waits for it), and the counter runs over
all scales (engine/paint/plan.py), so "every 100 iterations" means what it says.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from engine.paint.batch import paint_batch
from engine.paint.model import StyleModel
from engine.paint.options import StylizeOptions
from engine.paint.plan import plan_scales
from engine.paint.progress import ProgressCallback
from engine.paint.request import ExtraLoss, PaintRequest
from media.timelapse import FrameRecorder


class Stylizer(StyleModel):
    """Holds VGG19 on one device; `stylize` can be called any number of times."""

    plan = staticmethod(plan_scales)

    def stylize(
        self,
        content: Image.Image,
        styles: Sequence[tuple[Image.Image, float]],
        options: StylizeOptions | None = None,
        on_progress: ProgressCallback | None = None,
        frames: FrameRecorder | None = None,
        init: Image.Image | None = None,
        extra_loss: ExtraLoss | None = None,
    ) -> Image.Image:
        """Repaint `content` in the blended style of `styles` ((painting, weight) pairs).

        With `frames`, the picture is also kept as it forms: the photo, frames spread over the
        iterations (and so over the scales), then the painting, all at one size.

        `init` (clips: the previous painted frame warped onto this one) is where the first
        scale starts instead of the photo; `extra_loss(pixels)` (clips: the temporal loss) is
        added to what is minimised at every iteration (pixels: (1, 3, H, W) in [0, 1]).

        What stops it (Cancelled, a bad request, an error in the callback) is raised here."""
        request = PaintRequest(
            content, styles, options or StylizeOptions(), on_progress, frames, init, extra_loss
        )
        [outcome] = self.stylize_batch([request])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def stylize_batch(self, requests: Sequence[PaintRequest]) -> list[Image.Image | BaseException]:
        """Paint several pictures at once (one plan: `batch_key` must agree); each gets its
        picture, or what stopped it alone (Cancelled, ValueError, its callback's error).
        What fails the whole batch (out of memory) is raised."""
        return paint_batch(self, requests)
