"""Video: real PyAV encode/decode of small generated clips with sound, stylized with the tiny test style; bad inputs,
limits, cancel; the flicker measure; steady faces and steady frames."""
from __future__ import annotations

import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from animegan.errors import InvalidOptionError, UnknownStyleError
from animegan.faces import FacePipeline
from animegan.video import (FaceTracker, InvalidVideoError, Limits, VideoCancelledError, VideoTooLargeError,
                            VideoTooLongError, is_scene_cut, partial_path, stylize_video, warping_error)

RATE = 16000
SAMPLES = {"flt": (np.float32, 1.0), "s16": (np.int16, 32767), "s32": (np.int32, 2 ** 31 - 1)}


def patterned(width: int, height: int, index: int) -> np.ndarray:
    """A frame with a red block in its top-left corner and, below it, a blue bar moving right 2 px a frame."""
    rgb = np.full((height, width, 3), 90, np.uint8)
    rgb[: height // 3, : width // 3] = (230, 20, 20)
    x = (index * 2) % width
    rgb[height // 2:, x:x + 4] = (20, 20, 230)
    return rgb


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 12, sound: str | None = "aac", rotation: int = 0,
               times_ms: list[int] | None = None, pix_fmt: str = "yuv420p", colour: dict | None = None,
               from_format: str = "rgb24") -> Path:
    """Encode ``frames`` as H.264 (near lossless) with a 440 Hz tone of the same length in ``sound``."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, pix_fmt
        video.codec_context.options = {"crf": "10", "preset": "ultrafast"}
        if times_ms is not None:
            video.codec_context.time_base = Fraction(1, 1000)
        for name, value in (colour or {}).items():
            setattr(video.codec_context, name, value)
        if rotation:
            video.set_display_rotation(rotation)
        audio = out.add_stream(sound, rate=RATE) if sound else None
        if audio is not None:
            audio.layout = "mono"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format=from_format)
            if colour:
                frame = frame.reformat(format=pix_fmt, dst_colorspace=colour["colorspace"],
                                       dst_color_range=colour["color_range"])
            frame.pts, frame.time_base = (times_ms[i], Fraction(1, 1000)) if times_ms else (i, Fraction(1, fps))
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if audio is not None:
            seconds = (times_ms[-1] / 1000 + 1 / fps) if times_ms else len(frames) / fps
            rate = audio.codec_context.sample_rate
            tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(round(seconds * rate)) / rate)
            fmt = audio.codec_context.format.name
            dtype, scale = SAMPLES[fmt.removesuffix("p")]
            sound_frame = av.AudioFrame.from_ndarray((tone[None] * scale).astype(dtype), format=fmt, layout="mono")
            sound_frame.sample_rate, sound_frame.pts = rate, 0
            out.mux(audio.encode(sound_frame))
            out.mux(audio.encode())
    return path


def read_clip(path: Path) -> dict:
    """Frames (RGB), their times, and stream facts of a clip."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        facts = {"codec": video.codec_context.name, "pix_fmt": video.codec_context.pix_fmt,
                 "audio": audio.codec_context.codec.canonical_name if audio else None,
                 "audio_seconds": float(audio.duration * audio.time_base) if audio else 0.0,
                 "frames": [], "times": [], "rotations": set()}
        for frame in container.decode(video):
            facts["frames"].append(frame.to_ndarray(format="rgb24"))
            facts["times"].append(frame.time)
            facts["rotations"].add(frame.rotation)
    return facts


def leftovers(folder: Path, keep: Path) -> list[str]:
    """Files in ``folder`` other than ``keep`` (the input)."""
    return sorted(p.name for p in folder.iterdir() if p != keep)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """24 frames of 96×64 at 12 frames/s with an AAC tone."""
    folder = tmp_path_factory.mktemp("clip")
    return write_clip(folder / "clip.mp4", [patterned(96, 64, i) for i in range(24)])


