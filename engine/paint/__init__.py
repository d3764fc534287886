"""The painting: Gatys style transfer on VGG19, coarse to fine, several pictures at once.

Uses neither the painter process (engine/painter/) nor the clips (engine/clips/). Its rooms:
the network (`vgg`), the losses (`losses`, and `look`: the coarser copies a phone-size look is
matched on), the colours (`color`), the optimiser (`lbfgs`, `optimiser`) and its `guard`, the
number format (`precision`), the plan of scales and who may share a batch (`plan`), what a
job asks for (`options`, `request`), what a painting tells while it paints (`progress`), the
device (`gpu`: is an NVIDIA GPU here, can torch use it, and if not why), the model's work
outside the loop (`model`), the loop (`batch`) and its front door (`stylizer`).
"""

from engine.paint.guard import PaintingLost
from engine.paint.options import Research, StylizeOptions
from engine.paint.plan import batch_key, bucket_pixels, fit_size
from engine.paint.progress import Cancelled, Progress, ProgressCallback
from engine.paint.request import ExtraLoss, PaintRequest
from engine.paint.stylizer import Stylizer

__all__ = [
    "Cancelled",
    "ExtraLoss",
    "PaintRequest",
    "PaintingLost",
    "Progress",
    "ProgressCallback",
    "Research",
    "StylizeOptions",
    "Stylizer",
    "batch_key",
    "bucket_pixels",
    "fit_size",
]
