"""Several jobs painted as one batch (engine/paint/batch.py) against the same jobs one after
another, on whatever device this machine has: seconds a picture, the speed-up, and how far each
batch picture is from the same picture painted alone: in levels of 255 (a batched convolution
sums in another order, and L-BFGS without a line search amplifies that float noise: after 100
iterations in bf16 the two are different paintings of one request) and in the judged loss
(bench/reference.py's judge: is one of them worse?). This is what BATCH_JOBS's default rests on.

Each job its own photo (scikit-image, cropped to 4:3 so they share a plan) and painting (the
catalogue's, from STYLES_DIR), strengths 1 and 2 alternating.

    python -m bench.bench_batch                                   # 256 px x 100, batches 2, 4
    python -m bench.bench_batch --size 768 --iterations 500 --batches 2 4 8   # a GPU
    python -m bench.bench_batch --padded --batches 3      # one bucket, three photo sizes
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from bench.bench_engine import OUT, SHARED_STYLES
from bench.machine import cpu_name

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "motorcycle_left")
PAINTINGS = ("starry-night", "monet", "udnie", "great-wave", "scream")


def _jobs(count: int, size: int, iterations: int, precision: str, padded: bool = False):
    """`count` PaintRequests of one plan: different photos, paintings and strengths; with
    `padded`, short sides 3/4, 11/16 and 5/8 of the long side in turn (one shape bucket: all
    but the tallest painted padded, engine/paint/batch.py)."""
    import skimage.data
    from PIL import Image

    from engine.paint import PaintRequest, StylizeOptions

    options = StylizeOptions(size=size, iterations=iterations, seed=0, precision=precision)
    requests = []
    for k in range(count):
        photo = Image.fromarray(getattr(skimage.data, PHOTOS[k % len(PHOTOS)])()).convert("RGB")
        width = min(photo.width, photo.height * 4 // 3)
        height = size * 3 // 4 - (k % 3 if padded else 0) * size // 16
        photo = photo.crop((0, 0, width, width * height // size)).resize((size, height))
        painting = Image.open(SHARED_STYLES / f"{PAINTINGS[k % len(PAINTINGS)]}.jpg")
        strength = 1.0 + k % 2
        requests.append(
            PaintRequest(
                photo, [(painting.convert("RGB"), 1.0)], replace(options, strength=strength)
            )
        )
    return requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--batches", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--padded", action="store_true", help="photos of one bucket but not one size"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where bench_batch.json goes")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from bench.reference import judge
    from engine.paint import Stylizer

    stylizer = Stylizer(device=args.device)
    precision = stylizer.precision_for(args.precision).precision

    def timed(run):
        if stylizer.device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = run()
        if stylizer.device.type == "cuda":
            torch.cuda.synchronize()
        return result, time.perf_counter() - started

    largest = max(args.batches)
    requests = _jobs(largest, args.size, args.iterations, precision, args.padded)
    timed(
        lambda: stylizer.stylize_batch(
            [replace(requests[0], options=replace(requests[0].options, size=64, iterations=3))]
        )
    )  # warm-up: weights, allocator

    def judged(image, request) -> float:
        return judge(stylizer, image, request.content, request.styles[0][0])["loss"]

    alone, alone_seconds, alone_loss = [], [], []
    for request in requests:
        image, seconds = timed(lambda r=request: stylizer.stylize_batch([r])[0])
        alone.append(np.asarray(image, float))
        alone_seconds.append(seconds)
        alone_loss.append(judged(image, request))
    report: dict = {
        "device": stylizer.device_name,
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "precision": precision,
        "size": list(requests[0].content.size),
        "sizes": [list(r.content.size) for r in requests],
        "iterations": args.iterations,
        "alone_s_per_picture": round(sum(alone_seconds) / len(alone_seconds), 3),
        "batches": {},
    }
    print(json.dumps(report), flush=True)
    for batch in args.batches:
        outcomes, seconds = timed(lambda b=batch: stylizer.stylize_batch(requests[:b]))
        per_picture = seconds / batch
        alone_per_picture = sum(alone_seconds[:batch]) / batch
        differences = [
            float(np.abs(np.asarray(image, float) - alone[k]).mean())
            for k, image in enumerate(outcomes)
        ]
        changes = [
            judged(image, requests[k]) / alone_loss[k] - 1 for k, image in enumerate(outcomes)
        ]
        report["batches"][str(batch)] = {
            "s_per_picture": round(per_picture, 3),
            "speedup": round(alone_per_picture / per_picture, 3),
            "max_mean_level_difference": round(max(differences), 3),
            "judged_loss_change_pct": [round(100 * c, 2) for c in changes],
        }
        print(json.dumps({batch: report["batches"][str(batch)]}), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_batch.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
