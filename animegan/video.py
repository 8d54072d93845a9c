"""Video → anime video: decode a clip with PyAV, stylize it one frame at a time, encode a browser-playable H.264 MP4
(yuv420p, BT.709, index at the front) with the clip's sound. Memory does not grow with the clip's length.

Each frame goes through ``Stylizer.render``'s pipeline (working size → generator → back to the frame size → face
pass → strength / keep-colours), plus temporal care so the result does not flicker:

- steady input: a recursive filter along the optical flow (DIS, at reduced resolution) takes sensor noise out before
  the generator sees it (the generator turns noise into flicker);
- steady output: the stylized frame is blended with the flow-warped previous output wherever the flow explains the
  input (photometric check), never across a scene cut;
- steady faces: faces are detected every ``DETECT_EVERY`` frames and followed in between by Lucas-Kanade tracking of
  their 68 landmarks; each track's landmarks are smoothed by motion-compensated exponential smoothing (see
  ``FaceTracker``), and the face pass aligns on them.

``warping_error`` measures flicker (temporal warping error); the benchmark and the tests share it.

Timestamps: every frame keeps its presentation time, so a variable frame rate stays variable and the sound in sync
(a frame repeating its predecessor's time is dropped). Rotation: a display-matrix rotation (phone clips) is applied
to the pixels; the output is upright and carries none. Size: the output has the upright input's size, rounded down
to even; a clip over ``Limits.max_pixels`` is scaled down to fit instead of refused. HDR (PQ, HLG, BT.2020) is
converted to 8-bit BT.709 by swscale's colour management. Sound: AAC and MP3 are copied; anything else is
re-encoded to AAC.
"""
from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol, TypeVar

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from animegan.color import adjust
from animegan.errors import AnimeGANError, InvalidOptionError
from animegan.faces import Face, FacePipeline
from animegan.imageio import resize_to
from animegan.options import STYLE_SIZE, faces_option, keep_colors_option, max_size_option, strength_option
from animegan.stylizer import Stylizer, default_stylizer

# max_size=-1 stylizes frames at this long side (or the style's working size if smaller): the engine's tile side, so
# one onnxruntime run per frame. 854×480, faces off, 1 thread: 7.8 frames/s, against 6.4 at 640 (two tiles).
VIDEO_WORKING_SIZE = 512
# What folder scans pick up as clips: the containers phones, cameras and screen recorders write.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".3gp", ".mts", ".m2ts", ".mpg", ".mpeg",
                  ".wmv", ".flv", ".ogv"}
COPIED_AUDIO = ("aac", "mp3")   # every browser plays them from MP4
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
X264_OPTIONS = {"crf": "20", "preset": "veryfast"}
DURATION_SLACK = 0.5        # seconds a clip may run over Limits.max_seconds (a "60 s" phone clip lasts 60.03 s)
FLOW_SIDE = 320             # long side of the frames the steadying optical flow is computed on
DENOISE = 0.6               # weight of the warped previous input in the recursive input filter
PERSISTENCE = 0.5           # weight of the warped previous output blended into each stylized frame
TOLERANCE = 10.0            # grey levels of local warping error at which the flow is no longer trusted at all
CUT_HISTOGRAM = 0.25        # a scene cut changes the grey histogram (Bhattacharyya distance) by more than this...
CUT_LEVELS = 30.0           # ...and a 32-px-wide thumbnail by more than this many grey levels on average
DETECT_EVERY = 3            # faces are detected on every 3rd frame and tracked in between
FACE_SMOOTHING = 0.2        # time constant (s) pulling a track's smoothed landmarks toward its measured ones
MAX_MISSES = 2              # detection rounds a tracked face may go unseen before its track ends

CORRUPT = "video data is truncated or corrupt"
UNRECOGNISED = "not a recognised video format"
# Container signatures (Matroska/WebM, AVI/WAV, Ogg, FLV, MPEG-PS): unreadable data behind them is a damaged video.
_VIDEO_MAGIC = (b"\x1a\x45\xdf\xa3", b"RIFF", b"OggS", b"FLV", b"\x00\x00\x01\xba")
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
_HDR_TRANSFERS = (16, 18)   # AVCOL_TRC_SMPTE2084 (PQ), AVCOL_TRC_ARIB_STD_B67 (HLG)
_BT2020 = 9                 # AVCOL_PRI_BT2020
_BT709 = 1                  # AVCOL_PRI_BT709 = AVCOL_TRC_BT709 = AVCOL_SPC_BT709
_LIMITED_RANGE = 1          # AVCOL_RANGE_MPEG

