"""Photo → anime web app (Gradio): one picture with a before/after slider, a session gallery, batches with a ZIP,
and two stable API endpoints, ``/stylize`` and ``/stylize_batch``. Run ``python app.py``.

Every event that runs a model is declared with ``preprocess=False``: the handlers get Gradio's file payloads and
decode them with ``animegan.imageio``, so a bad upload gets our one-line message instead of a Gradio processing error,
and EXIF orientation, alpha and the pixel limit are handled in one place. ``UploadsOnlyBlocks`` makes sure that every
file an event receives was uploaded through Gradio's upload route (see SECURITY.md).
"""
import html
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio.exceptions import InvalidPathError
from gradio.utils import get_upload_folder
from gradio_client.utils import is_http_url_like
from PIL import Image
from pydantic import ValidationError

from animegan import AnimeGANError, NoStylesError, Style, Stylizer, UnknownStyleError
from animegan.color import adjust
from animegan.imageio import IMAGE_SUFFIXES, Picture, fit_within, load_picture, to_pil
from animegan.options import (FULL_RESOLUTION, STYLE_SIZE, faces_option, keep_colors_option, max_size_option,
                              strength_option)
from animegan.video import Limits, stylize_video

log = logging.getLogger("animegan.app")

ROOT = Path(__file__).resolve().parent
EXAMPLES = {"Portrait": "portrait_astronaut.jpg", "Coffee": "scene_coffee.jpg", "Rocket launch": "scene_rocket.jpg",
            "Cat": "cat_chelsea.jpg"}
EXAMPLES_DIR = ROOT / "docs" / "examples"
PREVIEW_PHOTO = EXAMPLES_DIR / EXAMPLES["Portrait"]
PREVIEW_SIDE = 256          # style previews are rendered from a copy this large
PREVIEW_CACHE = Path(os.environ.get("ANIMEGAN_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                     / "animegan") / "previews"      # rendered once per style file, reused by every start
WARM_UP_WAIT = 120          # seconds a page load waits for the style previews being rendered
THUMB_SIDE = 320            # gallery thumbnails
SESSION_LIMIT = 24          # results kept in the session gallery
MAX_PIXELS = 25_000_000     # server-side refusal limit per picture
MAX_PICTURE_MB = 20         # per picture file (checked by the stylizer)
MAX_UPLOAD_MB = 200         # any upload (Gradio's max_file_size): the video limit
MAX_BATCH = 50
VIDEO_LIMITS = Limits(max_seconds=60, max_pixels=1920 * 1080, max_bytes=MAX_UPLOAD_MB * 1_000_000)
BROWSER_VIDEO = {".mp4", ".webm", ".m4v", ".ogv"}
SHARE_SIDE = 1280           # long side of each half of the before | after picture
SIZES = [("Fast · 512 px", 512), ("Standard · the style's own size", STYLE_SIZE),
         ("Full resolution · slow", FULL_RESOLUTION)]
MODEL_QUEUE = "model"       # one concurrency group for every event that runs a model
ADJUST_QUEUE = "adjust"     # re-rendering strength / keep-colours from a cached model output
CHECK_QUEUE = "check"       # reading an upload to flag a bad file before Stylize
PNG_OPTIONS = {"format": "PNG", "compress_level": 3}
CREAM = "#fff8ef"
BROWSER_FORMATS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".avif"}

Payload = dict[str, Any] | None   # a file as Gradio hands it over with preprocess=False (FileData as a dict)
NOT_UPLOADED = "files must be uploaded to this app first (gradio_client's handle_file does it); " \
               "server paths and URLs are not accepted"
SERVER_PATH = re.compile(r"(?<![^\s'\"(\[=])(?:[A-Za-z]:)?[\\/](?:[^\s\\/'\"]+[\\/])+")  # an absolute path's folders
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>:])")

INTRO = """
<div id="hero">
  <h1>Photo → Anime</h1>
  <p>Turn any photo into an anime-style picture. Pick a style, press <b>Stylize</b>, drag the slider to compare.</p>
  <p class="note">Nothing is kept: your photos and results are deleted from the server within about an hour.</p>
</div>
"""
TIPS = f"""
* **Faces** — keep *Enhance faces* on for portraits: every face is restyled up close. Turn it off for scenes,
  or to go faster.
* **Size** — *Fast* stylizes at 512 px, *Standard* at the style's own size, *Full resolution* keeps every pixel
  (slow on big photos). The result always has your photo's size; download it as a PNG.
* **Strength and colours** — lower *Strength* for a lighter touch; *Keep my colours* keeps your photo's colours
  with the style's light, shading and lines. Both change the last result at once, without running the model again.
* **Limits** — up to {MAX_PICTURE_MB} MB and {MAX_PIXELS // 1_000_000} megapixels per picture,
  {MAX_BATCH} pictures per batch.
* **Privacy** — nothing is kept: uploads and results only live in temporary files that are deleted within about
  an hour (and when the app stops). No accounts, no tracking.
"""
VIDEO_HELP = (f"Turn a short clip into anime, with its sound. Up to {VIDEO_LIMITS.max_seconds:g} seconds and "
              f"{MAX_UPLOAD_MB} MB; clips above 1080p are scaled down. Frames are stylized at 512 px and kept steady "
              "from one to the next (no flicker, faces that do not jump). About 3–6 frames per second on 2 CPU cores.")
