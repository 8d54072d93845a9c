"""Build a Hugging Face Hub model folder for one style and upload it.

    python -m train.push --folder hub/hayao --repo-id you/animegan-hayao --style hayao [--dry-run]

The folder gets the INT8 ONNX, the FP32 ONNX (exported from the student checkpoint), the fp16 safetensors student,
a before/after sample grid and a ``README.md`` model card (YAML metadata, lineage, licence, metrics) built from ``weights/manifest.json``. Without
``--dry-run`` it is uploaded with ``huggingface_hub`` (``create_repo`` + ``upload_folder``; the token comes from
``HF_TOKEN`` or ``hf auth login``). Add the printed ``hub`` block to the manifest entry so the runtime can
load the style by repo id.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from animegan.engine import OnnxGenerator
from animegan.imageio import load_picture, to_pil
from animegan.errors import UnknownStyleError
from animegan.registry import MANIFEST, Registry
from train.card import SAMPLES, render_card
from train.export import export_onnx, load_generator
from train.sheets import fit_height, grid

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def hub_samples(model: Path, multiple: int, photos: list[Path], height: int = 384) -> np.ndarray:
    """Rows of photo | stylized, at ``height`` px."""
    engine = OnnxGenerator(model, multiple)
    rows = []
    for path in photos:
        rgb = fit_height(load_picture(path).rgb, height)
        rows.append([rgb, engine(rgb)])
    return grid(rows)


def build_folder(folder: Path, entry: dict, weights_dir: Path, checkpoint: Path, photos: list[Path]) -> list[Path]:
    """Write the Hub folder (the files of ``train.card.hub_files``); returns the files in it."""
    folder.mkdir(parents=True, exist_ok=True)
    style_id = entry["id"]
    shutil.copy2(weights_dir / entry["file"], folder / f"{style_id}.int8.onnx")
    shutil.copy2(checkpoint, folder / f"{style_id}.safetensors")
    if entry.get("face_file"):
        shutil.copy2(weights_dir / entry["face_file"], folder / f"{style_id}.face.int8.onnx")
        shutil.copy2(checkpoint.with_name(f"{style_id}.face.safetensors"), folder / f"{style_id}.face.safetensors")
    export_onnx(load_generator(checkpoint), folder / f"{style_id}.fp32.onnx")
    grid = hub_samples(folder / f"{style_id}.int8.onnx", int(entry.get("multiple", 8)), photos)
    to_pil(grid).save(folder / SAMPLES, quality=90)
    (folder / "README.md").write_text(render_card(entry))
    return sorted(p for p in folder.iterdir() if p.is_file())


def upload(folder: Path, repo_id: str, private: bool) -> str:
    from huggingface_hub import create_repo, upload_folder

    create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                           commit_message="Upload AnimeGAN student")
    return commit.oid


def main(argv: list[str] | None = None) -> list[Path]:
    p = argparse.ArgumentParser(prog="python -m train.push", description=__doc__.split("\n\n")[0])
    p.add_argument("--folder", type=Path, required=True, help="Hub model folder to write")
    p.add_argument("--repo-id", required=True, help="Hub repo, e.g. you/animegan-hayao")
    p.add_argument("--style", help="style id or name in the manifest (default: the first one)")
    p.add_argument("--manifest", type=Path, default=MANIFEST)
    p.add_argument("--checkpoint", type=Path,
                   help="the student safetensors (default: weights/checkpoints/<id>.safetensors); the FP32 ONNX is "
                        "exported from it")
    p.add_argument("--photos", nargs="*", type=Path, help="photos for the sample grid (default: docs/examples)")
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="only write the folder")
    args = p.parse_args(argv)

    entries = {entry["id"]: entry for entry in json.loads(args.manifest.read_text())["styles"]}
    if not entries:
        raise SystemExit(f"error: {args.manifest} lists no styles")
    try:
        entry = entries[Registry(args.manifest).find(args.style).id] if args.style else next(iter(entries.values()))
    except UnknownStyleError as exc:
        raise SystemExit(f"error: {exc}") from None
    photos = args.photos if args.photos is not None else sorted(EXAMPLES.glob("*.jpg"))[:3]
    checkpoint = args.checkpoint or args.manifest.parent / "checkpoints" / f"{entry['id']}.safetensors"
    if not checkpoint.is_file():
        raise SystemExit(f"error: student checkpoint not found: {checkpoint}")
    if not photos:
        raise SystemExit("error: no photos for the sample grid")
    files = build_folder(args.folder, entry, args.manifest.parent, checkpoint, photos)
    print(f"wrote {args.folder}: " + ", ".join(f.name for f in files))
    if args.dry_run:
        return files
    revision = upload(args.folder, args.repo_id, args.private)
    hub = {"repo_id": args.repo_id, "filename": f"{entry['id']}.int8.onnx", "revision": revision}
    print("uploaded; add to the manifest entry:\n" + json.dumps({"hub": hub}, indent=2))
    return files


if __name__ == "__main__":
    main()
