"""The photo → anime pipeline: load → resize to the working size → stylize (tiled if large) → back to the input
size → stylize each face on its own (aligned, ~512²) and blend it in → strength and keep-colours → restore alpha."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from animegan.color import adjust
from animegan.engine import OnnxGenerator
from animegan.errors import AnimeGANError, NoStylesError
from animegan.faces import Face, FacePipeline
from animegan.imageio import DEFAULT_MAX_PIXELS, Picture, fit_within, load_picture, resize_to, to_pil
from animegan.options import (FULL_RESOLUTION, STYLE_SIZE, faces_option, keep_colors_option, max_size_option,
                              strength_option)
from animegan.registry import Registry, Style

ImageInput = Any  # path, bytes, PIL image or numpy array (see animegan.imageio.load_picture)
Progress = Callable[[int, int, str], None]


@dataclass
class BatchResult:
    """One item of ``stylize_many``: the output image, or the reason it failed."""

    source: str
    image: Image.Image | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Stylizer:
    """Reusable, thread-safe stylizer: one cached onnxruntime session per model, a shared face pipeline."""

    def __init__(self, registry: Registry | None = None, threads: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, face_pipeline: FacePipeline | None = None,
                 max_bytes: int | None = None):
        """``max_pixels`` / ``max_bytes``: pictures (files) larger than this are refused before the model runs."""
        self.registry = registry or Registry()
        self.threads = threads
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes
        self.face_pipeline = face_pipeline or FacePipeline()
        self._generators: dict[str, OnnxGenerator] = {}
        self._lock = threading.Lock()

    def available_styles(self) -> list[Style]:
        return self.registry.available()

    def style(self, wanted: str | None = None) -> Style:
        """The style named by id or display name (any case); the first available one when ``wanted`` is None."""
        if wanted is None:
            styles = self.available_styles()
            if not styles:
                raise NoStylesError(self.registry.unavailable())
            return styles[0]
        return self.registry.find(wanted)

    def generator(self, style: str, weights: str | Path | None = None) -> OnnxGenerator:
        """The (cached) whole-picture engine of a style; resolves and sha256-checks its weights on first use."""
        chosen = self.style(style)
        key = f"{chosen.id}@{weights}" if weights else chosen.id
        with self._lock:
            if key not in self._generators:
                path = self.registry.resolve(chosen.id, weights)
                self._generators[key] = OnnxGenerator(path, multiple=chosen.multiple, threads=self.threads)
            return self._generators[key]

    def face_generator(self, style: str, weights: str | Path | None = None) -> OnnxGenerator:
        """What the face pass runs on aligned faces: the style's own face model if it has one, else (and whenever
        ``weights`` overrides the style's file) the whole-picture generator."""
        chosen = self.style(style)
        if chosen.face is None or weights is not None:
            return self.generator(chosen.id, weights)
        key = f"{chosen.id}#face"
        with self._lock:
            if key not in self._generators:
                path = self.registry.resolve_face(chosen.id)
                self._generators[key] = OnnxGenerator(path, multiple=chosen.face.multiple, threads=self.threads)
            return self._generators[key]

    def load(self, image: ImageInput) -> Picture:
        """Decode a picture within this stylizer's limits (``animegan.imageio.load_picture``)."""
        return load_picture(image, self.max_pixels, self.max_bytes)

    def render(self, rgb: np.ndarray, style: str, faces: bool = True, max_size: int = STYLE_SIZE,
               weights: str | Path | None = None, found: list[Face] | None = None) -> np.ndarray:
        """The style in full on an upright (H, W, 3) uint8 RGB array: stylized at the working size, scaled back to
        (H, W), faces restyled aligned and blended in (``found``: faces already located, e.g. tracked along a
        clip; None detects them). ``max_size`` must already be a checked ``max_size_option``. ``strength`` and
        ``keep_colors`` are applied afterwards
        (``animegan.color.adjust``), so a caller may keep this and re-render those for free."""
        chosen = self.style(style)
        engine = self.generator(chosen.id, weights)
        limit = {STYLE_SIZE: chosen.working_size, FULL_RESOLUTION: None}.get(max_size, max_size)
        stylized = engine(fit_within(rgb, limit))
        if stylized.shape != rgb.shape:
            stylized = resize_to(stylized, (rgb.shape[1], rgb.shape[0]))
        if faces:
            stylized = self.face_pipeline.enhance(rgb, stylized, self.face_generator(chosen.id, weights), faces=found,
                                                  in_place=True)
        return stylized

    def stylize(self, image: ImageInput, style: str | None = None, faces: bool = True,
                max_size: int | None = STYLE_SIZE, weights: str | Path | None = None, strength: float = 1.0,
                keep_colors: bool = False) -> Image.Image:
        """Turn one picture into the style; the result has the (upright) input's size, with its alpha if any.

        ``style``: id or display name. ``max_size``: the long side the picture is stylized at (the result is scaled
        back to the input size): ``STYLE_SIZE`` (-1) the style's working size, ``FULL_RESOLUTION`` (0 or None) every
        pixel (tiled). ``strength`` (0–1): how far the picture moves from the photo toward the style (0 gives the
        photo back). ``keep_colors``: keep the photo's colours, take the style's light, shading and lines.
        """
        options = max_size_option(max_size), strength_option(strength), keep_colors_option(keep_colors)
        return self._stylize(image, self.style(style).id, faces_option(faces), *options, weights)

    def _stylize(self, image: ImageInput, style_id: str, faces: bool, max_size: int, strength: float,
                 keep_colors: bool, weights: str | Path | None = None) -> Image.Image:
        """``stylize`` with checked options."""
        picture = self.load(image)
        if strength == 0:
            return to_pil(picture.rgb, picture.alpha)
        stylized = self.render(picture.rgb, style_id, faces, max_size, weights)
        return to_pil(adjust(picture.rgb, stylized, strength, keep_colors), picture.alpha)

    def iter_stylize(self, images: Iterable[ImageInput], style: str | None = None, faces: bool = True,
                     max_size: int | None = STYLE_SIZE, progress: Progress | None = None, strength: float = 1.0,
                     keep_colors: bool = False) -> Iterator[BatchResult]:
        """Stylize a batch one picture at a time (a caller can save each result and let it go); a bad item is
        reported in its ``BatchResult.error`` (see ``failure_reason``) and the others still finish."""
        items: Sequence[ImageInput] = list(images)
        max_size, strength = max_size_option(max_size), strength_option(strength)
        keep_colors, faces = keep_colors_option(keep_colors), faces_option(faces)
        style_id = self.style(style).id
        self.generator(style_id)  # a missing/corrupt style fails the whole batch once, up front
        if faces:
            self.face_generator(style_id)
        for index, item in enumerate(items):
            name = Path(item).name if isinstance(item, (str, Path)) else f"image {index + 1}"
            if progress:
                progress(index, len(items), name)
            start = time.perf_counter()
            try:
                image = self._stylize(item, style_id, faces, max_size, strength, keep_colors)
                result = BatchResult(name, image=image)
            except Exception as exc:  # any failure is this item's; yielded outside so its traceback is freed
                result = BatchResult(name, error=failure_reason(exc, name))
            result.seconds = time.perf_counter() - start
            yield result
        if progress:
            progress(len(items), len(items), "done")

    def stylize_many(self, images: Iterable[ImageInput], style: str | None = None, faces: bool = True,
                     max_size: int | None = STYLE_SIZE, progress: Progress | None = None, strength: float = 1.0,
                     keep_colors: bool = False) -> list[BatchResult]:
        """Stylize a batch and return every result (see ``iter_stylize`` to keep memory flat on big batches)."""
        return list(self.iter_stylize(images, style, faces, max_size, progress, strength, keep_colors))


