"""AnimeGAN: turn any photo into an anime-styled picture, fast on a plain CPU (INT8 onnxruntime + dlib faces).

The runtime package behind app.py and the ``animegan`` command: styles, engine, face pass, video. It never imports
torch (training lives in ``train/``).

    >>> import animegan
    >>> [s.id for s in animegan.available_styles()]
    >>> animegan.stylize("photo.jpg", style="hayao").save("anime.png")
    >>> animegan.stylize_video("clip.mp4", "clip_anime.mp4", style="shinkai")
"""
from animegan.errors import (AnimeGANError, ImageTooLargeError, InvalidImageError, InvalidOptionError,
                             ManifestNotFoundError, NoStylesError, UnknownStyleError, WeightsCorruptError,
                             WeightsNotFoundError)
from animegan.registry import Registry, Style
from animegan.stylizer import BatchResult, Stylizer, available_styles, stylize, stylize_many
from animegan.video import (InvalidVideoError, VideoCancelledError, VideoReport, VideoTooLargeError, VideoTooLongError,
                            stylize_video)

__all__ = [
    "AnimeGANError", "BatchResult", "ImageTooLargeError", "InvalidImageError", "InvalidOptionError",
    "ManifestNotFoundError", "NoStylesError", "Registry", "Style", "Stylizer", "UnknownStyleError",
    "WeightsCorruptError", "WeightsNotFoundError", "available_styles", "stylize", "stylize_many",
    "InvalidVideoError", "VideoCancelledError", "VideoReport", "VideoTooLargeError", "VideoTooLongError",
    "stylize_video",
]