def test_a_clip_keeps_its_frames_size_rate_duration_and_sound(stylizer, clip, tmp_path):
    done = []
    report = stylize_video(clip, tmp_path / "out.mp4", stylizer=stylizer,
                           progress=lambda i, total, eta: done.append((i, total, eta)))
    out = read_clip(tmp_path / "out.mp4")
    assert (report.frames, report.size, report.fps, report.audio) == (24, (96, 64), 12.0, "copied")
    assert report.duration == pytest.approx(2.0)
    assert len(out["frames"]) == 24 and out["frames"][0].shape == (64, 96, 3)
    assert out["times"] == pytest.approx([i / 12 for i in range(24)], abs=1e-3)
    assert (out["codec"], out["pix_fmt"], out["audio"]) == ("h264", "yuv420p", "aac")
    assert out["audio_seconds"] == pytest.approx(2.0, abs=0.1)
    source = read_clip(clip)["frames"]
    assert np.abs(out["frames"][12].astype(int) - source[12]).mean() > 5     # really stylized
    assert [d[0] for d in done] == list(range(1, 25)) and {d[1] for d in done} == {24}
    assert done[0][2] is None and done[-1][2] == 0.0 and all(d[2] >= 0 for d in done[1:])
    head = (tmp_path / "out.mp4").read_bytes()[:200]
    assert b"moov" in head     # index first (+faststart): a browser can start playing before the download ends
    assert leftovers(tmp_path, clip) == ["out.mp4"]


@pytest.mark.parametrize("rotation, corner", [(90, (slice(-10, None), slice(0, 8))),      # top-left → bottom-left
                                             (-90, (slice(0, 10), slice(-8, None))),     # top-left → top-right
                                             (180, (slice(-10, None), slice(-8, None)))])
def test_rotated_phone_clip_comes_out_upright(stylizer, tmp_path, rotation, corner):
    """The display matrix says how far to turn the picture counter-clockwise; the red block shows where it went."""
    source = write_clip(tmp_path / "phone.mp4", [patterned(64, 48, i) for i in range(6)], rotation=rotation)
    report = stylize_video(source, tmp_path / "out.mp4", stylizer=stylizer, strength=0)
    out = read_clip(tmp_path / "out.mp4")
    size = (64, 48) if rotation == 180 else (48, 64)
    assert report.size == size and out["frames"][0].shape == (size[1], size[0], 3) and out["rotations"] == {0}
    first = out["frames"][0].astype(int)
    red = (first[..., 0] > 150) & (first[..., 2] < 100)
    assert red[corner].mean() > 0.9 and red.mean() < 0.15


def test_variable_frame_rate_keeps_every_timestamp(stylizer, tmp_path):
    times = [0, 40, 120, 160, 300, 340, 360, 500, 620, 700]
    source = write_clip(tmp_path / "vfr.mp4", [patterned(64, 48, i) for i in range(10)], times_ms=times)
    report = stylize_video(source, tmp_path / "out.mp4", stylizer=stylizer)
    out = read_clip(tmp_path / "out.mp4")
    assert out["times"] == pytest.approx([t / 1000 for t in times], abs=2e-3)
    assert report.frames == 10 and report.duration == pytest.approx(0.7 + 0.7 / 9, abs=0.01)


def test_odd_size_is_made_even_and_big_frames_fit_max_pixels(stylizer, tmp_path):
    odd = write_clip(tmp_path / "odd.mp4", [patterned(66, 50, i)[:47, :63] for i in range(4)], pix_fmt="yuv444p",
                     sound=None)
    report = stylize_video(odd, tmp_path / "odd_out.mp4", stylizer=stylizer)
    assert report.size == (62, 46) and report.audio == "none"
    assert read_clip(tmp_path / "odd_out.mp4")["frames"][0].shape == (46, 62, 3)
    big = write_clip(tmp_path / "big.mp4", [patterned(256, 192, i) for i in range(4)])
    report = stylize_video(big, tmp_path / "big_out.mp4", stylizer=stylizer, limits=Limits(max_pixels=128 * 96))
    assert report.size == (128, 96)


@pytest.mark.parametrize("name, sound, mode, codec", [("pcm.mov", "pcm_s16le", "re-encoded", "aac"),
                                                      ("opus.mkv", "libopus", "re-encoded", "aac"),
                                                      ("mp3.mp4", "libmp3lame", "copied", "mp3")])
def test_sound_is_copied_when_browsers_play_it_from_mp4_else_re_encoded(stylizer, tmp_path, name, sound, mode, codec):
    source = write_clip(tmp_path / name, [patterned(64, 48, i) for i in range(12)], sound=sound)
    report = stylize_video(source, tmp_path / "out.mp4", stylizer=stylizer, faces=False)
    out = read_clip(tmp_path / "out.mp4")
    assert (report.audio, out["audio"]) == (mode, codec)
    assert out["audio_seconds"] == pytest.approx(1.0, abs=0.1)


