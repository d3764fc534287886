"""How many queued jobs a painter takes as one batch (BATCH_JOBS), and which.

On a GPU one picture leaves most of the chip idle (bench/RESULTS.md: 27 % busy on an H200), so
jobs that share a plan (engine/paint/plan.batch_key: the shape bucket and the options that shape
the painting) are painted together. The batch is as large as BATCH_JOBS, or unset: on a CPU 1
(one picture already keeps it busy: a batch measured 0.90-0.99x at 256 px and was faster only
at 128 px, far below the CPU's 576 px default; bench/RESULTS.md), on a
GPU as many as fit in a share of its free memory, at most GPU_BATCH_MAX.

Which jobs: the head of the queue is claimed in fair order as always; its mates are the next
queued jobs in fair order (a look-ahead of a few per place in the batch) with the head's key.
The jobs passed over keep their places.
"""

from __future__ import annotations

import torch

# Unmeasured on a GPU (none was lent when this was written): a cap, not a measured optimum.
GPU_BATCH_MAX = 8
# One 768 x 576 job held about 4 GB of an H200 (issue #17's measurement, with the CUDA context
# and the allocator's cache): about 9.5 kB per output pixel, rounded up.
BYTES_PER_PIXEL = 10_000
MEMORY_SHARE = 0.8  # of the free memory, for the batch; the rest is headroom
LOOKAHEAD = 4  # queued jobs looked at per place in the batch


def batch_limit(
    setting: int | None, device: torch.device, pixels: int, free_bytes: int | None = None
) -> int:
    """Jobs to paint together at `pixels` output pixels each: BATCH_JOBS if set, else the
    device's default (`free_bytes`: the GPU's free memory; read from the device if None)."""
    if setting is not None:
        return setting
    if device.type != "cuda":
        return 1
    if free_bytes is None:
        free_bytes, _ = torch.cuda.mem_get_info(device)
    fits = int(free_bytes * MEMORY_SHARE // max(1, pixels * BYTES_PER_PIXEL))
    return max(1, min(GPU_BATCH_MAX, fits))