BATCH_HELP = ("Stylize many pictures at once and download them as one ZIP. A file that cannot be read is listed "
              "below with the reason; the others still finish.")
NO_STYLES = ("### No styles are installed yet\nThe app is running but has no style weights to use. "
             "Install the files listed in `weights/manifest.json` (or set `ANIMEGAN_MANIFEST`) and restart.")
CSS = """
.gradio-container { max-width: 1200px !important; margin: 0 auto !important; }
#hero { text-align: center; padding: 6px 0 2px; }
#hero h1 { font-size: 2.1rem; margin: 0 0 4px; color: #be185d; }
#hero p { margin: 0; color: #7a5b4c; }
#hero p.note { font-size: .85rem; opacity: .8; }
#stylize-btn { font-size: 1.1rem; }
#status { min-height: 1.5em; }
.compact-gallery .grid-wrap.fixed-height { min-height: 0; max-height: none; }
.compact-gallery .grid-wrap .grid-container { grid-template-columns: repeat(auto-fill, minmax(var(--tile), 1fr)); }
#style-previews { --tile: 112px; }
#session-gallery { --tile: 240px; }
#session-gallery .thumbnail-item { aspect-ratio: 2 / 1; }
#batch-results { --tile: 160px; }
#no-styles { background: #fde7ef; border: 1px solid #f3c6d6; border-radius: 12px; padding: 10px 16px; }
#batch-report table td, #batch-report table th { border-color: #f3c6d6; }
"""


@dataclass
class Rendered:
    """One picture after the model: the decoded upload and the style at full strength (faces included)."""

    picture: Picture
    raw: np.ndarray
    style: Style
    seconds: float


@dataclass
class Outcome:
    """One finished picture: strength and keep-colours applied, written as a full-size PNG."""

    original: Image.Image
    result: Image.Image
    png: Path
    style: Style
    seconds: float

    @property
    def caption(self) -> str:
        return f"{self.style.name} · {self.seconds:.1f} s"


@dataclass
class Saved:
    """One batch item after it was written to disk (the full image is not kept in memory)."""

    source: str
    png: Path | None
    thumb: Image.Image | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def public_message(text: str) -> str:
    """``text`` without the folders of any server path in it (a file keeps its bare name)."""
    return SERVER_PATH.sub("", text)


@contextmanager
def user_errors() -> Iterator[None]:
    """Show an AnimeGANError as a Gradio error with its one-line message (no stack trace, no server path)."""
    try:
        yield
    except AnimeGANError as exc:
        raise gr.Error(public_message(str(exc)), print_exception=False) from None


def is_uploaded(path: Any) -> bool:
    """True for a path inside Gradio's upload folder once symlinks and ``..`` are resolved; URLs are not uploads."""
    if not isinstance(path, str) or not path or is_http_url_like(path):
        return False
    return Path(path).resolve().is_relative_to(Path(get_upload_folder()).resolve())


def named_files(value: Any) -> Iterator[Any]:
    """The ``path`` of every file object (a dict with a ``path`` or ``url``) anywhere in a request payload."""
    if isinstance(value, dict):
        if "path" in value or "url" in value:
            yield value.get("path")
        for item in value.values():
            yield from named_files(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from named_files(item)


class UploadsOnlyBlocks(gr.Blocks):
    """Blocks whose events accept only files uploaded through Gradio's upload route.

    Gradio checks file payloads that carry its ``meta`` marker, but hands a payload without it to a
    ``preprocess=False`` handler as it came, and fetches URLs itself. Every file object of a request is checked here
    first, and any refusal (ours or Gradio's) gets the same message, whether the named file exists or not."""

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False) -> Any:
        if not explicit_call and not all(map(is_uploaded, named_files(inputs))):
            raise gr.Error(NOT_UPLOADED, print_exception=False)
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except (InvalidPathError, ValidationError):     # a path Gradio refuses, a file payload of the wrong shape
            raise gr.Error(NOT_UPLOADED, print_exception=False) from None


def path_of(payload: Payload) -> str | None:
    """The server path of one uploaded file."""
    return payload.get("path") if payload else None


def paths_of(payloads: list[Payload] | Payload) -> list[str]:
    """The server paths of a file list (a single file counts as a list of one)."""
    items = payloads if isinstance(payloads, list) else [payloads]
    return [path for path in map(path_of, items) if path]


def as_max_size(value: Any) -> int:
    """The ``max_size`` option (an empty form field means the style's size)."""
    return STYLE_SIZE if value is None or value == "" else max_size_option(value)


def as_strength(percent_or_fraction: Any, percent: bool = False) -> float:
    """The strength option; the UI slider gives percent, the API a fraction."""
    if percent and isinstance(percent_or_fraction, (int, float)) and not isinstance(percent_or_fraction, bool):
        percent_or_fraction = percent_or_fraction / 100
    return strength_option(percent_or_fraction)


