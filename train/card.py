"""Model cards: the README.md uploaded with a style to the Hub, also bundled as ``weights/cards/<id>.md``."""
from __future__ import annotations

from typing import Any

from train.model import GENERATORS, picture_side

NON_COMMERCIAL = ("This student is a derived work of a teacher released for non-commercial use only, so the "
                  "same restriction applies: **non-commercial use only** (research, teaching, personal use).")


def _metrics_table(metrics: dict[str, Any]) -> str:
    if not metrics:
        return "_No metrics recorded yet._"
    rows = ["| metric | value |", "| --- | --- |"]
    for key, value in metrics.items():
        rows.append(f"| {key} | {value} |")
    return "\n".join(rows)


SAMPLES = "samples.jpg"


def hub_files(style_id: str, face_model: bool = False) -> dict[str, str]:
    """The files of a style's Hub folder (what ``train.push`` writes) and what each one is."""
    files = {
        f"{style_id}.int8.onnx": "INT8 (QDQ) ONNX used by the app for whole pictures",
        f"{style_id}.fp32.onnx": "the float model before quantization",
        f"{style_id}.safetensors": "the PyTorch student weights (fp16), loadable with `train.model.build_generator`",
    }
    if face_model:
        files[f"{style_id}.face.int8.onnx"] = "INT8 (QDQ) ONNX the app runs on aligned 512² faces"
        files[f"{style_id}.face.safetensors"] = "the face model's PyTorch weights (fp16)"
    return {**files, SAMPLES: "photo → style examples", "README.md": "this card"}


def _lineage_lines(lineage: dict[str, Any]) -> list[str]:
    teachers = lineage.get("teachers") or [lineage.get("teacher", "?")]
    return [
        f"- Teachers, applied in this order: {' → '.join(f'`{t}`' for t in teachers)}",
        f"- Student: `{lineage.get('arch', '?')}` generator, width {lineage.get('width', '?')}, "
        f"{lineage.get('parameters', '?')} parameters",
        f"- Method: {lineage.get('method', 'distillation')}",
        f"- Training photos: {lineage.get('photos', '?')} ({lineage.get('train_photos', '?')} used)",
        f"- Steps: {lineage.get('steps', '?')}; wall time: {lineage.get('wall_hours', '?')} h on "
        f"{lineage.get('hardware', 'CPU')}",
        f"- Quantization: {lineage.get('quantization', 'onnxruntime static INT8, QDQ, per-channel')}",
    ]


def render_card(entry: dict[str, Any]) -> str:
    """Markdown model card with Hub YAML front matter for one manifest entry (also ``weights/cards/<id>.md``)."""
    lineage = entry.get("lineage", {})
    lines = [
        "---",
        "license: other",
        f"license_name: {entry.get('license_name', 'non-commercial')}",
        "library_name: onnxruntime",
        "pipeline_tag: image-to-image",
        "tags:",
        "- animegan",
        "- anime",
        "- style-transfer",
        "- onnx",
        "- int8",
        "---",
        "",
        f"# AnimeGAN student — {entry.get('name', entry['id'])} (`{entry['id']}`)",
        "",
        entry.get("description", ""),
        "",
        "A small AnimeGANv2-family generator, trained from random initialisation by distillation: the teacher "
        "below was only *run* on real photos to make training targets; none of its weights were copied.",
        "",
        "## Files",
        "",
        *[f"- `{name}` — {role}" for name, role in hub_files(entry["id"], bool(entry.get("face_file"))).items()],
        f"- sha256 of `{entry['file']}`: `{entry.get('sha256', '?')}`",
        *([f"- sha256 of `{entry['face_file']}`: `{entry.get('face_sha256', '?')}`"] if entry.get("face_file") else []),
        "",
        "## Lineage",
        "",
        f"Style teacher `{entry['id']}`: {lineage.get('teacher_source', '')}",
        "",
        "Whole-picture model:",
        "",
        *_lineage_lines(lineage),
        "",
        *(["Face model (what the face pass runs on aligned faces):", "", *_lineage_lines(lineage["face"]), ""]
          if lineage.get("face") else []),
        "## Metrics",
        "",
        "Held-out photos at 512 px short side (faces: held-out FFHQ-aligned 512² faces), against the teacher's "
        "output. *Edit captured* = 1 − MSE(student, teacher) / MSE(photo, teacher): how much of the teacher's change "
        "the student makes; *detail captured* is the same on the high-pass band (image − Gaussian blur σ = 2 px).",
        "",
        _metrics_table({k: v for k, v in entry.get("metrics", {}).items() if k != "faces"}),
        "",
        *(["Face model:", "", _metrics_table(entry["metrics"]["faces"]), ""]
          if entry.get("metrics", {}).get("faces") else []),
        "## Licence",
        "",
        entry.get("license", ""),
        "",
        NON_COMMERCIAL,
        "",
    ]
    lines += ["## Samples", "", f"![photo → {entry['id']}]({SAMPLES})", ""]
    lines += ["## Use", "", "```python", "import animegan",
              f"animegan.stylize('photo.jpg', style='{entry['id']}').save('anime.png')", "```", "",
              _onnx_interface(entry), ""]
    return "\n".join(lines)


def _onnx_interface(entry: dict[str, Any]) -> str:
    """How to run the whole-picture ONNX without the package: its inputs and output."""
    arch = entry.get("lineage", {}).get("arch")
    side = picture_side(arch) if arch in GENERATORS else None
    text = (f"Without the package: `{entry['file']}` takes `input`, float32 NCHW RGB in [-1, 1] (H and W multiples "
            f"of {entry.get('multiple', 4)}), and returns `output` the same way")
    if side:
        text += (f"; it also takes `picture`, the whole picture squeezed to {side}² with the area filter, in the same "
                 "range (`animegan.engine.picture_thumbnail`), the same for every tile when a picture runs in tiles")
    return text + "."
