"""Pictures for the README: every bundled style next to its teacher, and the face pass before/after.

    python -m train.contact_sheet --teachers ../shared/teachers

``docs/styles.jpg``: one row per style — photo | teacher | our INT8 student — on the example portrait and scene.
``docs/faces.jpg``: a portrait stylized as a whole picture vs with the aligned face pass, with a close-up of the face.
``docs/keep_colors.jpg``: the ways to keep a photo's colours under a style's light compared (Lab was chosen).
``docs/face_crops.jpg``: 1:1 crops of the aligned face (what the face pass sees) — photo | the face teacher(s) | ours.
``docs/scene_crops.jpg``: 1:1 crops (where the detail is) of the example scenes at 512 px short side (as measured) —
photo | teacher | ours.
The README's styles table is rewritten from ``weights/manifest.json``.
Only the bundled public-domain examples (docs/examples) are used, so the sheets may be committed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from animegan.color import keep_photo_colors
from animegan.faces import FacePipeline
from animegan.imageio import fit_within, load_picture
from animegan.options import FULL_RESOLUTION
from animegan.registry import Registry
from animegan.stylizer import Stylizer
from train.data import resize_short_side
from train.metrics import high_pass
from train.teachers import TeacherChain, teacher_files
from train.sheets import fit_height, grid

DOCS = Path(__file__).resolve().parent.parent / "docs"
PORTRAIT = DOCS / "examples" / "portrait_astronaut.jpg"
SCENE = DOCS / "examples" / "scene_coffee.jpg"
SCENES = (SCENE, DOCS / "examples" / "scene_rocket.jpg")
CELL = 256


def labelled(rgb: np.ndarray, text: str, height: int = CELL) -> np.ndarray:
    """Resize to ``height`` and write a caption in the corner."""
    image = Image.fromarray(fit_height(rgb, height))
    draw = ImageDraw.Draw(image)
    box = draw.textbbox((6, 4), text)
    draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill=(255, 248, 239))
    draw.text((6, 4), text, fill=(190, 24, 93))
    return np.asarray(image)


def styles_sheet(registry: Registry, teachers: Path) -> np.ndarray:
    stylizer = Stylizer(registry)
    rows = []
    for style in registry.available():
        teacher = TeacherChain(teacher_files(teachers, [style.id]))
        row = []
        for photo in (PORTRAIT, SCENE):
            rgb = fit_within(load_picture(photo).rgb, 512)
            row += [labelled(rgb, "photo"),
                    labelled(teacher(rgb), f"teacher: {style.id}"),
                    labelled(np.asarray(stylizer.stylize(rgb, style.id, faces=True, max_size=FULL_RESOLUTION)),
                             f"ours (INT8): {style.name}")]
        rows.append(row)
    return grid(rows)


def faces_sheet(registry: Registry) -> np.ndarray:
    """Whole-picture pass vs aligned face pass, full view and a close-up of the face."""
    stylizer = Stylizer(registry)
    style = registry.available()[0].id
    rgb = load_picture(PORTRAIT).rgb
    plain = np.asarray(stylizer.stylize(rgb, style, faces=False, max_size=FULL_RESOLUTION))
    enhanced = np.asarray(stylizer.stylize(rgb, style, faces=True, max_size=FULL_RESOLUTION))
    left, top, right, bottom = FacePipeline().detect(rgb)[0].box
    pad = (right - left) // 3
    crop = lambda a: a[max(0, top - pad):bottom + pad, max(0, left - pad):right + pad]  # noqa: E731
    return grid([[labelled(rgb, "photo", 384), labelled(plain, "whole picture only", 384),
                  labelled(enhanced, "with the face pass", 384)],
                 [labelled(crop(rgb), "photo (face)", 384), labelled(crop(plain), "whole picture only", 384),
                  labelled(crop(enhanced), "with the face pass", 384)]])


def face_crops_sheet(registry: Registry, teachers: Path, crop: int = 320) -> np.ndarray:
    """One row per style: the central ``crop``² of the portrait's aligned 512² face, at 1:1, as the photo, as the
    style's face teachers make it (the chain its face model learned from) and as our face model makes it."""
    stylizer = Stylizer(registry)
    pipeline = stylizer.face_pipeline
    rgb = load_picture(PORTRAIT).rgb
    aligned = pipeline.align(rgb, pipeline.detect(rgb)[0])[0]
    top = (pipeline.face_size - crop) // 2
    centre = lambda a: a[top:top + crop, top:top + crop]  # noqa: E731
    rows = []
    for style in registry.available():
        chain = list(style.face.teachers) if style.face else [style.id]
        teacher = TeacherChain(teacher_files(teachers, chain))
        rows.append([labelled(centre(aligned), "photo (aligned face)", crop),
                     labelled(centre(teacher(aligned)), "teacher: " + " then ".join(chain), crop),
                     labelled(centre(stylizer.face_generator(style.id)(aligned)), f"ours (INT8): {style.name}", crop)])
    return grid(rows)