def test_ten_bit_input_gives_an_exact_eight_bit_result(stylizer, tmp_path):
    colour = (200, 120, 40)
    frames = [np.full((48, 64, 3), np.array(colour) * 257, np.uint16) for _ in range(4)]
    sdr = {"colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 1}
    source = write_clip(tmp_path / "ten.mp4", frames, pix_fmt="yuv420p10le", colour=sdr, from_format="rgb48le")
    with av.open(str(source)) as container:
        assert next(container.decode(video=0)).format.name == "yuv420p10le"
    stylize_video(source, tmp_path / "out.mp4", stylizer=stylizer, strength=0)
    out = read_clip(tmp_path / "out.mp4")
    assert out["pix_fmt"] == "yuv420p"
    assert np.abs(out["frames"][2][10:-10, 10:-10].astype(int) - colour).max() <= 4


def test_hdr_input_is_tone_mapped_to_eight_bit(stylizer, tmp_path):
    """PQ (HDR10) greys stay neutral and ordered; the PQ code values are not shown as if they were SDR."""
    frames = [np.zeros((48, 64, 3), np.uint16) for _ in range(4)]
    for frame in frames:
        frame[:, :32], frame[:, 32:] = 20000, 34000
    hdr = {"colorspace": 9, "color_primaries": 9, "color_trc": 16, "color_range": 1}
    source = write_clip(tmp_path / "hdr.mp4", frames, pix_fmt="yuv420p10le", colour=hdr, from_format="rgb48le")
    stylize_video(source, tmp_path / "out.mp4", stylizer=stylizer, strength=0)
    frame = read_clip(tmp_path / "out.mp4")["frames"][2].astype(int)
    dark, light = frame[10:-10, 6:26].mean((0, 1)), frame[10:-10, 38:58].mean((0, 1))
    assert np.ptp(dark) <= 3 and np.ptp(light) <= 3 and light.mean() > dark.mean() + 20
    assert abs(light.mean() - 34000 / 257) > 10


def test_unknown_style_bad_option_and_missing_folder_fail_before_reading(stylizer, clip, tmp_path):
    with pytest.raises(UnknownStyleError):
        stylize_video(clip, tmp_path / "out.mp4", style="nope", stylizer=stylizer)
    with pytest.raises(InvalidOptionError):
        stylize_video(clip, tmp_path / "out.mp4", max_size=10, stylizer=stylizer)
    with pytest.raises(InvalidOptionError, match="output folder does not exist"):
        stylize_video(clip, tmp_path / "missing" / "out.mp4", stylizer=stylizer)


def _zero_byte(folder: Path, clip: Path) -> Path:
    (folder / "empty.mp4").write_bytes(b"")
    return folder / "empty.mp4"


def _truncated(folder: Path, clip: Path) -> Path:
    data = clip.read_bytes()
    (folder / "cut.mp4").write_bytes(data[:len(data) // 2])
    return folder / "cut.mp4"


def _remux(clip: Path, path: Path, kind: str, options: dict | None = None) -> Path:
    """The first ``kind`` ("video" or "audio") stream of ``clip``, copied alone into ``path``."""
    with av.open(str(clip)) as src, av.open(str(path), "w", options=options or {}) as out:
        stream = getattr(src.streams, kind)[0]
        copy = out.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is not None:
                packet.stream = copy
                out.mux(packet)
    return path


def _truncated_index_first(folder: Path, clip: Path) -> Path:
    path = _remux(clip, folder / "fast.mp4", "video", {"movflags": "+faststart"})
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    return path


def _text(folder: Path, clip: Path) -> Path:
    (folder / "notes.mp4").write_text("these are not the frames you are looking for\n" * 40)
    return folder / "notes.mp4"


def _sound_only(folder: Path, clip: Path) -> Path:
    return _remux(clip, folder / "sound.mp4", "audio")


def _png_renamed(folder: Path, clip: Path) -> Path:
    Image.fromarray(patterned(64, 48, 0)).save(folder / "still.mp4", format="PNG")
    return folder / "still.mp4"


@pytest.mark.parametrize("make, message", [
    (_zero_byte, "empty file"),
    (_truncated, "video data is truncated or corrupt"),
    (_truncated_index_first, "video data is truncated or corrupt"),
    (_text, "not a recognised video format"),
    (_sound_only, "no video stream (sound only)"),
    (_png_renamed, "this is a still picture (PNG), not a video"),
])
def test_bad_input_gives_its_one_line_error_and_leaves_no_file(stylizer, clip, tmp_path, make, message):
    source = make(tmp_path, clip)
    with pytest.raises(InvalidVideoError) as caught:
        stylize_video(source, tmp_path / "out.mp4", stylizer=stylizer)
    assert str(caught.value) == message
    assert leftovers(tmp_path, source) == []


def test_a_clip_that_breaks_mid_way_can_keep_its_playable_part(stylizer, clip, tmp_path):
    """Frame 12 announces an impossible NAL unit size: the decoder gives up there."""
    with av.open(str(clip)) as container:
        entry = container.streams.video[0].index_entries[12]
    data = bytearray(clip.read_bytes())
    data[entry.pos:entry.pos + 4] = b"\x7f\xff\xff\xff"
    source = tmp_path / "broken.mp4"
    source.write_bytes(bytes(data))
    with pytest.raises(InvalidVideoError, match="^video data is truncated or corrupt$"):
        stylize_video(source, tmp_path / "out.mp4", stylizer=stylizer, keep_partial=True)
    assert leftovers(tmp_path, source) == ["out.partial.mp4"]
    assert 0 < len(read_clip(tmp_path / "out.partial.mp4")["frames"]) < 24


def test_over_the_limits_is_refused_before_any_frame(stylizer, clip, tmp_path):
    with pytest.raises(VideoTooLargeError, match=r"^file is 0\.\d MB; the limit is 0\.0 MB$"):
        stylize_video(clip, tmp_path / "out.mp4", stylizer=stylizer, limits=Limits(max_bytes=1000))
    with pytest.raises(VideoTooLongError, match=r"^video is 2\.0 s long; the limit is 1 s$"):
        stylize_video(clip, tmp_path / "out.mp4", stylizer=stylizer, limits=Limits(max_seconds=1))
    report = stylize_video(clip, tmp_path / "out.mp4", stylizer=stylizer, faces=False,
                           limits=Limits(max_seconds=2, max_bytes=clip.stat().st_size, max_pixels=96 * 64))
    assert report.frames == 24 and leftovers(tmp_path, clip) == ["out.mp4"]


def _cancel_after(frames: int) -> tuple[threading.Event, Callable[[int, int | None, float | None], None]]:
    event = threading.Event()
    return event, lambda done, total, eta: event.set() if done == frames else None


def test_cancel_mid_way_leaves_nothing(stylizer, clip, tmp_path):
    event, progress = _cancel_after(5)
    with pytest.raises(VideoCancelledError, match=r"^cancelled after 5 of 24 frames$"):
        stylize_video(clip, tmp_path / "out.mp4", stylizer=stylizer, progress=progress, cancel=event)
    assert leftovers(tmp_path, clip) == []


def test_cancel_with_keep_partial_leaves_a_playable_partial_file(stylizer, clip, tmp_path):
    event, progress = _cancel_after(8)
    with pytest.raises(VideoCancelledError):
        stylize_video(clip, tmp_path / "out.mp4", stylizer=stylizer, progress=progress, cancel=event,
                      keep_partial=True)
    assert leftovers(tmp_path, clip) == ["out.partial.mp4"] and partial_path(tmp_path / "out.mp4").is_file()
    partial = read_clip(tmp_path / "out.partial.mp4")
    assert len(partial["frames"]) == 8 and partial["audio"] == "aac"


def test_warping_error_is_zero_for_a_steady_clip_and_grows_with_flicker(portrait):
    rng = np.random.default_rng(0)
    frames = [np.ascontiguousarray(np.roll(portrait[128:384, 128:384], i, axis=1)) for i in range(6)]
    own = warping_error(frames, frames)
    assert own < 0.5
    restyled = [255 - f for f in frames]                    # a temporally consistent "style"
    assert warping_error(frames, restyled) < 0.5
    noisy = [np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8) for f in frames]
    assert warping_error(frames, noisy) > max(3.5, 8 * own)
    flicker = [cv2.convertScaleAbs(f, alpha=1.0, beta=6.0 * (i % 2)) for i, f in enumerate(frames)]
    assert warping_error(frames, flicker) > 4.0


def test_scene_cut_is_a_big_histogram_change(portrait, scene):
    grey = cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY)
    noisy = np.clip(grey + np.random.default_rng(0).normal(0, 5, grey.shape), 0, 255).astype(np.uint8)
    other = cv2.resize(cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY), grey.shape[::-1])
    brighter = cv2.convertScaleAbs(grey, beta=20)
    assert not any(is_scene_cut(grey, g) for g in (noisy, np.roll(grey, 40, axis=1), brighter))
    assert is_scene_cut(grey, other) and is_scene_cut(other, grey)


