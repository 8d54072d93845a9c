"""Does a teacher draw its strokes where its stride grid falls?

    python -m train.phase_probe --teachers ../shared/teachers --styles cartoon hayao shinkai \
        --photos ../shared/photos/scenes --count 10 --shifts 1 2 4 16
    python -m train.phase_probe --teachers ../shared/teachers --styles cute+hayao cute+shinkai \
        --photos ~/animegan-runs/faces512/held_out --holdout 1 --size 0 --count 10

Each held-out photo is run through the teacher (``a+b`` chains teachers) as it is and again shifted right by a few
pixels (the new left columns repeat the edge); the shifted result, moved back, is scored against the unshifted one
with *edit captured* and *detail captured*, away from a 32 px border. A teacher whose strided layers sample the
picture on a fixed grid changes its strokes when the grid moves: it scores less at shifts that are not multiples of
its period. A student trained on crops at any offset (and mirrored) learns the average over those phases — blurred
strokes — unless its crops keep the grid (``train.distill --phase-lock``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from train.data import held_out_photos, read_rgb, resize_short_side
from train.metrics import EditCaptured, captured_table
from train.teachers import TeacherChain, teacher_files

BORDER = 32         # columns and rows left out of the score at each side (the shift's own edge)
SCENE_SIZE = 512    # short side the photos are measured at (as train.evaluate does for scenes)


def probe(teacher: TeacherChain, photos: list[Path], shifts: list[int], size: int = SCENE_SIZE
          ) -> dict[int, dict[str, float]]:
    """Per shift (px): edit and detail captured by the teacher's result on the shifted photo, moved back."""
    if not all(0 < s < BORDER for s in shifts):
        raise ValueError(f"shifts must be from 1 to {BORDER - 1} px")
    captured = {s: EditCaptured() for s in shifts}
    for path in photos:
        rgb = read_rgb(path)
        rgb = resize_short_side(rgb, size or min(rgb.shape[:2]), teacher.multiple)
        whole = teacher(rgb)
        inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
        for s in shifts:
            shifted = np.concatenate([np.repeat(rgb[:, :1], s, axis=1), rgb[:, :-s]], axis=1)
            back = np.concatenate([teacher(shifted)[:, s:], np.repeat(whole[:, -1:], s, axis=1)], axis=1)
            captured[s].add(rgb[inner], whole[inner], back[inner])
    return {s: c.scores() for s, c in captured.items()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.phase_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--teachers", type=Path, required=True, help="folder with teachers.json and the teachers")
    p.add_argument("--styles", nargs="+", required=True, help="teacher ids; a+b runs a, then b")
    p.add_argument("--photos", nargs="+", required=True, help="photo folders (their held-out photos are used)")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--shifts", type=int, nargs="+", default=[1, 2, 4, 16], help="shifts in px")
    p.add_argument("--size", type=int, default=SCENE_SIZE, help="short side (0: as they are, e.g. aligned faces)")
    p.add_argument("--holdout", type=float, default=0.1, help="held-out fraction (1: every photo is held out)")
    args = p.parse_args(argv)
    photos = held_out_photos(args.photos, args.count, args.holdout)
    results = {style: probe(TeacherChain(teacher_files(args.teachers, style.split("+"))), photos, args.shifts,
                            args.size)
               for style in args.styles}
    print(captured_table([f"shifted {s} px" for s in args.shifts],
                         {" → ".join(style.split("+")): by_shift for style, by_shift in results.items()}))
    return results


if __name__ == "__main__":
    main()