def busiest_window(rgb: np.ndarray, crop: int) -> tuple[int, int]:
    """(top, left) of the ``crop``² window with the most detail (high-pass energy), on a grid of ``crop`` / 4 steps."""
    energy = high_pass(rgb) ** 2
    h, w = rgb.shape[:2]
    windows = [(top, left) for top in range(0, h - crop + 1, max(1, crop // 4))
               for left in range(0, w - crop + 1, max(1, crop // 4))]
    return max(windows, key=lambda tl: energy[tl[0]:tl[0] + crop, tl[1]:tl[1] + crop].sum())


def scene_crops_sheet(registry: Registry, teachers: Path, crop: int = 320) -> np.ndarray:
    """One row per style: the ``crop``² window with the most detail of each example scene at 512 px short side (the
    scale the scenes are measured at), at 1:1 — photo | the style's teacher | our whole-picture model."""
    stylizer = Stylizer(registry)
    scenes = [resize_short_side(load_picture(path).rgb, 512) for path in SCENES]
    rows = []
    for style in registry.available():
        teacher = TeacherChain(teacher_files(teachers, [style.id]))
        row = []
        for rgb in scenes:
            top, left = busiest_window(rgb, crop)
            ours = np.asarray(stylizer.stylize(rgb, style.id, faces=False, max_size=FULL_RESOLUTION))
            for picture, caption in ((rgb, "photo (scene)"), (teacher(rgb), f"teacher: {style.id}"),
                                     (ours, f"ours (INT8): {style.name}")):
                row.append(labelled(picture[top:top + crop, left:left + crop], caption, crop))
        rows.append(row)
    return grid(rows)


def keep_colors_sheet(registry: Registry) -> np.ndarray:
    """Photo | style | the style's light with the photo's colours three ways: YCbCr, Lab (ours), luminance ratio."""
    stylizer = Stylizer(registry)
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    rows = []
    for photo, style in ((PORTRAIT, registry.available()[0].id), (SCENE, registry.available()[-1].id)):
        rgb = fit_within(load_picture(photo).rgb, 512)
        stylized = np.asarray(stylizer.stylize(rgb, style, max_size=FULL_RESOLUTION))
        ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
        ycc[..., 0] = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)[..., 0]
        ratio = (stylized.astype(np.float32) @ luma + 1) / (rgb.astype(np.float32) @ luma + 1)
        rows.append([labelled(rgb, "photo"), labelled(stylized, style),
                     labelled(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB), "keep colours: YCbCr"),
                     labelled(keep_photo_colors(rgb, stylized), "keep colours: Lab (ours)"),
                     labelled(np.clip(rgb * ratio[..., None], 0, 255).astype(np.uint8), "keep colours: ratio")])
    return grid(rows)


def _pair(metrics: dict | None) -> str:
    """'edit % / detail %' of a metrics dict, or a dash when not measured."""
    if not metrics or metrics.get("edit_captured") is None:
        return "—"
    return f"{metrics['edit_captured']:.1%} / {metrics['detail_captured']:.1%}"


def styles_table(registry: Registry) -> str:
    """Markdown table of the bundled styles and their measured metrics (from the manifest)."""
    rows = ["| id | style | aligned faces: edit / detail captured | whole pictures (held-out): edit / detail captured | "
            "whole pictures: PSNR / SSIM vs teacher | do-nothing PSNR | INT8 vs FP32 PSNR | steps (face model) | size |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for style in registry.styles():
        m, lineage = style.metrics, style.lineage
        size = registry.resolve(style.id).stat().st_size + (style.face and registry.resolve_face(style.id).stat().st_size
                                                            or 0)
        measured = f" ({', '.join(m['photos_measured'])})" if m.get("photos_measured") else ""
        steps = f"{lineage.get('steps')}" + (f" ({lineage['face'].get('steps')})" if lineage.get("face") else "")
        rows.append(f"| `{style.id}` | {style.name} | {_pair(m.get('faces'))} | {_pair(m)}{measured} | {m.get('psnr_db')} dB / "
                    f"{m.get('ssim')} | {m.get('baseline_psnr_db')} dB | {m.get('int8_vs_fp32_psnr_db')} dB | "
                    f"{steps} | {size / 1e6:.2f} MB |")
    return "\n".join(rows)


def update_readme(readme: Path, table: str) -> None:
    """Replace the text between the README's styles-table markers."""
    text = readme.read_text()
    start, end = "<!-- styles-table -->", "<!-- /styles-table -->"
    head, rest = text.split(start, 1)
    readme.write_text(f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m train.contact_sheet", description=__doc__.split("\n\n")[0])
    p.add_argument("--teachers", type=Path, required=True, help="folder with teachers.json and the teachers")
    p.add_argument("--out", type=Path, default=DOCS)
    args = p.parse_args(argv)
    registry = Registry()
    if not registry.available():
        raise SystemExit("error: no bundled styles in weights/manifest.json")
    Image.fromarray(styles_sheet(registry, args.teachers)).save(args.out / "styles.jpg", quality=88)
    Image.fromarray(faces_sheet(registry)).save(args.out / "faces.jpg", quality=88)
    Image.fromarray(keep_colors_sheet(registry)).save(args.out / "keep_colors.jpg", quality=88)
    Image.fromarray(face_crops_sheet(registry, args.teachers)).save(args.out / "face_crops.jpg", quality=90)
    Image.fromarray(scene_crops_sheet(registry, args.teachers)).save(args.out / "scene_crops.jpg", quality=90)
    update_readme(DOCS.parent / "README.md", styles_table(registry))
    print(f"wrote the contact sheets to {args.out} and the README styles table")


if __name__ == "__main__":
    main()