def new_output_dir() -> Path:
    """A fresh, unguessable folder inside Gradio's cache: files returned from there are removed by ``delete_cache``. Folders
    it has emptied (older than a minute) are removed here, so they do not pile up."""
    cache = Path(get_upload_folder())
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob("anime-*"):
        with suppress(OSError):
            if time.time() - old.stat().st_mtime > 60:
                old.rmdir()  # fails (and is skipped) while it still holds files
    folder = cache / f"anime-{secrets.token_urlsafe(16)}"     # 128 random bits: result URLs cannot be guessed
    folder.mkdir(mode=0o700)
    return folder


def save_png(image: Image.Image, folder: Path, stem: str) -> Path:
    """Write ``image`` as ``<stem>.png`` in ``folder``, numbering the name if it is taken."""
    path, n = folder / f"{stem}.png", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}_{n}.png"
    image.save(path, **PNG_OPTIONS)
    return path


def thumbnail(image: Image.Image, side: int = THUMB_SIDE) -> Image.Image:
    """A small RGB copy (transparency flattened onto cream) for galleries."""
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    if small.mode != "RGBA":
        return small.convert("RGB")
    canvas = Image.new("RGB", small.size, CREAM)
    canvas.paste(small, mask=small.getchannel("A"))
    return canvas


def before_after(before: Image.Image, after: Image.Image, side: int = THUMB_SIDE, gap: int = 6) -> Image.Image:
    """Both pictures, at most ``side`` px each, side by side on a cream strip."""
    left, right = thumbnail(before, side), thumbnail(after, side)
    strip = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), CREAM)
    strip.paste(left, (0, 0))
    strip.paste(right, (left.width + gap, 0))
    return strip


def batch_report(results: list[Saved], seconds: float) -> str:
    """Markdown summary of a batch, with a table of the failed files and why."""
    done = sum(r.ok for r in results)
    lines = [f"**{done} of {len(results)} pictures stylized** in {seconds:.1f} s."]
    failed = [r for r in results if not r.ok]
    if failed:
        lines += ["", "| File | Why it failed |", "| --- | --- |"]
        lines += [f"| {table_cell(r.source)} | {table_cell(public_message(r.error or ''))} |" for r in failed]
    return "\n".join(lines)


