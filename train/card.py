"""Model cards: the README.md uploaded with a style to the Hub, also bundled as ``weights/cards/<id>.md``."""
from __future__ import annotations

from typing import Any

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


def hub_files(style_id: str) -> dict[str, str]:
    """The files of a style's Hub folder (what ``train.push`` writes) and what each one is."""
    return {
        f"{style_id}.int8.onnx": "INT8 (QDQ) ONNX used by the app",
        f"{style_id}.fp32.onnx": "the float model before quantization",
        f"{style_id}.safetensors": "the PyTorch student weights (fp16), loadable with `train.model.build_generator`",
        SAMPLES: "photo → style examples",
        "README.md": "this card",
    }


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
        *[f"- `{name}` — {role}" for name, role in hub_files(entry["id"]).items()],
        f"- sha256 of `{entry['file']}`: `{entry.get('sha256', '?')}`",
        "",
        "## Lineage",
        "",
        f"- Teacher: `{lineage.get('teacher', '?')}` — {lineage.get('teacher_source', '')}",
        f"- Student: `{lineage.get('arch', '?')}` generator, width {lineage.get('width', '?')}, "
        f"{lineage.get('parameters', '?')} parameters",
        f"- Training photos: {lineage.get('photos', '?')}",
        f"- Steps: {lineage.get('steps', '?')}; wall time: {lineage.get('wall_hours', '?')} h on "
        f"{lineage.get('hardware', 'CPU')}",
        f"- Quantization: {lineage.get('quantization', 'onnxruntime static INT8, QDQ, per-channel')}",
        "",
        "## Metrics",
        "",
        "Held-out photos at 512 px short side; PSNR/SSIM against the teacher's output.",
        "",
        _metrics_table(entry.get("metrics", {})),
        "",
        "## Licence",
        "",
        entry.get("license", ""),
        "",
        NON_COMMERCIAL,
        "",
    ]
    lines += ["## Samples", "", f"![photo → {entry['id']}]({SAMPLES})", ""]
    lines += ["## Use", "", "```python", "import animegan",
              f"animegan.stylize('photo.jpg', style='{entry['id']}').save('anime.png')", "```", ""]
    return "\n".join(lines)
