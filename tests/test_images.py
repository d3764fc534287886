"""media.images: untrusted uploads become upright RGB images, or a typed, friendly error."""

from __future__ import annotations

import ast
import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import ExifTags, Image, ImageFile
from PIL.JpegImagePlugin import JpegImageFile

from media.images import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageShapeError,
    ImageTooLargeError,
    NotAnImageError,
    encode_image,
    fit_within,
    load_image,
    probe_image,
    save_image,
    to_rgb,
)
from media.messages import IMAGE_MESSAGES

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255,) * 3, (0,) * 3


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut())


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def row(mode: str, values: list) -> Image.Image:
    """A one-pixel-high image with the given pixel values."""
    img = Image.new(mode, (len(values), 1))
    for x, value in enumerate(values):
        img.putpixel((x, 0), value)
    return img


def array_row(values: list, dtype) -> Image.Image:
    return Image.fromarray(np.array([values], dtype=dtype))


def palette_row(transparent: bool) -> Image.Image:
    img = Image.new("P", (2, 1))
    img.putpalette([*RED, *BLUE])
    img.putpixel((1, 0), 1)
    if transparent:
        img.info["transparency"] = 0
    return img


def pixels(img: Image.Image) -> list[tuple[int, int, int]]:
    return [img.getpixel((x, 0)) for x in range(img.width)]


