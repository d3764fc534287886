"""Turn untrusted user uploads into plain RGB images, and write results back out.

Photos come from strangers on Telegram: any format, any colour mode, rotated by EXIF, cut
off, or crafted to explode in memory. Everything here is checked from the header *before*
pixels are decoded, and every refusal is a typed `ImageError` carrying a sentence the bot
can show as is. Pillow + numpy only (no torch), so the bot can validate uploads cheaply.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import ExifTags, Image
from PIL.JpegImagePlugin import JpegImageFile
from PIL.PngImagePlugin import PngImageFile

from media.messages import IMAGE_MESSAGES, english

# Formats users may send. Restricting Image.open also keeps exotic decoders (EPS shells out
# to Ghostscript, for instance) away from untrusted bytes. MPO (camera JPEGs) opens as JPEG.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

ImageSource = bytes | bytearray | memoryview | str | os.PathLike

# Errors Pillow raises for damaged data (never with ImageFile.LOAD_TRUNCATED_IMAGES set).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
_PNG_MODES = ("1", "L", "LA", "I;16", "P", "RGB", "RGBA")
_SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


class ImageError(ValueError):
    """An upload we refuse; `str()` is for logs, `user_message` is for the user (the English
    of `reason` in media/messages.py, filled with `values`; the bot says it in the user's
    language)."""

    reason: str = "bad"

    def __init__(self, detail: str, reason: str | None = None, **values: Any) -> None:
        super().__init__(detail)
        if reason is not None:
            self.reason = reason
        self.values = values

    @property
    def user_message(self) -> str:
        return english(IMAGE_MESSAGES, self.reason, self.values)


class NotAnImageError(ImageError):
    reason = "not_image"


class CorruptImageError(ImageError):
    reason = "corrupt"


class EmptyImageError(ImageError):
    reason = "empty"


class ImageTooLargeError(ImageError):
    reason = "too_large"


class ImageShapeError(ImageError):
    reason = "shape"


def _megapixels(pixels: float) -> float:
    mp = pixels / 1_000_000
    return float(round(mp)) if mp >= 10 else round(mp, 1)


def _too_large(pixels: int, max_pixels: int, size: str = "") -> ImageTooLargeError:
    return ImageTooLargeError(
        f"image has {pixels} pixels{size}, limit is {max_pixels}",
        "too_many_pixels",
        megapixels=_megapixels(pixels),
        limit=_megapixels(max_pixels),
    )


def _no_pixels(width: int, height: int) -> EmptyImageError:
    return EmptyImageError(f"image has no pixels ({width}×{height})", "no_pixels")


def _bomb_error(exc: Exception, max_pixels: int) -> ImageTooLargeError:
    """Pillow's own decompression-bomb guard fired (its limit, not ours)."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    if match:
        return _too_large(int(match.group(1)), max_pixels)
    return ImageTooLargeError(str(exc))


def _looks_like_image(head: bytes) -> bool:
    """Magic numbers of the supported formats: a known signature Pillow cannot parse is
    damaged, not 'not an image'."""
    signatures = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\0", b"MM\0*")
    if head.startswith(signatures):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[:2] == b"BM" and head[6:10] == b"\0\0\0\0"


def _header_dims(head: bytes) -> tuple[int, int] | None:
    """Width and height straight from a PNG, GIF or BMP header: Pillow refuses zero-sized
    images without saying why, and an empty picture deserves its own message."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head.startswith((b"GIF87a", b"GIF89a")) and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head[:2] == b"BM" and len(head) >= 26 and struct.unpack("<I", head[14:18])[0] >= 40:
        width, height = struct.unpack("<ii", head[18:26])
        return (abs(width), abs(height))  # negative height means top-down rows
    return None


@contextlib.contextmanager
def _pillow_guard(max_pixels: int) -> Iterator[None]:
    """Map Pillow's bomb guard (error and warning alike) to ImageTooLargeError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(exc, max_pixels) from exc


