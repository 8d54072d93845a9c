"""Speed and memory benchmark of the full pipeline, printed as a table.

    python -m bench.bench                    # the first bundled style (or a random-weight reference student)
    python -m bench.bench --style hayao --threads 2 --runs 3

Each case runs in a fresh process (so peak RSS is that case's own): load a JPEG of the given size, stylize it at
full resolution (``FULL_RESOLUTION``, tiled when large), faces off / on. The same run times PyTorch-eager FP32 at 512²
as the reference, of the classic AnimeGANv2 generator (``train.model.Generator``) and of the style's own student
architectures (from its manifest lineage), and reports the style's size (its face model included).
Needs the training requirements (torch) only for the reference and for building the random-weight student.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from animegan.registry import Style

ROOT = Path(__file__).resolve().parent.parent
SIZES = "512x512,1024x1024,1920x1080,4096x4096"
PORTRAIT = ROOT / "docs" / "examples" / "portrait_astronaut.jpg"


def run_case(manifest: str, style: str, width: int, height: int, faces: bool, runs: int, threads: int) -> dict:
    """Time one size in this process; returns seconds (median, min) and peak RSS in MB."""
    from animegan.imageio import load_picture, resize_to, to_pil
    from animegan.options import FULL_RESOLUTION
    from animegan.registry import Registry
    from animegan.stylizer import Stylizer

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        to_pil(resize_to(load_picture(PORTRAIT).rgb, (width, height))).save(photo, quality=92)
        stylizer = Stylizer(Registry(manifest), threads=threads)
        stylizer.stylize(photo, style, faces=faces, max_size=FULL_RESOLUTION)  # warm-up: session creation, dlib models
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            stylizer.stylize(photo, style, faces=faces, max_size=FULL_RESOLUTION)
            times.append(time.perf_counter() - start)
    peak_mb = peak_rss_mb()
    return {"median_s": statistics.median(times), "min_s": min(times), "peak_rss_mb": peak_mb}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def eager_references(style: Style) -> dict[str, str]:
    """What the INT8 pipeline is compared with, eager: the classic generator and the style's own architectures."""
    references = {"classic AnimeGANv2 generator": "classic",
                  "whole-picture student": str(style.lineage.get("arch", "fast"))}
    if style.face:
        references["face student"] = str((style.lineage.get("face") or {}).get("arch", "unet"))
    return references


def torch_reference(arch: str, threads: int, runs: int) -> tuple[str, float]:
    """The class name and median seconds of a PyTorch-eager FP32 generator (``train.model``, random weights) at
    512², given the picture's thumbnail too if its architecture takes one."""
    import torch

    from train.model import build_generator, picture_side

    torch.set_num_threads(threads)
    model = build_generator(arch).eval()
    side = picture_side(model)
    inputs = [torch.rand(1, 3, 512, 512) * 2 - 1] + ([torch.rand(1, 3, side, side) * 2 - 1] if side else [])
    times = []
    with torch.inference_mode():
        model(*inputs)
        for _ in range(runs):
            start = time.perf_counter()
            model(*inputs)
            times.append(time.perf_counter() - start)
    return type(model).__name__, statistics.median(times)


def reference_student(folder: Path) -> tuple[Path, str]:
    """A random-weight INT8 FastGenerator (width 1.0) registered in a temporary manifest, for a fresh clone."""
    import torch

    from animegan.registry import sha256_of
    from train.export import export_onnx
    from train.quantize import quantize_model
    from train.model import FastGenerator, fold_batchnorm

    torch.manual_seed(0)
    model = FastGenerator()
    torch.nn.init.normal_(model.out_layer.weight, std=0.05)
    fp32 = export_onnx(fold_batchnorm(model), folder / "reference.fp32.onnx")
    int8 = folder / "reference.int8.onnx"
    quantize_model(fp32, [ROOT / "docs" / "examples"], int8, count=4, eval_count=0)
    entry = {"id": "reference", "name": "random-weight reference student", "file": int8.name,
             "sha256": sha256_of(int8), "multiple": 4}
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"styles": [entry]}))
    return manifest, "reference"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--style", help="style id (default: the first bundled style, else a random-weight student)")
    p.add_argument("--manifest", default=str(ROOT / "weights" / "manifest.json"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sizes", default=SIZES, help="comma-separated WIDTHxHEIGHT picture sizes")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--case", nargs=3, metavar=("WIDTH", "HEIGHT", "FACES"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.case:
        w, h, faces = args.case
        print(json.dumps(run_case(args.manifest, args.style, int(w), int(h), faces == "1", args.runs, args.threads)))
        return

    from animegan.registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        manifest, style = args.manifest, args.style
        if not style:
            bundled = Registry(manifest).available()
            if bundled:
                style = bundled[0].id
            else:
                manifest, style = (str(x) for x in reference_student(Path(tmp)))
        registry = Registry(manifest)
        style = registry.find(style).id
        face_file = registry.resolve_face(style)
        model_mb = (registry.resolve(style).stat().st_size + (face_file.stat().st_size if face_file else 0)) / 1e6
        rows = []
        for width, height in ((int(n) for n in size.split("x")) for size in args.sizes.split(",")):
            for faces in (False, True):
                cmd = [sys.executable, "-m", "bench.bench", "--manifest", manifest, "--style", style, "--threads",
                       str(args.threads), "--runs", str(args.runs), "--case", str(width), str(height), str(int(faces))]
                env = dict(os.environ, PYTHONPATH=str(ROOT))
                result = json.loads(subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True,
                                                   text=True).stdout.strip().splitlines()[-1])
                rows.append({"size": f"{width}×{height}", "faces": faces, **result})
        reference = {role: torch_reference(arch, args.threads, args.runs)
                     for role, arch in eager_references(registry.find(style)).items()}

    first = rows[0]["median_s"]
    print(f"style: {style}; model{' + face model' if face_file else ''}: {model_mb:.2f} MB; threads: {args.threads}; "
          f"median of {args.runs} runs\n")
    print("| size | faces | median s | min s | peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['size']} | {'on' if r['faces'] else 'off'} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
              f"{r['peak_rss_mb']:.0f} |")
    print(f"\nPyTorch eager FP32 at 512², against the INT8 pipeline at {rows[0]['size']} (faces off):")
    for role, (name, seconds) in reference.items():
        print(f"- {role} ({name}): {seconds:.3f} s → {seconds / first:.1f}× faster")
    if args.json:
        eager = {role: seconds for role, (_, seconds) in reference.items()}
        args.json.write_text(json.dumps({"style": style, "model_mb": model_mb, "rows": rows,
                                         "torch_eager_512_s": eager}, indent=2))


if __name__ == "__main__":
    main()
