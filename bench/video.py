"""Video benchmark: flicker (temporal warping error), speed and memory of ``animegan.video.stylize_video``.

    python -m bench.video                                   # style hayao, 1 and 2 threads, a 60 s memory clip
    python -m bench.video --style shinkai --threads 1 --seconds 20

Builds its own clips (no network) from docs/examples, each with a synthetic AAC sound track: a static shot of the
rocket photo under synthetic sensor noise, a slow zoom into the portrait, and a pan across the rocket photo. Prints
(a) the flicker of the input itself, of plain per-frame stylization (``temporal=False``) and of ours, with the
targets; (b) frames per second at 854×480 and 1280×720 (the zoom clip: one face), faces off and on, per thread count,
each case in a fresh process (``--case``) so its peak RSS is its own; (c) onnxruntime's time per frame when frames
are batched; (d) the resident memory along a long clip (``--memory``, faces on, 854×480).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np

if TYPE_CHECKING:
    from animegan.stylizer import Stylizer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
FPS = 24
AUDIO_RATE = 48000


def _photo(name: str) -> np.ndarray:
    from animegan.imageio import load_picture

    return load_picture(EXAMPLES / name).rgb


def static_frames(size: tuple[int, int], count: int, noise: float = 2.0, seed: int = 0) -> Iterator[np.ndarray]:
    """A tripod shot of the rocket photo: the same picture every frame under fresh Gaussian sensor noise."""
    w, h = size
    base = _cover(_photo("scene_rocket.jpg"), size).astype(np.float32)
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield np.clip(base + rng.normal(0.0, noise, (h, w, 3)) + 0.5, 0, 255).astype(np.uint8)


def zoom_frames(size: tuple[int, int], count: int, zoom: float = 1.25, noise: float = 1.5,
                seed: int = 1) -> Iterator[np.ndarray]:
    """A slow zoom (1 → ``zoom``) into the portrait's face, with mild sensor noise."""
    w, h = size
    photo = _photo("portrait_astronaut.jpg")
    centre = np.array([250.0, 160.0])     # between the eyes, in the 512² portrait
    base_scale = max(w / photo.shape[1], h / photo.shape[0]) * 1.05
    rng = np.random.default_rng(seed)
    for i in range(count):
        scale = base_scale * zoom ** (i / max(1, count - 1))
        shift = np.array([w / 2, h / 2]) - centre * scale
        matrix = np.array([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]])
        frame = cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        yield np.clip(frame + rng.normal(0.0, noise, frame.shape) + 0.5, 0, 255).astype(np.uint8)


def pan_frames(size: tuple[int, int], count: int, speed: float = 6.0, noise: float = 1.5,
               seed: int = 2) -> Iterator[np.ndarray]:
    """A pan across the rocket photo, ``speed`` px a frame, with mild sensor noise."""
    w, h = size
    photo = _photo("scene_rocket.jpg")
    scale = h / photo.shape[0] * 1.2
    rng = np.random.default_rng(seed)
    for i in range(count):
        matrix = np.array([[scale, 0.0, -i * speed], [0.0, scale, -0.1 * h]])
        frame = cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        yield np.clip(frame + rng.normal(0.0, noise, frame.shape) + 0.5, 0, 255).astype(np.uint8)