@contextlib.contextmanager
def _open(source: ImageSource, max_pixels: int) -> Iterator[Image.Image]:
    """Open lazily (header only) from bytes or a path, with typed errors; closes the file."""
    fh: BinaryIO
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not data:
            raise EmptyImageError("empty image data")
        fh = io.BytesIO(data)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.stat().st_size == 0:  # FileNotFoundError is the caller's bug: let it through
            raise EmptyImageError(f"empty image file: {path}")
        fh = path.open("rb")
    else:
        raise TypeError(f"expected bytes or a path, got {type(source).__name__}")
    with fh:
        head = fh.read(32)
        fh.seek(0)
        with _pillow_guard(max_pixels):
            try:
                img = Image.open(fh, formats=SUPPORTED_FORMATS)
            except _DECODE_ERRORS as exc:  # UnidentifiedImageError is an OSError too
                dims = _header_dims(head)
                if dims is not None and 0 in dims:
                    raise _no_pixels(*dims) from exc
                if _looks_like_image(head):
                    raise CorruptImageError(f"damaged image header: {exc}") from exc
                raise NotAnImageError(f"not a supported image: {exc}") from exc
        with img:
            yield img


def _check_header(img: Image.Image, max_pixels: int, max_aspect: float) -> None:
    """Refuse by header size alone, before any pixel is decoded (rotation-invariant)."""
    width, height = img.size
    if width <= 0 or height <= 0:
        raise _no_pixels(width, height)
    pixels = width * height
    if pixels > max_pixels:
        raise _too_large(pixels, max_pixels, f" ({width}×{height})")
    if max(width, height) / min(width, height) > max_aspect:
        raise ImageShapeError(f"aspect ratio of {width}×{height} exceeds {max_aspect}:1")


def _orientation(img: Image.Image) -> int:
    """EXIF orientation (1..8); 1 when absent or unreadable, which must not block a photo."""
    if isinstance(img, PngImageFile) and "exif" not in img.info:
        return 1  # PNG getexif() would decode the whole image looking for a trailing eXIf
    try:
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
        return value if value in _TRANSPOSE else 1
    except Exception:  # garbage EXIF raises a zoo of exception types; ignore it
        return 1


