"""Turn a distillation run into a bundled style: export → INT8 PTQ → evaluate against the teacher → weights/.

    python -m train.bundle --run runs/hayao --style hayao --teachers ../shared/teachers \
        --photos ../shared/photos/scenes ../shared/photos/faces ../shared/photos/portraits

Writes ``weights/<id>.int8.onnx``, the fp16 student ``weights/checkpoints/<id>.safetensors`` (so any machine can
resume or re-quantize), the model card ``weights/cards/<id>.md`` and the style's entry in ``weights/manifest.json``
(display name, sha256, licence, lineage, measured metrics).
"""
from __future__ import annotations

import argparse
import fcntl
import json
import platform
from pathlib import Path

from animegan.registry import MANIFEST, WEIGHTS_DIR, sha256_of
from train import evaluate, export, quantize
from train.card import render_card
from train.checkpoint import export_half, read_meta
from train.data import held_out_photos
from train.model import build_generator, count_parameters

STYLES = {
    "hayao": ("Hayao", "Soft painted skies and warm greens in the manner of Studio Ghibli films (AnimeGANv2 Hayao)."),
    "shinkai": ("Shinkai", "Vivid, luminous colours and crisp light like Makoto Shinkai's films (AnimeGANv3)."),
    "cute": ("Cute portrait", "Big-eyed, smooth-skinned anime portraits; best on faces (AnimeGANv3 tiny Cute)."),
    "cartoon": ("Cartoon", "Flat colour regions and clean edges, white-box cartoonization style."),
    "hayao_v3": ("Hayao v3", "AnimeGANv3's take on the Hayao look: softer, more painterly."),
}
STUDENT_MULTIPLE = 4  # two stride-2 stages


def teacher_info(teachers: Path, style: str) -> dict:
    return json.loads((teachers / "teachers.json").read_text())["styles"][style]


def update_manifest(manifest: Path, entry: dict) -> None:
    """Add or replace one style's entry (under a file lock, so several bundles may run at once)."""
    with open(manifest.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(manifest.read_text()) if manifest.exists() else {"styles": []}
        styles = [s for s in data["styles"] if s["id"] != entry["id"]] + [entry]
        order = list(STYLES)
        data["styles"] = sorted(styles, key=lambda s: order.index(s["id"]) if s["id"] in order else len(order))
        manifest.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="train.distill output folder")
    p.add_argument("--style", required=True, help="style id = the teacher's id in teachers.json")
    p.add_argument("--teachers", type=Path, required=True, help="folder with teachers.json and the teacher ONNX")
    p.add_argument("--photos", nargs="+", required=True, help="photo folders: calibration + held-out evaluation")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--weights", type=Path, default=WEIGHTS_DIR)
    p.add_argument("--eval-count", type=int, default=30)
    p.add_argument("--working-size", type=int, default=1024, help="long side the app stylizes at by default")
    args = p.parse_args(argv)

    checkpoint = args.run / f"{args.checkpoint}.safetensors"
    meta = read_meta(checkpoint)
    info = teacher_info(args.teachers, args.style)
    teacher = args.teachers / info["file"]
    fp32 = args.run / "export" / f"{args.style}.fp32.onnx"
    int8 = args.weights / f"{args.style}.int8.onnx"
    export.main(["--checkpoint", str(checkpoint), "--out", str(fp32)])
    report = quantize.main(["--model", str(fp32), "--calib", *args.photos, "--out", str(int8), "--count", "48",
                            "--exclude-worst", "2", "--eval-count", "8"])
    int8.with_suffix(".report.json").unlink()  # its numbers go into the manifest instead
    photos = held_out_photos(args.photos, args.eval_count, 0.1, seed=0)
    metrics = evaluate.evaluate(int8, [teacher], photos, fp32, multiple=STUDENT_MULTIPLE,
                                cache=args.run / "targets")
    metrics.update(int8_latency_ms_512=report["latency_ms_512"]["int8"],
                   fp32_latency_ms_512=report["latency_ms_512"]["fp32"])
    export_half(checkpoint, args.weights / "checkpoints" / f"{args.style}.safetensors")

    name, description = STYLES.get(args.style, (args.style, ""))
    model = build_generator(meta["arch"], float(meta["width"]))
    entry = {
        "id": args.style, "name": name, "description": description, "file": int8.name,
        "sha256": sha256_of(int8), "bytes": int8.stat().st_size, "multiple": STUDENT_MULTIPLE,
        "working_size": args.working_size,
        "license": f"Non-commercial use only: derived from the {args.style} teacher, whose licence is: "
                   f"{info['license']}",
        "license_name": "non-commercial",
        "lineage": {
            "teacher": args.style, "teacher_family": info.get("family"), "teacher_source": info.get("upstream"),
            "teacher_sha256": info.get("sha256"), "method": "distillation (L1) from random init, train.distill",
            "photos": "../shared/photos: scenes (BSDS500), faces (UTKFace, CelebA-HQ, deepface), portraits; "
                      "10% held out by file-name hash",
            "train_photos": meta.get("train_photos"), "steps": meta.get("step"),
            "wall_hours": round(float(meta.get("wall_seconds", 0)) / 3600, 2),
            "arch": meta["arch"], "width": meta["width"], "parameters": count_parameters(model),
            "hardware": f"CPU ({platform.machine()}, background training on 2 shared cores)",
            "quantization": "onnxruntime static INT8, QDQ, per-channel weights, uint8 activations, MinMax "
                            f"calibration on 48 photos; float nodes: {len(report['float_nodes'])}",
        },
        "metrics": metrics,
    }
    update_manifest(args.weights / MANIFEST.name, entry)
    cards = args.weights / "cards"
    cards.mkdir(parents=True, exist_ok=True)
    (cards / f"{args.style}.md").write_text(render_card(entry))  # the same text train.push uploads
    print(json.dumps(entry, indent=2))
    return entry


if __name__ == "__main__":
    main()