def _moving_portrait(portrait: np.ndarray, count: int, drift: float, seed: int) -> tuple[list, list]:
    """The portrait under fresh sensor noise, shifted ``drift`` px right per frame plus a random sub-pixel shake;
    returns the frames and each frame's true shift."""
    rng = np.random.default_rng(seed)
    frames, shifts = [], []
    for i in range(count):
        shift = np.array([drift * i + rng.normal(0, 0.3), rng.normal(0, 0.3)])
        matrix = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
        moved = cv2.warpAffine(portrait, matrix, (512, 512), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        frames.append(np.clip(moved + rng.normal(0, 4, moved.shape), 0, 255).astype(np.uint8))
        shifts.append(shift)
    return frames, shifts


@pytest.mark.parametrize("drift", [0.0, 1.5])
def test_steady_faces_follow_the_face_with_less_jitter_than_detection(portrait, drift):
    """Landmarks against the truth (the face's mean detected landmarks, moved by each frame's true shift): tracked
    and smoothed ones jitter far less than per-frame detection, and do not lag when the face moves. (Tracking without
    the smoothing gets about a third of detection's jitter and the same error.)"""
    pipeline = FacePipeline()
    frames, shifts = _moving_portrait(portrait, 24, drift, seed=int(drift * 10))
    detected = np.array([pipeline.detect(frame)[0].landmarks for frame in frames], np.float64)
    tracker = FaceTracker(pipeline)
    steady = np.array([tracker.update(frame, i / 24)[0].landmarks for i, frame in enumerate(frames)], np.float64)
    truth = (detected - np.array(shifts)[:, None]).mean(0) + np.array(shifts)[:, None]

    def error(landmarks: np.ndarray) -> float:
        return float(np.sqrt(((landmarks - truth) ** 2).sum(-1).mean()))

    def jitter(landmarks: np.ndarray) -> float:
        return float(np.abs(np.diff(landmarks - truth, axis=0)).mean())

    assert jitter(steady) < 0.25 * jitter(detected)
    assert error(steady) < 0.8 * error(detected)


def test_temporal_care_leaves_no_ghost_behind_a_moving_object(stylizer, scene, tmp_path):
    """A square crossing a still background: what it uncovers must show the background, not a trail of it."""
    background = cv2.resize(scene, (192, 128), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(12):
        frame = background.copy()
        frame[40:90, 10 + 10 * i:50 + 10 * i] = (240, 240, 40)
        frames.append(frame)
    source = write_clip(tmp_path / "square.mp4", frames, sound=None)
    errors = {}
    for temporal in (False, True):
        stylize_video(source, tmp_path / "out.mp4", stylizer=stylizer, strength=0, temporal=temporal)
        out = read_clip(tmp_path / "out.mp4")["frames"]
        strips = [(slice(40, 90), slice(10 * i - 10, 10 * i + 10)) for i in range(2, 12)]    # just uncovered
        errors[temporal] = float(np.mean([np.abs(out[i][strip].astype(int) - background[strip])
                                          for i, strip in zip(range(2, 12), strips)]))
    assert errors[True] < errors[False] + 2.0     # a trail of the square would add tens of levels


@pytest.mark.parametrize("strength", [1.0, 0.0])
def test_temporal_care_cuts_the_flicker_of_a_noisy_static_shot(stylizer, portrait, tmp_path, strength):
    """Strength 1: the tiny style's own flicker; strength 0: the frames themselves (per-frame, that is the input's
    flicker), so the denoising and blending are measured apart from any model."""
    rng = np.random.default_rng(1)
    still = cv2.resize(portrait, (192, 192), interpolation=cv2.INTER_AREA)
    frames = [np.clip(still + rng.normal(0, 4, still.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    source = write_clip(tmp_path / "still.mp4", frames, sound=None)
    decoded = read_clip(source)["frames"]
    flicker = {}
    for temporal in (False, True):
        out = tmp_path / f"out_{temporal}.mp4"
        stylize_video(source, out, stylizer=stylizer, temporal=temporal, strength=strength)
        flicker[temporal] = warping_error(decoded, read_clip(out)["frames"])
    assert flicker[True] < 0.8 * flicker[False]
