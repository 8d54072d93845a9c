"""Face enhancement ("face2paint" done properly): detect faces, stylize each one aligned and large, paste it back.

A whole-picture generator spends few pixels on a face that fills a small part of the photo. Here every face is
found with dlib, aligned FFHQ-style (eyes level, fixed scale) into a ``face_size`` square, stylized there, and
warped back onto the stylized picture under a soft feathered mask so no seam shows.
"""
from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

from .errors import AnimeGANError

MODEL_PACKAGE = "face_recognition_models"   # pip package shipping dlib's 68-landmark model (never imported)
LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat"
DETECT_THRESHOLD = 0.3  # HOG detector score cut: faces score ~1-1.6, look-alikes (badges, patches) ~0 or below
UPSAMPLE_BELOW = 400    # detection pictures with a shorter long side are upsampled once to find small faces
MASK_INNER = 0.7        # paste mask: full weight within this radius (fraction of the aligned square's half side)
MASK_OUTER = 1.0        # ... falling smoothly to zero at this radius
BLEND_ROWS = 256        # paste-back blends this many rows at a time

_LOCK = threading.Lock()    # guards model loading and every dlib call (dlib objects are not thread-safe)
_MODELS: tuple[dlib.fhog_object_detector, dlib.shape_predictor] | None = None


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face. ``box`` is (left, top, right, bottom), right/bottom exclusive, clipped to the image."""

    box: tuple[int, int, int, int]
    landmarks: np.ndarray   # (68, 2) float32 iBUG-300W landmarks in original image pixel coordinates


def landmarks_model_path() -> Path:
    """Path of dlib's 68-landmark model inside the face-recognition-models package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    path = Path(spec.origin).parent / "models" / LANDMARKS_FILE if spec and spec.origin else None
    if path is None or not path.is_file():
        raise AnimeGANError("Face landmark model not found: pip install face-recognition-models")
    return path


def _models() -> tuple[dlib.fhog_object_detector, dlib.shape_predictor]:
    """The shared face detector and landmark predictor, loaded on first use."""
    global _MODELS
    with _LOCK:
        if _MODELS is None:
            _MODELS = dlib.get_frontal_face_detector(), dlib.shape_predictor(str(landmarks_model_path()))
        return _MODELS


