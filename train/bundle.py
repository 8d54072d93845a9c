"""Turn distillation runs into a bundled style: export → INT8 PTQ → evaluate against the teacher(s) → weights/.

    python -m train.bundle --style hayao --teachers ../shared/teachers --run runs/hayao \
        --photos ../shared/photos/scenes ../shared/photos/faces ../shared/photos/portraits \
        --face-run ~/animegan-runs/hayao_face --faces ~/animegan-runs/faces512

``--run`` (the whole-picture student) and ``--face-run`` (the face model, trained on ``train.align_faces`` output)
may be given together or alone; a part not given keeps what the manifest has and is re-evaluated. Writes
``weights/<id>.int8.onnx`` / ``weights/<id>.face.int8.onnx``, their fp16 checkpoints and validation curves in
``weights/checkpoints/``, the model card ``weights/cards/<id>.md`` and the style's manifest entry (display name,
sha256, licence, lineage built from the runs' own metadata, measured metrics). From Python:
``bundle(style, teachers, photos, run=..., face_run=..., faces=...)`` does the same and returns the entry.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
from pathlib import Path
from typing import Any

from animegan.registry import MANIFEST, WEIGHTS_DIR, sha256_of
from train.card import render_card
from train.checkpoint import export_half, loss_description, read_meta
from train.data import held_out_photos, list_images
from train.evaluate import evaluate
from train.export import export_checkpoint
from train.model import build_generator, count_parameters, generator_multiple
from train.quantize import METHODS, quantize_model
from train.teachers import teacher_files, teacher_info

STYLES = {
    "hayao": ("Hayao", "Warm Ghibli-like colours and softened, painterly surfaces (learned from AnimeGANv2 Hayao; "
                       "like it, turns reds and oranges magenta-pink: use keep colours to avoid that); faces redrawn "
                       "as anime faces, big eyes and smooth shading (face model: Cute, then Hayao)."),
    "shinkai": ("Shinkai", "Bright, saturated Shinkai-film colours and light (learned from AnimeGANv3 Shinkai); faces "
                           "with anime eyes and cel-shaded skin in that light (face model: Cute, then Shinkai)."),
    "cute": ("Cute portrait", "Smooth, cel-shaded skin and larger, darker anime eyes on faces (learned from "
                              "AnimeGANv3 tiny Cute); on scenes mostly a soft recolouring."),
    "cartoon": ("Cartoon", "Flattened colour regions and darker edges (learned from White-box Cartoonization); faces "
                           "become clean cartoon faces with anime eyes (face model: Cute, then Cartoon)."),
    "hayao_v3": ("Hayao v3", "AnimeGANv3's take on the Hayao look: softer, more painterly."),
}
CALIBRATION_PHOTOS = 48     # photos the INT8 activation ranges are calibrated on
CALIBRATION_SIZE = 384      # side of the whole-picture model's calibration crops
FACE_CALIBRATION_SIZE = 512  # side of the face model's calibration crops (the aligned faces' size)
INT8_CHECK_PHOTOS = 8       # held-out photos of quantization's own INT8 vs FP32 check
EVAL_SIZE = 512             # short side the whole-picture model is measured at
FACE_EVAL_SIZE = 0          # aligned faces are measured as they are
HOLDOUT = 0.1               # held-out fraction: the split train.distill validates on (never calibrated on)
FACE_FIELDS = ("face_file", "face_sha256", "face_bytes", "face_multiple", "face_teachers")


def update_manifest(manifest: Path, entry: dict) -> None:
    """Add or replace one style's entry (under a file lock, so several bundles may run at once)."""
    with open(manifest.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(manifest.read_text()) if manifest.exists() else {"styles": []}
        styles = [s for s in data["styles"] if s["id"] != entry["id"]] + [entry]
        order = list(STYLES)
        data["styles"] = sorted(styles, key=lambda s: order.index(s["id"]) if s["id"] in order else len(order))
        manifest.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def manifest_entry(manifest: Path, style: str) -> dict | None:
    """The style's current entry in ``manifest``, if any."""
    if not manifest.exists():
        return None
    return next((s for s in json.loads(manifest.read_text())["styles"] if s["id"] == style), None)


def hardware() -> str:
    """The machine the weights were made on, as read from it."""
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores, {platform.system()})"


