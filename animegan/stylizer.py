"""The photo → anime pipeline: load → resize to the working size → stylize (tiled if large) → back to the input
size → stylize each face on its own (aligned, ~512²) and blend it in → restore alpha."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from animegan.engine import OnnxGenerator
from animegan.errors import AnimeGANError, InvalidOptionError, NoStylesError
from animegan.faces import FacePipeline
from animegan.imageio import DEFAULT_MAX_PIXELS, fit_within, load_picture, resize_to, to_pil
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
    """Reusable, thread-safe stylizer: one cached onnxruntime session per style, a shared face pipeline."""

    def __init__(self, registry: Registry | None = None, threads: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, faces: FacePipeline | None = None):
        self.registry = registry or Registry()
        self.threads = threads
        self.max_pixels = max_pixels
        self.faces = faces or FacePipeline()
        self._generators: dict[str, OnnxGenerator] = {}
        self._lock = threading.Lock()

    def available_styles(self) -> list[Style]:
        return self.registry.available()

    @property
    def default_style(self) -> str:
        styles = self.available_styles()
        if not styles:
            raise NoStylesError(self.registry.unavailable())
        return styles[0].id

    def generator(self, style_id: str, weights: str | Path | None = None) -> OnnxGenerator:
        """The (cached) engine of a style; resolves and sha256-checks its weights on first use."""
        key = f"{style_id}@{weights}" if weights else style_id
        with self._lock:
            if key not in self._generators:
                style = self.registry.get(style_id)
                path = self.registry.resolve(style_id, weights)
                self._generators[key] = OnnxGenerator(path, multiple=style.multiple, threads=self.threads)
            return self._generators[key]

    def face_generator(self, style_id: str, weights: str | Path | None = None) -> OnnxGenerator:
        """What the face pass runs on aligned faces: the style's own face model if it has one, else (and whenever
        ``weights`` overrides the style's file) the whole-picture generator."""
        face = self.registry.get(style_id).face
        if face is None or weights is not None:
            return self.generator(style_id, weights)
        key = f"{style_id}#face"
        with self._lock:
            if key not in self._generators:
                path = self.registry.resolve_face(style_id)
                self._generators[key] = OnnxGenerator(path, multiple=face.multiple, threads=self.threads)
            return self._generators[key]

    def stylize(self, image: ImageInput, style: str | None = None, faces: bool = True,
                max_size: int | None = -1, weights: str | Path | None = None) -> Image.Image:
        """Turn one picture into the style; the result has the (upright) input's size, with its alpha if any.

        ``max_size`` is the long side the picture is stylized at (the result is scaled back to the input size):
        -1 uses the style's working size, None or 0 stylizes at full resolution (tiled).
        """
        check_max_size(max_size)
        style_id = style or self.default_style
        info = self.registry.get(style_id)
        engine = self.generator(style_id, weights)
        picture = load_picture(image, self.max_pixels)
        original = picture.rgb
        limit = info.working_size if max_size == -1 else (max_size or None)
        working = fit_within(original, limit)
        stylized = engine(working)
        if stylized.shape != original.shape:
            stylized = resize_to(stylized, (original.shape[1], original.shape[0]))
        if faces:
            stylized = self.faces.enhance(original, stylized, self.face_generator(style_id, weights), in_place=True)
        return to_pil(stylized, picture.alpha)

    def iter_stylize(self, images: Iterable[ImageInput], style: str | None = None, faces: bool = True,
                     max_size: int | None = -1, progress: Progress | None = None) -> Iterator[BatchResult]:
        """Stylize a batch one picture at a time (a caller can save each result and let it go); a bad item is
        reported in its ``BatchResult.error`` (see ``failure_reason``) and the others still finish."""
        items: Sequence[ImageInput] = list(images)
        style_id = style or self.default_style
        self.generator(style_id)  # a missing/corrupt style fails the whole batch once, up front
        if faces:
            self.face_generator(style_id)
        check_max_size(max_size)
        for index, item in enumerate(items):
            name = Path(item).name if isinstance(item, (str, Path)) else f"image {index + 1}"
            if progress:
                progress(index, len(items), name)
            start = time.perf_counter()
            try:
                result = BatchResult(name, image=self.stylize(item, style_id, faces=faces, max_size=max_size))
            except Exception as exc:  # any failure is this item's; yielded outside so its traceback is freed
                result = BatchResult(name, error=failure_reason(exc, name))
            result.seconds = time.perf_counter() - start
            yield result
        if progress:
            progress(len(items), len(items), "done")

    def stylize_many(self, images: Iterable[ImageInput], style: str | None = None, faces: bool = True,
                     max_size: int | None = -1, progress: Progress | None = None) -> list[BatchResult]:
        """Stylize a batch and return every result (see ``iter_stylize`` to keep memory flat on big batches)."""
        return list(self.iter_stylize(images, style, faces, max_size, progress))


def failure_reason(exc: Exception, source: str) -> str:
    """One line saying why ``source`` failed; the traceback of an unexpected error is logged."""
    if isinstance(exc, AnimeGANError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller max_size"
    logging.getLogger(__name__).error("%s: internal error", source, exc_info=exc)
    return " ".join(f"internal error: {type(exc).__name__}: {exc}".split())


def check_max_size(max_size: int | None) -> int | None:
    """Validate ``max_size``: -1 (style's working size), 0/None (full resolution) or a long side >= 64 px."""
    if max_size is None or max_size in (-1, 0):
        return max_size
    if not isinstance(max_size, int) or max_size < 64:
        raise InvalidOptionError(f"max_size must be -1 (the style's size), 0 (full resolution) or a long side of at "
                                 f"least 64 px, got {max_size!r}")
    return max_size


_default: Stylizer | None = None
_default_lock = threading.Lock()


def default_stylizer() -> Stylizer:
    """The process-wide stylizer used by the module-level helpers."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Stylizer()
        return _default


def stylize(image: ImageInput, style: str | None = None, faces: bool = True, max_size: int | None = -1,
            **kwargs: Any) -> Image.Image:
    """Turn one picture into anime style (see ``Stylizer.stylize``)."""
    return default_stylizer().stylize(image, style, faces=faces, max_size=max_size, **kwargs)


def stylize_many(images: Iterable[ImageInput], style: str | None = None, faces: bool = True,
                 max_size: int | None = -1, progress: Progress | None = None) -> list[BatchResult]:
    """Stylize many pictures (see ``Stylizer.stylize_many``)."""
    return default_stylizer().stylize_many(images, style, faces=faces, max_size=max_size, progress=progress)


def available_styles() -> list[Style]:
    """Styles whose weights can be loaded now."""
    return default_stylizer().available_styles()
