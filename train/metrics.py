"""Image quality metrics on uint8 RGB arrays: PSNR, SSIM (Gaussian-window, Wang et al. 2004) and how much of a
teacher's edit a student captures."""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images of the same shape."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over channels (11×11 Gaussian window, σ = 1.5)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x, y = a.astype(np.float64), b.astype(np.float64)
    blur = lambda img: cv2.GaussianBlur(img, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(ssim_map.mean())


def high_pass(rgb: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """The detail band of an image: itself minus its Gaussian blur (σ in px), float64."""
    x = rgb.astype(np.float64)
    return x - cv2.GaussianBlur(x, (0, 0), sigma)


class EditCaptured:
    """How much of the teacher's change a student makes, pooled over pictures (100 % = the teacher, 0 % = the photo).

    ``edit`` = 1 − MSE(student, teacher) / MSE(photo, teacher); ``detail`` = the same on the high-pass band
    (image − GaussianBlur σ = 2 px): strokes, lines, eye shapes. Pooled: the sums of squared errors over every
    picture are divided, so large changes weigh as much as they are large."""

    def __init__(self):
        self.sums = np.zeros(4)     # student-teacher, photo-teacher: full image, then high-pass band

    def add(self, photo: np.ndarray, teacher: np.ndarray, student: np.ndarray) -> None:
        t, t_high = teacher.astype(np.float64), high_pass(teacher)
        s, p = student.astype(np.float64), photo.astype(np.float64)
        self.sums += [np.sum((s - t) ** 2), np.sum((p - t) ** 2),
                      np.sum((high_pass(student) - t_high) ** 2), np.sum((high_pass(photo) - t_high) ** 2)]

    @property
    def edit(self) -> float:
        return float(1 - self.sums[0] / self.sums[1]) if self.sums[1] else float("nan")

    @property
    def detail(self) -> float:
        return float(1 - self.sums[2] / self.sums[3]) if self.sums[3] else float("nan")

    def scores(self) -> dict[str, float]:
        """Both numbers, rounded, as the JSON reports and manifests carry them."""
        return {"edit_captured": round(self.edit, 4), "detail_captured": round(self.detail, 4)}


def captured_table(columns: list[str], results: dict[str, dict[Any, dict[str, float]]]) -> str:
    """A Markdown table of ``scores()`` per teacher (rows) and probe setting (``columns``, in the results' order)."""
    lines = ["| teacher | " + " | ".join(f"{c}: edit / detail" for c in columns) + " |",
             "| --- |" + " ---: |" * len(columns)]
    for name, by_setting in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{m['edit_captured']:.1%} / {m['detail_captured']:.1%}"
                                                   for m in by_setting.values()) + " |")
    return "\n".join(lines)