def training_crops(meta: dict) -> str:
    """How the run cut its training pictures and treated BatchNorm, for the lineage ("" for plain random crops)."""
    parts = []
    sizes = meta.get("sizes")
    if sizes and meta.get("crop", 0) >= max(sizes):     # each crop is the whole picture
        parts.append(f"whole pictures, batch {meta.get('batch')}"
                     + (", never mirrored" if meta.get("phase_lock") else ""))
    elif meta.get("phase_lock"):
        parts.append("crops phase-locked to the teachers' stride grid")
    if meta.get("freeze_bn"):
        parts.append("BatchNorm frozen at its running statistics")
    if meta.get("bn_recalibrated"):
        parts.append(f"BatchNorm statistics recomputed over {meta['bn_recalibrated']} training crops")
    return "".join(f", {part}" for part in parts)


def build_model(run: Path, teachers_dir: Path, out: Path, calib: list[Path], eval_photos: list[Path],
                eval_size: int, calib_size: int, checkpoint_name: str = "best") -> tuple[dict, dict]:
    """Export and quantize one run's student into ``out``; returns (lineage, metrics) built from what was used."""
    checkpoint = run / f"{checkpoint_name}.safetensors"
    meta = read_meta(checkpoint)
    teachers = meta.get("teachers") or [Path(str(meta["teacher"])).stem]
    multiple = generator_multiple(meta["arch"])
    fp32 = run / "export" / out.name.replace(".int8.", ".fp32.")
    export_checkpoint(checkpoint, fp32)
    report = quantize_model(fp32, calib, out, count=CALIBRATION_PHOTOS, size=calib_size,
                            eval_count=INT8_CHECK_PHOTOS, holdout=HOLDOUT, multiple=multiple)
    metrics = evaluate(out, teacher_files(teachers_dir, teachers), eval_photos, fp32, size=eval_size,
                       multiple=multiple, cache=run / "targets")
    metrics.update(int8_latency_ms_512=report.latency_ms_512["int8"],
                   fp32_latency_ms_512=report.latency_ms_512["fp32"])
    lineage = {
        "teachers": teachers,
        "method": (f"distillation (train.distill) continued from {meta['init']}: " if meta.get("init")
                   else "distillation from random init (train.distill): ") + loss_description(meta)
                  + training_crops(meta),
        "photos": [Path(p).name for p in meta.get("photos", [])], "train_photos": meta.get("train_photos"),
        "steps": meta.get("step"), "wall_hours": round(float(meta.get("wall_seconds", 0)) / 3600, 2),
        "arch": meta["arch"], "width": meta["width"],
        "parameters": count_parameters(build_generator(meta["arch"], float(meta["width"]))),
        "hardware": hardware(),
        "quantization": f"onnxruntime static INT8, QDQ, per-channel weights, uint8 activations, "
                        f"{METHODS[report.method].description} calibration on {report.calibration_photos} photos at "
                        f"{report.calibration_size}²; float nodes: {len(report.float_nodes)}",
    }
    return lineage, metrics


def keep_history(run: Path, checkpoint: Path, name: str, weights: Path) -> None:
    """Commit the run's fp16 weights and its validation curve beside the other styles'. A run that started from
    committed weights on another machine logged only its own steps: the committed curve before them is kept."""
    export_half(checkpoint, weights / "checkpoints" / f"{name}.safetensors")
    if not (run / "history.jsonl").exists():
        return
    curve = weights / "checkpoints" / f"{name}.history.jsonl"
    new = (run / "history.jsonl").read_text().splitlines()
    first = json.loads(new[0])["step"] if new else 0
    old = [line for line in curve.read_text().splitlines() if json.loads(line)["step"] < first] if curve.exists() else []
    curve.write_text("".join(line + "\n" for line in old + new))


