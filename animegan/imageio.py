"""Image input/output: turn whatever the user hands us into upright 8-bit RGB (+ alpha), or a one-line error.

``load_picture`` accepts a path, raw bytes, a PIL image or a numpy array. The pixel count is checked from the header
before anything is decoded (decompression-bomb guard), the whole image is then decoded so truncation shows up here and
not later, EXIF orientation is applied, animated files give their first frame and every PIL mode is mapped to RGB.

Alpha policy: ``Picture.alpha`` is set whenever the input *carries* transparency (an alpha channel, a transparent
palette entry or a colour key), even if every pixel happens to be opaque; it is ``None`` otherwise. This keeps the
output format predictable from the input format. Colour keys on 16-bit/float grayscale are ignored.

Only common raster formats are decoded (``FORMATS``): this keeps Pillow away from Ghostscript (EPS) and from rarely
used decoders, and stops header-less formats such as TGA from "recognising" random bytes.
"""
from __future__ import annotations

import functools
import io
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import ExifTags, Image

from .errors import ImageTooLargeError, InvalidImageError

DEFAULT_MAX_PIXELS = 40_000_000   # hard refusal limit (decompression-bomb guard)
# What folder scans pick up: the FORMATS files people keep photos in, plus HEIC/HEIF so that iPhone pictures get
# their own clear error instead of being skipped.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".avif", ".bmp", ".gif", ".tif", ".tiff",
                  ".ppm", ".qoi", ".jp2", ".heic", ".heif"}
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP", "DIB", "TIFF", "ICO", "PPM", "JPEG2000", "QOI")

CORRUPT = "image data is truncated or corrupt"
UNRECOGNISED = "not a recognised image format"

# What Pillow's decoders raise on bad data (its fuzzers' list); anything else is a bug worth seeing.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)
_GRAY_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis")


@dataclass
class Picture:
    """A decoded, upright picture."""
    rgb: np.ndarray             # (H, W, 3) uint8, C-contiguous
    alpha: np.ndarray | None    # (H, W) uint8 when the input carries transparency, else None
    source_mode: str            # PIL mode of the original ("CMYK", "I;16", "P"...); channel layout for arrays