T = TypeVar("T")


class InvalidVideoError(AnimeGANError):
    """The input is not a readable video (empty, truncated, not a video, sound only, a still picture...)."""


class VideoTooLongError(AnimeGANError):
    """The clip lasts longer than ``Limits.max_seconds``."""


class VideoTooLargeError(AnimeGANError):
    """The file is larger than ``Limits.max_bytes``."""


class VideoCancelledError(AnimeGANError):
    """The caller's ``cancel`` event was set while the clip was being stylized."""


class CancelEvent(Protocol):
    """What ``cancel`` must offer (``threading.Event`` does)."""

    def is_set(self) -> bool: ...


# progress(frames done, total frames or None, seconds left or None), after every frame
VideoProgress = Callable[[int, "int | None", "float | None"], None]


@dataclass(frozen=True)
class Limits:
    """Refusal limits; None is unlimited. A clip over ``max_pixels`` is scaled down to fit instead of refused."""

    max_seconds: float | None = None
    max_pixels: int | None = None
    max_bytes: int | None = None


@dataclass
class VideoReport:
    """What ``stylize_video`` wrote."""

    output: Path
    frames: int
    fps: float                  # average frame rate: frames / duration
    size: tuple[int, int]       # (width, height)
    duration: float             # seconds of video
    audio: str                  # "copied", "re-encoded" or "none"
    seconds: float              # processing time


def partial_path(output: str | os.PathLike) -> Path:
    """Where ``keep_partial=True`` leaves the playable part of a clip that failed or was cancelled."""
    output = Path(output)
    return output.with_name(f"{output.stem}.partial.mp4")


def stylize_video(source: str | os.PathLike, output: str | os.PathLike, style: str | None = None, faces: bool = True,
                  max_size: int | None = STYLE_SIZE, stylizer: Stylizer | None = None,
                  progress: VideoProgress | None = None, cancel: CancelEvent | None = None,
                  limits: Limits | None = None, keep_partial: bool = False, strength: float = 1.0,
                  keep_colors: bool = False, temporal: bool = True) -> VideoReport:
    """Stylize the clip ``source`` into the MP4 ``output`` (H.264 with the clip's sound) and report what was written.

    ``style``: id or display name (default: the first available). ``max_size``: the long side frames are stylized
    at (the output keeps the frame size): ``STYLE_SIZE`` (-1) ``VIDEO_WORKING_SIZE`` or the style's working size if
    smaller, 0 or None full resolution. ``strength`` and ``keep_colors``: as in ``Stylizer.stylize``.
    ``temporal=False`` stylizes every frame on its own (no denoising, blending or face tracking). ``progress`` is
    called after each frame; setting ``cancel`` stops with ``VideoCancelledError``. The file is written under a
    hidden temporary name in the output folder and renamed at the end; on failure or cancel it is deleted, or with
    ``keep_partial`` the frames done are kept, playable, at ``partial_path(output)``.
    """
    started = time.perf_counter()
    options = max_size_option(max_size), strength_option(strength), keep_colors_option(keep_colors)
    stylizer = stylizer or default_stylizer()
    frame_stylizer = _FrameStylizer(stylizer, stylizer.style(style).id, faces_option(faces), *options,
                                    temporal=temporal)
    output = Path(output)
    if not output.parent.is_dir():
        raise InvalidOptionError(f"output folder does not exist: {output.parent}")
    limits = limits or Limits()
    with _open_source(Path(source), limits) as clip:
        temporary = output.with_name(f".{output.stem}.{secrets.token_hex(6)}.tmp.mp4")
        writer = _Mp4Writer(temporary, clip)
        try:
            _run(clip, writer, frame_stylizer, limits, progress, cancel)
            writer.close()
        except BaseException:
            _abandon(writer, temporary, partial_path(output) if keep_partial else None)
            raise
    os.replace(temporary, output)
    return VideoReport(output, writer.frames, writer.frames / writer.duration, writer.size, writer.duration,
                       writer.audio_mode, time.perf_counter() - started)


