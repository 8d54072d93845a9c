"""Image grids for sample sheets (training samples, Hub samples, the README contact sheets)."""
from __future__ import annotations

import cv2
import numpy as np


def fit_height(rgb: np.ndarray, height: int) -> np.ndarray:
    """Resize (area filter down, cubic up) to ``height`` px, keeping the aspect ratio."""
    width = max(1, round(rgb.shape[1] * height / rgb.shape[0]))
    interpolation = cv2.INTER_AREA if height <= rgb.shape[0] else cv2.INTER_CUBIC
    return cv2.resize(rgb, (width, height), interpolation=interpolation)


def grid(rows: list[list[np.ndarray]], gap: int = 6) -> np.ndarray:
    """Rows of equal-height cells, separated and padded with white."""
    lines = [np.concatenate(sum(([c, np.full((c.shape[0], gap, 3), 255, np.uint8)] for c in row), [])[:-1], 1)
             for row in rows]
    width = max(line.shape[1] for line in lines)
    padded = [np.pad(line, ((0, gap), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    return np.concatenate(padded, 0)[:-gap or None]
