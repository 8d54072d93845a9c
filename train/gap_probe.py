"""Where does a student miss its teacher's edit: in which frequency band, and how much of it is one colour map?

    python -m train.gap_probe --teachers ../shared/teachers --styles shinkai hayao cartoon \
        --students weights/shinkai.int8.onnx weights/hayao.int8.onnx weights/cartoon.int8.onnx \
        --photos ../shared/photos/scenes --count 30

On held-out photos (512 px short side, as the scenes are measured) the picture is split into bands — finer than 2 px
(the *detail* band of ``train.metrics``), 2–8, 8–32 and coarser than 32 px, as differences of Gaussian blurs — and,
per band, *edit captured* is computed there, with the band's share of the teacher's edit and of the student's error.
A last column scores the student after the best per-picture colour map (teacher ≈ A·student + b, 3×3 + bias, least
squares): what a student that also knew the picture's global statistics could gain without drawing anything new.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from animegan.engine import OnnxGenerator
from train.data import held_out_photos, read_rgb, resize_short_side
from train.metrics import EditCaptured
from train.teachers import TeacherChain, teacher_files

SCENE_SIZE = 512                 # short side the photos are measured at (as train.evaluate does for scenes)
BAND_SIGMAS = (2.0, 8.0, 32.0)   # Gaussian σ (px) between the bands
BANDS = ("< 2 px", "2–8 px", "8–32 px", "> 32 px")


def split_bands(rgb: np.ndarray) -> list[np.ndarray]:
    """The picture as a sum of ``len(BANDS)`` bands, finest first (float64): the differences between its Gaussian
    blurs at ``BAND_SIGMAS`` (the finest is ``train.metrics.high_pass``), then the coarsest blur."""
    x = rgb.astype(np.float64)
    levels = [x] + [cv2.GaussianBlur(x, (0, 0), sigma) for sigma in BAND_SIGMAS]
    return [finer - coarser for finer, coarser in zip(levels, levels[1:])] + [levels[-1]]


def fit_colour_map(student: np.ndarray, teacher: np.ndarray) -> np.ndarray:
    """``student`` through the 3×3 + bias colour map that brings it closest (least squares) to ``teacher``."""
    x = np.concatenate([student.reshape(-1, 3).astype(np.float64), np.ones((student.size // 3, 1))], axis=1)
    coef, *_ = np.linalg.lstsq(x, teacher.reshape(-1, 3).astype(np.float64), rcond=None)
    return np.clip(x @ coef, 0, 255).round().astype(np.uint8).reshape(student.shape)


class BandGap:
    """Squared errors per band, summed over pictures: student vs teacher and photo vs teacher."""

    def __init__(self):
        self.student, self.photo = np.zeros(len(BANDS)), np.zeros(len(BANDS))

    def add(self, photo: np.ndarray, teacher: np.ndarray, student: np.ndarray) -> None:
        t = split_bands(teacher)
        self.student += [np.sum((s - b) ** 2) for s, b in zip(split_bands(student), t)]
        self.photo += [np.sum((p - b) ** 2) for p, b in zip(split_bands(photo), t)]

    def table(self) -> dict[str, dict[str, float]]:
        """Per band: edit captured there, its share of the teacher's edit and of the student's error."""
        error = self.student.sum() or 1.0   # a student equal to its teacher has no error to share out
        return {band: {"captured": round(1 - s / p, 4), "share_of_edit": round(p / self.photo.sum(), 4),
                       "share_of_error": round(s / error, 4)}
                for band, s, p in zip(BANDS, self.student, self.photo)}


def probe(teacher: TeacherChain, student: Path, photos: list[Path]) -> dict:
    """The band table of ``student`` against ``teacher`` on ``photos``, and its scores before and after the best
    per-picture colour map."""
    multiple = int(np.lcm(teacher.multiple, 16))
    run_student = OnnxGenerator(student, multiple, tile=4096)
    gap, plain, mapped = BandGap(), EditCaptured(), EditCaptured()
    for path in photos:
        photo = resize_short_side(read_rgb(path), SCENE_SIZE, multiple)
        target, out = teacher(photo), run_student(photo)
        gap.add(photo, target, out)
        plain.add(photo, target, out)
        mapped.add(photo, target, fit_colour_map(out, target))
    return {"bands": gap.table(), "student": plain.scores(), "with_colour_map": mapped.scores()}


def markdown(results: dict[str, dict]) -> str:
    """One table: per style, each band's captured / share of the edit, then the scores with the colour map."""
    lines = ["| style | " + " | ".join(f"{b}: captured (share of edit)" for b in BANDS)
             + " | student: edit / detail | + per-picture colour map |", "| --- |" + " ---: |" * (len(BANDS) + 2)]
    for style, r in results.items():
        cells = [f"{v['captured']:.1%} ({v['share_of_edit']:.0%})" for v in r["bands"].values()]
        cells += [f"{r[k]['edit_captured']:.1%} / {r[k]['detail_captured']:.1%}" for k in ("student", "with_colour_map")]
        lines.append(f"| {style} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.gap_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--teachers", type=Path, required=True, help="folder with teachers.json and the teachers")
    p.add_argument("--styles", nargs="+", required=True, help="teacher ids")
    p.add_argument("--students", type=Path, nargs="+", required=True, help="one student ONNX per style, in order")
    p.add_argument("--photos", nargs="+", required=True, help="photo folders (their held-out photos are used)")
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--holdout", type=float, default=0.1)
    args = p.parse_args(argv)
    if len(args.students) != len(args.styles):
        raise SystemExit("error: give one student per style")
    photos = held_out_photos(args.photos, args.count, args.holdout)
    results = {style: probe(TeacherChain(teacher_files(args.teachers, [style])), student, photos)
               for style, student in zip(args.styles, args.students)}
    print(json.dumps(results, indent=2))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
