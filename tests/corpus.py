"""A corpus of odd and broken inputs, generated at test time (no committed binaries), each with its expected outcome.

Reusable by any test that feeds user files to the runtime (imageio, CLI, app)::

    cases = build_corpus(tmp_path)            # every case
    case = build_case("cmyk_jpeg", tmp_path)  # one case; names are in CASE_NAMES

``expect`` is None for inputs that must load, otherwise the exception class ``load_picture`` must raise; ``message``
is a fragment (case-insensitive) of that one-line message. For valid inputs ``size`` is the upright (W, H), ``alpha``
whether ``Picture.alpha`` is set, and ``check`` an optional extra assertion on the decoded Picture.
"""
from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from skimage import data

from animegan.errors import AnimeGANError, ImageTooLargeError, InvalidImageError

if TYPE_CHECKING:
    from animegan.imageio import Picture

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


@dataclass(frozen=True)
class CorpusCase:
    """One input file and what loading it must give."""
    name: str
    path: Path
    expect: type[AnimeGANError] | None          # None: loads fine
    message: str = ""                           # errors: fragment of the message
    size: tuple[int, int] | None = None         # valid: upright (W, H)
    alpha: bool = False                         # valid: Picture.alpha is set
    check: Callable[[Picture], None] | None = None


_BUILDERS: dict[str, Callable[[Path], CorpusCase]] = {}


def _case(builder: Callable[[Path], CorpusCase]) -> Callable[[Path], CorpusCase]:
    _BUILDERS[builder.__name__] = builder
    return builder