def load_picture(source: str | os.PathLike | bytes | Image.Image | np.ndarray,
                 max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = None) -> Picture:
    """Decode ``source`` into a Picture; raises InvalidImageError or ImageTooLargeError with a one-line message.
    ``max_bytes`` refuses a file (or bytes) larger than that before decoding it."""
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise InvalidImageError("empty file")
        _check_bytes(len(source), max_bytes)
        return _from_stream(io.BytesIO(source), max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return _from_path(Path(source), max_pixels, max_bytes)
    raise InvalidImageError(f"unsupported input type {type(source).__name__}; expected a path, bytes, "
                            "a PIL image or a numpy array")


def to_pil(rgb: np.ndarray, alpha: np.ndarray | None = None) -> Image.Image:
    """Wrap (H, W, 3) uint8 RGB, plus an optional (H, W) uint8 alpha, as a PIL RGB or RGBA image."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    if alpha is None:
        return Image.fromarray(np.ascontiguousarray(rgb))
    if alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]:
        raise ValueError(f"expected {rgb.shape[:2]} uint8 alpha, got {alpha.shape} {alpha.dtype}")
    return Image.fromarray(np.dstack((rgb, alpha)))


def fit_within(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale (area filter) so the long side is at most ``max_side``; never upscales; None leaves it unchanged."""
    if max_side is None:
        return rgb
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    scale = max_side / max(h, w)
    return resize_to(rgb, (max(1, round(w * scale)), max(1, round(h * scale))))


def resize_to(rgb_or_alpha: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Resize uint8 (H, W) or (H, W, C) to ``size_wh``: area filter when shrinking, cubic otherwise (saturated)."""
    if rgb_or_alpha.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {rgb_or_alpha.dtype}")
    w, h = size_wh
    if w < 1 or h < 1:
        raise ValueError(f"target size must be at least 1×1, got {w}×{h}")
    src_h, src_w = rgb_or_alpha.shape[:2]
    if (w, h) == (src_w, src_h):
        return rgb_or_alpha
    shrinking = w <= src_w and h <= src_h
    out = cv2.resize(np.ascontiguousarray(rgb_or_alpha), (w, h),
                     interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return out.reshape(h, w, *rgb_or_alpha.shape[2:])   # cv2 drops a trailing channel axis of size 1


def _check_bytes(size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise ImageTooLargeError(f"file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:g} MB")


def _from_path(path: Path, max_pixels: int, max_bytes: int | None = None) -> Picture:
    name = " ".join(path.name.splitlines()) or str(path)
    try:
        fp = open(path, "rb")
    except FileNotFoundError:
        raise InvalidImageError(f"file not found: {name}") from None
    except IsADirectoryError:
        raise InvalidImageError(f"is a directory, not an image file: {name}") from None
    except PermissionError:
        raise InvalidImageError(f"permission denied: {name}") from None
    except (OSError, ValueError):
        raise InvalidImageError(f"cannot open file: {name}") from None
    with fp:
        info = os.fstat(fp.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise InvalidImageError(f"is a directory, not an image file: {name}")
        if stat.S_ISREG(info.st_mode) and info.st_size == 0:
            raise InvalidImageError("empty file")
        if stat.S_ISREG(info.st_mode):
            _check_bytes(info.st_size, max_bytes)
        return _from_stream(fp, max_pixels)


def _from_stream(fp: BinaryIO, max_pixels: int) -> Picture:
    try:
        with _quiet_bomb_warning():
            image = Image.open(fp, formats=_formats())
    except Image.DecompressionBombError as exc:
        raise _pillow_bomb_error(exc, max_pixels) from None
    except Image.UnidentifiedImageError:
        raise InvalidImageError(_unrecognised(_head(fp))) from None
    except _DECODE_ERRORS:
        raise InvalidImageError(CORRUPT) from None
    with image:
        return _from_pil(image, max_pixels)


def _from_pil(image: Image.Image, max_pixels: int) -> Picture:
    w, h = image.size
    _check_size(w, h, max_pixels)
    try:
        with _quiet_bomb_warning():
            image.load()   # the first frame of animations; full decode so truncation is caught here
    except Image.DecompressionBombError as exc:
        raise _pillow_bomb_error(exc, max_pixels) from None
    except _DECODE_ERRORS:
        raise InvalidImageError(CORRUPT) from None
    mode = image.mode
    try:
        rgb, alpha = _to_rgb_alpha(_upright(image))
    except ValueError:   # Pillow: "conversion from X to Y not supported"
        raise InvalidImageError(f"unsupported image mode {mode}") from None
    return Picture(rgb, alpha, mode)


def _from_array(array: np.ndarray, max_pixels: int) -> Picture:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidImageError(f"array of shape {array.shape} is not an image; expected (H, W), (H, W, 3) "
                                "or (H, W, 4)")
    h, w = array.shape[:2]
    _check_size(w, h, max_pixels)
    pixels = _array_to_uint8(array)
    if pixels.ndim == 2:
        return Picture(np.repeat(pixels[..., None], 3, axis=2), None, "L")
    rgb = np.array(pixels[..., :3], order="C")
    if pixels.shape[2] == 3:
        return Picture(rgb, None, "RGB")
    return Picture(rgb, np.array(pixels[..., 3], order="C"), "RGBA")


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    """uint8 as is, bool → 0/255, uint16 → /257, float in [0, 1] → ×255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if array.dtype == np.uint16:
        return np.rint(array.astype(np.float32) / 257).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        low, high = float(array.min()), float(array.max())
        if not (0.0 <= low and high <= 1.0):   # also rejects NaN
            raise InvalidImageError(f"float array values must lie in [0, 1], got [{low:g}, {high:g}]")
        return np.rint(array.astype(np.float32) * 255).astype(np.uint8)
    raise InvalidImageError(f"unsupported array dtype {array.dtype}; expected uint8, uint16, bool or "
                            "float in [0, 1]")


def _check_size(w: int, h: int, max_pixels: int) -> None:
    if w <= 0 or h <= 0:
        raise InvalidImageError(f"image has no pixels ({w}×{h})")
    if w * h > max_pixels:
        raise ImageTooLargeError(f"image is {w}×{h} = {w * h / 1e6:.1f} megapixels; "
                                 f"the limit is {max_pixels / 1e6:.1f} megapixels")


def _pillow_bomb_error(exc: Image.DecompressionBombError, max_pixels: int) -> ImageTooLargeError:
    """Pillow refused first (its limit, 2 × Image.MAX_IMAGE_PIXELS, is checked inside Image.open)."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too large to decode safely"
    return ImageTooLargeError(f"image is {size}; the limit is {max_pixels / 1e6:.1f} megapixels")


@contextmanager
def _quiet_bomb_warning() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning: our own max_pixels check replaces it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


@functools.cache
def _formats() -> tuple[str, ...]:
    Image.init()
    return tuple(f for f in FORMATS if f in Image.OPEN)


def _head(fp: BinaryIO) -> bytes:
    """The first bytes of the input, or nothing if the stream cannot rewind."""
    try:
        fp.seek(0)
        return fp.read(4096)
    except OSError:
        return b""


def _unrecognised(head: bytes) -> str:
    """The most specific message for data Pillow could not identify."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text:
        return "SVG is not supported; convert it to PNG or JPEG"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIC/HEIF is not supported; convert it to JPEG or PNG"
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return CORRUPT
    if text.startswith((b"<!doctype html", b"<html")):
        return f"{UNRECOGNISED} (this is an HTML page)"
    return UNRECOGNISED


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (like ImageOps.exif_transpose, without its copy when there is nothing to do)."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:   # malformed EXIF must not reject a picture that decodes fine
        return image
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(method) if method is not None else image


def _to_rgb_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    if image.mode in _GRAY_HIGH_DEPTH:
        gray = _gray_to_uint8(np.asarray(image), image.mode)
        return np.repeat(gray[..., None], 3, axis=2), None
    if image.has_transparency_data:
        rgba = np.asarray(image if image.mode == "RGBA" else image.convert("RGBA"))
        return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
    return np.array(image if image.mode == "RGB" else image.convert("RGB")), None


def _gray_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """16-bit modes use the full 16-bit range; I and F are scaled by their nominal range, else by their maximum."""
    values = np.nan_to_num(values.astype(np.float32))
    top = float(values.max())
    if mode == "F":
        top = 1.0 if top <= 1.0 else top
    elif mode == "I":
        top = 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
    else:
        top = 65535.0
    return np.rint(np.clip(values, 0.0, None) * (255.0 / top)).astype(np.uint8)
