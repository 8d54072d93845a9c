"""Command line: ``python -m animegan INPUT... --style ID --output PATH``.

Pictures and video clips alike. One file in → a file out (``-o x.png``, ``-o clip.mp4``) or into a folder; a folder,
or several inputs, in → a folder out (same relative names, ``.png`` for pictures and ``.mp4`` for clips). A bad file
prints ``error: <file>: <reason>`` and the others still finish; the exit status is 1 if any failed, 2 for bad options.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from animegan.engine import default_threads
from animegan.errors import AnimeGANError, InvalidOptionError
from animegan.imageio import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from animegan.options import STYLE_SIZE, max_size_option, strength_option
from animegan.stylizer import Stylizer, failure_reason
from animegan.video import VIDEO_SUFFIXES, Limits, stylize_video

INPUT_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


def output_is_file(inputs: list[Path], output: Path | None) -> bool:
    """Whether ``-o`` names the output file: for one input file, when ``-o`` is an existing file or has a suffix.

    A folder input, or several inputs, need an output folder: an ``-o`` that is a file or has an image suffix is
    refused with ``InvalidOptionError``.
    """
    if output is None or output.is_dir():
        return False
    if len(inputs) == 1 and not inputs[0].is_dir():
        return bool(output.suffix) or output.exists()
    suffix = output.suffix.lower()
    if output.exists() or suffix in INPUT_SUFFIXES or suffix in Image.registered_extensions():
        what = "several inputs need" if len(inputs) > 1 else "a folder input needs"
        raise InvalidOptionError(f"{what} an output folder, got {output}")
    return False


def plan(inputs: list[Path], output: Path | None, to_file: bool = False) -> list[tuple[Path, Path]]:
    """(source, destination) pairs. Folders expand to their pictures and clips; ``to_file``: ``output`` is the one
    input's file.

    Pictures become PNG, clips MP4; when two sources would land on the same name (``a.jpg`` and ``a.png``), the
    source's extension is kept in the name (``a_png.png``).
    """
    jobs: list[tuple[Path, Path]] = []
    for source in inputs:
        if source.is_dir():
            out_dir = output or source.resolve().with_name(source.resolve().name + "_anime")
            for path in sorted(p for p in source.rglob("*") if p.suffix.lower() in INPUT_SUFFIXES):
                jobs.append((path, (out_dir / path.relative_to(source)).with_suffix(output_suffix(path))))
        elif to_file and output is not None:
            jobs.append((source, output))
        else:
            out_dir = output or source.parent
            jobs.append((source, out_dir / f"{source.stem}_anime{output_suffix(source)}"))
    taken: set[Path] = set()
    unique = []
    for source, destination in jobs:
        stem, n = f"{destination.stem}_{source.suffix.lstrip('.').lower()}", 1
        while destination in taken:
            destination = destination.with_name(f"{stem}{destination.suffix}" if n == 1
                                                else f"{stem}_{n}{destination.suffix}")
            n += 1
        taken.add(destination)
        unique.append((source, destination))
    return unique


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def output_suffix(source: Path) -> str:
    """What a source becomes: clips MP4, pictures PNG."""
    return ".mp4" if is_video(source) else ".png"


def option(parse: Callable[[Any], Any]) -> Callable[[str], Any]:
    """An argparse type from one of ``animegan.options``' validators (its message becomes argparse's)."""
    def checked(text: str) -> Any:
        number: int | float | None = None
        for kind in (int, float):   # "-5" stays an int, so a message quotes it as typed
            try:
                number = kind(text)
                break
            except ValueError:
                pass
        try:
            return parse(text if number is None else number)
        except AnimeGANError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return checked


def positive_number(value: Any) -> float:
    """``--max-seconds``: a number above 0."""
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    raise InvalidOptionError(f"must be a positive number of seconds, got {value!r}")


def input_path(text: str) -> Path:
    """argparse type for inputs: an empty argument (an unset shell variable) is an error, not the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an input is empty (an unset variable?)")
    return Path(text)