def fit_within(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """Size whose long side is at most `max_side`, aspect kept; never upscales."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    width, height = size
    if max(width, height) <= max_side:
        return (width, height)
    if width >= height:
        return (max_side, max(1, round(height * max_side / width)))
    return (max(1, round(width * max_side / height)), max_side)


def _gray_to_rgb(values: np.ndarray) -> Image.Image:
    return Image.fromarray(values.astype(np.uint8)).convert("RGB")  # 2-D uint8 -> mode L


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    """0..65535 -> 0..255 by rounding v/257, so full scale stays full scale (no clipping)."""
    return (values.astype(np.uint32) * 255 + 32767) // 65535


def _scale_unknown_range(values: np.ndarray, mode: str) -> np.ndarray:
    """Modes I and F carry no declared range, so infer it: floats in 0..1, 8-bit, 16-bit,
    or anything else stretched min..max."""
    data = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if lo >= 0 and hi <= 1 and mode == "F":
        data = data * 255
    elif lo >= 0 and hi <= 255:
        pass
    elif lo >= 0 and hi <= 65535:
        data = data / 257
    elif hi > lo:
        data = (data - lo) * (255 / (hi - lo))
    else:
        data = np.zeros_like(data)
    return np.clip(np.rint(data), 0, 255)


def _over_white(img: Image.Image) -> Image.Image:
    """Flatten transparency onto white, which is what a viewer shows behind a sticker."""
    if img.mode == "La":  # premultiplied grey: Pillow converts it to LA only
        img = img.convert("LA")
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB: alpha over white, 16-bit scaled down (not clipped)."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        return _gray_to_rgb(_scale_16bit(np.asarray(img)))
    if mode in ("I", "F"):
        return _gray_to_rgb(_scale_unknown_range(np.asarray(img), mode))
    if mode in _ALPHA_MODES or "transparency" in img.info:
        return _over_white(img)
    if mode == "RGB":
        return img
    try:
        return img.convert("RGB")
    except ValueError as exc:  # e.g. LAB TIFFs: Pillow has no direct conversion
        raise NotAnImageError(f"unsupported colour mode {mode}: {exc}", "colour_mode") from exc


def load_image(
    source: ImageSource,
    *,
    max_side: int | None = None,
    max_pixels: int = 60_000_000,
    max_aspect: float = 20.0,
) -> Image.Image:
    """Decode an upload into an RGB image, upright per EXIF, first frame only, long side
    at most `max_side`. Raises an ImageError subclass for anything we will not process."""
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    with _open(source, max_pixels) as img:
        _check_header(img, max_pixels, max_aspect)
        if max_side is not None and isinstance(img, JpegImageFile):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale (still >= the target size).
            img.draft(img.mode, fit_within(img.size, max_side))
        with _pillow_guard(max_pixels):
            try:
                img.load()  # first frame of animated GIF/WebP/APNG/MPO
            except _DECODE_ERRORS as exc:
                raise CorruptImageError(f"cannot decode image: {exc}") from exc
        method = _TRANSPOSE.get(_orientation(img))
        upright = img.transpose(method) if method is not None else img
        rgb = to_rgb(upright)
        if max_side is not None and max(rgb.size) > max_side:
            rgb = rgb.resize(
                fit_within(rgb.size, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0
            )
        if rgb is img:
            rgb = img.copy()  # detach from the file object, which closes on exit
    return rgb


def probe_image(
    source: ImageSource, *, max_pixels: int = 60_000_000, max_aspect: float = 20.0
) -> tuple[int, int]:
    """Upright (width, height) from the header alone, with the same refusals as
    load_image; pixel data is not decoded, so damage further in goes unnoticed here."""
    with _open(source, max_pixels) as img:
        _check_header(img, max_pixels, max_aspect)
        width, height = img.size
        if _orientation(img) in (5, 6, 7, 8):  # these orientations swap the axes
            return (height, width)
        return (width, height)


def _format_name(fmt: str) -> str:
    name = fmt.upper().lstrip(".")
    name = "JPEG" if name == "JPG" else name
    if name not in ("PNG", "JPEG"):
        raise ValueError(f"unsupported output format {fmt!r} (use PNG or JPEG)")
    return name


def _write(img: Image.Image, fh: BinaryIO, fmt: str, quality: int) -> None:
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be between 1 and 100, got {quality}")
    if fmt == "JPEG":
        out = img if img.mode in ("RGB", "L") else to_rgb(img)
        # 4:4:4 keeps the fine colour detail of painted output at high quality settings.
        subsampling = "4:4:4" if quality >= 90 else "4:2:0"
        out.save(fh, "JPEG", quality=quality, optimize=True, subsampling=subsampling)
    else:
        out = img if img.mode in _PNG_MODES else to_rgb(img)
        out.save(fh, "PNG")


def encode_image(img: Image.Image, fmt: str = "PNG", *, quality: int = 95) -> bytes:
    """Encode to PNG or JPEG bytes (e.g. to upload); JPEG drops alpha over white."""
    buffer = io.BytesIO()
    _write(img, buffer, _format_name(fmt), quality)
    return buffer.getvalue()


def save_image(img: Image.Image, path: str | os.PathLike, *, quality: int = 95) -> None:
    """Write PNG or JPEG (chosen by suffix) atomically: readers never see a partial file."""
    target = Path(path)
    fmt = _SUFFIX_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the format from {target.name!r}; use .png, .jpg or .jpeg")
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write(img, fh, fmt, quality)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
