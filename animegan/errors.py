"""Exceptions raised by the runtime. Each carries a one-line message meant for the end user."""
from __future__ import annotations


class AnimeGANError(Exception):
    """Base class for every error the runtime reports to users."""


class InvalidImageError(AnimeGANError):
    """The input is not a readable still image (empty, truncated, not an image, unsupported format...)."""


class ImageTooLargeError(AnimeGANError):
    """The input has more pixels than the configured limit (decompression-bomb guard included)."""


class InvalidOptionError(AnimeGANError):
    """An option or setting has a value it cannot take (``max_size``, ``ANIMEGAN_THREADS``, CLI ``--output``...)."""


class UnknownStyleError(AnimeGANError):
    """No style with this id is registered."""


class ManifestNotFoundError(AnimeGANError):
    """ANIMEGAN_MANIFEST names a manifest file that does not exist."""


class WeightsNotFoundError(AnimeGANError):
    """A style's weights file could be found neither locally nor on the Hugging Face Hub."""


class WeightsCorruptError(AnimeGANError):
    """A style's weights file does not match the sha256 recorded in the manifest."""


class NoStylesError(AnimeGANError):
    """No style's weights are installed or downloadable; says why for each style the manifest lists."""

    def __init__(self, reasons: dict[str, str] | None = None):
        detail = "; ".join(f"{style_id}: {why}" for style_id, why in (reasons or {}).items())
        super().__init__(f"no style weights can be loaded ({detail})" if detail
                         else "no style weights are installed; see weights/manifest.json")