def failure_reason(exc: Exception, source: str) -> str:
    """One line saying why ``source`` failed; the traceback of an unexpected error is logged."""
    if isinstance(exc, AnimeGANError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller max_size"
    logging.getLogger(__name__).error("%s: internal error", source, exc_info=exc)
    return " ".join(f"internal error: {type(exc).__name__}: {exc}".split())


_default: Stylizer | None = None
_default_lock = threading.Lock()


def default_stylizer() -> Stylizer:
    """The process-wide stylizer used by the module-level helpers."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Stylizer()
        return _default


def stylize(image: ImageInput, style: str | None = None, faces: bool = True, max_size: int | None = STYLE_SIZE,
            **kwargs: Any) -> Image.Image:
    """Turn one picture into anime style (see ``Stylizer.stylize``)."""
    return default_stylizer().stylize(image, style, faces=faces, max_size=max_size, **kwargs)


def stylize_many(images: Iterable[ImageInput], style: str | None = None, faces: bool = True,
                 max_size: int | None = STYLE_SIZE, progress: Progress | None = None, **kwargs: Any) -> list[BatchResult]:
    """Stylize many pictures (see ``Stylizer.stylize_many``)."""
    return default_stylizer().stylize_many(images, style, faces=faces, max_size=max_size, progress=progress,
                                           **kwargs)


def available_styles() -> list[Style]:
    """Styles whose weights can be loaded now."""
    return default_stylizer().available_styles()
