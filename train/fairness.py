"""Is any group of people served worse? Identity kept and skin-colour shift of the whole pipeline, per group.

    python -m train.fairness --photos ../shared/photos/faces --per-group 20

UTKFace file names carry labels (``[utk_]age_gender_race_date.jpg``, race 0 White, 1 Black, 2 Asian, 3 Indian,
4 Others).
For held-out photos of each group, every bundled style is run with the face pass on, and for each face found:
- *identity kept*: dlib's face descriptor of the result within 0.6 of the photo's (the usual same-person threshold);
- *skin shift*: the change of mean CIELAB colour over the skin (cheeks, forehead, nose: the landmark hull without
  eyes, brows and mouth): ΔL* (lightening is positive) and ΔE (the whole colour change).
With ``--teachers DIR`` the same is measured for the teachers in our place (the style's teacher on the whole picture,
its face teachers on the aligned faces, pasted back the same way), so a shift the student adds shows apart from the
one it learned.
"""
from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from animegan.faces import FacePipeline
from animegan.registry import Registry
from animegan.stylizer import Stylizer
from train.data import is_held_out, list_images, read_rgb
from train.evaluate import IDENTITY_THRESHOLD, FaceIdentity
from train.teachers import TeacherChain, teacher_files

GROUPS = {"0": "White", "1": "Black", "2": "Asian", "3": "Indian", "4": "Others"}
UPSCALE_TO = 400    # UTKFace crops are 200 px: upscaled so the face pass sees them as a phone photo would


def group_of(path: Path) -> str | None:
    """The race label of a UTKFace file name, or None."""
    parts = path.name.removeprefix("utk_").split("_")
    return GROUPS.get(parts[2]) if len(parts) == 4 else None


def skin_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """Boolean mask of the skin: the hull of the jaw and brows, without the eyes, brows and mouth."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(landmarks[np.r_[0:27]].astype(np.int32)), 1)
    for part in (np.r_[17:22], np.r_[22:27], np.r_[36:42], np.r_[42:48], np.r_[48:60]):
        cv2.fillConvexPoly(mask, cv2.convexHull(landmarks[part].astype(np.int32)), 0)
    return mask.astype(bool)


def skin_shift(photo: np.ndarray, result: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(ΔL*, ΔE) between the mean skin colours of the photo and the result."""
    lab = [cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[mask].mean(0) for x in (photo, result)]
    return float(lab[1][0] - lab[0][0]), float(np.linalg.norm(lab[1] - lab[0]))


def teachers_in_our_place(registry: Registry, style: str, teachers: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The whole pipeline with the teachers instead of our students: the style's teacher on the picture, its face
    teachers (the chain its face model learned from) on every aligned face."""
    entry = registry.get(style)
    whole = TeacherChain(teacher_files(teachers, [style]))
    face = TeacherChain(teacher_files(teachers, list(entry.face.teachers) if entry.face else [style]))
    pipeline = FacePipeline()
    return lambda rgb: pipeline.enhance(rgb, whole(rgb), face)


def measure(stylize: Callable[[np.ndarray], np.ndarray], photos: list[Path], identity: FaceIdentity) -> dict[str, dict]:
    """Per group: faces measured, identity kept, mean ΔL* and ΔE of the skin after ``stylize`` (a whole pipeline)."""
    pipeline = FacePipeline()
    rows: dict[str, list[tuple[bool, float, float]]] = defaultdict(list)
    for path in photos:
        rgb = read_rgb(path)
        rgb = cv2.resize(rgb, (UPSCALE_TO, round(rgb.shape[0] * UPSCALE_TO / rgb.shape[1])),
                         interpolation=cv2.INTER_CUBIC)
        faces = pipeline.detect(rgb)
        if not faces:
            continue
        result = stylize(rgb)
        box = identity.face_box(rgb)
        if box is None:
            continue
        kept = identity.distance(rgb, result, box) < IDENTITY_THRESHOLD
        rows[group_of(path)].append((kept, *skin_shift(rgb, result, skin_mask(rgb.shape[:2], faces[0].landmarks))))
    return {group: {"faces": len(r), "identity_kept": round(float(np.mean([x[0] for x in r])), 3),
                    "skin_dL": round(float(np.mean([x[1] for x in r])), 2),
                    "skin_dE": round(float(np.mean([x[2] for x in r])), 2)}
            for group, r in sorted(rows.items())}


def table(results: dict[str, dict[str, dict]], teachers: dict[str, dict[str, dict]] | None = None) -> str:
    """Markdown: one row per style and group (with the teachers' numbers in brackets when measured)."""
    lines = ["| style | group | faces | identity kept | skin ΔL* | skin ΔE |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for style, groups in results.items():
        for group, m in groups.items():
            t = (teachers or {}).get(style, {}).get(group)
            cells = [format(m[key], fmt) + (f" ({format(t[key], fmt)})" if t else "")
                     for key, fmt in (("identity_kept", ".0%"), ("skin_dL", "+.1f"), ("skin_dE", ".1f"))]
            lines.append(f"| {style} | {group} | {m['faces']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.fairness", description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", nargs="+", required=True, help="UTKFace-named photo folders")
    p.add_argument("--per-group", type=int, default=20, help="held-out photos per group")
    p.add_argument("--styles", nargs="*", help="style ids (default: every bundled style)")
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument("--teachers", type=Path, help="teachers folder: also measure the teachers in our place")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    by_group: dict[str, list[Path]] = defaultdict(list)
    for path in list_images(args.photos):
        if group_of(path) and is_held_out(path, args.holdout):
            by_group[group_of(path)].append(path)
    rng = random.Random(args.seed)
    photos = [x for group in sorted(by_group) for x in rng.sample(by_group[group], min(args.per_group,
                                                                                        len(by_group[group])))]
    registry = Registry()
    stylizer, identity = Stylizer(registry), FaceIdentity()
    styles = args.styles or [s.id for s in registry.available()]
    results = {style: measure(lambda rgb, style=style: np.asarray(stylizer.stylize(rgb, style, faces=True)), photos,
                              identity) for style in styles}
    teachers = {style: measure(teachers_in_our_place(registry, style, args.teachers), photos, identity)
                for style in styles} if args.teachers else None
    print(table(results, teachers))
    if args.json:
        args.json.write_text(json.dumps({"students": results, "teachers": teachers}, indent=2))
    return {"students": results, "teachers": teachers}


if __name__ == "__main__":
    main()
