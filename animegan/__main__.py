"""Command line: ``python -m animegan INPUT... --style ID --output PATH``.

A file in → a file out; a folder in → a folder out (same relative names, ``.png``). A bad file prints
``error: <file>: <reason>`` and the others still finish; the exit status is 1 if any failed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from animegan.errors import AnimeGANError
from animegan.imageio import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from animegan.stylizer import Stylizer, check_max_size


def plan(inputs: list[Path], output: Path | None) -> list[tuple[Path, Path]]:
    """(source, destination) pairs. Folders expand to their images; several inputs need an output folder.

    Outputs are PNG; when two sources would land on the same name (``a.jpg`` and ``a.png``), the source's
    extension is kept in the name (``a_png.png``).
    """
    jobs: list[tuple[Path, Path]] = []
    single_file = len(inputs) == 1 and not inputs[0].is_dir()
    for source in inputs:
        if source.is_dir():
            out_dir = output or source.resolve().with_name(source.resolve().name + "_anime")
            for path in sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
                jobs.append((path, (out_dir / path.relative_to(source)).with_suffix(".png")))
        elif single_file and output is not None and output.suffix:
            jobs.append((source, output))
        else:
            out_dir = output or source.parent
            jobs.append((source, out_dir / f"{source.stem}_anime.png"))
    taken: set[Path] = set()
    unique = []
    for source, destination in jobs:
        stem, n = f"{destination.stem}_{source.suffix.lstrip('.').lower()}", 1
        while destination in taken:
            destination = destination.with_name(f"{stem}.png" if n == 1 else f"{stem}_{n}.png")
            n += 1
        taken.add(destination)
        unique.append((source, destination))
    return unique


def max_size_arg(text: str) -> int:
    """argparse type for --max-size: -1, 0 or a long side of at least 64 px."""
    try:
        return check_max_size(int(text))
    except (ValueError, AnimeGANError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m animegan", description="Turn photos into anime pictures.")
    p.add_argument("inputs", nargs="*", type=Path, help="image files and/or folders")
    p.add_argument("-s", "--style", help="style id (see --list-styles); default: the first available")
    p.add_argument("-o", "--output", type=Path,
                   help="output file (one input) or folder; default: <name>_anime.png beside each input, "
                        "<folder>_anime/ for a folder")
    p.add_argument("--list-styles", action="store_true", help="list the styles that can be loaded, one per line")
    p.add_argument("--no-faces", action="store_true", help="skip the per-face enhancement pass")
    p.add_argument("--max-size", type=max_size_arg, default=-1,
                   help="long side to stylize at (the result keeps the input size); 0 = full resolution; "
                        "default: the style's working size")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger inputs")
    p.add_argument("--threads", type=int, help="onnxruntime threads (default: all cores)")
    args = p.parse_args(argv)

    stylizer = Stylizer(threads=args.threads, max_pixels=args.max_pixels)
    if args.list_styles:
        for style in stylizer.available_styles():
            print(f"{style.id}\t{style.name}\t{style.description}")
        return 0
    if not args.inputs:
        p.error("give at least one input file or folder (or --list-styles)")
    missing = [str(x) for x in args.inputs if not x.exists()]
    for name in missing:
        print(f"error: {name}: file not found", file=sys.stderr)
    jobs = plan([x for x in args.inputs if x.exists()], args.output)
    if not jobs and not missing:
        print("error: no images found in the given folders", file=sys.stderr)
        return 1
    if args.output is not None and args.output.suffix and len(jobs) == 1:
        if args.output.suffix.lower() not in Image.registered_extensions():
            print(f"error: {args.output.name}: unknown output format; use .png, .jpg or .webp", file=sys.stderr)
            return 2
    try:
        style = args.style or stylizer.default_style
        stylizer.generator(style)
    except AnimeGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = len(missing)
    for source, destination in tqdm(jobs, desc=f"stylizing ({style})", unit="img", disable=len(jobs) < 2):
        try:
            image = stylizer.stylize(source, style, faces=not args.no_faces, max_size=args.max_size)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if image.mode == "RGBA" and destination.suffix.lower() in {".jpg", ".jpeg"}:
                image = image.convert("RGB")  # JPEG has no alpha
            image.save(destination)
            if len(jobs) == 1:
                print(destination)
        except (AnimeGANError, OSError) as exc:
            failed += 1
            tqdm.write(f"error: {source}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
