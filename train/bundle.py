"""Turn distillation runs into a bundled style: export → INT8 PTQ → evaluate against the teacher(s) → weights/.

    python -m train.bundle --style hayao --teachers ../shared/teachers --run runs/hayao \
        --photos ../shared/photos/scenes ../shared/photos/faces ../shared/photos/portraits \
        --face-run ~/animegan-runs/hayao_face --faces ~/animegan-runs/faces512

``--run`` (the whole-picture student) and ``--face-run`` (the face model, trained on ``train.align_faces`` output)
may be given together or alone; a part not given keeps what the manifest has and is re-evaluated. Writes
``weights/<id>.int8.onnx`` / ``weights/<id>.face.int8.onnx``, their fp16 checkpoints and validation curves in
``weights/checkpoints/``, the model card ``weights/cards/<id>.md`` and the style's manifest entry (display name,
sha256, licence, lineage built from the runs' own metadata, measured metrics).
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from animegan.registry import MANIFEST, WEIGHTS_DIR, sha256_of
from train.card import render_card
from train.checkpoint import export_half, read_meta
from train.data import held_out_photos, list_images
from train.evaluate import evaluate
from train.export import export_checkpoint
from train.model import build_generator, count_parameters, generator_multiple
from train.quantize import quantize_model
from train.teachers import teacher_files, teacher_info

STYLES = {
    "hayao": ("Hayao", "Warm Ghibli-like colours and softened, painterly surfaces (learned from AnimeGANv2 Hayao)."),
    "shinkai": ("Shinkai", "Bright, saturated Shinkai-film colours and light (learned from AnimeGANv3 Shinkai)."),
    "cute": ("Cute portrait", "Smooth, cel-shaded skin and larger, darker anime eyes on faces (learned from "
                              "AnimeGANv3 tiny Cute); on scenes mostly a soft recolouring."),
    "cartoon": ("Cartoon", "Flattened colour regions and darker edges (learned from White-box Cartoonization)."),
    "hayao_v3": ("Hayao v3", "AnimeGANv3's take on the Hayao look: softer, more painterly."),
}
EXCLUDE_WORST = 2       # most quantization-sensitive nodes kept in float (beside the input conv and output tail)


def update_manifest(manifest: Path, entry: dict) -> None:
    """Add or replace one style's entry (under a file lock, so several bundles may run at once)."""
    with open(manifest.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(manifest.read_text()) if manifest.exists() else {"styles": []}
        styles = [s for s in data["styles"] if s["id"] != entry["id"]] + [entry]
        order = list(STYLES)
        data["styles"] = sorted(styles, key=lambda s: order.index(s["id"]) if s["id"] in order else len(order))
        manifest.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def hardware() -> str:
    """The machine the weights were made on, as read from it."""
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores, {platform.system()})"


def build_model(run: Path, teachers_dir: Path, out: Path, calib: list[str | Path], eval_photos: list[Path],
                eval_size: int, calib_size: int, checkpoint_name: str = "best") -> tuple[dict, dict]:
    """Export and quantize one run's student into ``out``; returns (lineage, metrics) built from what was used."""
    checkpoint = run / f"{checkpoint_name}.safetensors"
    meta = read_meta(checkpoint)
    teachers = meta.get("teachers") or [Path(str(meta["teacher"])).stem]
    multiple = generator_multiple(meta["arch"])
    fp32 = run / "export" / out.name.replace(".int8.", ".fp32.")
    export_checkpoint(checkpoint, fp32)
    report = quantize_model(fp32, calib, out, count=48, size=calib_size, exclude_worst=EXCLUDE_WORST, eval_count=8,
                            multiple=multiple)
    out.with_suffix(".report.json").unlink()  # its numbers go into the manifest instead
    metrics = evaluate(out, teacher_files(teachers_dir, teachers), eval_photos, fp32, size=eval_size,
                       multiple=multiple, cache=run / "targets")
    metrics.update(int8_latency_ms_512=report["latency_ms_512"]["int8"],
                   fp32_latency_ms_512=report["latency_ms_512"]["fp32"])
    lineage = {
        "teachers": teachers, "method": "distillation from random init (train.distill): L1"
        + (f" + {meta['perceptual_weight']} × perceptual ({meta['perceptual']})" if meta.get("perceptual") else "")
        + (f" + {meta['adv_weight']} × LSGAN" if meta.get("adv_weight") else ""),
        "photos": [Path(p).name for p in meta.get("photos", [])], "train_photos": meta.get("train_photos"),
        "steps": meta.get("step"), "wall_hours": round(float(meta.get("wall_seconds", 0)) / 3600, 2),
        "arch": meta["arch"], "width": meta["width"],
        "parameters": count_parameters(build_generator(meta["arch"], float(meta["width"]))),
        "hardware": hardware(),
        "quantization": f"onnxruntime static INT8, QDQ, per-channel weights, uint8 activations, MinMax calibration "
                        f"on {report['calibration_photos']} photos at {calib_size}²; "
                        f"float nodes: {len(report['float_nodes'])}",
    }
    return lineage, metrics


