"""How much of a teacher's edit can a student with a bounded view make at all?

    python -m train.context_probe --teachers ../shared/teachers --styles shinkai hayao cartoon \
        --photos ../shared/photos/scenes --count 30 --windows 256 384

For each held-out photo (512 px short side, as the scenes are measured) the teacher is run on the whole picture and,
separately, on a centred window of each size; on the window's central 128² (so the window's own borders do not count)
the window's result is scored against the whole picture's with *edit captured* and *detail captured*. A teacher that
works locally scores 100 %; one that normalises over the whole image (AnimeGANv2's LayerNorm-style GroupNorm(1),
AnimeGANv3's global average pools) scores less, and no student that sees only such a window — nor one trained on
crops of that size — can be expected to do better there.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from train.data import held_out_photos, read_rgb, resize_short_side
from train.metrics import EditCaptured, captured_table
from train.teachers import TeacherChain, teacher_files

CENTRE = 128        # side of the scored centre of each window
SCENE_SIZE = 512    # short side the photos are measured at (as train.evaluate does for scenes)


def probe(teacher: TeacherChain, photos: list[Path], windows: list[int]) -> dict[int, dict[str, float]]:
    """Per window side: edit and detail captured by the teacher seeing only that window, on the window's centre."""
    if any(side % teacher.multiple for side in windows):
        raise ValueError(f"window sides must be multiples of the teacher's {teacher.multiple}")
    captured = {side: EditCaptured() for side in windows}
    for path in photos:
        rgb = resize_short_side(read_rgb(path), SCENE_SIZE, teacher.multiple)
        whole = teacher(rgb)
        h, w = rgb.shape[:2]
        for side in windows:
            top, left = (h - side) // 2, (w - side) // 2
            seen = teacher(np.ascontiguousarray(rgb[top:top + side, left:left + side]))
            c0 = (side - CENTRE) // 2
            centre = (slice(top + c0, top + c0 + CENTRE), slice(left + c0, left + c0 + CENTRE))
            captured[side].add(rgb[centre], whole[centre], seen[c0:c0 + CENTRE, c0:c0 + CENTRE])
    return {w: c.scores() for w, c in captured.items()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.context_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--teachers", type=Path, required=True, help="folder with teachers.json and the teachers")
    p.add_argument("--styles", nargs="+", required=True, help="teacher ids")
    p.add_argument("--photos", nargs="+", required=True, help="photo folders (their held-out photos are used)")
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--windows", type=int, nargs="+", default=[256, 384],
                   help=f"window sides, from {CENTRE} to {SCENE_SIZE}")
    p.add_argument("--holdout", type=float, default=0.1)
    args = p.parse_args(argv)
    if not all(CENTRE <= w <= SCENE_SIZE for w in args.windows):
        raise SystemExit(f"error: window sides must be from {CENTRE} to {SCENE_SIZE} px")
    photos = held_out_photos(args.photos, args.count, args.holdout)
    results = {style: probe(TeacherChain(teacher_files(args.teachers, [style])), photos, args.windows)
               for style in args.styles}
    print(captured_table([f"sees {w}²" for w in args.windows], results))
    return results


if __name__ == "__main__":
    main()
