"""`python -m engine …`: the worker (default), `stylize` for one image, `styles list|fetch`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from engine.painter.settings import EngineSettings
from jobs.logs import setup_logging
from styles import (
    StyleFetchError,
    UnknownStyleError,
    defaults_for,
    fetch_styles,
    load_catalogue,
)


def parse_style_spec(spec: str) -> tuple[str, float]:
    """`monet`, `monet:0.7` or `path/to/painting.jpg:0.3` -> (name or path, weight)."""
    name, sep, weight = spec.rpartition(":")
    if sep:
        try:
            value = float(weight)
        except ValueError:
            return spec, 1.0
        if value < 0:
            raise ValueError(f"Style weight must not be negative: {spec!r}")
        return name, value
    return spec, 1.0


def resolve_style_path(name: str, styles_dir: Path) -> Path:
    """A preset name/alias -> its file in `styles_dir`; otherwise an existing image path.

    Raises UnknownStyleError (with close matches) or FileNotFoundError (preset not fetched).
    """
    catalogue = load_catalogue()
    if name in catalogue:
        path = catalogue.image_path(name, styles_dir)
        if not path.is_file():
            preset = catalogue.resolve(name)
            raise FileNotFoundError(
                f"The painting '{preset.name}' is not installed in {styles_dir}; "
                "run `make styles` (or `python -m engine styles fetch`)."
            )
        return path
    path = Path(name).expanduser()
    if path.is_file():
        return path
    raise UnknownStyleError(name, catalogue.suggest(name))


def unknown_style_message(exc: UnknownStyleError) -> str:
    """The error, plus where to look when no preset name is close (a guess is hint enough)."""
    if exc.suggestions:
        return str(exc)
    presets = ", ".join(load_catalogue().names)
    return (
        f"{exc} Presets: {presets} (`python -m engine styles list` shows which are "
        "installed), or give the path of an image file."
    )


def _build_parser(settings: EngineSettings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    sub = parser.add_subparsers(dest="command")

    sub.add_parser("worker", help="run the engine worker on the job table (the default)")

    st = sub.add_parser("stylize", help="repaint one photo and write the result")
    st.add_argument("photo", type=Path)
    st.add_argument(
        "--style",
        action="append",
        required=True,
        help="preset name or image path, optionally :weight (repeat to blend: "
        "--style monet:0.7 --style udnie:0.3)",
    )
    st.add_argument("-o", "--output", type=Path, default=Path("stylized.png"))
    st.add_argument("--size", type=int, default=512, help="long side of the output in pixels")
    st.add_argument("--iterations", type=int, default=500)
    st.add_argument(
        "--strength",
        type=float,
        help="style vs content, times the painting's own balance (default 1)",
    )
    st.add_argument("--preserve-colors", action="store_true", help="keep the photo's colours")
    st.add_argument("--style-scale", type=float, help="painting size vs output (default 1)")
    st.add_argument("--content-weight", type=float)
    st.add_argument("--style-weight", type=float)
    st.add_argument("--tv-weight", type=float)
    st.add_argument("--init", choices=["content", "noise"], default="content")
    st.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    st.add_argument("--single-scale", action="store_true", help="no coarse-to-fine")
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--device", default=settings.device, help="auto, cpu, cuda or cuda:N")
    st.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=settings.precision)
    st.add_argument("--progress-every", type=int, default=10)

    styles = sub.add_parser("styles", help="the preset paintings")
    styles_sub = styles.add_subparsers(dest="styles_command", required=True)
    styles_sub.add_parser("list", help="list presets and whether they are installed")
    fetch = styles_sub.add_parser("fetch", help="fetch missing paintings and verify sha256")
    fetch.add_argument(
        "--from",
        dest="source",
        default=settings.styles_source,
        help="a local folder or a mirror base URL (default: STYLES_SOURCE, else each "
        "preset's pinned URL)",
    )
    fetch.add_argument("names", nargs="*", help="presets to fetch (default: all)")
    return parser


def _stylize(args: argparse.Namespace, settings: EngineSettings) -> int:
    from tqdm import tqdm

    from engine.paint import Progress, Research, StylizeOptions, Stylizer
    from media.images import ImageError, load_image, save_image

    try:
        photo = load_image(args.photo, max_pixels=settings.max_input_pixels)
        catalogue = load_catalogue()
        styles, presets = [], []
        for spec in args.style:
            name, weight = parse_style_spec(spec)
            path = resolve_style_path(name, settings.styles_dir)
            styles.append((load_image(path, max_pixels=settings.max_input_pixels), weight))
            if name in catalogue:
                presets.append((catalogue.resolve(name), weight))
        defaults = defaults_for(presets)
        options = StylizeOptions(
            size=args.size,
            iterations=args.iterations,
            strength=(args.strength or 1.0) * defaults.get("strength", 1.0),
            preserve_colors=args.preserve_colors,
            style_scale=args.style_scale or defaults.get("style_scale", 1.0),
            content_weight=args.content_weight,
            style_weight=args.style_weight,
            tv_weight=args.tv_weight,
            init=args.init,
            research=Research(optimizer=args.optimizer),
            multiscale=not args.single_scale,
            seed=args.seed,
            precision=args.precision,
            progress_every=max(1, args.progress_every),
        )
    except UnknownStyleError as exc:
        print(f"error: {unknown_style_message(exc)}", file=sys.stderr)
        return 2
    except (ImageError, FileNotFoundError, ValueError) as exc:
        print(f"error: {getattr(exc, 'user_message', None) or exc}", file=sys.stderr)
        return 2

    stylizer = Stylizer(device=args.device, weights=settings.weights)
    choice = stylizer.precision_for(options.precision)
    print(f"painting in {choice.precision} ({choice.reason})", file=sys.stderr)
    bar = tqdm(total=options.iterations, unit="it", desc=f"stylize on {stylizer.device_name}")

    def on_progress(progress: Progress) -> None:
        bar.update(progress.iteration - bar.n)
        bar.set_postfix(loss=f"{progress.loss:.4f}", size="x".join(map(str, progress.size)))

    started = time.perf_counter()
    result = stylizer.stylize(photo, styles, options, on_progress)
    seconds = time.perf_counter() - started
    bar.close()
    save_image(result, args.output)
    print(f"wrote {args.output} ({result.width}x{result.height}, painted in {seconds:.1f} s)")
    return 0


def _styles(args: argparse.Namespace, settings: EngineSettings) -> int:
    catalogue = load_catalogue()
    if args.styles_command == "list":
        installed = {p.name for p in catalogue.available(settings.styles_dir)}
        for preset in catalogue:
            mark = "✓" if preset.name in installed else "·"
            aliases = f" ({', '.join(preset.aliases)})" if preset.aliases else ""
            print(f"{mark} {preset.name:<16} {preset.label}{aliases}")
        print(f"\n✓ = installed in {settings.styles_dir}; `make styles` fetches the rest.")
        return 0
    try:
        report = fetch_styles(settings.styles_dir, args.source, args.names or None)
    except UnknownStyleError as exc:
        print(f"error: {unknown_style_message(exc)}", file=sys.stderr)
        return 2
    except StyleFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    settings = EngineSettings()
    args = _build_parser(settings).parse_args(argv)
    if args.command in ("stylize", "styles"):  # the worker sets up its own (LOG_FORMAT)
        setup_logging(settings.log_level, settings.log_format)
    if args.command == "stylize":
        return _stylize(args, settings)
    if args.command == "styles":
        return _styles(args, settings)
    from engine.painter.worker import main as worker_main

    return worker_main([])