def style_entry(style: str, info: dict, working_size: int) -> dict[str, Any]:
    """The descriptive start of a manifest entry: display name, description, licence, default working size."""
    name, description = STYLES.get(style, (style, ""))
    return {
        "id": style, "name": name, "description": description,
        "license": f"Non-commercial use only: derived from the {style} teacher, whose licence is: {info['license']}",
        "license_name": "non-commercial", "working_size": working_size,
    }


def remeasure(old: dict, int8: Path, teachers: Path, style: str, photos: list[Path]) -> dict:
    """The kept whole-picture model's metrics, measured again on ``photos`` (its INT8 vs FP32 PSNR stays as it was:
    the FP32 model is not kept)."""
    metrics = dict(old["metrics"])
    metrics.update(evaluate(int8, teacher_files(teachers, old["lineage"].get("teachers") or [style]), photos,
                            size=EVAL_SIZE, multiple=int(old["multiple"])))
    return metrics


def aligned_faces_lineage(faces: Path) -> str:
    """Where the face model's training faces came from, as ``train.align_faces`` recorded it."""
    aligned = json.loads((faces / "aligned.json").read_text())
    return (f"FFHQ-aligned {aligned['size']}² faces (train.align_faces) of "
            + ", ".join(f"{n} photos from {folder}/" for folder, n in aligned["photos"].items())
            + f"; {aligned['faces']['held_out']} faces held out by photo")


def build_face_model(face_run: Path, faces: Path, teachers: Path, out: Path,
                     checkpoint: str) -> tuple[dict, dict, dict]:
    """Export, quantize (on ``faces/train``) and measure (on ``faces/held_out``) the face model into ``out``;
    returns (its manifest fields, lineage, metrics)."""
    lineage, metrics = build_model(face_run, teachers, out, [faces / "train"], list_images([faces / "held_out"]),
                                   eval_size=FACE_EVAL_SIZE, calib_size=FACE_CALIBRATION_SIZE,
                                   checkpoint_name=checkpoint)
    lineage["photos"] = aligned_faces_lineage(faces)
    fields = dict(face_file=out.name, face_sha256=sha256_of(out), face_bytes=out.stat().st_size,
                  face_multiple=generator_multiple(lineage["arch"]), face_teachers=lineage["teachers"])
    return fields, lineage, metrics