def build_case(name: str, folder: Path) -> CorpusCase:
    """Write the file(s) of one case into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return _BUILDERS[name](folder)


def build_corpus(folder: Path) -> list[CorpusCase]:
    """Write every case into ``folder`` (about 1 s, ~2 MB)."""
    return [build_case(name, folder) for name in _BUILDERS]


@functools.cache
def astronaut() -> np.ndarray:
    """512×512 RGB photo."""
    return data.astronaut()


@functools.cache
def coffee() -> np.ndarray:
    """600×400 (W×H) RGB photo."""
    return data.coffee()


def _save(image: Image.Image, path: Path, **params) -> Path:
    if path.suffix == ".png":
        params.setdefault("compress_level", 1)   # fast; the corpus is rebuilt every run
    image.save(path, **params)
    return path


def _write(path: Path, payload: bytes) -> Path:
    path.write_bytes(payload)
    return path


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def bilevel_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG of any size, streamed so huge headers cost no memory (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows_per_block = 1000
    block = (b"\x00" + bytes((width + 7) // 8)) * rows_per_block
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(block) for _ in range(height // rows_per_block))
    idat += packer.compress(block[:len(block) // rows_per_block * (height % rows_per_block)]) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- assertions on decoded pictures ------------------------------------------------------------------------------

def close_to(reference: np.ndarray, tolerance: float) -> Callable[[Picture], None]:
    """Mean absolute RGB difference to ``reference`` at most ``tolerance`` (lossy codecs, colour conversions)."""
    def check(picture: Picture) -> None:
        error = np.abs(picture.rgb.astype(np.int16) - reference.astype(np.int16)).mean()
        assert error <= tolerance, f"mean abs error {error:.2f} > {tolerance}"
    return check


def uniform(colour: tuple[int, int, int], tolerance: float = 2) -> Callable[[Picture], None]:
    """Every pixel within ``tolerance`` of ``colour`` (first frames of animations)."""
    def check(picture: Picture) -> None:
        assert np.abs(picture.rgb.astype(np.int16) - np.array(colour)).max() <= tolerance, picture.rgb[0, 0]
    return check


def _gray(picture: Picture) -> None:
    assert (picture.rgb[..., 0] == picture.rgb[..., 1]).all() and (picture.rgb[..., 1] == picture.rgb[..., 2]).all()


# --- cases that must load ----------------------------------------------------------------------------------------

@_case
def photo_jpeg(folder: Path) -> CorpusCase:
    path = _save(Image.fromarray(astronaut()), folder / "photo.jpg", quality=92)
    return CorpusCase("photo_jpeg", path, None, size=(512, 512), check=close_to(astronaut(), 4))


@_case
def tiny_png(folder: Path) -> CorpusCase:
    path = _save(Image.new("RGB", (1, 1), (10, 200, 30)), folder / "tiny.png")
    return CorpusCase("tiny_png", path, None, size=(1, 1), check=uniform((10, 200, 30), 0))


@_case
def panorama_jpeg(folder: Path) -> CorpusCase:
    wide = Image.fromarray(coffee()).resize((8000, 300), Image.Resampling.BILINEAR)
    path = _save(wide, folder / "panorama.jpg", quality=85)
    return CorpusCase("panorama_jpeg", path, None, size=(8000, 300))


@_case
def cmyk_jpeg(folder: Path) -> CorpusCase:
    path = _save(Image.fromarray(astronaut()).convert("CMYK"), folder / "cmyk.jpg", quality=95)

    def check(picture: Picture) -> None:
        assert picture.source_mode == "CMYK"
        close_to(astronaut(), 5)(picture)
    return CorpusCase("cmyk_jpeg", path, None, size=(512, 512), check=check)


@_case
def gray16_png(folder: Path) -> CorpusCase:
    levels = np.tile(np.arange(256, dtype=np.uint16), (64, 1))   # 8-bit ramp stored as 16-bit (×257)
    path = _save(Image.fromarray(levels * 257), folder / "gray16.png")

    def check(picture: Picture) -> None:
        assert picture.source_mode.startswith("I")
        _gray(picture)
        assert (picture.rgb[..., 0] == levels).all()
    return CorpusCase("gray16_png", path, None, size=(256, 64), check=check)


def _alpha_ramp(h: int, w: int) -> np.ndarray:
    return np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))


@_case
def rgba_png(folder: Path) -> CorpusCase:
    alpha = _alpha_ramp(512, 512)
    path = _save(Image.fromarray(np.dstack((astronaut(), alpha))), folder / "rgba.png")

    def check(picture: Picture) -> None:
        assert (picture.rgb == astronaut()).all() and (picture.alpha == alpha).all()
    return CorpusCase("rgba_png", path, None, size=(512, 512), alpha=True, check=check)


@_case
def palette_png(folder: Path) -> CorpusCase:
    image = Image.fromarray(astronaut()).quantize(64, method=Image.Quantize.FASTOCTREE)
    path = _save(image, folder / "palette.png")
    return CorpusCase("palette_png", path, None, size=(512, 512), check=close_to(np.array(image.convert("RGB")), 0))


@_case
def palette_transparent_png(folder: Path) -> CorpusCase:
    indices = np.zeros((48, 64), np.uint8)
    indices[:, 32:] = 1                                   # left half: index 0 (transparent), right half: opaque red
    image = Image.frombytes("P", (64, 48), indices.tobytes())
    image.putpalette([0, 0, 255, *RED] + [0] * 762)
    path = _save(image, folder / "palette_transparent.png", transparency=0)

    def check(picture: Picture) -> None:
        assert (picture.alpha[:, :32] == 0).all() and (picture.alpha[:, 32:] == 255).all()
        assert (picture.rgb[:, 32:] == RED).all()
    return CorpusCase("palette_transparent_png", path, None, size=(64, 48), alpha=True, check=check)


def _frames(colours: tuple[tuple[int, int, int], ...]) -> list[Image.Image]:
    return [Image.new("RGB", (64, 48), colour) for colour in colours]


@_case
def animated_gif(folder: Path) -> CorpusCase:
    first, *rest = _frames((RED, BLUE, GREEN))
    path = _save(first, folder / "animated.gif", save_all=True, append_images=rest, duration=100, loop=0)
    return CorpusCase("animated_gif", path, None, size=(64, 48), check=uniform(RED))


@_case
def animated_png(folder: Path) -> CorpusCase:
    first, *rest = _frames((GREEN, RED))
    path = _save(first, folder / "animated.png", save_all=True, append_images=rest, duration=100)
    return CorpusCase("animated_png", path, None, size=(64, 48), check=uniform(GREEN))


@_case
def animated_webp(folder: Path) -> CorpusCase:
    first, *rest = _frames((BLUE, RED))
    path = _save(first, folder / "animated.webp", save_all=True, append_images=rest, duration=100, lossless=True)
    return CorpusCase("animated_webp", path, None, size=(64, 48), check=uniform(BLUE))


@_case
def exif_rotated_jpeg(folder: Path) -> CorpusCase:
    stored = coffee().copy()               # stored 600×400; a red block at the stored top-left
    stored[:60, :60] = RED
    exif = Image.Exif()
    exif[0x0112] = 6                       # "rotate 90° clockwise to display"
    path = _save(Image.fromarray(stored), folder / "exif_rotated.jpg", exif=exif, quality=92)

    def check(picture: Picture) -> None:   # stored top-left is displayed top-right
        assert np.abs(picture.rgb[5:55, -55:-5].astype(int) - RED).max() < 40
    return CorpusCase("exif_rotated_jpeg", path, None, size=(400, 600), check=check)


@_case
def gray_png(folder: Path) -> CorpusCase:
    gray = Image.fromarray(astronaut()).convert("L")
    path = _save(gray, folder / "gray.png")

    def check(picture: Picture) -> None:
        _gray(picture)
        assert (picture.rgb[..., 0] == np.array(gray)).all()
    return CorpusCase("gray_png", path, None, size=(512, 512), check=check)


@_case
def bilevel_1bit_png(folder: Path) -> CorpusCase:
    path = _save(Image.fromarray(astronaut()).convert("1"), folder / "bilevel.png")

    def check(picture: Picture) -> None:
        assert set(np.unique(picture.rgb)) <= {0, 255} and picture.source_mode == "1"
    return CorpusCase("bilevel_1bit_png", path, None, size=(512, 512), check=check)


@_case
def la_png(folder: Path) -> CorpusCase:
    gray = np.array(Image.fromarray(astronaut()).convert("L"))
    alpha = _alpha_ramp(512, 512)
    path = _save(Image.fromarray(np.dstack((gray, alpha))), folder / "la.png")

    def check(picture: Picture) -> None:
        assert picture.source_mode == "LA" and (picture.alpha == alpha).all()
        assert (picture.rgb[..., 0] == gray).all()
    return CorpusCase("la_png", path, None, size=(512, 512), alpha=True, check=check)


@_case
def photo_webp(folder: Path) -> CorpusCase:
    path = _save(Image.fromarray(astronaut()), folder / "photo.webp", quality=90)
    return CorpusCase("photo_webp", path, None, size=(512, 512), check=close_to(astronaut(), 6))


@_case
def photo_bmp(folder: Path) -> CorpusCase:
    path = _save(Image.fromarray(coffee()), folder / "photo.bmp")
    return CorpusCase("photo_bmp", path, None, size=(600, 400), check=close_to(coffee(), 0))


@_case
def photo_tiff(folder: Path) -> CorpusCase:
    path = _save(Image.fromarray(coffee()), folder / "photo.tiff", compression="tiff_deflate")
    return CorpusCase("photo_tiff", path, None, size=(600, 400), check=close_to(coffee(), 0))


@_case
def jpeg_named_png(folder: Path) -> CorpusCase:
    path = _write(folder / "actually_a_jpeg.png", _encode(Image.fromarray(coffee()), "JPEG", quality=92))
    return CorpusCase("jpeg_named_png", path, None, size=(600, 400), check=close_to(coffee(), 4))


# --- cases that must be refused ----------------------------------------------------------------------------------

@_case
def empty_file(folder: Path) -> CorpusCase:
    return CorpusCase("empty_file", _write(folder / "empty.jpg", b""), InvalidImageError, "empty file")


@_case
def text_named_jpeg(folder: Path) -> CorpusCase:
    path = _write(folder / "notes.jpg", b"Shopping list:\n- eggs\n- coffee\n")
    return CorpusCase("text_named_jpeg", path, InvalidImageError, "not a recognised image format")


@_case
def truncated_jpeg(folder: Path) -> CorpusCase:
    payload = _encode(Image.fromarray(astronaut()), "JPEG", quality=92)
    path = _write(folder / "truncated.jpg", payload[:len(payload) // 2])
    return CorpusCase("truncated_jpeg", path, InvalidImageError, "truncated or corrupt")


@_case
def truncated_png(folder: Path) -> CorpusCase:
    payload = _encode(Image.fromarray(astronaut()), "PNG", compress_level=1)
    path = _write(folder / "truncated.png", payload[:len(payload) // 2])
    return CorpusCase("truncated_png", path, InvalidImageError, "truncated or corrupt")


@_case
def zero_width_png(folder: Path) -> CorpusCase:
    payload = bytearray(bilevel_png(8, 8))
    payload[16:20] = struct.pack(">I", 0)                      # IHDR width := 0
    payload[29:33] = struct.pack(">I", zlib.crc32(bytes(payload[12:29])))
    path = _write(folder / "zero_width.png", bytes(payload))
    return CorpusCase("zero_width_png", path, InvalidImageError, "corrupt")


@_case
def svg(folder: Path) -> CorpusCase:
    path = _write(folder / "drawing.svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
                                          b'width="10" height="10"><rect width="10" height="10"/></svg>\n')
    return CorpusCase("svg", path, InvalidImageError, "SVG is not supported")


@_case
def html(folder: Path) -> CorpusCase:
    path = _write(folder / "page.jpg", b"<!DOCTYPE html>\n<html><body><img src='cat.jpg'></body></html>\n")
    return CorpusCase("html", path, InvalidImageError, "not a recognised image format")


@_case
def random_bytes(folder: Path) -> CorpusCase:
    path = _write(folder / "noise.jpg", np.random.default_rng(1234).bytes(4096))
    return CorpusCase("random_bytes", path, InvalidImageError, "not a recognised image format")


@_case
def fake_heic(folder: Path) -> CorpusCase:
    path = _write(folder / "IMG_0001.HEIC", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    return CorpusCase("fake_heic", path, InvalidImageError, "HEIC")


@_case
def decompression_bomb(folder: Path) -> CorpusCase:
    """~50 kB PNG claiming 20000×20000 (400 MP): Pillow's own guard fires inside Image.open."""
    path = _write(folder / "bomb.png", bilevel_png(20000, 20000))
    return CorpusCase("decompression_bomb", path, ImageTooLargeError, "megapixels")


@_case
def over_pillow_warning_limit(folder: Path) -> CorpusCase:
    """120 MP: between Pillow's warning and error thresholds, so only our own check refuses it."""
    path = _write(folder / "huge.png", bilevel_png(12000, 10000))
    return CorpusCase("over_pillow_warning_limit", path, ImageTooLargeError, "12000×10000 = 120.0 megapixels")


@_case
def over_default_limit(folder: Path) -> CorpusCase:
    """48 MP: fine for Pillow, above DEFAULT_MAX_PIXELS."""
    path = _write(folder / "big.png", bilevel_png(8000, 6000))
    return CorpusCase("over_default_limit", path, ImageTooLargeError, "8000×6000 = 48.0 megapixels")


@_case
def directory(folder: Path) -> CorpusCase:
    path = folder / "folder.jpg"
    path.mkdir(exist_ok=True)
    return CorpusCase("directory", path, InvalidImageError, "directory")


@_case
def missing_file(folder: Path) -> CorpusCase:
    return CorpusCase("missing_file", folder / "missing.jpg", InvalidImageError, "file not found: missing.jpg")


CASE_NAMES = tuple(_BUILDERS)