def _cover(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` scaled to cover ``size`` and centre-cropped to it."""
    w, h = size
    scale = max(w / rgb.shape[1], h / rgb.shape[0])
    big = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_CUBIC)
    top, left = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return np.ascontiguousarray(big[top:top + h, left:left + w])


def write_clip(path: Path, frames: Iterator[np.ndarray], size: tuple[int, int], count: int) -> Path:
    """Encode ``frames`` as near-lossless H.264 (crf 12) with a synthetic AAC sound track of the same length,
    interleaved a second at a time as cameras write them."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.codec_context.options = {"crf": "12", "preset": "veryfast"}
        audio = out.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "stereo"
        for i, rgb in enumerate(frames):
            if i % FPS == 0:
                out.mux(_sound(audio, i // FPS, min(1.0, count / FPS - i // FPS)))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
        out.mux(audio.encode())
    return path


def _sound(stream: av.audio.stream.AudioStream, second: int, length: float) -> list[av.Packet]:
    """``length`` seconds (from ``second``) of a 220 Hz tone with a slow tremolo and a little noise, encoded."""
    start = second * AUDIO_RATE
    t = np.arange(start, start + round(length * AUDIO_RATE)) / AUDIO_RATE
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    samples = np.stack([tone, tone]) + np.random.default_rng(second).normal(0, 0.01, (2, t.size))
    frame = av.AudioFrame.from_ndarray(samples.astype(np.float32), format="fltp", layout="stereo")
    frame.sample_rate, frame.pts = AUDIO_RATE, start
    return stream.encode(frame)


def decoded(path: Path) -> Iterator[np.ndarray]:
    """The RGB frames of a clip."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


CLIPS = {"static": static_frames, "zoom": zoom_frames, "pan": pan_frames}
TARGETS = {"static": (1.2, 0.2), "zoom": (1.2, 0.1)}     # ours ≤ a × input + b
FLICKER_SIZE, FLICKER_FRAMES = (854, 480), 48
SPEED_SIZES = [(854, 480), (1280, 720)]
SPEED_FRAMES = 96


def flicker_rows(folder: Path, stylizer: Stylizer, style: str) -> list[dict]:
    """Warping error of each clip: input, per-frame stylization, ours; and ours against per-frame (PSNR)."""
    from animegan.video import stylize_video, warping_error
    from train.metrics import psnr

    rows = []
    for name, frames in CLIPS.items():
        clip = write_clip(folder / f"{name}.mp4", frames(FLICKER_SIZE, FLICKER_FRAMES), FLICKER_SIZE, FLICKER_FRAMES)
        outputs = {}
        for temporal in (False, True):
            outputs[temporal] = folder / f"{name}_{'ours' if temporal else 'per_frame'}.mp4"
            stylize_video(clip, outputs[temporal], style, stylizer=stylizer, temporal=temporal)
        row = {"clip": name, "input": warping_error(decoded(clip), decoded(clip)),
               "per_frame": warping_error(decoded(clip), decoded(outputs[False])),
               "ours": warping_error(decoded(clip), decoded(outputs[True])),
               "psnr_vs_per_frame": float(np.mean([psnr(a, b) for a, b in zip(decoded(outputs[False]),
                                                                                 decoded(outputs[True]))]))}
        if name in TARGETS:
            a, b = TARGETS[name]
            row["target"] = a * row["input"] + b
        rows.append(row)
    return rows


def run_case(manifest: str, style: str, clip: Path, warm: Path, faces: bool, threads: int) -> dict:
    """Stylize ``clip`` in this process after a warm-up clip; frames per second and peak RSS."""
    from animegan.registry import Registry
    from animegan.stylizer import Stylizer
    from animegan.video import stylize_video

    stylizer = Stylizer(Registry(manifest), threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        stylize_video(warm, Path(tmp) / "warm.mp4", style, faces=faces, stylizer=stylizer)
        start = time.perf_counter()
        report = stylize_video(clip, Path(tmp) / "out.mp4", style, faces=faces, stylizer=stylizer)
        seconds = time.perf_counter() - start
    return {"fps": report.frames / seconds, "peak_rss_mb": _status_mb("VmHWM")}


def run_memory(manifest: str, style: str, clip: Path, threads: int) -> dict:
    """Stylize a long clip (faces on) in this process, sampling the resident memory along the way."""
    from animegan.registry import Registry
    from animegan.stylizer import Stylizer
    from animegan.video import stylize_video

    samples: dict[int, float] = {}

    def progress(done: int, total: int | None, eta: float | None) -> None:
        for percent in (10, 25, 50, 75, 100):
            if total and done == max(1, total * percent // 100):
                samples[percent] = _status_mb("VmRSS")

    stylizer = Stylizer(Registry(manifest), threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        report = stylize_video(clip, Path(tmp) / "out.mp4", style, stylizer=stylizer, progress=progress)
    return {"frames": report.frames, "seconds": report.duration, "fps": report.frames / report.seconds,
            "rss_mb": samples, "peak_rss_mb": _status_mb("VmHWM")}


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc (VmHWM, unlike ru_maxrss, is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batch_rows(stylizer: Stylizer, style: str, size: tuple[int, int] = (512, 288), runs: int = 5) -> list[dict]:
    """Median seconds per frame of onnxruntime on 1, 2 and 4 frames per run (the video working size)."""
    from animegan.engine import random_feeds
    session = stylizer.generator(style).session
    rows = []
    for batch in (1, 2, 4):
        feeds = random_feeds(session, (batch, 3, size[1], size[0]), np.random.default_rng(0))
        session.run(None, feeds)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            session.run(None, feeds)
            times.append((time.perf_counter() - start) / batch)
        rows.append({"batch": batch, "seconds_per_frame": float(np.median(times))})
    return rows


def _subprocess(args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "bench.video", *args], cwd=ROOT, env=env, check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.video", description=__doc__.split("\n\n")[0])
    p.add_argument("--style", default="hayao")
    p.add_argument("--manifest", default=str(ROOT / "weights" / "manifest.json"))
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="onnxruntime threads to compare")
    p.add_argument("--seconds", type=int, default=60, help="length of the memory clip (0: skip)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--case", nargs=4, metavar=("CLIP", "WARM", "FACES", "THREADS"), help=argparse.SUPPRESS)
    p.add_argument("--memory", nargs=2, metavar=("CLIP", "THREADS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.case:
        clip, warm, faces, threads = args.case
        print(json.dumps(run_case(args.manifest, args.style, Path(clip), Path(warm), faces == "1", int(threads))))
        return
    if args.memory:
        print(json.dumps(run_memory(args.manifest, args.style, Path(args.memory[0]), int(args.memory[1]))))
        return

    from animegan.registry import Registry
    from animegan.stylizer import Stylizer

    stylizer = Stylizer(Registry(args.manifest), threads=args.threads[0])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        flicker = flicker_rows(folder, stylizer, args.style)
        batches = batch_rows(stylizer, args.style)
        speed = []
        for width, height in SPEED_SIZES:
            clip = write_clip(folder / f"speed_{width}.mp4", zoom_frames((width, height), SPEED_FRAMES),
                              (width, height), SPEED_FRAMES)
            warm = write_clip(folder / f"warm_{width}.mp4", zoom_frames((width, height), 6), (width, height), 6)
            for threads in args.threads:
                for faces in (False, True):
                    result = _subprocess(["--manifest", args.manifest, "--style", args.style,
                                          "--case", str(clip), str(warm), str(int(faces)), str(threads)])
                    speed.append({"size": f"{width}×{height}", "faces": faces, "threads": threads, **result})
        memory = None
        if args.seconds:
            count = args.seconds * FPS
            clip = write_clip(folder / "long.mp4", zoom_frames(FLICKER_SIZE, count), FLICKER_SIZE, count)
            memory = _subprocess(["--manifest", args.manifest, "--style", args.style,
                                  "--memory", str(clip), str(args.threads[0])])
    report(args.style, flicker, speed, batches, memory)
    if args.json:
        args.json.write_text(json.dumps({"style": args.style, "flicker": flicker, "speed": speed, "batch": batches,
                                         "memory": memory}, indent=2))


def report(style: str, flicker: list[dict], speed: list[dict], batches: list[dict], memory: dict | None) -> None:
    """Print the tables (markdown)."""
    w, h = FLICKER_SIZE
    print(f"style: {style}; clips {w}×{h}, {FLICKER_FRAMES} frames at {FPS} frames/s; default settings (faces on)\n")
    print("| clip | input | per-frame | ours | target (ours ≤) | met | ours vs per-frame PSNR dB |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in flicker:
        target = f"{r['target']:.3f}" if "target" in r else "–"
        met = ("yes" if r["ours"] <= r["target"] else "no") if "target" in r else "–"
        print(f"| {r['clip']} | {r['input']:.3f} | {r['per_frame']:.3f} | {r['ours']:.3f} | {target} | {met} | "
              f"{r['psnr_vs_per_frame']:.2f} |")
    print(f"\nSpeed: a {SPEED_FRAMES}-frame zoom into the portrait (one face), after a warm-up clip, each case in a "
          "fresh process\n")
    print("| size | faces | threads | frames/s | peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in speed:
        print(f"| {r['size']} | {'on' if r['faces'] else 'off'} | {r['threads']} | {r['fps']:.2f} | "
              f"{r['peak_rss_mb']:.0f} |")
    print("\nonnxruntime, 512×288 frames: " + ", ".join(f"batch {r['batch']}: {r['seconds_per_frame'] * 1000:.0f} ms"
                                                      for r in batches) + " per frame")
    if memory:
        samples = ", ".join(f"{k}%: {v:.0f}" for k, v in sorted(memory["rss_mb"].items(), key=lambda kv: int(kv[0])))
        print(f"\nMemory: {memory['seconds']:.0f} s clip ({memory['frames']} frames, 854×480, faces on) at "
              f"{memory['fps']:.2f} frames/s; RSS MB along the clip: {samples}; peak {memory['peak_rss_mb']:.0f}")


if __name__ == "__main__":
    main()
