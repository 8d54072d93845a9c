"""Style registry: ``weights/manifest.json`` lists every style and where its INT8 ONNX file comes from.

Resolution order for a style's file: an explicit path → the bundled ``weights/`` folder → the Hugging Face Hub
(``hf_hub_download`` with the manifest's pinned revision, using the local cache) → ``WeightsNotFoundError`` saying
what was tried. The sha256 recorded in the manifest is checked before a file is used.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from urllib.parse import urlparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from animegan.errors import UnknownStyleError, WeightsCorruptError, WeightsNotFoundError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"


@dataclass(frozen=True)
class Style:
    """One manifest entry."""

    id: str
    name: str
    file: str
    sha256: str
    multiple: int = 8
    working_size: int = 1024
    description: str = ""
    license: str = ""
    repo_id: str | None = None
    filename: str | None = None
    revision: str | None = None
    lineage: dict[str, Any] = field(default_factory=dict, compare=False)
    metrics: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> Style:
        hub = entry.get("hub") or {}
        return cls(id=entry["id"], name=entry.get("name", entry["id"]), file=entry["file"], sha256=entry["sha256"],
                   multiple=int(entry.get("multiple", 8)), working_size=int(entry.get("working_size", 1024)),
                   description=entry.get("description", ""), license=entry.get("license", ""),
                   repo_id=hub.get("repo_id"),
                   filename=hub.get("filename"), revision=hub.get("revision"),
                   lineage=entry.get("lineage", {}), metrics=entry.get("metrics", {}))


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def _hub_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the URL's host opens quickly (the Hub client itself retries for ~30 s).
    Behind a proxy the answer is left to the Hub client."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


class Registry:
    """Styles from a manifest; resolves and verifies their weight files."""

    def __init__(self, manifest: str | Path | None = None, weights_dir: str | Path | None = None):
        self.manifest = Path(manifest or os.environ.get("ANIMEGAN_MANIFEST") or MANIFEST)
        self.weights_dir = Path(weights_dir) if weights_dir else self.manifest.parent
        data = json.loads(self.manifest.read_text()) if self.manifest.exists() else {"styles": []}
        self._styles = {entry["id"]: Style.from_dict(entry) for entry in data.get("styles", [])}
        self._verified: dict[tuple[str, int, int], bool] = {}

    def styles(self) -> list[Style]:
        """Every registered style, in manifest order."""
        return list(self._styles.values())

    def get(self, style_id: str) -> Style:
        """The style with this id (``UnknownStyleError`` names the known ones)."""
        try:
            return self._styles[style_id]
        except KeyError:
            known = ", ".join(self._styles) or "none"
            raise UnknownStyleError(f"unknown style {style_id!r}; available: {known}") from None

    def local_file(self, style: Style) -> Path | None:
        """The bundled file, or the Hub cache's copy, if either is on disk (no network)."""
        bundled = self.weights_dir / style.file
        if bundled.is_file():
            return bundled
        if style.repo_id:
            from huggingface_hub import try_to_load_from_cache
            cached = try_to_load_from_cache(style.repo_id, style.filename or style.file, revision=style.revision)
            if isinstance(cached, str):
                return Path(cached)
        return None

    def available(self) -> list[Style]:
        """Styles that can be loaded now: an intact file on disk, or a Hub copy that can be downloaded."""
        hub_up: bool | None = None
        found = []
        for style in self.styles():
            local = self.local_file(style)
            if local is not None:
                if self._intact(local, style.sha256):
                    found.append(style)
                continue
            if style.repo_id and not _hub_offline():
                hub_up = _reachable(_hub_endpoint()) if hub_up is None else hub_up
                if hub_up:
                    found.append(style)
        return found

    def _intact(self, path: Path, sha256: str) -> bool:
        """sha256 check, remembered per (path, size, mtime) so listing styles stays cheap."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._verified:
            self._verified[key] = sha256_of(path) == sha256
        return self._verified[key]

    def resolve(self, style_id: str, path: str | Path | None = None) -> Path:
        """Find, verify and return the style's weights file."""
        style = self.get(style_id)
        tried: list[str] = []
        candidate: Path | None = None
        if path is not None:
            candidate = Path(path)
            tried.append(str(candidate))
            if not candidate.is_file():
                raise WeightsNotFoundError(f"weights for style {style_id!r} not found at {candidate}")
        else:
            candidate = self.local_file(style)
            tried.append(f"weights/{style.file}")
            if candidate is None and style.repo_id:
                candidate = self._download(style, tried)
        if candidate is None:
            raise WeightsNotFoundError(f"weights for style {style_id!r} not found (tried: {'; '.join(tried)})")
        actual = sha256_of(candidate)
        if actual != style.sha256:
            raise WeightsCorruptError(f"weights for style {style_id!r} are corrupt: sha256 {actual[:12]}… "
                                      f"does not match the manifest ({style.sha256[:12]}…); delete {candidate.name} "
                                      f"and fetch it again")
        return candidate

    @staticmethod
    def _download(style: Style, tried: list[str]) -> Path | None:
        """Fetch from the Hub (revision pinned, cached); never hangs when offline."""
        from huggingface_hub import hf_hub_download

        where = f"hf://{style.repo_id}/{style.filename or style.file}@{style.revision or 'main'}"
        endpoint = _hub_endpoint()
        if _hub_offline():
            tried.append(f"{where} (HF_HUB_OFFLINE is set)")
            return None
        if not _reachable(endpoint):
            tried.append(f"{where} (the Hub at {endpoint} is unreachable)")
            return None
        try:
            return Path(hf_hub_download(style.repo_id, style.filename or style.file, revision=style.revision,
                                        endpoint=endpoint, etag_timeout=5))
        except Exception as exc:  # any failure (HTTP, transport, disk) is reported as "not found, tried: ..."
            tried.append(f"{where} ({type(exc).__name__})")
            return None
