"""Make a face-model training set: every face in the photos, FFHQ-aligned by the runtime's own face pass.

    python -m train.align_faces --photos ../shared/photos/faces_hq ../shared/photos/portraits \
        --out ~/animegan-runs/faces512

Training then sees exactly what inference feeds a face model (``animegan.faces.FacePipeline.align``). Faces of the
photos that ``train.data`` holds out (by the photo's file-name hash) go to ``<out>/held_out``, the others to
``<out>/train``, as ``<folder>__<photo stem>__<k>.png`` (k = the face's rank by size): a held-out face never comes
from a photo another tool trained on. Faces narrower than ``--min-face`` px are skipped: upscaled blur teaches
nothing.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from animegan.errors import AnimeGANError
from animegan.faces import FacePipeline
from train.data import is_held_out, list_images, read_rgb, write_rgb


def align_folder(photos: list[str | Path], out: Path, size: int = 512, min_face: int = 128,
                 holdout: float = 0.1) -> tuple[int, int]:
    """Align every face of ``photos`` into ``out/train`` or ``out/held_out``; returns (photos read, faces found).
    Faces already written are kept."""
    pipeline = FacePipeline(face_size=size, min_face=min_face)
    read = written = 0
    sources: Counter[str] = Counter()   # photos read per folder
    for path in tqdm(list_images(photos), desc="aligning faces"):
        try:
            rgb = read_rgb(path)
        except AnimeGANError as exc:
            tqdm.write(f"skipped {path.name}: {exc}")
            continue
        read += 1
        sources[path.parent.name] += 1
        for rank, face in enumerate(pipeline.detect(rgb)):
            split = "held_out" if is_held_out(path, holdout) else "train"
            target = out / split / f"{path.parent.name}__{path.stem}__{rank}.png"
            if not target.exists():
                write_rgb(target, pipeline.align(rgb, face)[0])
            written += 1
    counts = {split: len(list((out / split).glob("*.png"))) for split in ("train", "held_out")}
    (out / "aligned.json").write_text(json.dumps({"photos": dict(sources), "size": size,
                                                  "min_face": min_face, "holdout": holdout, "faces": counts}))
    return read, written


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m train.align_faces", description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", nargs="+", required=True, help="photo folders (or files)")
    p.add_argument("--out", type=Path, required=True, help="folder for the aligned faces (PNG)")
    p.add_argument("--size", type=int, default=512, help="aligned face side (the runtime's face_size)")
    p.add_argument("--min-face", type=int, default=128, help="skip faces whose detected box is narrower (px)")
    p.add_argument("--holdout", type=float, default=0.1, help="fraction of photos held out (same split as train.data)")
    args = p.parse_args(argv)
    read, written = align_folder(args.photos, args.out, args.size, args.min_face, args.holdout)
    print(f"{written} aligned faces from {read} photos in {args.out}")


if __name__ == "__main__":
    main()
