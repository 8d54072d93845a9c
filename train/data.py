"""Image data for GAN training and distillation.

* photo / style folder datasets for AnimeGANv2 training, with the AnimeGANv2 edge-smoothing of style images
  (Canny → dilate → Gaussian on edge pixels only), cached on disk, and grayscale style images for the Gram loss;
* photo → teacher-output pairs for distillation (``PairPool``), computed once with onnxruntime and cached on disk.
"""
from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from animegan.engine import picture_thumbnail, to_uint8
from animegan.errors import AnimeGANError
from animegan.imageio import IMAGE_SUFFIXES, load_picture



def list_images(folders: Sequence[str | Path]) -> list[Path]:
    """Every image file under the given folders (recursive), sorted for determinism."""
    found: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            found.append(folder)
            continue
        if not folder.is_dir():
            raise FileNotFoundError(f"no such photo folder: {folder}")
        found += [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


def is_held_out(path: Path, fraction: float) -> bool:
    """Deterministic hold-out split by file name hash (stable across machines and runs)."""
    digest = hashlib.sha1(path.name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def split_holdout(paths: Sequence[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    """(train, held_out) lists."""
    held = [p for p in paths if is_held_out(p, fraction)]
    return [p for p in paths if not is_held_out(p, fraction)], held


def by_folder(paths: Sequence[Path]) -> dict[Path, list[Path]]:
    """The paths grouped by the folder they are in (in their order)."""
    groups: dict[Path, list[Path]] = {}
    for path in paths:
        groups.setdefault(path.parent, []).append(path)
    return groups


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as upright (H, W, 3) uint8 RGB, exactly as the runtime decodes it (EXIF orientation,
    alpha and 16-bit handled by ``animegan.imageio``); ``InvalidImageError`` if it cannot be read."""
    return load_picture(Path(path)).rgb


def write_rgb(path: str | Path, rgb: np.ndarray) -> None:
    """Write a PNG/JPEG whole or not at all: a run killed mid-write, or another run sharing the cache, never reads
    a truncated file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"cannot encode {path.name}")
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(encoded.tobytes())
    os.replace(partial, path)


def resize_short_side(rgb: np.ndarray, short: int, multiple: int = 1) -> np.ndarray:
    """Resize so the short side is ``short`` and both sides are multiples of ``multiple``."""
    h, w = rgb.shape[:2]
    scale = short / min(h, w)
    nh = max(multiple, int(round(h * scale / multiple)) * multiple)
    nw = max(multiple, int(round(w * scale / multiple)) * multiple)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, (nw, nh), interpolation=interp)


def rgb_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


def tensor_to_rgb(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) generator output in [-1, 1] → (H, W, 3) uint8, rounded as the runtime does."""
    return to_uint8(x.detach().permute(1, 2, 0).float().cpu().numpy())


def random_crop(arrays: Sequence[np.ndarray], crop: int, rng: random.Random, grid: int = 1) -> list[np.ndarray]:
    """The same random crop (and horizontal flip) of several aligned images. With ``grid`` > 1 a crop starts at a
    multiple of ``grid`` and is never mirrored: it keeps the sampling phase that strided layers had on the whole
    image (a phase-locked crop)."""
    h, w = arrays[0].shape[:2]
    y = rng.randint(0, max(0, h - crop) // grid) * grid
    x = rng.randint(0, max(0, w - crop) // grid) * grid
    flip = rng.random() < 0.5 and grid == 1
    out = []
    for a in arrays:
        c = a[y:y + crop, x:x + crop]
        out.append(c[:, ::-1] if flip else c)
    return out


# --------------------------------------------------------------------------------------------- distillation pairs
def cached_teacher_output(teacher: Callable[[np.ndarray], np.ndarray], photo: np.ndarray, cached: Path) -> np.ndarray:
    """The teacher's output for ``photo``, read from ``cached`` (PNG) or computed once and written there. A cached
    output of another shape (made for the photo at another size or stride multiple) is computed again."""
    if cached.exists():
        target = read_rgb(cached)
        if target.shape == photo.shape:
            return target
    target = teacher(photo)
    write_rgb(cached, target)
    return target


def held_out_photos(folders: Sequence[str | Path], count: int, fraction: float, seed: int = 0) -> list[Path]:
    """Up to ``count`` held-out photos, taken in turn from each folder so scenes and faces are both measured."""
    groups = by_folder([path for path in list_images(folders) if is_held_out(path, fraction)])
    rng = random.Random(seed)
    for group in groups.values():
        rng.shuffle(group)
    chosen: list[Path] = []
    while len(chosen) < count and any(groups.values()):
        for group in groups.values():
            if group and len(chosen) < count:
                chosen.append(group.pop())
    return chosen


class PairPool:
    """Photo → teacher-output pairs at several scales, generated in a background thread and cached as PNG.

    Each photo gets one working scale (short side drawn from ``sizes`` by its name hash, never upscaled more than
    ``max_upscale``×). Batches draw evenly from each photo folder (scenes and faces alike). With ``picture`` (the
    side of a student's whole-picture input) each crop comes with its whole photo's thumbnail, as the runtime makes
    it for every tile (a mirrored crop keeps the unmirrored thumbnail: its global average hardly differs). Training
    can start as soon as a few pairs exist; the pool keeps growing until every photo has its target. Re-runs read
    targets from ``cache_dir`` instead of running the teacher again.
    """

    def __init__(self, photos: Sequence[Path], teacher: Callable[[np.ndarray], np.ndarray], cache_dir: Path,
                 sizes: Sequence[int], multiple: int, min_size: int = 64, max_upscale: float = 2.0, seed: int = 0,
                 picture: int | None = None):
        self.photos = list(photos)
        random.Random(seed).shuffle(self.photos)
        self.teacher = teacher
        self.cache_dir = Path(cache_dir)
        self.sizes = list(sizes)
        self.multiple = multiple
        self.min_size = min_size
        self.max_upscale = max_upscale
        self.picture = picture
        self.skipped: list[str] = []
        self.groups: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def working_size(self, path: Path, native_short: int) -> int:
        index = int(hashlib.sha1(path.name.encode()).hexdigest(), 16) % len(self.sizes)
        return max(self.min_size, min(self.sizes[index], int(native_short * self.max_upscale)))

    def working_photo(self, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
        """(photo at its working scale, its thumbnail or None): what a training crop is cut from."""
        photo = read_rgb(path)
        photo = resize_short_side(photo, self.working_size(path, min(photo.shape[:2])), self.multiple)
        return photo, picture_thumbnail(photo, self.picture)[0] if self.picture else None

    def make_pair(self, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(photo, teacher output, the photo's thumbnail or None) at the photo's working scale; the teacher runs only
        on a cache miss."""
        photo, thumbnail = self.working_photo(path)
        cached = self.cache_dir / f"{path.parent.name}__{path.stem}__{photo.shape[0]}x{photo.shape[1]}.png"
        return photo, cached_teacher_output(self.teacher, photo, cached), thumbnail

    def _fill(self) -> None:
        try:
            for path in self.photos:
                try:
                    pair = self.make_pair(path)
                except (ValueError, AnimeGANError) as exc:  # an unreadable photo is skipped, not fatal
                    self.skipped.append(f"{path.name}: {exc}")
                    continue
                with self._lock:
                    self.groups.setdefault(str(path.parent), []).append(pair)
        except BaseException as exc:  # surfaced to the training loop by ``sample``
            self.error = exc

    def start(self) -> None:
        self._thread = threading.Thread(target=self._fill, name="teacher-targets", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups.values())

    def wait_for(self, count: int) -> None:
        """Block until at least ``count`` pairs exist (or all photos are done)."""
        assert self._thread is not None, "call start() first"
        while len(self) < min(count, len(self.photos) - len(self.skipped)):
            if self.error:
                raise RuntimeError(f"teacher target generation failed: {self.error}") from self.error
            if not self._thread.is_alive() and len(self) < count:
                break  # every photo has been processed
            self._thread.join(0.2)
        if not len(self):
            raise RuntimeError("no usable training photos: " + "; ".join(self.skipped[:3]))

    def sample(self, batch: int, crop: int, rng: random.Random,
               grid: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """A batch of aligned random crops (``random_crop``'s ``grid``): (photos, targets), both (B, 3, crop, crop)
        in [-1, 1], and their whole photos' thumbnails (B, 3, side, side) or None."""
        if self.error:
            raise RuntimeError(f"teacher target generation failed: {self.error}") from self.error
        with self._lock:
            groups = list(self.groups.values())
            chosen = [group[rng.randrange(len(group))] for group in (rng.choice(groups) for _ in range(batch))]
        xs, ys = zip(*(random_crop(pair[:2], crop, rng, grid) for pair in chosen))
        pictures = torch.from_numpy(np.stack([pair[2] for pair in chosen])) if self.picture else None
        return torch.stack([rgb_to_tensor(x) for x in xs]), torch.stack([rgb_to_tensor(y) for y in ys]), pictures


# --------------------------------------------------------------------------------------------- GAN training data
def smooth_edges(rgb: np.ndarray, kernel: int = 5) -> np.ndarray:
    """AnimeGANv2 edge smoothing: blur the style image only around its Canny edges (dilated)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, 100, 200)
    dilated = cv2.dilate(edges, np.ones((kernel, kernel), np.uint8)) > 0
    padded = cv2.copyMakeBorder(rgb, kernel // 2, kernel // 2, kernel // 2, kernel // 2, cv2.BORDER_REFLECT)
    blurred = cv2.GaussianBlur(padded, (kernel, kernel), 0)[kernel // 2:-(kernel // 2), kernel // 2:-(kernel // 2)]
    out = rgb.copy()
    out[dilated] = blurred[dilated]
    return out


def to_gray3(rgb: np.ndarray) -> np.ndarray:
    """Grayscale copy kept as 3 channels (what the Gram loss and the discriminator see)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.repeat(gray[..., None], 3, axis=2)


def _augment(rgb: np.ndarray, rng: random.Random, jitter: float, noise: float) -> np.ndarray:
    """Mild colour jitter (brightness/contrast/saturation) and slight Gaussian noise."""
    img = rgb.astype(np.float32)
    if jitter:
        img = img * (1 + rng.uniform(-jitter, jitter)) + rng.uniform(-jitter, jitter) * 64
        mean = img.mean(axis=2, keepdims=True)
        img = mean + (img - mean) * (1 + rng.uniform(-jitter, jitter))
    if noise:
        img += np.random.default_rng(rng.randrange(2**32)).normal(0, noise * 255, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


class PhotoDataset(Dataset):
    """Random crops of real photos (flip + mild colour jitter + slight noise)."""

    def __init__(self, folders: Sequence[str | Path], crop: int = 256, jitter: float = 0.05, noise: float = 0.01,
                 seed: int = 0):
        self.paths = list_images(folders)
        if not self.paths:
            raise ValueError(f"no photos found in {list(folders)}")
        self.crop, self.jitter, self.noise, self.seed = crop, jitter, noise, seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = random.Random(hash((self.seed, index, int(torch.randint(2**62, ()).item()))))
        rgb = read_rgb(self.paths[index])
        if min(rgb.shape[:2]) < self.crop:
            rgb = resize_short_side(rgb, self.crop)
        (crop,) = random_crop([rgb], self.crop, rng)
        return rgb_to_tensor(_augment(crop, rng, self.jitter, self.noise))


class StyleDataset(Dataset):
    """Style frames as (style, style gray, smoothed gray) crops; edge-smoothed copies cached under ``cache_dir``."""

    def __init__(self, folders: Sequence[str | Path], cache_dir: str | Path, crop: int = 256, seed: int = 0):
        self.paths = list_images(folders)
        if not self.paths:
            raise ValueError(f"no style images found in {list(folders)}")
        self.cache_dir = Path(cache_dir)
        self.crop, self.seed = crop, seed

    def __len__(self) -> int:
        return len(self.paths)

    def smoothed(self, path: Path, rgb: np.ndarray) -> np.ndarray:
        stat = path.stat()
        key = hashlib.sha1(f"{path.resolve()}|{stat.st_mtime_ns}|{rgb.shape}".encode()).hexdigest()[:16]
        cached = self.cache_dir / f"{key}.png"
        if cached.exists():
            return read_rgb(cached)
        out = smooth_edges(rgb)
        write_rgb(cached, out)
        return out

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = random.Random(hash((self.seed, index, int(torch.randint(2**62, ()).item()))))
        path = self.paths[index]
        rgb = read_rgb(path)
        if min(rgb.shape[:2]) < self.crop:
            rgb = resize_short_side(rgb, self.crop)
        smooth = self.smoothed(path, rgb)
        style, smooth = random_crop([rgb, smooth], self.crop, rng)
        return rgb_to_tensor(style), rgb_to_tensor(to_gray3(style)), rgb_to_tensor(to_gray3(smooth))
