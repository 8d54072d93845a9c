"""onnxruntime engine: runs an image-to-image generator on any image size.

The generator interface (ours and the teachers'): input ``input`` NCHW float32 RGB in [-1, 1], output NCHW RGB in
[-1, 1] of the same size when H and W are multiples of the model's ``multiple``. The engine reflect-pads to that
multiple, crops back, and splits large images into overlapping tiles blended with feathered weights so memory stays
bounded and no seam shows. A generator may also take ``picture``: the whole picture squeezed to a small square
(``picture_thumbnail``), the same for every tile, so what it does can depend on the picture's statistics and still
not on where the tiles fall.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from animegan.errors import InvalidOptionError

DEFAULT_TILE = 512      # tile side for large images (pixels, before padding): bounds onnxruntime's memory
DEFAULT_OVERLAP = 64    # overlap between neighbouring tiles (pixels)
PICTURE_INPUT = "picture"   # a generator's optional second input: the whole picture as a thumbnail


def picture_thumbnail(rgb: np.ndarray, side: int) -> np.ndarray:
    """An (H, W, 3) uint8 picture squeezed to ``side``² (area filter, aspect not kept) as a (1, 3, side, side)
    float32 array in [-1, 1]: what a generator with a ``picture`` input is told about the whole picture."""
    small = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
    return small.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0


def picture_side(session: ort.InferenceSession) -> int | None:
    """Side of the thumbnail a generator's ``picture`` input takes, or None if it has no such input."""
    return next((int(i.shape[-1]) for i in session.get_inputs() if i.name == PICTURE_INPUT), None)


def random_feeds(session: ort.InferenceSession, shape: tuple[int, int, int, int],
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Uniform random inputs in [-1, 1] for a generator session (timing and parity checks): ``input`` of ``shape``
    and, for a model that takes one, a ``picture`` thumbnail for each of its pictures."""
    feeds = {"input": rng.uniform(-1, 1, shape).astype(np.float32)}
    side = picture_side(session)
    if side:
        feeds[PICTURE_INPUT] = rng.uniform(-1, 1, (shape[0], 3, side, side)).astype(np.float32)
    return feeds


def default_threads() -> int:
    """Threads per session: ANIMEGAN_THREADS (a positive integer), else every core this process may use."""
    env = os.environ.get("ANIMEGAN_THREADS", "").strip()
    if env:
        if not env.isdecimal() or int(env) < 1:
            raise InvalidOptionError(f"ANIMEGAN_THREADS must be a positive integer, got {env!r}")
        return int(env)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def create_session(path: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU InferenceSession with every graph optimisation on (INT8 QDQ graphs need it to fuse) and onnxruntime's
    memory arena on: tiles are at most ``DEFAULT_TILE`` wide, so the arena stays bounded, and without it each tile
    pays page faults again (1920×1080: 1.6 s with the arena, 2.9 s without)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _feather(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D blending weights: a linear ramp over the overlap on sides that touch another tile."""
    weights = np.ones(length, np.float32)
    ramp = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1]
    if not at_start and overlap:
        weights[:overlap] = ramp
    if not at_end and overlap:
        weights[-overlap:] = ramp[::-1]
    return weights