def _run(clip: _Clip, writer: _Mp4Writer, frame_stylizer: _FrameStylizer, limits: Limits,
         progress: VideoProgress | None, cancel: CancelEvent | None) -> None:
    """Decode, stylize and encode every frame; the sound is copied or re-encoded on the way."""
    eta = _Eta(clip.total)
    first: float | None = None
    for frame in clip.frames(writer.audio):
        if cancel is not None and cancel.is_set():
            total = f" of {clip.total}" if clip.total else ""
            raise VideoCancelledError(f"cancelled after {writer.frames}{total} frames")
        first = frame.time if first is None else first
        if limits.max_seconds is not None and frame.time - first > limits.max_seconds + DURATION_SLACK:
            raise VideoTooLongError(f"video is longer than the limit of {limits.max_seconds:g} s")
        rgb = clip.rgb(frame)
        if writer.size is None:
            writer.start(output_size(rgb.shape[1], rgb.shape[0], limits.max_pixels))
        writer.video(frame_stylizer(_fit_frame(rgb, writer.size), frame.time - first), frame)
        if progress is not None:
            progress(writer.frames, clip.total, eta(writer.frames))


class _Eta:
    """Seconds left at the pace since the first frame (which also pays for loading the models)."""

    def __init__(self, total: int | None):
        self.total = total
        self.first: float | None = None

    def __call__(self, done: int) -> float | None:
        now = time.perf_counter()
        self.first = now if self.first is None else self.first
        if not self.total or done < 2:
            return None
        return (now - self.first) / (done - 1) * max(0, self.total - done)


def _abandon(writer: _Mp4Writer, temporary: Path, keep_as: Path | None) -> None:
    """After a failure: finish what was done and keep it as ``keep_as`` (if asked and any frame was), else delete."""
    if keep_as is not None and writer.frames:
        try:
            writer.close()
            os.replace(temporary, keep_as)
            return
        except Exception:   # cannot be finished (disk full, encoder state): nothing playable to keep
            pass
    writer.discard()
    temporary.unlink(missing_ok=True)


# --- input ---------------------------------------------------------------------------------------------------------

def _reading(step: Callable[[], T]) -> T:
    """Run one demuxing or decoding step; FFmpeg's complaints about the input become ``InvalidVideoError``."""
    try:
        return step()
    except av.error.FFmpegError:
        raise InvalidVideoError(CORRUPT) from None