def png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims another size (a decompression bomb's header)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


def close_to(pixel, expected, tol: int = 40) -> bool:
    return all(abs(p - e) <= tol for p, e in zip(pixel, expected, strict=True))


# --- colour modes -------------------------------------------------------------------------

MODE_CASES = [
    # id, file bytes, mode Pillow opens it in, expected RGB pixels of row 0
    (
        "cmyk-tiff",
        lambda: encode(row("CMYK", [(0, 255, 255, 0), (0, 0, 0, 0), (0, 0, 0, 255)]), "TIFF"),
        "CMYK",
        [RED, WHITE, BLACK],
    ),
    ("p-png", lambda: encode(palette_row(False), "PNG"), "P", [RED, BLUE]),
    ("p-transparent-png", lambda: encode(palette_row(True), "PNG"), "P", [WHITE, BLUE]),
    ("p-transparent-gif", lambda: encode(palette_row(True), "GIF"), "P", [WHITE, BLUE]),
    ("l-png", lambda: encode(row("L", [0, 77, 255]), "PNG"), "L", [BLACK, (77,) * 3, WHITE]),
    (
        "l-transparent-png",
        lambda: encode(row("L", [0, 77]), "PNG", transparency=0),
        "L",
        [WHITE, (77,) * 3],
    ),
    (
        "la-png",
        lambda: encode(row("LA", [(100, 0), (100, 255), (0, 128)]), "PNG"),
        "LA",
        [WHITE, (100,) * 3, (127,) * 3],
    ),
    ("1-png", lambda: encode(row("1", [0, 255]), "PNG"), "1", [BLACK, WHITE]),
    ("1-bmp", lambda: encode(row("1", [0, 255]), "BMP"), "1", [BLACK, WHITE]),
    (
        "i16-png",
        lambda: encode(array_row([0, 257, 32768, 65535], np.uint16), "PNG"),
        "I;16",
        [BLACK, (1,) * 3, (128,) * 3, WHITE],
    ),
    (
        "i16-tiff",
        lambda: encode(array_row([0, 257, 32768, 65535], np.uint16), "TIFF"),
        "I;16",
        [BLACK, (1,) * 3, (128,) * 3, WHITE],
    ),
    (
        "i32-tiff-16bit-range",
        lambda: encode(array_row([0, 1000, 65535], np.int32), "TIFF"),
        "I",
        [BLACK, (4,) * 3, WHITE],
    ),
    (
        "i32-tiff-8bit-range",
        lambda: encode(array_row([0, 100, 200], np.int32), "TIFF"),
        "I",
        [BLACK, (100,) * 3, (200,) * 3],
    ),
    (
        "i32-tiff-negative",
        lambda: encode(array_row([-100, 0, 155], np.int32), "TIFF"),
        "I",
        [BLACK, (100,) * 3, WHITE],
    ),
    (
        "f-tiff-unit-range",
        lambda: encode(array_row([0.0, 0.5, 1.0], np.float32), "TIFF"),
        "F",
        [BLACK, (128,) * 3, WHITE],
    ),
    (
        "rgba-png",
        lambda: encode(row("RGBA", [(255, 0, 0, 0), (255, 0, 0, 255), (255, 0, 0, 128)]), "PNG"),
        "RGBA",
        [WHITE, RED, (255, 127, 127)],
    ),
    (
        "rgba-webp",
        lambda: encode(
            row("RGBA", [(255, 0, 0, 0), (255, 0, 0, 255), (255, 0, 0, 128)]), "WEBP", lossless=True
        ),
        "RGBA",
        [WHITE, RED, (255, 127, 127)],
    ),
    (
        "rgb-transparent-key-png",
        lambda: encode(row("RGB", [BLACK, (10, 20, 30)]), "PNG", transparency=BLACK),
        "RGB",
        [WHITE, (10, 20, 30)],
    ),
]


@pytest.mark.parametrize(
    ("build", "opened_mode", "expected"),
    [case[1:] for case in MODE_CASES],
    ids=[case[0] for case in MODE_CASES],
)
def test_every_mode_becomes_rgb(build, opened_mode, expected):
    data = build()
    assert Image.open(io.BytesIO(data)).mode == opened_mode  # the case tests what it says
    img = load_image(data)
    assert img.mode == "RGB"
    assert pixels(img) == expected


def test_cmyk_jpeg(astronaut):
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert close_to(load_image(data).getpixel((8, 8)), RED, tol=8)


def test_photo_in_grey_and_opaque_alpha(astronaut):
    grey = astronaut.convert("L")
    img = load_image(encode(grey, "PNG"))
    assert np.array_equal(np.asarray(img)[..., 1], np.asarray(grey))
    opaque = astronaut.convert("RGBA")
    assert np.array_equal(np.asarray(load_image(encode(opaque, "PNG"))), np.asarray(astronaut))


@pytest.mark.parametrize(
    ("img", "expected"),
    [
        (Image.new("La", (1, 1), (50, 0)), WHITE),
        (Image.new("RGBa", (1, 1), (0, 0, 0, 0)), WHITE),
        (Image.new("PA", (1, 1), (0, 255)), BLACK),
        (Image.new("YCbCr", (1, 1), (255, 128, 128)), WHITE),
        (Image.new("HSV", (1, 1), (0, 255, 255)), RED),
        (Image.new("I;16B", (1, 1), 65535), WHITE),
        (Image.new("F", (1, 1), float("nan")), BLACK),
    ],
    ids=["La", "RGBa", "PA", "YCbCr", "HSV", "I;16B", "F-nan"],
)
def test_to_rgb_in_memory_modes(img, expected):
    out = to_rgb(img)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == expected


def test_unconvertible_mode_is_a_typed_error(monkeypatch):
    img = Image.new("HSV", (1, 1))

    def refuse(self, mode=None, *args, **kwargs):
        raise ValueError(f"conversion from {self.mode} to {mode} not supported")

    monkeypatch.setattr(Image.Image, "convert", refuse)
    with pytest.raises(NotAnImageError, match="unsupported colour mode HSV") as info:
        to_rgb(img)
    assert "colour format" in info.value.user_message


# --- orientation and frames ---------------------------------------------------------------


def two_tone() -> Image.Image:
    """40×20: left half red, right half blue."""
    img = Image.new("RGB", (40, 20), RED)
    img.paste(BLUE, (20, 0, 40, 20))
    return img


def with_orientation(fmt: str, orientation: int, img: Image.Image | None = None) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return encode(img or two_tone(), fmt, exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize(
    ("orientation", "size", "probes"),
    [
        (1, (40, 20), {(5, 10): RED, (35, 10): BLUE}),
        (3, (40, 20), {(5, 10): BLUE, (35, 10): RED}),
        (6, (20, 40), {(10, 5): RED, (10, 35): BLUE}),  # rotate 90° clockwise
        (8, (20, 40), {(10, 5): BLUE, (10, 35): RED}),  # rotate 90° counter-clockwise
        (42, (40, 20), {(5, 10): RED, (35, 10): BLUE}),  # nonsense value: ignored
    ],
)
def test_exif_orientation_is_honoured(fmt, orientation, size, probes):
    data = with_orientation(fmt, orientation)
    assert Image.open(io.BytesIO(data)).getexif()[ExifTags.Base.Orientation] == orientation
    img = load_image(data)
    assert img.size == size
    assert probe_image(data) == size
    for xy, colour in probes.items():
        assert close_to(img.getpixel(xy), colour), (xy, img.getpixel(xy))


def test_orientation_then_downscale_uses_upright_size(astronaut):
    raw = astronaut.resize((2048, 1024))
    data = with_orientation("JPEG", 6, raw)
    assert load_image(data, max_side=256).size == (128, 256)
    assert probe_image(data) == (1024, 2048)


@pytest.mark.parametrize(
    ("fmt", "params"), [("GIF", {}), ("PNG", {}), ("WEBP", {"lossless": True})]
)
def test_animation_gives_the_first_frame(fmt, params):
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(
        frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **params
    )
    opened = Image.open(io.BytesIO(data))
    assert opened.is_animated and opened.n_frames == 3
    img = load_image(data)
    assert img.mode == "RGB" and img.size == (8, 8)
    assert np.all(np.asarray(img) == RED)


# --- refusals -----------------------------------------------------------------------------


NOT_AN_IMAGE = (
    "That file is not an image I can read (I understand JPEG, PNG, WebP, GIF, BMP and TIFF)."
)


def test_random_bytes_are_not_an_image():
    data = np.random.default_rng(0).bytes(4096)
    with pytest.raises(NotAnImageError) as info:
        load_image(data)
    assert info.value.user_message == NOT_AN_IMAGE
    with pytest.raises(NotAnImageError):
        probe_image(data)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("BMW is a car, not a bitmap.\n" * 20)
    with pytest.raises(NotAnImageError):
        load_image(path)


@pytest.mark.parametrize("fmt", ["PPM", "ICO", "PCX"])
def test_formats_outside_the_allow_list_are_refused(astronaut, fmt):
    data = encode(astronaut.resize((64, 64)), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt  # Pillow itself could read it
    with pytest.raises(NotAnImageError):
        load_image(data)


@pytest.mark.parametrize("source", [b"", bytearray(), memoryview(b"")])
def test_empty_bytes(source):
    with pytest.raises(EmptyImageError) as info:
        load_image(source)
    assert "empty" in info.value.user_message


def test_empty_file(tmp_path):
    path = tmp_path / "photo.jpg"
    path.touch()
    with pytest.raises(EmptyImageError):
        load_image(str(path))
    with pytest.raises(EmptyImageError):
        probe_image(path)


@pytest.mark.parametrize(
    "data",
    [
        png_with_size(0, 10),
        png_with_size(10, 0),
        encode(Image.new("L", (1, 1)), "GIF")[:6] + b"\0\0\0\0" + b"\0" * 30,
    ],
    ids=["png-0-wide", "png-0-high", "gif-0x0"],
)
def test_zero_size_dimensions_are_empty(data):
    with pytest.raises(EmptyImageError, match="no pixels") as info:
        load_image(data)
    assert "no pixels" in info.value.user_message


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_truncated_files_are_corrupt(astronaut, fmt):
    data = encode(astronaut, fmt)
    with pytest.raises(CorruptImageError) as info:
        load_image(data[: len(data) // 2])
    assert info.value.user_message == "This image looks damaged or cut off — please send it again."


@pytest.mark.parametrize(("fmt", "keep"), [("PNG", 20), ("JPEG", 30), ("GIF", 8)])
def test_cut_inside_the_header_is_corrupt_not_foreign(astronaut, fmt, keep):
    with pytest.raises(CorruptImageError):
        load_image(encode(astronaut, fmt)[:keep])


def test_flipped_bytes_in_png_data_are_corrupt(astronaut):
    data = bytearray(encode(astronaut, "PNG"))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
    with pytest.raises(CorruptImageError):
        load_image(bytes(data))


@pytest.fixture
def no_decoding(monkeypatch):
    """Any attempt to decode pixel data fails the test."""

    def refuse(self):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize(
    ("width", "height", "megapixels"),
    [
        (30_000, 30_000, "900"),  # beyond Pillow's hard limit: DecompressionBombError
        (12_000, 10_000, "120"),  # Pillow warns (DecompressionBombWarning)
        (10_000, 8_000, "80"),  # under Pillow's limits, over ours
    ],
)
def test_bombs_are_refused_from_the_header(no_decoding, width, height, megapixels):
    data = png_with_size(width, height)
    assert len(data) < 100
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as info:
        load_image(data)
    with pytest.raises(ImageTooLargeError):
        probe_image(data)
    assert time.perf_counter() - start < 1.0
    assert info.value.user_message == (
        f"This image is too large ({megapixels} megapixels); please send one under 60 megapixels."
    )


def test_pixel_limit_is_configurable(astronaut):
    data = encode(astronaut, "PNG")
    with pytest.raises(ImageTooLargeError) as info:
        load_image(data, max_pixels=100_000)
    assert "(0.3 megapixels)" in info.value.user_message
    assert "under 0.1 megapixels" in info.value.user_message
    assert load_image(data, max_pixels=512 * 512).size == (512, 512)


@pytest.mark.parametrize("size", [(1, 5000), (5000, 1), (401, 20)])
def test_thin_images_are_refused(size, no_decoding):
    data = png_with_size(*size)
    with pytest.raises(ImageShapeError) as info:
        load_image(data)
    assert "long and thin" in info.value.user_message
    with pytest.raises(ImageShapeError):
        probe_image(data)


def test_aspect_limit_is_inclusive_and_configurable():
    assert load_image(encode(Image.new("L", (400, 20)), "PNG")).size == (400, 20)
    assert load_image(encode(Image.new("L", (20, 1000)), "PNG"), max_aspect=50).size == (20, 1000)


def test_errors_share_a_base_and_carry_reasons_and_user_messages():
    for cls in (
        NotAnImageError,
        CorruptImageError,
        EmptyImageError,
        ImageTooLargeError,
        ImageShapeError,
    ):
        assert issubclass(cls, ImageError) and issubclass(cls, ValueError)
        assert cls("detail").user_message == IMAGE_MESSAGES[cls.reason]
        assert cls.reason != ImageError.reason and IMAGE_MESSAGES[cls.reason].endswith(".")
    err = ImageTooLargeError("log detail", "too_many_pixels", megapixels=61.0, limit=60.0)
    assert str(err) == "log detail" and err.values == {"megapixels": 61.0, "limit": 60.0}
    assert err.user_message == (
        "This image is too large (61 megapixels); please send one under 60 megapixels."
    )


def test_missing_file_and_wrong_type_are_caller_bugs(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "nope.png")
    with pytest.raises(TypeError):
        load_image(12345)  # type: ignore[arg-type]


# --- sizes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((4000, 3000), 1000, (1000, 750)),
        ((3000, 4000), 1000, (750, 1000)),
        ((512, 512), 128, (128, 128)),
        ((100, 50), 200, (100, 50)),  # never upscales
        ((100, 50), 100, (100, 50)),
        ((5000, 3), 100, (100, 1)),  # never rounds to zero
        ((333, 1000), 500, (166, 500)),
    ],
)
def test_fit_within(size, max_side, expected):
    assert fit_within(size, max_side) == expected


def test_fit_within_rejects_nonsense():
    with pytest.raises(ValueError):
        fit_within((10, 10), 0)
    with pytest.raises(ValueError):
        load_image(b"x", max_side=0)


@pytest.mark.parametrize(("size", "expected"), [((300, 200), (150, 100)), ((200, 300), (100, 150))])
def test_downscale_keeps_aspect(astronaut, size, expected):
    img = load_image(encode(astronaut.resize(size), "PNG"), max_side=150)
    assert img.size == expected


def test_small_images_are_not_upscaled(astronaut):
    img = load_image(encode(astronaut, "PNG"), max_side=1000)
    assert img.size == (512, 512)
    assert np.array_equal(np.asarray(img), np.asarray(astronaut))


def test_big_jpeg_uses_draft_then_resizes_well(astronaut, monkeypatch):
    big = astronaut.resize((2048, 1024), Image.Resampling.LANCZOS)
    data = encode(big, "JPEG", quality=95)
    calls = []
    original = JpegImageFile.draft

    def spy(self, mode, size):
        calls.append((self.size, size))
        return original(self, mode, size)

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    img = load_image(data, max_side=256)
    assert img.size == (256, 128)
    assert calls == [((2048, 1024), (256, 128))]
    reference = Image.open(io.BytesIO(data)).convert("RGB").resize((256, 128), Image.LANCZOS)
    assert mean_abs_diff(img, reference) < 6


def test_loading_from_paths_gives_a_detached_image(astronaut, tmp_path):
    path = tmp_path / "astronaut.jpg"
    path.write_bytes(encode(astronaut, "JPEG", quality=95))
    for source in (path, str(path)):
        assert load_image(source).size == (512, 512)
    img = load_image(path)
    path.unlink()
    assert mean_abs_diff(img, astronaut) < 4  # pixels still readable once the file is gone
    png = encode(astronaut, "PNG")
    assert np.array_equal(np.asarray(load_image(bytearray(png))), np.asarray(astronaut))
    assert probe_image(memoryview(png)) == (512, 512)


# --- saving and encoding ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.png", "OUT.PNG"])
def test_save_png_roundtrip_is_exact(astronaut, tmp_path, name):
    save_image(astronaut, tmp_path / name)
    assert Image.open(tmp_path / name).format == "PNG"
    assert np.array_equal(np.asarray(load_image(tmp_path / name)), np.asarray(astronaut))
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp files left


@pytest.mark.parametrize("name", ["out.jpg", "out.jpeg"])
def test_save_jpeg_roundtrip(astronaut, tmp_path, name):
    save_image(astronaut, str(tmp_path / name), quality=90)
    assert Image.open(tmp_path / name).format == "JPEG"
    assert mean_abs_diff(load_image(tmp_path / name), astronaut) < 4
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def test_save_flattens_alpha_for_jpeg_but_keeps_it_for_png(tmp_path):
    clear = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    save_image(clear, tmp_path / "a.jpg")
    assert close_to(Image.open(tmp_path / "a.jpg").getpixel((2, 2)), WHITE, tol=2)
    save_image(clear, tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode == "RGBA"
    save_image(Image.new("CMYK", (4, 4), (0, 255, 255, 0)), tmp_path / "c.png")
    assert Image.open(tmp_path / "c.png").getpixel((0, 0)) == RED


def test_save_replaces_atomically(astronaut, tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    save_image(Image.new("RGB", (8, 8), RED), target)
    save_image(astronaut, target)  # overwrite in place
    before = target.read_bytes()
    assert Image.open(target).size == (512, 512)

    def disk_full(self, fp, *args, **kwargs):
        fp.write(b"half a png")
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_image(Image.new("RGB", (8, 8), BLUE), target)
    assert target.read_bytes() == before  # the old file is intact ...
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # ... and no temp file remains


def test_save_refuses_unknown_suffix_and_missing_folder(astronaut, tmp_path):
    with pytest.raises(ValueError, match=r"\.png, \.jpg"):
        save_image(astronaut, tmp_path / "out.gif")
    with pytest.raises(FileNotFoundError):
        save_image(astronaut, tmp_path / "missing" / "out.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fmt", "magic"),
    [("PNG", b"\x89PNG"), ("png", b"\x89PNG"), ("JPEG", b"\xff\xd8"), ("jpg", b"\xff\xd8")],
)
def test_encode_image(astronaut, fmt, magic):
    data = encode_image(astronaut, fmt)
    assert data.startswith(magic)
    assert mean_abs_diff(load_image(data), astronaut) < 4


def test_encode_quality_and_alpha(astronaut):
    assert len(encode_image(astronaut, "JPEG", quality=30)) < len(encode_image(astronaut, "JPEG"))
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert close_to(load_image(encode_image(clear, "JPEG")).getpixel((1, 1)), WHITE, tol=2)
    with pytest.raises(ValueError, match="PNG or JPEG"):
        encode_image(astronaut, "GIF")
    with pytest.raises(ValueError, match="quality"):
        encode_image(astronaut, "JPEG", quality=0)


def test_images_module_stays_torch_free():
    source = (Path(__file__).resolve().parents[1] / "media" / "images.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"torch", "torchvision", "telegram", "engine"}
    assert {"PIL", "numpy"} <= imported