def _tile_layout(size: int, max_tile: int, overlap: int, multiple: int) -> tuple[int, list[int]]:
    """(tile length, tile starts) covering ``size`` with the fewest evenly spaced tiles of at most ``max_tile``,
    neighbours overlapping by at least ``overlap``. Lengths and starts are multiples of ``multiple``, so every tile
    samples the picture on the grid a single pass would (strided layers draw strokes where that grid puts them);
    the last tile may run up to ``multiple`` − 1 pixels past the end, which is padded as in a single pass."""
    if size <= max_tile:
        return size, [0]
    cells, max_cells, overlap_cells = -(-size // multiple), max_tile // multiple, -(-overlap // multiple)
    count = -(-(cells - overlap_cells) // (max_cells - overlap_cells))
    tile = -(-(cells + (count - 1) * overlap_cells) // count)
    step = (cells - tile) / (count - 1)
    return tile * multiple, [round(i * step) * multiple for i in range(count)]


class OnnxGenerator:
    """One generator ONNX file behind a lazily created, thread-safe onnxruntime session."""

    def __init__(self, path: str | Path, multiple: int = 8, threads: int | None = None,
                 tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP):
        self.path = Path(path)
        self.multiple = multiple
        self.threads = threads
        self.tile = tile
        self.overlap = overlap
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> ort.InferenceSession:
        with self._lock:
            if self._session is None:
                self._session = create_session(self.path, self.threads)
            return self._session

    def _run_padded(self, rgb: np.ndarray, picture: np.ndarray | None) -> np.ndarray:
        """Run one (H, W, 3) uint8 image that fits in one tile (with the whole picture's thumbnail, for a model that
        takes one); returns float32 (H, W, 3) in [-1, 1]."""
        h, w = rgb.shape[:2]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
        padded = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode=mode) if ph or pw else rgb
        x = padded.transpose(2, 0, 1)[None].astype(np.float32)
        x *= 1.0 / 127.5
        x -= 1.0
        feeds = {"input": x} if picture is None else {"input": x, PICTURE_INPUT: picture}
        y = self.session.run(None, feeds)[0]
        return y[0, :, :h, :w].transpose(1, 2, 0)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Stylize an (H, W, 3) uint8 RGB image; returns (H, W, 3) uint8 of exactly the same size."""
        h, w = rgb.shape[:2]
        side = picture_side(self.session)
        picture = picture_thumbnail(rgb, side) if side else None
        if h <= self.tile and w <= self.tile:
            return to_uint8(self._run_padded(rgb, picture))
        return self._run_tiled(rgb, picture)

    def _run_tiled(self, rgb: np.ndarray, picture: np.ndarray | None) -> np.ndarray:
        """Overlapping tiles blended with feathered weights, one band of tile rows at a time.

        The blending weights are separable, so their normaliser is the outer product of two 1-D sums; only one
        float band of ``tile`` rows is kept, and finished rows go straight to the uint8 output: memory is bounded
        by one tile, one band and the output, whatever the image size.
        """
        h, w = rgb.shape[:2]
        tile_h, ys = _tile_layout(h, self.tile, self.overlap, self.multiple)
        tile_w, xs = _tile_layout(w, self.tile, self.overlap, self.multiple)
        weights_y = [_feather(min(tile_h, h - y0), self.overlap, y0 == 0, y0 + tile_h >= h) for y0 in ys]
        weights_x = [_feather(min(tile_w, w - x0), self.overlap, x0 == 0, x0 + tile_w >= w) for x0 in xs]
        norm_y, norm_x = np.zeros(h, np.float32), np.zeros(w, np.float32)
        for y0, wy in zip(ys, weights_y):
            norm_y[y0:y0 + len(wy)] += wy
        for x0, wx in zip(xs, weights_x):
            norm_x[x0:x0 + len(wx)] += wx
        out = np.empty((h, w, 3), np.uint8)
        band = np.zeros((tile_h, w, 3), np.float32)
        for i, (y0, wy) in enumerate(zip(ys, weights_y)):
            for x0, wx in zip(xs, weights_x):
                tile = self._run_padded(rgb[y0:y0 + tile_h, x0:x0 + tile_w], picture)
                band[:len(wy), x0:x0 + len(wx)] += tile * (wy[:, None, None] * wx[None, :, None])
            end = ys[i + 1] if i + 1 < len(ys) else h
            done = end - y0
            band[:done] /= norm_y[y0:end, None, None] * norm_x[None, :, None]
            out[y0:end] = to_uint8(band[:done])
            band = np.roll(band, -done, axis=0)
            band[tile_h - done:] = 0.0
        return out


def to_uint8(y: np.ndarray) -> np.ndarray:
    """Map generator output in [-1, 1] to uint8 pixels (round, clip)."""
    return np.clip((y + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8, order="C")