def keep_history(run: Path, checkpoint: Path, name: str, weights: Path) -> None:
    """Commit the run's fp16 weights and its validation curve beside the other styles'."""
    export_half(checkpoint, weights / "checkpoints" / f"{name}.safetensors")
    if (run / "history.jsonl").exists():
        shutil.copy(run / "history.jsonl", weights / "checkpoints" / f"{name}.history.jsonl")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("--style", required=True, help="style id = the teacher's id in teachers.json")
    p.add_argument("--teachers", type=Path, required=True, help="folder with teachers.json and the teacher ONNX")
    p.add_argument("--run", type=Path, help="train.distill output folder of the whole-picture student")
    p.add_argument("--photos", nargs="+", required=True,
                   help="photo folders calibrating the whole-picture model (and evaluating it unless --eval-photos)")
    p.add_argument("--eval-photos", nargs="+",
                   help="photo folders whose held-out split evaluates the whole-picture model (default: --photos); "
                        "the issue's bars are on scenes")
    p.add_argument("--face-run", type=Path, help="train.distill output folder of the face model")
    p.add_argument("--faces", type=Path,
                   help="train.align_faces output (train/ calibrates the face model, held_out/ evaluates it)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--weights", type=Path, default=WEIGHTS_DIR)
    p.add_argument("--eval-count", type=int, default=30)
    p.add_argument("--working-size", type=int, default=1024, help="long side the app stylizes at by default")
    args = p.parse_args(argv)
    if args.face_run and not args.faces:
        p.error("--face-run needs --faces (the aligned faces it was trained on)")

    manifest = args.weights / MANIFEST.name
    old = next((s for s in json.loads(manifest.read_text())["styles"] if s["id"] == args.style), None) \
        if manifest.exists() else None
    if args.run is None and old is None:
        p.error(f"style {args.style!r} is not in {manifest} yet: give --run")
    info = teacher_info(args.teachers, args.style)
    scene_photos = held_out_photos(args.eval_photos or args.photos, args.eval_count, 0.1, seed=0)
    int8 = args.weights / f"{args.style}.int8.onnx"
    name, description = STYLES.get(args.style, (args.style, ""))
    entry: dict[str, Any] = {
        "id": args.style, "name": name, "description": description,
        "license": f"Non-commercial use only: derived from the {args.style} teacher, whose licence is: "
                   f"{info['license']}",
        "license_name": "non-commercial", "working_size": args.working_size,
    }
    if args.run:
        lineage, metrics = build_model(args.run, args.teachers, int8, args.photos, scene_photos, 512, 384,
                                       args.checkpoint)
        keep_history(args.run, args.run / f"{args.checkpoint}.safetensors", args.style, args.weights)
        meta = read_meta(args.run / f"{args.checkpoint}.safetensors")
        entry["multiple"] = generator_multiple(meta["arch"])
    else:
        lineage, metrics = old["lineage"], dict(old["metrics"])
        fresh = evaluate(int8, teacher_files(args.teachers, lineage.get("teachers") or [args.style]), scene_photos,
                         size=512, multiple=int(old["multiple"]))
        metrics.update({k: v for k, v in fresh.items() if k not in ("int8_vs_fp32_psnr_db",)})
        entry["multiple"] = old["multiple"]
    lineage.update(teachers=lineage.get("teachers") or [args.style], teacher_family=info.get("family"),
                   teacher_source=info.get("upstream"), teacher_sha256=info.get("sha256"))
    lineage.pop("teacher", None)
    entry.update(file=int8.name, sha256=sha256_of(int8), bytes=int8.stat().st_size)

    if args.face_run:
        face_int8 = args.weights / f"{args.style}.face.int8.onnx"
        faces_held_out = list_images([args.faces / "held_out"])
        face_lineage, face_metrics = build_model(args.face_run, args.teachers, face_int8, [args.faces / "train"],
                                                 faces_held_out, 0, 512, args.checkpoint)
        keep_history(args.face_run, args.face_run / f"{args.checkpoint}.safetensors", f"{args.style}.face",
                     args.weights)
        aligned = json.loads((args.faces / "aligned.json").read_text())
        face_lineage["photos"] = (f"FFHQ-aligned {aligned['size']}² faces (train.align_faces) of "
                                  + ", ".join(f"{n} photos from {folder}/" for folder, n in aligned["photos"].items())
                                  + f"; {aligned['faces']['held_out']} faces held out by photo")
        entry.update(face_file=face_int8.name, face_sha256=sha256_of(face_int8), face_bytes=face_int8.stat().st_size,
                     face_multiple=16, face_teachers=face_lineage["teachers"])
        lineage["face"], metrics["faces"] = face_lineage, face_metrics
    elif old and old.get("face_file"):
        entry.update({k: old[k] for k in ("face_file", "face_sha256", "face_bytes", "face_multiple", "face_teachers")})
        lineage["face"], metrics["faces"] = old["lineage"].get("face"), old["metrics"].get("faces")
    elif args.faces:  # no face model: the face pass runs the whole-picture model on the aligned faces
        metrics["faces"] = evaluate(int8, teacher_files(args.teachers, lineage["teachers"]),
                                    list_images([args.faces / "held_out"]), size=0, multiple=int(entry["multiple"]))
    metrics["photos_measured"] = [Path(p).name for p in args.eval_photos or args.photos]
    entry.update(lineage=lineage, metrics=metrics)

    update_manifest(manifest, entry)
    cards = args.weights / "cards"
    cards.mkdir(parents=True, exist_ok=True)
    (cards / f"{args.style}.md").write_text(render_card(entry))  # the same text train.push uploads
    print(json.dumps(entry, indent=2))
    return entry


if __name__ == "__main__":
    main()