def table_cell(text: str | None) -> str:
    """Text shown literally in a Markdown table cell: markup and HTML stay inert, one line."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def failure_lines(results: list[Saved]) -> str:
    """One ``file: reason`` line per failed item ("" if none failed)."""
    return "\n".join(f"{r.source}: {public_message(r.error or '')}" for r in results if not r.ok)


def zip_results(results: list[Saved], style: Style) -> Path:
    """One ZIP holding the PNG of every successful result (PNGs are compressed already, so they are stored)."""
    path = new_output_dir() / f"anime_{style.id}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for r in results:
            if r.png is not None:
                archive.write(r.png, r.png.name)
    return path


class AnimeApp:
    """What the app does, apart from its layout: style lookup, previews and the event handlers."""

    def __init__(self, stylizer: Stylizer):
        self.stylizer = stylizer
        self.styles, problems = stylizer.registry.check()
        for style_id, why in problems.items():
            log.warning("style %s is not available: %s", style_id, why)
        self._warm = threading.Thread(target=self._warm_up, name="warm-up", daemon=True)
        self._cancels: dict[str, threading.Event] = {}     # per browser session: the running clip's cancel switch

    # --- styles -------------------------------------------------------------------------------------------------
    def style_choices(self) -> list[tuple[str, str]]:
        return [(style.name, style.id) for style in self.styles]

    def resolve_style(self, wanted: str | None) -> Style:
        """A style by id or display name (any case), as everywhere in the package."""
        if not self.styles:
            raise NoStylesError(self.stylizer.registry.unavailable())
        return self.stylizer.registry.find(wanted or "")

    def preview_file(self, style: Style) -> Path:
        """Where the style's preview is cached: named after its files' sha256, so new weights get a new preview."""
        digest = style.sha256[:16] + (f"-{style.face.sha256[:8]}" if style.face else "")
        return PREVIEW_CACHE / f"{style.id}-{digest}.png"

    def previews(self) -> list[tuple[str, str]]:
        """(cached preview file, style name) of every style whose preview is rendered."""
        return [(str(self.preview_file(s)), s.name) for s in self.styles if self.preview_file(s).is_file()]

    def start_warm_up(self) -> None:
        """Render missing previews, then load dlib and the first style, in the background: the port opens at once
        and a request that comes first simply waits for what it needs (the stylizer's locks)."""
        self._warm.start()

    def _warm_up(self) -> None:
        small = to_pil(fit_within(load_picture(PREVIEW_PHOTO).rgb, PREVIEW_SIDE))
        for style in self.styles:
            target = self.preview_file(style)
            if target.is_file() or self.stylizer.registry.local_file(style) is None:
                continue        # cached, or its weights would first need a download: never wait on the network
            try:
                preview = self.stylizer.stylize(small, style.id, faces=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(".partial.png")
                preview.save(partial)
                partial.replace(target)
            except (AnimeGANError, OSError) as exc:
                log.warning("no preview for style %s: %s", style.id, exc)
        if self.styles:
            with suppress(AnimeGANError):
                self.stylizer.stylize(small, self.styles[0].id, faces=True)     # dlib + the first style loaded

    def previews_when_ready(self) -> list[tuple[str, str]]:
        """The previews once the warm-up has rendered them (a page load waits at most ``WARM_UP_WAIT`` s)."""
        if self._warm.is_alive():
            self._warm.join(WARM_UP_WAIT)
        return self.previews()

    def pick_preview(self, evt: gr.SelectData) -> str | dict:
        """The style id of the clicked preview (its caption is the style's name)."""
        caption = (evt.value or {}).get("caption") if isinstance(evt.value, dict) else None
        try:
            return self.stylizer.registry.find(caption or "").id
        except UnknownStyleError:
            return gr.skip()

    # --- core ---------------------------------------------------------------------------------------------------
    def render_file(self, path: str, style: str | None, faces: bool, max_size: Any) -> Rendered:
        """Decode one uploaded file and run the style on it at full strength."""
        chosen = self.resolve_style(style)
        size = as_max_size(max_size)
        start = time.perf_counter()
        picture = self.stylizer.load(path)
        raw = self.stylizer.render(picture.rgb, chosen.id, faces_option(faces), size)
        return Rendered(picture, raw, chosen, time.perf_counter() - start)

    @staticmethod
    def finish(rendered: Rendered, strength: float, keep_colors: bool, folder: Path, stem: str) -> Outcome:
        """Apply strength and keep-colours to a rendered picture and save the full-size PNG."""
        start = time.perf_counter()
        picture = rendered.picture
        original = to_pil(picture.rgb, picture.alpha)
        result = to_pil(adjust(picture.rgb, rendered.raw, strength, keep_colors), picture.alpha)
        png = save_png(result, folder, stem)
        return Outcome(original, result, png, rendered.style, rendered.seconds + time.perf_counter() - start)

    def stylize_file(self, path: str, style: str | None, faces: bool, max_size: Any, strength: Any = 1.0,
                     keep_colors: Any = False) -> Outcome:
        """Stylize one uploaded file and save the full-resolution PNG (options are checked before the model runs)."""
        strength, keep_colors = as_strength(strength), keep_colors_option(keep_colors)
        rendered = self.render_file(path, style, faces, max_size)
        return self.finish(rendered, strength, keep_colors, new_output_dir(), f"{Path(path).stem}_{rendered.style.id}")

    def stylize_files(self, paths: list[str], style: str | None, faces: bool, max_size: Any,
                      progress: Callable[[int, int, str], None] | None = None, strength: Any = 1.0,
                      keep_colors: Any = False) -> tuple[Style, list[Saved]]:
        """Stylize a batch, writing each PNG as soon as it is done; bad files are reported in their result and
        the others still finish."""
        if not paths:
            raise AnimeGANError("add some pictures first")
        if len(paths) > MAX_BATCH:
            raise AnimeGANError(f"at most {MAX_BATCH} pictures per batch, got {len(paths)}")
        chosen = self.resolve_style(style)
        strength, keep_colors = as_strength(strength), keep_colors_option(keep_colors)
        folder = new_output_dir()
        saved = []
        for r in self.stylizer.iter_stylize(paths, chosen.id, faces=faces, max_size=as_max_size(max_size),
                                            progress=progress, strength=strength, keep_colors=keep_colors):
            png = save_png(r.image, folder, f"{Path(r.source).stem}_{chosen.id}") if r.ok else None
            thumb = thumbnail(r.image) if r.ok else None
            saved.append(Saved(r.source, png, thumb, r.error, r.seconds))
        return chosen, saved

    # --- API ----------------------------------------------------------------------------------------------------
    def api_stylize(self, image: Payload, style: str, faces: bool = True, max_size: int = STYLE_SIZE,
                    strength: float = 1.0, keep_colors: bool = False) -> str:
        """Stylize one picture. style: id or name; faces: enhance faces; max_size: long side to stylize at (-1 the
        style's size, 0 full resolution); strength: 0 (the photo) to 1 (the full style); keep_colors: keep the
        photo's colours. Returns a PNG with the input's (upright) size."""
        with user_errors():
            path = path_of(image)
            if path is None:
                raise AnimeGANError("no image given")
            return str(self.stylize_file(path, style, faces, max_size, strength, keep_colors).png)

    def api_stylize_batch(self, files: list[Payload], style: str, faces: bool = True, max_size: int = STYLE_SIZE,
                          strength: float = 1.0, keep_colors: bool = False) -> tuple[list[str], str]:
        """Stylize many pictures. Returns the PNGs of those that worked and a report with one "file: reason" line
        per failed file ("" if none failed); fails only if no picture could be stylized."""
        with user_errors():
            _, results = self.stylize_files(paths_of(files), style, faces, max_size, None, strength, keep_colors)
            if not any(r.ok for r in results):
                raise AnimeGANError("no picture could be stylized: " + failure_lines(results).replace("\n", "; "))
        return [str(r.png) for r in results if r.ok], failure_lines(results)

    def stylize_clip(self, path: str, style: str | None, faces: bool, max_size: Any, strength: Any = 1.0,
                     keep_colors: Any = False, progress: Callable[[int, int | None, float | None], None] | None = None,
                     cancel: threading.Event | None = None) -> Path:
        """Stylize one uploaded clip within the server's limits; returns the MP4."""
        chosen = self.resolve_style(style)
        output = new_output_dir() / f"{Path(path).stem}_{chosen.id}.mp4"
        stylize_video(path, output, chosen.id, faces, as_max_size(max_size), self.stylizer, progress,
                      cancel, VIDEO_LIMITS, strength=as_strength(strength), keep_colors=keep_colors_option(keep_colors))
        return output

    def api_stylize_video(self, video: Payload, style: str, faces: bool = True, max_size: int = STYLE_SIZE,
                          strength: float = 1.0, keep_colors: bool = False) -> str:
        """Stylize a clip (≤ 60 s, ≤ 200 MB; above 1080p it is scaled down) with its sound. Options as /stylize
        (max_size -1: frames at 512 px). Returns an H.264 MP4 of the clip's size and frame rate."""
        with user_errors():
            path = path_of(video)
            if path is None:
                raise AnimeGANError("no video given")
            return str(self.stylize_clip(path, style, faces, max_size, strength, keep_colors))

    # --- UI -----------------------------------------------------------------------------------------------------
    def ui_stylize_video(self, clip: Payload, style: str, faces: bool, strength: float, keep_colors: bool,
                         request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:
        """Video tab: the stylized clip, its download, the status line and the (original, result) pair the
        before/after switch shows. A failed or cancelled run says why and leaves the last result as it was."""
        cancel = self._cancels[request.session_hash] = threading.Event()
        start = time.perf_counter()

        def report(done: int, total: int | None, eta: float | None) -> None:
            left = f" · about {eta:.0f} s left" if eta is not None else ""
            progress((done, total) if total else None, desc=f"{done}/{total or '?'} frames{left}", unit="frames")

        try:
            with user_errors():
                path = path_of(clip)
                if path is None:
                    raise AnimeGANError("add a clip first: upload one or record one with the webcam")
                output = self.stylize_clip(path, style, faces, STYLE_SIZE, as_strength(strength, percent=True),
                                           keep_colors, report, cancel)
        except gr.Error as exc:
            gr.Warning(exc.message)
            return gr.skip(), gr.skip(), f"⚠️ {table_cell(exc.message)}", gr.skip(), gr.skip()
        finally:
            self._cancels.pop(request.session_hash, None)
        original = path if Path(path).suffix.lower() in BROWSER_VIDEO else None
        status = f"**Done** in {time.perf_counter() - start:.0f} s."
        return (str(output), gr.DownloadButton(value=str(output), visible=True), status,
                {"original": original, "result": str(output)}, "Anime")

    def ui_cancel_video(self, request: gr.Request) -> str:
        """Stop this browser session's running clip (it ends at the next frame)."""
        cancel = self._cancels.get(request.session_hash)
        if cancel is None:
            return gr.skip()
        cancel.set()
        return "Cancelling…"

    @staticmethod
    def ui_show_video(which: str, clips: dict | None) -> Any:
        """The before/after switch: the original clip or the anime one in the same player."""
        if not clips:
            return gr.skip()
        if which == "Original" and not clips["original"]:
            gr.Info("This clip's format does not play in browsers; only the anime version can be shown.")
            return gr.skip()
        return clips["original"] if which == "Original" else clips["result"]

    def ui_check_upload(self, image: Payload) -> tuple:
        """Flag an upload that cannot be read as soon as it arrives (the photo box is emptied, the status says why)."""
        path = path_of(image)
        if path is None:
            return gr.skip(), ""
        try:
            self.stylizer.load(path)
        except AnimeGANError as exc:
            message = f"{Path(path).name}: {public_message(str(exc))}"
            gr.Warning(message)
            return None, f"⚠️ {table_cell(message)}"
        return gr.skip(), ""

    def ui_check_batch(self, files: list[Payload] | None, folder: list[Payload] | None) -> str:
        """The batch's unreadable files, listed as soon as they are uploaded."""
        paths = paths_of(files) + [p for p in paths_of(folder) if Path(p).suffix.lower() in IMAGE_SUFFIXES]
        failed = []
        for path in paths:
            try:
                self.stylizer.load(path)
            except AnimeGANError as exc:
                failed.append(Saved(Path(path).name, None, None, str(exc), 0.0))
        if not failed:
            return f"{len(paths)} pictures ready." if paths else ""
        lines = [f"**{len(failed)} of {len(paths)} files cannot be read** and will be skipped:", "",
                 "| File | Why |", "| --- | --- |"]
        lines += [f"| {table_cell(r.source)} | {table_cell(public_message(r.error or ''))} |" for r in failed]
        return "\n".join(lines)

    def ui_stylize(self, image: Payload, style: str, faces: bool, max_size: int, strength: float, keep_colors: bool,
                   history: list, last: dict | None) -> tuple:
        """Single-picture tab: slider, downloads, status line, session gallery and the cached model output. A failed
        run says why in a toast and the status line and leaves everything else as it was."""
        try:
            with user_errors():
                path = path_of(image)
                if path is None:
                    raise AnimeGANError("add a photo first: upload one, take one with the webcam or paste one")
                strength, keep_colors = as_strength(strength, percent=True), keep_colors_option(keep_colors)
                key = [path, self.resolve_style(style).id, faces_option(faces), as_max_size(max_size)]
                folder = new_output_dir()
                if last and last["key"] == key and Path(last["raw"]).exists():
                    rendered = self.cached(last)
                else:
                    rendered = self.render_file(path, style, faces, max_size)
                    raw_png = save_png(Image.fromarray(rendered.raw), folder, "model_output")
                    last = {"key": key, "raw": str(raw_png), "style": rendered.style.id,
                            "seconds": rendered.seconds}
                outcome = self.finish(rendered, strength, keep_colors, folder, f"{Path(path).stem}_{rendered.style.id}")
        except gr.Error as exc:
            gr.Warning(exc.message)
            return (gr.skip(),) * 3 + (f"⚠️ {table_cell(exc.message)}",) + (gr.skip(),) * 3
        history = [(before_after(outcome.original, outcome.result), outcome.caption), *history][:SESSION_LIMIT]
        return (*self.result_views(path, outcome, folder), history, history, last)

    def ui_adjust(self, image: Payload, strength: float, keep_colors: bool, last: dict | None) -> tuple:
        """Re-render strength / keep-colours from the cached model output (no model run); nothing to do before the
        first result or after the photo changed."""
        path = path_of(image)
        if not last or path is None or last["key"][0] != path or not Path(last["raw"]).exists():
            return (gr.skip(),) * 4
        try:
            with user_errors():
                strength, keep_colors = as_strength(strength, percent=True), keep_colors_option(keep_colors)
                rendered = self.cached(last)
                folder = new_output_dir()
                outcome = self.finish(rendered, strength, keep_colors, folder, f"{Path(path).stem}_{rendered.style.id}")
        except gr.Error as exc:
            gr.Warning(exc.message)
            return (gr.skip(),) * 3 + (f"⚠️ {table_cell(exc.message)}",)
        return self.result_views(path, outcome, folder)

    def cached(self, last: dict) -> Rendered:
        """The model output kept from the last run on this upload."""
        picture = self.stylizer.load(last["key"][0])
        raw = load_picture(last["raw"], self.stylizer.max_pixels).rgb
        return Rendered(picture, raw, self.resolve_style(last["style"]), last["seconds"])

    @staticmethod
    def result_views(path: str, outcome: Outcome, folder: Path) -> tuple:
        """Slider, full-size download, before | after download and status line for a finished picture."""
        before = path if Path(path).suffix.lower() in BROWSER_FORMATS else outcome.original
        share = before_after(outcome.original, outcome.result, SHARE_SIDE, gap=12)
        share_png = save_png(share, folder, f"{outcome.png.stem}_before_after")
        width, height = outcome.result.size
        status = f"**{outcome.style.name}** · {width}×{height} · {outcome.seconds:.1f} s"
        return ((before, str(outcome.png)), gr.DownloadButton(value=str(outcome.png), visible=True),
                gr.DownloadButton(value=str(share_png), visible=True), status)

    def ui_batch(self, files: list[Payload] | None, folder: list[Payload] | None, style: str, faces: bool,
                 max_size: int, strength: float, keep_colors: bool, progress: gr.Progress = gr.Progress()) -> tuple:
        """Batch tab: result gallery, ZIP download and the report."""
        images_in_folder = [p for p in paths_of(folder) if Path(p).suffix.lower() in IMAGE_SUFFIXES]
        start = time.perf_counter()
        try:
            with user_errors():
                chosen, results = self.stylize_files(
                    paths_of(files) + images_in_folder, style, faces, max_size,
                    lambda done, total, name: progress((done, total), desc=name, unit="pictures"),
                    as_strength(strength, percent=True), keep_colors)
        except gr.Error as exc:
            gr.Warning(exc.message)
            return gr.skip(), gr.skip(), f"⚠️ {table_cell(exc.message)}"
        tiles = [(r.thumb, f"{Path(r.source).name} · {r.seconds:.1f} s") for r in results if r.ok]
        archive = zip_results(results, chosen) if tiles else None
        for r in results:  # the UI hands out the ZIP only: its PNGs are not needed any more
            if r.png is not None:
                r.png.unlink(missing_ok=True)
        report = batch_report(results, time.perf_counter() - start)
        return tiles, gr.DownloadButton(value=archive and str(archive), visible=archive is not None), report

    @staticmethod
    def clear_session() -> tuple[list, list]:
        return [], []


def theme() -> gr.themes.Base:
    """Soft sakura pink on cream."""
    return gr.themes.Soft(primary_hue="pink", secondary_hue="rose", neutral_hue="stone").set(
        body_background_fill=CREAM,
        block_background_fill="#ffffff",
        block_border_color="#f8d7e3",
        block_label_background_fill="#fde7ef",
        button_primary_background_fill="linear-gradient(90deg, *primary_400, *secondary_400)",
        button_primary_background_fill_hover="linear-gradient(90deg, *primary_500, *secondary_500)",
        button_primary_text_color="#ffffff",
    )


def style_radio(app: AnimeApp, elem_id: str) -> gr.Radio:
    choices = app.style_choices()
    return gr.Radio(choices, value=choices[0][1] if choices else None, label="Style", interactive=bool(choices),
                    elem_id=elem_id)


def extra_options(prefix: str, with_size: bool = True) -> tuple[gr.Checkbox, gr.Radio | None, gr.Slider, gr.Checkbox]:
    """The faces, size (pictures only), strength and keep-colours controls."""
    faces = gr.Checkbox(value=True, label="Enhance faces", info="Restyles each face up close (portraits).")
    size = gr.Radio(SIZES, value=STYLE_SIZE, label="Detail", info="Long side the picture is stylized at.") \
        if with_size else None
    strength = gr.Slider(0, 100, value=100, step=5, label="Strength (%)", elem_id=f"{prefix}strength",
                         info="How far the picture moves from your photo toward the style.")
    keep_colors = gr.Checkbox(value=False, label="Keep my colours", elem_id=f"{prefix}keep-colors",
                              info="Your photo's colours with the style's light, shading and lines.")
    return faces, size, strength, keep_colors


def gallery(label: str, elem_id: str, **options: Any) -> gr.Gallery:
    """An output-only gallery whose tiles keep their size (set by ``--tile`` in the CSS) on any screen."""
    return gr.Gallery(label=label, elem_id=elem_id, height="auto", interactive=False, fit_columns=False,
                      elem_classes="compact-gallery", **options)


def single_tab(demo: gr.Blocks, app: AnimeApp) -> None:
    """Upload → options → Stylize → before/after slider, download and the session gallery."""
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            photo = gr.Image(label="Your photo", type="filepath", image_mode=None, elem_id="photo",
                             sources=["upload", "webcam", "clipboard"], height=360)
            examples = [[str(EXAMPLES_DIR / name)] for name in EXAMPLES.values()]
            gr.Examples(examples, inputs=[photo], example_labels=list(EXAMPLES), label="Try an example",
                        cache_examples=False)
        with gr.Column(min_width=300):
            style = style_radio(app, "style")
            previews = gallery("Style previews: click one to choose it", "style-previews", value=app.previews(),
                               allow_preview=False, object_fit="cover", visible=bool(app.styles))
            faces, size, strength, keep_colors = extra_options("")
            run = gr.Button("Stylize", variant="primary", elem_id="stylize-btn", interactive=bool(app.styles))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            slider = gr.ImageSlider(label="Before / after", elem_id="result", interactive=False, type="filepath",
                                    buttons=["fullscreen"])
        with gr.Column(scale=1, min_width=260):
            status = gr.Markdown(elem_id="status")
            download = gr.DownloadButton("Download full-size PNG", visible=False, variant="primary",
                                         elem_id="download")
            share = gr.DownloadButton("Download before | after", visible=False, elem_id="download-share")
    with gr.Accordion("This session: before | after", open=True):
        history = gr.State([])
        session = gallery("This session", "session-gallery", show_label=False, object_fit="contain")
        clear = gr.Button("Clear session gallery", size="sm")

    last = gr.State(None)       # the last model output of this session (re-rendered for strength / keep colours)
    previews.select(app.pick_preview, None, style, queue=False, api_visibility="private")
    if len(app.previews()) < len(app.styles):
        demo.load(app.previews_when_ready, None, previews, queue=False, api_visibility="private")
    photo.upload(app.ui_check_upload, photo, [photo, status], preprocess=False, concurrency_id=CHECK_QUEUE,
                 concurrency_limit=4, api_visibility="private")
    run.click(app.ui_stylize, [photo, style, faces, size, strength, keep_colors, history, last],
              [slider, download, share, status, history, session, last], preprocess=False,
              concurrency_id=MODEL_QUEUE, api_visibility="private")
    for trigger in (strength.input, keep_colors.input):     # while dragging: the running render and the last one
        trigger(app.ui_adjust, [photo, strength, keep_colors, last], [slider, download, share, status],
                preprocess=False, concurrency_id=ADJUST_QUEUE, trigger_mode="always_last", api_visibility="private")
    clear.click(app.clear_session, None, [history, session], queue=False, api_visibility="private")


def video_tab(app: AnimeApp) -> None:
    """Clip (upload or webcam) → the anime clip with its sound, a before/after switch, progress and cancel."""
    gr.Markdown(VIDEO_HELP)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            clip = gr.Video(label="Your clip", sources=["upload", "webcam"], elem_id="clip", height=320)
        with gr.Column(min_width=300):
            style = style_radio(app, "video-style")
            faces, _, strength, keep_colors = extra_options("video-", with_size=False)
            with gr.Row():
                run = gr.Button("Stylize video", variant="primary", elem_id="video-btn", interactive=bool(app.styles))
                cancel = gr.Button("Cancel", elem_id="video-cancel")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            result = gr.Video(label="Anime clip", elem_id="video-result", interactive=False, height=360)
            which = gr.Radio(["Anime", "Original"], value="Anime", label="Show", elem_id="video-which")
        with gr.Column(scale=1, min_width=260):
            status = gr.Markdown(elem_id="video-status")
            download = gr.DownloadButton("Download MP4", visible=False, variant="primary", elem_id="video-download")
    clips = gr.State(None)
    run.click(app.ui_stylize_video, [clip, style, faces, strength, keep_colors],
              [result, download, status, clips, which], preprocess=False, concurrency_id=MODEL_QUEUE,
              api_visibility="private")
    cancel.click(app.ui_cancel_video, None, status, queue=False, api_visibility="private")
    which.input(app.ui_show_video, [which, clips], result, queue=False, api_visibility="private")


def batch_tab(app: AnimeApp) -> None:
    """Many files (or a folder) → gallery, ZIP and a report of the failures."""
    gr.Markdown(BATCH_HELP)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            files = gr.File(file_count="multiple", file_types=["image"], label="Pictures", elem_id="batch-files")
            folder = gr.File(file_count="directory", label="…or a whole folder", elem_id="batch-folder")
        with gr.Column(min_width=300):
            style = style_radio(app, "batch-style")
            faces, size, strength, keep_colors = extra_options("batch-")
            run = gr.Button("Stylize all", variant="primary", interactive=bool(app.styles))
    report = gr.Markdown(elem_id="batch-report")
    archive = gr.DownloadButton("Download all (ZIP)", visible=False, variant="primary")
    results = gallery("Results", "batch-results", object_fit="contain")
    for upload in (files.upload, folder.upload):
        upload(app.ui_check_batch, [files, folder], report, preprocess=False, concurrency_id=CHECK_QUEUE,
               concurrency_limit=4, api_visibility="private")
    run.click(app.ui_batch, [files, folder, style, faces, size, strength, keep_colors], [results, archive, report],
              preprocess=False, concurrency_id=MODEL_QUEUE, api_visibility="private")


def api_endpoints(app: AnimeApp) -> None:
    """The stable API: hidden components, so the UI's richer outputs stay out of the endpoints' signatures."""
    with gr.Column(visible=False):
        trigger = gr.Button()  # never clicked: the endpoints are called through the API only
        image = gr.Image(type="filepath", label="image")
        video = gr.Video(label="video")
        files = gr.File(file_count="multiple", label="files")
        style = gr.Textbox(label="style (id or name)")
        faces = gr.Checkbox(value=True, label="faces")
        max_size = gr.Number(value=STYLE_SIZE, precision=0, label="max_size (-1 style size, 0 full resolution)")
        strength = gr.Number(value=1.0, label="strength (0 the photo … 1 the full style)")
        keep_colors = gr.Checkbox(value=False, label="keep_colors")
        result = gr.Image(type="filepath", format="png", label="stylized")
        video_result = gr.Video(label="stylized video")
        results = gr.File(file_count="multiple", label="stylized files")
        report = gr.Textbox(label="failures")
    options = [style, faces, max_size, strength, keep_colors]
    trigger.click(app.api_stylize, [image, *options], result, api_name="stylize", preprocess=False,
                  concurrency_id=MODEL_QUEUE)
    trigger.click(app.api_stylize_batch, [files, *options], [results, report], api_name="stylize_batch",
                  preprocess=False, concurrency_id=MODEL_QUEUE)
    trigger.click(app.api_stylize_video, [video, *options], video_result, api_name="stylize_video",
                  preprocess=False, concurrency_id=MODEL_QUEUE)


def build_demo(stylizer: Stylizer | None = None) -> gr.Blocks:
    """The whole app, queued (one model job at a time) and ready to ``serve``."""
    app = AnimeApp(stylizer or Stylizer(max_pixels=MAX_PIXELS, max_bytes=MAX_PICTURE_MB * 1_000_000))
    with UploadsOnlyBlocks(title="Photo → Anime", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.HTML(INTRO)
        if not app.styles:
            gr.Markdown(NO_STYLES, elem_id="no-styles")
        with gr.Tabs():
            with gr.Tab("Single picture"):
                single_tab(demo, app)
            with gr.Tab("Video"):
                video_tab(app)
            with gr.Tab("Batch"):
                batch_tab(app)
        with gr.Accordion("Tips & privacy", open=False):
            gr.Markdown(TIPS)
        api_endpoints(app)
    app.start_warm_up()
    return demo.queue(default_concurrency_limit=1, max_size=32)   # ADJUST_QUEUE too: one re-render at a time


def serve(demo: gr.Blocks, **launch_options: Any) -> Any:
    """Launch with the app's theme, CSS and upload limit; host and port come from GRADIO_SERVER_NAME/PORT
    (default 127.0.0.1:7860) unless given."""
    return demo.launch(theme=theme(), css=CSS, max_file_size=f"{MAX_UPLOAD_MB}mb", **launch_options)


def main() -> None:
    """Serve until Ctrl-C or SIGTERM, then shut down cleanly: Gradio deletes the files the session created."""
    logging.basicConfig()
    try:
        demo = build_demo()
    except AnimeGANError as exc:    # e.g. ANIMEGAN_MANIFEST names a file that does not exist
        sys.exit(f"error: {exc}")
    signal.signal(signal.SIGTERM, lambda signum, frame: demo.close())
    serve(demo)
    demo.close()    # after Ctrl-C: also ends open connections (browser heartbeats) that would hold up the cleanup


if __name__ == "__main__":
    main()