class _Clip:
    """An opened, checked input: its video stream, its sound stream if any, and how many frames to expect."""

    def __init__(self, container: av.container.InputContainer, video: av.video.stream.VideoStream,
                 audio: av.audio.stream.AudioStream | None, duration: float | None):
        self.container = container
        self.video = video
        self.audio = audio
        rate = video.average_rate or video.guessed_rate
        self.rate = Fraction(rate) if rate else Fraction(30)
        self.total: int | None = video.frames or (round(duration * self.rate) if duration else None)
        self._reformatter = VideoReformatter()     # one for the clip: HDR tone mapping takes seconds to set up

    def __enter__(self) -> _Clip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()

    def frames(self, on_audio: Callable[[av.Packet], None]) -> Iterator[av.VideoFrame]:
        """Decoded video frames with strictly increasing timestamps; sound packets (the final empty one included)
        go to ``on_audio`` as they come."""
        packets = self.container.demux([self.video] + ([self.audio] if self.audio is not None else []))
        step = max(1, round(1 / (self.rate * self.video.time_base)))
        last: int | None = None
        while (packet := _reading(lambda: next(packets, None))) is not None:
            if packet.stream is not self.video:
                on_audio(packet)
                continue
            for frame in _reading(packet.decode):
                pts = frame.pts if frame.pts is not None else (0 if last is None else last + step)
                if last is not None and pts <= last:
                    continue
                frame.pts = last = pts
                yield frame
        if last is None:
            raise InvalidVideoError(CORRUPT)

    def rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """The frame as upright (H, W, 3) uint8 RGB; HDR is tone-mapped to BT.709."""
        hdr = frame.color_trc in _HDR_TRANSFERS or frame.color_primaries == _BT2020
        colour = {"dst_color_trc": _BT709, "dst_color_primaries": _BT709} if hdr else {}
        try:
            rgb = self._reformatter.reformat(frame, format="rgb24", **colour).to_ndarray()
        except (av.error.FFmpegError, ValueError):
            raise InvalidVideoError(f"cannot convert {frame.format.name} pixels to RGB") from None
        turns = round((frame.rotation or 0) / 90) % 4
        return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _open_source(path: Path, limits: Limits) -> _Clip:
    """Open and check ``path``: readable, within the limits, with a real video stream."""
    size = _file_size(path)
    if limits.max_bytes is not None and size > limits.max_bytes:
        raise VideoTooLargeError(f"file is {size / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError:
        raise InvalidVideoError(_unreadable(path)) from None
    try:
        clip = _checked_clip(container, limits)
        if _indexed_end(clip) > size:
            raise InvalidVideoError(CORRUPT)
        return clip
    except BaseException:
        container.close()
        raise


def _file_size(path: Path) -> int:
    """The size of a non-empty regular file, or a one-line ``InvalidVideoError``."""
    name = " ".join(path.name.splitlines()) or str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidVideoError(f"file not found: {name}") from None
    except OSError:
        raise InvalidVideoError(f"cannot open file: {name}") from None
    if path.is_dir():
        raise InvalidVideoError(f"is a directory, not a video file: {name}")
    if info.st_size == 0:
        raise InvalidVideoError("empty file")
    return info.st_size


def _unreadable(path: Path) -> str:
    """The most specific message for a file FFmpeg could not open: damaged video, or not a video at all."""
    with open(path, "rb") as f:
        head = f.read(16)
    return CORRUPT if head[4:8] in _MP4_BOXES or head.startswith(_VIDEO_MAGIC) else UNRECOGNISED


def _checked_clip(container: av.container.InputContainer, limits: Limits) -> _Clip:
    """The clip's streams; still pictures, sound-only files and clips over the duration limit are refused."""
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    name = container.format.name
    if name.endswith("_pipe") or name == "image2":
        codec = videos[0].codec_context.name if videos and videos[0].codec_context else name.removesuffix("_pipe")
        raise InvalidVideoError(f"this is a still picture ({codec.upper()}), not a video")
    if not videos:
        raise InvalidVideoError("no video stream (sound only)" if container.streams.audio else "no video stream")
    video = videos[0]
    if video.codec_context is None:
        raise InvalidVideoError("unsupported video codec")
    video.thread_type = "AUTO"
    audio = next((s for s in container.streams.audio if s.codec_context is not None), None)
    duration = _duration(container, video)
    if limits.max_seconds is not None and duration is not None and duration > limits.max_seconds + DURATION_SLACK:
        raise VideoTooLongError(f"video is {duration:.1f} s long; the limit is {limits.max_seconds:g} s")
    return _Clip(container, video, audio, duration)


def _indexed_end(clip: _Clip) -> int:
    """Where the last sample the container's index lists ends (0 without an index): past the end of the file, the
    file was cut short (an MP4 with its index first plays up to the cut, then stops without an error)."""
    streams = [clip.video] + ([clip.audio] if clip.audio is not None else [])
    return max((entry.pos + entry.size for stream in streams for entry in stream.index_entries if entry.pos >= 0),
               default=0)


def _duration(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> float | None:
    """The video stream's duration in seconds, else the container's, else None."""
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    return container.duration / av.time_base if container.duration else None


def output_size(width: int, height: int, max_pixels: int | None = None) -> tuple[int, int]:
    """The encoded size of ``width`` × ``height`` frames: even, and scaled down to at most ``max_pixels``."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height))) if max_pixels else 1.0
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _fit_frame(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` at the output ``size``: an odd last row or column is cropped, anything else resized."""
    w, h = size
    if rgb.shape[0] - h in (0, 1) and rgb.shape[1] - w in (0, 1):
        return np.ascontiguousarray(rgb[:h, :w])
    return resize_to(rgb, size)


# --- output --------------------------------------------------------------------------------------------------------

class _Mp4Writer:
    """H.264 (libx264, yuv420p, BT.709) plus the clip's sound, copied or re-encoded to AAC, into an MP4 with its
    index at the front. The file is created by ``start`` (the first frame gives the size); sound packets that come
    before it wait."""

    def __init__(self, path: Path, clip: _Clip):
        self.path = path
        self.clip = clip
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self.duration = 0.0
        codec = clip.audio.codec_context.codec.canonical_name if clip.audio is not None else None
        self.audio_mode = "none" if codec is None else "copied" if codec in COPIED_AUDIO else "re-encoded"
        self._container: av.container.OutputContainer | None = None
        self._pending: list[av.Packet] = []
        self._first: float | None = None
        self._reformatter = VideoReformatter()

    def start(self, size: tuple[int, int]) -> None:
        """Create the file with a ``size`` (width, height) video stream and a sound stream if the clip has sound."""
        self.size = size
        self._container = av.open(str(self.path), "w", format="mp4", options={"movflags": "+faststart"})
        self._video = self._add_video()
        self._audio, self._resampler = self._add_audio()
        pending, self._pending = self._pending, []
        for packet in pending:
            self.audio(packet)

    def _add_video(self) -> av.video.stream.VideoStream:
        stream = self._container.add_stream("libx264", rate=self.clip.rate)
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        context = stream.codec_context
        context.time_base = self.clip.video.time_base      # frames keep their own timestamps
        context.colorspace = context.color_primaries = context.color_trc = _BT709
        context.color_range = _LIMITED_RANGE
        context.options = dict(X264_OPTIONS)
        return stream

    def _add_audio(self) -> tuple[av.stream.Stream | None, av.AudioResampler | None]:
        source = self.clip.audio
        if source is None:
            return None, None
        if self.audio_mode == "copied":
            return self._container.add_stream_from_template(source), None
        rate = source.codec_context.sample_rate if source.codec_context.sample_rate in AAC_RATES else 48000
        layout = "mono" if source.codec_context.channels == 1 else "stereo"
        stream = self._container.add_stream("aac", rate=rate)
        stream.layout = layout
        return stream, av.AudioResampler(format="fltp", layout=layout, rate=rate)

    def video(self, rgb: np.ndarray, source: av.VideoFrame) -> None:
        """Encode one stylized frame at the source frame's presentation time."""
        frame = self._reformatter.reformat(av.VideoFrame.from_ndarray(rgb, format="rgb24"), format="yuv420p",
                                           dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts, frame.time_base = source.pts, source.time_base
        self._mux(self._video.encode(frame))
        self.frames += 1
        seconds = float(source.pts * source.time_base)
        self._first = seconds if self._first is None else self._first
        self.duration = seconds - self._first + self._frame_duration(source)

    def _frame_duration(self, frame: av.VideoFrame) -> float:
        """How long ``frame`` shows: its own duration, else the mean interval so far, else one frame at the rate."""
        if frame.duration:
            return float(frame.duration * frame.time_base)
        if self.frames > 1:
            return (float(frame.pts * frame.time_base) - self._first) / (self.frames - 1)
        return float(1 / self.clip.rate)

    def audio(self, packet: av.Packet) -> None:
        """Copy a sound packet, or decode it and re-encode it to AAC (held back until ``start``)."""
        if self._container is None:
            self._pending.append(packet)
        elif self._resampler is not None:
            for frame in _reading(packet.decode):
                self._encode_audio(self._resampler.resample(frame))
        elif packet.dts is not None:    # the empty packet that ends a stream is for decoders only
            packet.stream = self._audio
            self._container.mux(packet)

    def _encode_audio(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            self._mux(self._audio.encode(frame))

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoders and finish the file (its index moved to the front)."""
        if self._container is None:
            return
        self._mux(self._video.encode())
        if self._resampler is not None:
            self._encode_audio(self._resampler.resample(None))
            self._mux(self._audio.encode())
        container, self._container = self._container, None
        container.close()

    def discard(self) -> None:
        """Close without finishing (the caller deletes the file)."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:   # a half-written file that cannot even be closed is deleted anyway
                pass


# --- one frame -----------------------------------------------------------------------------------------------------

class _FrameStylizer:
    """``Stylizer.render`` then strength and keep-colours for one frame, with the temporal care of ``_Steadier``
    and ``FaceTracker`` (``temporal=False``: every frame on its own, exactly like a still picture)."""

    def __init__(self, stylizer: Stylizer, style_id: str, faces: bool, max_size: int, strength: float,
                 keep_colors: bool, temporal: bool):
        stylizer.generator(style_id)    # a missing or corrupt style fails before the first frame
        if faces:
            stylizer.face_generator(style_id)
        working = min(stylizer.registry.get(style_id).working_size, VIDEO_WORKING_SIZE)
        self.stylizer, self.style_id, self.faces = stylizer, style_id, faces
        self.max_size = working if max_size == STYLE_SIZE else max_size
        self.strength, self.keep_colors = strength, keep_colors
        self.temporal = temporal
        self.steadier: _Steadier | None = None
        self.tracker = FaceTracker(stylizer.face_pipeline) if faces and temporal else None

    def __call__(self, frame: np.ndarray, seconds: float) -> np.ndarray:
        if not self.temporal:
            return self._stylize(frame, None)
        if self.steadier is None:
            self.steadier = _Steadier((frame.shape[1], frame.shape[0]))
        frame = self.steadier.prepare(frame)
        tracked = None
        if self.tracker is not None:
            if self.steadier.cut:
                self.tracker.reset()
            tracked = self.tracker.update(frame, seconds)
        return self.steadier.settle(self._stylize(frame, tracked))

    def _stylize(self, frame: np.ndarray, tracked: list[Face] | None) -> np.ndarray:
        if self.strength == 0:
            return frame
        stylized = self.stylizer.render(frame, self.style_id, self.faces, self.max_size, found=tracked)
        return adjust(frame, stylized, self.strength, self.keep_colors)


def _grey(rgb: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Grey levels of ``rgb``, area-resized to ``size`` (width, height) if given."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return grey if size is None or size == grey.shape[::-1] else cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def _pixel_grid(width: int, height: int) -> np.ndarray:
    """(H, W, 2) float32 pixel coordinates (x, y): add a flow to get a ``cv2.remap`` map."""
    return np.dstack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)))


def is_scene_cut(previous: np.ndarray, current: np.ndarray) -> bool:
    """Whether two consecutive grey frames belong to different shots: both their grey histograms and their layouts
    (thumbnails) differ a lot. A pan keeps the histogram, a change of light keeps the layout roughly."""
    hists = [cv2.calcHist([grey], [0], None, [64], [0, 256]) for grey in (previous, current)]
    if cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA) <= CUT_HISTOGRAM:
        return False
    h, w = current.shape
    thumb = (32, max(1, round(32 * h / w)))
    small = [cv2.resize(grey, thumb, interpolation=cv2.INTER_AREA) for grey in (previous, current)]
    return float(cv2.absdiff(*small).mean()) > CUT_LEVELS


def _blend(current: np.ndarray, warped: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``current + weight * (warped - current)`` per pixel (``weight``: float32 (H, W) in [0, 1])."""
    return cv2.blendLinear(current, warped, 1.0 - weight, weight)


class _Steadier:
    """Temporal care of whole frames: ``prepare`` denoises the input along the optical flow from the previous frame,
    ``settle`` blends the stylized frame with the previous output warped along the same flow. Both only where the
    flow explains the input: trust falls from 1 to 0 as the local warping error of the input grows to
    ``TOLERANCE``. The flow (DIS) is computed on a copy whose long side is ``FLOW_SIDE``."""

    def __init__(self, size: tuple[int, int]):
        w, h = size
        scale = min(1.0, FLOW_SIDE / max(w, h))
        self.size = size
        self.small = (max(8, round(w * scale)), max(8, round(h * scale)))
        self.cut = False
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._grid, self._small_grid = _pixel_grid(w, h), _pixel_grid(*self.small)
        self._previous_small: np.ndarray | None = None
        self._previous_in: np.ndarray | None = None
        self._previous_out: np.ndarray | None = None
        self._map: np.ndarray | None = None
        self._trust: np.ndarray | None = None

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """The frame denoised along the flow (unchanged on the first frame and after a scene cut)."""
        small = _grey(frame, self.small)
        previous = self._previous_small
        self.cut = previous is not None and is_scene_cut(previous, small)
        if previous is None or self.cut:
            self._map = self._trust = None
            self._previous_small, self._previous_in = small, frame
            return frame
        flow = self._flow.calc(small, previous, None)      # current pixel -> where it was in the previous frame
        warped_small = cv2.remap(previous, flow + self._small_grid, None, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
        error = cv2.blur(cv2.absdiff(small, warped_small), (5, 5)).astype(np.float32)
        trust_small = np.clip(1.0 - error / TOLERANCE, 0.0, 1.0)
        self._trust = cv2.resize(trust_small, self.size, interpolation=cv2.INTER_LINEAR)
        self._map = cv2.resize(flow, self.size, interpolation=cv2.INTER_LINEAR) * (self.size[0] / self.small[0])
        self._map += self._grid
        warped = cv2.remap(self._previous_in, self._map, None, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
        denoised = _blend(frame, warped, self._trust * DENOISE)
        self._previous_small = _blend(small, warped_small, trust_small * DENOISE)
        self._previous_in = denoised
        return denoised

    def settle(self, stylized: np.ndarray) -> np.ndarray:
        """The stylized frame blended with the previous output warped onto it, where the flow is trusted."""
        if self._map is not None and self._previous_out is not None:
            warped = cv2.remap(self._previous_out, self._map, None, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
            stylized = _blend(stylized, warped, self._trust * PERSISTENCE)
        self._previous_out = stylized
        return stylized


# --- steady faces --------------------------------------------------------------------------------------------------

class _Track:
    """One face followed over time: its measured landmarks (detected, or carried by Lucas-Kanade) and the smoothed
    ones the face pass aligns on, both float64 (68, 2)."""

    def __init__(self, landmarks: np.ndarray):
        self.measured = landmarks.astype(np.float64)
        self.smoothed = self.measured.copy()
        self.misses = 0         # detection rounds in a row that did not find this face
        self.lost = False       # Lucas-Kanade lost it this frame: it ends unless detected again


def _landmark_box(landmarks: np.ndarray) -> np.ndarray:
    return np.concatenate([landmarks.min(0), landmarks.max(0)])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceTracker:
    """Steady faces over a clip. Faces are detected every ``detect_every`` frames (and on any frame where tracking
    is lost), matched to tracks by IoU of their landmark boxes; in between, pyramidal Lucas-Kanade carries each
    track's 68 landmarks to the next frame.

    Smoothing is motion-compensated exponential smoothing: the similarity transform that Lucas-Kanade finds between
    frames (fitted to all 68 points, so it is precise) moves the smoothed landmarks along with the face, then they are
    pulled toward the measured ones with time constant ``smoothing`` seconds. Detector noise is averaged away without
    the lag of a One-Euro filter: on the portrait drifting 1 px a frame under noise, RMS landmark error 0.34 px here,
    1.19 px with One-Euro (min cutoff 1 Hz, beta 5 face sizes), 0.53 px for detection on every frame."""

    def __init__(self, pipeline: FacePipeline, detect_every: int = DETECT_EVERY, smoothing: float = FACE_SMOOTHING,
                 max_misses: int = MAX_MISSES, min_iou: float = 0.3):
        self.pipeline = pipeline
        self.detect_every, self.smoothing, self.max_misses, self.min_iou = detect_every, smoothing, max_misses, min_iou
        self.reset()

    def reset(self) -> None:
        """Forget every face (at a scene cut): the next frame is a detection frame."""
        self._tracks: list[_Track] = []
        self._previous: np.ndarray | None = None
        self._time: float | None = None
        self._count = 0

    def update(self, rgb: np.ndarray, seconds: float) -> list[Face]:
        """The steadied faces of this frame; ``seconds`` is its presentation time."""
        grey = _grey(rgb)
        if self._previous is not None:
            for track in self._tracks:
                self._follow(track, grey)
        if self._count % self.detect_every == 0 or any(track.lost for track in self._tracks):
            self._match(self.pipeline.detect(rgb))
        dt = seconds - self._time if self._time is not None else 0.0
        pull = 1.0 - math.exp(-max(dt, 0.0) / self.smoothing)
        for track in self._tracks:
            track.smoothed += pull * (track.measured - track.smoothed)
        self._previous, self._time = grey, seconds
        self._count += 1
        return [_face(track.smoothed, rgb.shape) for track in self._tracks]

    def _follow(self, track: _Track, grey: np.ndarray) -> None:
        """Carry the track's landmarks to this frame; it is ``lost`` if most points or the motion fit fail."""
        points = track.measured.astype(np.float32).reshape(-1, 1, 2)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(self._previous, grey, points, None, winSize=(21, 21), maxLevel=3)
        found = status.ravel() == 1
        motion = cv2.estimateAffinePartial2D(points[found], moved[found], method=cv2.LMEDS)[0] \
            if found.mean() >= 0.6 else None
        if motion is None:
            track.lost = True
            return
        moved = moved.reshape(-1, 2).astype(np.float64)
        moved[~found] = track.measured[~found] @ motion[:, :2].T + motion[:, 2]
        track.measured = moved
        track.smoothed = track.smoothed @ motion[:, :2].T + motion[:, 2]

    def _match(self, detected: list[Face]) -> None:
        """Greedy IoU matching: a matched track takes the detection's landmarks, an unmatched detection starts a
        track, a lost track or one unseen for more than ``max_misses`` rounds ends."""
        boxes = [_landmark_box(face.landmarks) for face in detected]
        pairs = sorted(((_iou(_landmark_box(track.measured), box), i, j) for i, track in enumerate(self._tracks)
                        for j, box in enumerate(boxes)), reverse=True)
        matched: dict[int, int] = {}
        for overlap, i, j in pairs:
            if overlap >= self.min_iou and i not in matched and j not in matched.values():
                matched[i] = j
        for i, track in enumerate(self._tracks):
            if i in matched:
                track.measured = detected[matched[i]].landmarks.astype(np.float64)
                track.misses, track.lost = 0, False
            else:
                track.misses += 1
        kept = [t for t in self._tracks if not t.lost and t.misses <= self.max_misses]
        self._tracks = kept + [_Track(face.landmarks) for j, face in enumerate(detected) if j not in matched.values()]


def _face(landmarks: np.ndarray, shape: tuple[int, ...]) -> Face:
    """A ``Face`` for the face pass: the landmarks (float32, read-only) and their box clipped to the frame."""
    points = landmarks.astype(np.float32)
    points.setflags(write=False)
    h, w = shape[:2]
    x0, y0 = np.clip(np.floor(points.min(0)), 0, [w, h]).astype(int)
    x1, y1 = np.clip(np.ceil(points.max(0)) + 1, 0, [w, h]).astype(int)
    return Face((int(x0), int(y0), int(x1), int(y1)), points)


# --- flicker -------------------------------------------------------------------------------------------------------

class WarpingError:
    """Flicker as temporal warping error: Farneback flow between consecutive *input* frames warps the previous
    *output* frame onto the current one; the mean absolute difference (levels 0–255, over RGB) is taken over the
    pixels whose flow passes a forward-backward consistency check (Sundaram et al. 2010) and that stay 4 % of the
    short side clear of the border. Feed pairs with ``add``; ``value`` is the mean over consecutive pairs."""

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._errors: list[float] = []

    def add(self, frame_in: np.ndarray, frame_out: np.ndarray) -> None:
        """The next (input, output) pair of frames, (H, W, 3) uint8 RGB of one size."""
        grey = _grey(frame_in)
        if self._previous is not None:
            error = _warping_error(*self._previous, grey, frame_out)
            if error is not None:
                self._errors.append(error)
        self._previous = grey, frame_out

    @property
    def value(self) -> float:
        return float(np.mean(self._errors)) if self._errors else 0.0


def warping_error(frames_in: Iterable[np.ndarray], frames_out: Iterable[np.ndarray]) -> float:
    """The temporal warping error of ``frames_out`` (see ``WarpingError``); pass the input twice for its own."""
    measure = WarpingError()
    for frame_in, frame_out in zip(frames_in, frames_out, strict=True):
        measure.add(frame_in, frame_out)
    return measure.value


def _farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow such that ``a(x) ≈ b(x + flow(x))``."""
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def _warping_error(previous_grey: np.ndarray, previous_out: np.ndarray, grey: np.ndarray,
                   out: np.ndarray) -> float | None:
    """Mean |out − previous_out warped onto it| over trusted pixels, or None if no pixel can be trusted."""
    h, w = grey.shape
    backward, forward = _farneback(grey, previous_grey), _farneback(previous_grey, grey)
    grid = _pixel_grid(w, h)
    where = grid + backward                 # each current pixel in the previous frame
    forward_there = cv2.remap(forward, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    loop = ((backward + forward_there) ** 2).sum(-1)
    consistent = loop <= 0.01 * ((backward ** 2).sum(-1) + (forward_there ** 2).sum(-1)) + 0.5
    margin = max(2, round(0.04 * min(h, w)))
    low, high = np.float32(margin), np.array([w - 1 - margin, h - 1 - margin], np.float32)
    inside = ((where >= low) & (where <= high) & (grid >= low) & (grid <= high)).all(-1)
    trusted = consistent & inside
    if not trusted.any():
        return None
    warped = cv2.remap(previous_out, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = cv2.absdiff(out, warped).astype(np.float32).mean(-1)
    return float(diff[trusted].mean())