def _check_rgb(rgb: np.ndarray, name: str = "image") -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def _homogeneous(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _area_downscale(img: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Area-average ``img`` by ``scale`` < 1; returns it and the 3x3 map from ``img`` to its pixel coordinates."""
    h, w = img.shape[:2]
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    kx, ky = nw / w, nh / h
    return small, np.array([[kx, 0.0, 0.5 * kx - 0.5], [0.0, ky, 0.5 * ky - 0.5], [0.0, 0.0, 1.0]])


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ crop quad (top-left, bottom-left, bottom-right, top-right) from 68 landmarks, float64 (4, 2)."""
    lm = landmarks.astype(np.float64)
    eye_left, eye_right = lm[36:42].mean(0), lm[42:48].mean(0)
    eye_avg, eye_to_eye = (eye_left + eye_right) / 2, eye_right - eye_left
    eye_to_mouth = (lm[48] + lm[54]) / 2 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def _quad_to_square(quad: np.ndarray, size: int) -> np.ndarray:
    """2x3 affine matrix taking the quad's corners to the corners of a size x size pixel grid."""
    src = np.vstack([quad[[0, 1, 3]].T, np.ones(3)])
    lo, hi = -0.5, size - 0.5     # pixel centres sit on integers, so the grid's outer corners are at -0.5
    dst = np.array([[lo, lo, hi], [lo, hi, lo]])
    return dst @ np.linalg.inv(src)


@functools.lru_cache(maxsize=4)
def _feather_mask(size: int) -> np.ndarray:
    """Float32 size x size blend weights: 1 in a central disc, smoothstep down to 0 at the inscribed circle."""
    t = (np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0
    rho = np.sqrt(t[None, :] ** 2 + t[:, None] ** 2)
    s = np.clip((MASK_OUTER - rho) / (MASK_OUTER - MASK_INNER), 0.0, 1.0)
    mask = s * s * (3.0 - 2.0 * s)
    mask.setflags(write=False)
    return mask


class FacePipeline:
    """Detects, aligns and pastes back faces so a face model can stylize them at full resolution."""

    def __init__(self, face_size: int = 512, detect_sides: tuple[int, int] = (1280, 2048), min_face: int = 40,
                 max_faces: int = 8):
        self.face_size = face_size
        self.detect_sides = detect_sides
        self.min_face = min_face
        self.max_faces = max_faces

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces at least ``min_face`` px wide, largest first, at most ``max_faces``.

        dlib's detector finds faces from about 80 px, on a copy at half resolution whose long side is kept within
        ``detect_sides``: faces from ~80 px in pictures up to 1280 px, from ~160 px in phone photos (4032 px);
        pictures under 400 px are upsampled once instead.
        """
        rgb = _check_rgb(rgb)
        h, w = rgb.shape[:2]
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        small = gray
        lowest, highest = self.detect_sides
        detect_side = min(max(max(h, w) // 2, lowest), highest)
        if max(h, w) > detect_side:
            small = _area_downscale(gray, detect_side / max(h, w))[0]
        upsample = 1 if max(small.shape) < UPSAMPLE_BELOW else 0
        detector, predictor = _models()
        with _LOCK:
            rects = detector.run(small, upsample, DETECT_THRESHOLD)[0]
        sx, sy = w / small.shape[1], h / small.shape[0]
        boxes = [(round(r.left() * sx), round(r.top() * sy), round((r.right() + 1) * sx), round((r.bottom() + 1) * sy))
                 for r in rects]
        boxes = [b for b in boxes if b[2] - b[0] >= self.min_face]
        boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
        faces = []
        for left, top, right, bottom in boxes[:self.max_faces]:
            with _LOCK:
                shape = predictor(gray, dlib.rectangle(left, top, right - 1, bottom - 1))
            landmarks = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
            landmarks.setflags(write=False)
            box = (max(0, left), max(0, top), min(w, right), min(h, bottom))
            faces.append(Face(box, landmarks))
        return faces

    def align(self, rgb: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray]:
        """The FFHQ-aligned face_size² uint8 crop and the 2x3 matrix mapping image pixels to it."""
        rgb = _check_rgb(rgb)
        size = self.face_size
        quad = ffhq_quad(face.landmarks)
        matrix = _quad_to_square(quad, size)
        scale = size / np.hypot(*(quad[3] - quad[0]))
        src, to_src = rgb, np.eye(3)
        if scale < 0.5:     # big downscale: area-average a crop first so the cubic warp does not alias
            h, w = rgb.shape[:2]
            margin = 4.0 / scale
            x0, y0 = np.clip(np.floor(quad.min(0) - margin).astype(int), 0, [w - 1, h - 1])
            x1, y1 = np.clip(np.ceil(quad.max(0) + margin).astype(int), [x0 + 1, y0 + 1], [w, h])
            src, shrink = _area_downscale(rgb[y0:y1, x0:x1], scale)
            to_src = shrink @ _translation(-x0, -y0)
        warp = (_homogeneous(matrix) @ np.linalg.inv(to_src))[:2]
        aligned = cv2.warpAffine(src, warp, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        return aligned, matrix

    def paste(self, base: np.ndarray, stylized_face: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """A copy of ``base`` with ``stylized_face`` (aligned by ``matrix``) blended in under a feathered mask."""
        out = _check_rgb(base, "base").copy()
        self._paste_into(out, stylized_face, matrix)
        return out

    def _paste_into(self, out: np.ndarray, stylized_face: np.ndarray, matrix: np.ndarray) -> None:
        size = self.face_size
        face = _check_rgb(stylized_face, "stylized_face")
        if face.shape[:2] != (size, size):
            raise ValueError(f"stylized_face must be {size}x{size}, got {face.shape[1]}x{face.shape[0]}")
        h, w = out.shape[:2]
        to_image = np.linalg.inv(_homogeneous(matrix))
        corners = np.array([[-0.5, -0.5, 1], [-0.5, size - 0.5, 1], [size - 0.5, -0.5, 1], [size - 0.5, size - 0.5, 1]])
        projected = (to_image @ corners.T)[:2].T
        x0, y0 = np.maximum(np.floor(projected.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(projected.max(0)).astype(int) + 1, [w, h])
        if x0 >= x1 or y0 >= y1:
            return
        mask = _feather_mask(size)
        to_face = _homogeneous(matrix) @ _translation(x0, y0)    # ROI pixel -> aligned pixel
        scale = 1.0 / np.sqrt(abs(np.linalg.det(matrix[:, :2])))
        if scale < 0.5:     # face much smaller in the picture than aligned: area-average before warping back
            face, shrink = _area_downscale(face, scale)
            mask = _area_downscale(mask, scale)[0]
            to_face = shrink @ to_face
        roi_size = (int(x1 - x0), int(y1 - y0))
        flags = cv2.WARP_INVERSE_MAP
        warped = cv2.warpAffine(face, to_face[:2], roi_size, flags=flags | cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(mask, to_face[:2], roi_size, flags=flags | cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)[..., None]
        for top in range(0, roi_size[1], BLEND_ROWS):     # in strips: float temporaries stay small for huge faces
            rows = slice(top, min(top + BLEND_ROWS, roi_size[1]))
            region = out[y0 + rows.start:y0 + rows.stop, x0:x1]
            blended = region + (warped[rows] - region.astype(np.float32)) * alpha[rows]
            region[...] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)

    def enhance(self, original: np.ndarray, stylized: np.ndarray, stylize_face: Callable[[np.ndarray], np.ndarray],
                faces: list[Face] | None = None, in_place: bool = False) -> np.ndarray:
        """``stylized`` with every face of ``original`` restyled aligned by ``stylize_face`` and pasted back.

        Pastes into a copy, or into ``stylized`` itself with ``in_place`` (saves a full-size image when the caller
        owns it); with no face found, ``stylized`` is returned unchanged."""
        original, stylized = _check_rgb(original, "original"), _check_rgb(stylized, "stylized")
        if original.shape != stylized.shape:
            raise ValueError(f"original {original.shape} and stylized {stylized.shape} differ in shape")
        faces = self.detect(original) if faces is None else faces
        if not faces:
            return stylized
        out = stylized if in_place else stylized.copy()
        for face in faces:
            aligned, matrix = self.align(original, face)
            self._paste_into(out, stylize_face(aligned), matrix)
        return out