def bundle(style: str, teachers: Path, photos: list[Path], run: Path | None = None, face_run: Path | None = None,
           faces: Path | None = None, eval_photos: list[Path] | None = None, checkpoint: str = "best",
           weights: Path = WEIGHTS_DIR, eval_count: int = 30, working_size: int = 1024) -> dict:
    """Bundle ``style`` into ``weights`` and return its manifest entry.

    ``run`` / ``face_run``: ``train.distill`` folders of the whole-picture and face students (either may be left out
    when the manifest already has that part: it is kept and measured again). ``photos`` calibrate the whole-picture
    model; the held-out split of ``eval_photos`` (default: ``photos``) measures it, ``eval_count`` photos at most.
    ``faces``: ``train.align_faces`` output; without a face model, the whole-picture model is measured on its
    held-out faces (what the face pass does then). ``checkpoint``: "best" or "last"."""
    if face_run and not faces:
        raise ValueError("--face-run needs --faces (the aligned faces it was trained on)")
    manifest = weights / MANIFEST.name
    old = manifest_entry(manifest, style)
    if run is None and old is None:
        raise ValueError(f"style {style!r} is not in {manifest} yet: give --run")
    info = teacher_info(teachers, style)
    measured = eval_photos or photos
    scene_photos = held_out_photos(measured, eval_count, HOLDOUT, seed=0)
    int8 = weights / f"{style}.int8.onnx"
    entry = style_entry(style, info, working_size)
    if run:
        lineage, metrics = build_model(run, teachers, int8, photos, scene_photos, eval_size=EVAL_SIZE,
                                       calib_size=CALIBRATION_SIZE, checkpoint_name=checkpoint)
        keep_history(run, run / f"{checkpoint}.safetensors", style, weights)
        entry["multiple"] = generator_multiple(lineage["arch"])
    else:
        lineage, metrics = old["lineage"], remeasure(old, int8, teachers, style, scene_photos)
        entry["multiple"] = old["multiple"]
    lineage.update(teachers=lineage.get("teachers") or [style], teacher_family=info.get("family"),
                   teacher_source=info.get("upstream"), teacher_sha256=info.get("sha256"))
    lineage.pop("teacher", None)
    entry.update(file=int8.name, sha256=sha256_of(int8), bytes=int8.stat().st_size)

    if face_run:
        face_int8 = weights / f"{style}.face.int8.onnx"
        face_fields, lineage["face"], metrics["faces"] = build_face_model(face_run, faces, teachers, face_int8,
                                                                          checkpoint)
        keep_history(face_run, face_run / f"{checkpoint}.safetensors", f"{style}.face", weights)
        entry.update(face_fields)
    elif old and old.get("face_file"):
        entry.update({k: old[k] for k in FACE_FIELDS})
        lineage["face"], metrics["faces"] = old["lineage"].get("face"), old["metrics"].get("faces")
    elif faces:  # no face model: the face pass runs the whole-picture model on the aligned faces
        metrics["faces"] = evaluate(int8, teacher_files(teachers, lineage["teachers"]),
                                    list_images([faces / "held_out"]), size=FACE_EVAL_SIZE,
                                    multiple=int(entry["multiple"]))
    metrics["photos_measured"] = [Path(p).name for p in measured]
    entry.update(lineage=lineage, metrics=metrics)

    update_manifest(manifest, entry)
    cards = weights / "cards"
    cards.mkdir(parents=True, exist_ok=True)
    (cards / f"{style}.md").write_text(render_card(entry))  # the same text train.push uploads
    return entry


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("--style", required=True, help="style id = the teacher's id in teachers.json")
    p.add_argument("--teachers", type=Path, required=True, help="folder with teachers.json and the teacher ONNX")
    p.add_argument("--run", type=Path, help="train.distill output folder of the whole-picture student")
    p.add_argument("--photos", nargs="+", type=Path, required=True,
                   help="photo folders calibrating the whole-picture model (and evaluating it unless --eval-photos)")
    p.add_argument("--eval-photos", nargs="+", type=Path,
                   help="photo folders whose held-out split evaluates the whole-picture model (default: --photos); "
                        "the issue's bars are on scenes")
    p.add_argument("--face-run", type=Path, help="train.distill output folder of the face model")
    p.add_argument("--faces", type=Path,
                   help="train.align_faces output (train/ calibrates the face model, held_out/ evaluates it)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last", "recalibrated"],
                   help="recalibrated: train.recalibrate_bn's output")
    p.add_argument("--weights", type=Path, default=WEIGHTS_DIR)
    p.add_argument("--eval-count", type=int, default=30)
    p.add_argument("--working-size", type=int, default=1024, help="long side the app stylizes at by default")
    args = p.parse_args(argv)
    try:
        entry = bundle(args.style, args.teachers, args.photos, run=args.run, face_run=args.face_run,
                       faces=args.faces, eval_photos=args.eval_photos, checkpoint=args.checkpoint,
                       weights=args.weights, eval_count=args.eval_count, working_size=args.working_size)
    except ValueError as exc:
        p.error(str(exc))
    print(json.dumps(entry, indent=2))
    return entry


if __name__ == "__main__":
    main()