def positive_int(text: str) -> int:
    """argparse type for --threads and --max-pixels."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m animegan", description="Turn photos into anime pictures.")
    p.add_argument("inputs", nargs="*", type=input_path, help="picture and video files and/or folders")
    p.add_argument("-s", "--style", help="style id or name (see --list-styles); default: the first available")
    p.add_argument("-o", "--output", type=Path,
                   help="output file (one input file) or folder; default: <name>_anime.png beside each input, "
                        "<folder>_anime/ for a folder")
    p.add_argument("--list-styles", action="store_true", help="list the styles that can be loaded, one per line")
    p.add_argument("--no-faces", action="store_true", help="skip the per-face enhancement pass")
    p.add_argument("--max-size", type=option(max_size_option), default=STYLE_SIZE,
                   help="long side to stylize at (the result keeps the input size); 0 = full resolution; "
                        "default: the style's working size")
    p.add_argument("--strength", type=option(strength_option), default=1.0,
                   help="how far to move from the photo toward the style, 0-1 (0 = the photo, default 1)")
    p.add_argument("--keep-colors", action="store_true",
                   help="keep the photo's colours; take the style's light, shading and lines")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, help="refuse larger pictures")
    p.add_argument("--max-seconds", type=option(positive_number), help="refuse longer clips (default: no limit)")
    p.add_argument("--threads", type=positive_int, help="onnxruntime threads (default: ANIMEGAN_THREADS, else all cores)")
    p.add_argument("--debug", action="store_true", help="also print the traceback of internal errors")
    args = p.parse_args(argv)
    if not args.inputs and not args.list_styles:
        p.error("give at least one input file or folder (or --list-styles)")
    if not args.debug:
        logging.getLogger("animegan").setLevel(logging.CRITICAL)  # internal errors stay one line each
    try:
        return run(args)
    except AnimeGANError as exc:  # a bad option or setting, found before any file is stylized
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:   # Ctrl-C: the file in progress was never written under its name
        print("interrupted", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    """List the styles, or stylize every input; the exit status (1 if any file failed)."""
    stylizer = Stylizer(threads=args.threads or default_threads(), max_pixels=args.max_pixels)
    if args.list_styles:
        for style in stylizer.available_styles():
            print(f"{style.id}\t{style.name}\t{style.description}")
        return 0
    to_file = output_is_file(args.inputs, args.output)
    if to_file and is_video(args.inputs[0]) and args.output.suffix.lower() != ".mp4":
        raise InvalidOptionError(f"{args.output.name}: a clip is written as MP4; use a .mp4 name")
    if to_file and not is_video(args.inputs[0]) and args.output.suffix.lower() not in Image.registered_extensions():
        raise InvalidOptionError(f"{args.output.name}: unknown output format; use .png, .jpg or .webp")
    missing = [str(x) for x in args.inputs if not x.exists()]
    for name in missing:
        print(f"error: {name}: file not found", file=sys.stderr)
    jobs = plan([x for x in args.inputs if x.exists()], args.output, to_file)
    sources = {source.resolve() for source, _ in jobs}
    for source, destination in jobs:
        if destination.resolve() in sources:
            raise InvalidOptionError(f"{destination}: the output would overwrite an input; choose another -o")
    if not jobs and not missing:
        print("error: no pictures or clips found in the given folders", file=sys.stderr)
        return 1
    style = stylizer.style(args.style).id
    stylizer.generator(style)  # a missing or corrupt style is one error, up front
    pictures = [job for job in jobs if not is_video(job[0])]
    clips = [job for job in jobs if is_video(job[0])]
    failed = len(missing) + stylize_pictures(stylizer, style, pictures, args, announce=len(jobs) == 1)
    for source, destination in clips:
        failed += stylize_clip(stylizer, style, source, destination, args, announce=len(jobs) == 1)
    return 1 if failed else 0


def stylize_clip(stylizer: Stylizer, style: str, source: Path, destination: Path, args: argparse.Namespace,
                 announce: bool) -> int:
    """One clip, with a frames progress bar; the number of failures (0 or 1)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tqdm(desc=f"{source.name} ({style})", unit="frame", dynamic_ncols=True, leave=False) as bar:
        def progress(done: int, total: int | None, eta: float | None) -> None:
            bar.total = total
            bar.update(done - bar.n)
        try:
            stylize_video(source, destination, style, faces=not args.no_faces, max_size=args.max_size,
                          stylizer=stylizer, progress=progress, limits=Limits(max_seconds=args.max_seconds),
                          strength=args.strength, keep_colors=args.keep_colors)
        except Exception as exc:
            tqdm.write(f"error: {source}: {failure_reason(exc, str(source))}", file=sys.stderr)
            return 1
    if announce:
        print(destination)
    return 0


def stylize_pictures(stylizer: Stylizer, style: str, jobs: list[tuple[Path, Path]], args: argparse.Namespace,
                     announce: bool) -> int:
    """Every picture, each saved as it is done; the number of failures."""
    failed = 0
    results = stylizer.iter_stylize([source for source, _ in jobs], style, faces=not args.no_faces,
                                    max_size=args.max_size, strength=args.strength, keep_colors=args.keep_colors)
    for (source, destination), result in tqdm(zip(jobs, results), total=len(jobs), desc=f"stylizing ({style})",
                                              unit="img", disable=len(jobs) < 2):
        error = result.error
        if result.image is not None:
            try:
                save(result.image, destination)
            except OSError as exc:  # permission denied, disk full, a format that cannot hold this mode...
                error = str(exc)
            except Exception as exc:
                error = failure_reason(exc, str(source))
        if error is not None:
            failed += 1
            tqdm.write(f"error: {source}: {error}", file=sys.stderr)
        elif announce:
            print(destination)
    return failed


def save(image: Image.Image, destination: Path) -> None:
    """Write ``image``, creating its folder; JPEG gets RGB (it has no alpha). The file is written under a hidden
    temporary name and renamed when complete, so a failure or Ctrl-C never leaves half a picture under its name."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if image.mode == "RGBA" and destination.suffix.lower() in {".jpg", ".jpeg"}:
        image = image.convert("RGB")
    temporary = destination.with_name(f".{destination.stem}.{secrets.token_hex(6)}.tmp{destination.suffix}")
    try:
        image.save(temporary, format=Image.registered_extensions()[destination.suffix.lower()])
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def cli() -> None:
    """The ``animegan`` command (installed by ``pip install .``)."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
