"""Style registry: ``weights/manifest.json`` lists every style and where its INT8 ONNX file comes from.

A style may also name its own face model (``face_file``, ``face_sha256``, ``face_multiple``, ``face_teachers``): the
generator the face pass runs on aligned 512² faces. Resolution order for each of a style's files: an explicit path → the bundled ``weights/`` folder → the Hugging Face Hub
(``hf_hub_download`` with the manifest's pinned revision, using the local cache) → ``WeightsNotFoundError`` saying
what was tried. The sha256 recorded in the manifest is checked before a file is used.
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from animegan.errors import ManifestNotFoundError, UnknownStyleError, WeightsCorruptError, WeightsNotFoundError

_CHECKOUT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"     # in a source checkout (or pip -e)
WEIGHTS_DIR = _CHECKOUT_WEIGHTS if _CHECKOUT_WEIGHTS.is_dir() else Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"


@dataclass(frozen=True)
class FaceModel:
    """A style's own face model: what the face pass runs on aligned faces instead of the whole-picture model."""

    file: str
    sha256: str
    multiple: int = 16
    teachers: tuple[str, ...] = ()     # the teacher ids it learned from, in the order they were applied


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
    face: FaceModel | None = None
    lineage: dict[str, Any] = field(default_factory=dict, compare=False)
    metrics: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> Style:
        hub = entry.get("hub") or {}
        face = (FaceModel(entry["face_file"], entry["face_sha256"], int(entry.get("face_multiple", 16)),
                          tuple(entry.get("face_teachers", ()))) if entry.get("face_file") else None)
        return cls(id=entry["id"], name=entry.get("name", entry["id"]), file=entry["file"], sha256=entry["sha256"],
                   multiple=int(entry.get("multiple", 8)), working_size=int(entry.get("working_size", 1024)),
                   description=entry.get("description", ""), license=entry.get("license", ""),
                   repo_id=hub.get("repo_id"),
                   filename=hub.get("filename"), revision=hub.get("revision"), face=face,
                   lineage=entry.get("lineage", {}), metrics=entry.get("metrics", {}))

    def files(self) -> list[tuple[str, str]]:
        """(file name, sha256) of every file the style needs: the whole-picture model, then its face model."""
        return [(self.file, self.sha256)] + ([(self.face.file, self.face.sha256)] if self.face else [])

    def hub_filename(self, file: str) -> str:
        """The name of one of the style's files in its Hub repo."""
        return (self.filename or file) if file == self.file else file

    def hub_uri(self, file: str | None = None) -> str:
        """``hf://repo/file@revision`` (for messages)."""
        return f"hf://{self.repo_id}/{self.hub_filename(file or self.file)}@{self.revision or 'main'}"


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

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether the URL's host resolves and accepts a TCP connection within ``timeout`` seconds in all (the Hub
    client itself retries for ~30 s; a bare ``create_connection`` can block longer in DNS). Behind a proxy the
    answer is left to the Hub client."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    parsed = urlparse(url)
    address = (parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80))
    opened: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(address, timeout=timeout):
                opened.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, name="hub-probe", daemon=True)  # left behind if DNS hangs
    thread.start()
    thread.join(timeout)
    return bool(opened)


def _why_hub_unusable() -> str | None:
    """Why the Hub cannot be used now, or None."""
    if _hub_offline():
        return "HF_HUB_OFFLINE is set"
    endpoint = _hub_endpoint()
    return None if _reachable(endpoint) else f"the Hub at {endpoint} is unreachable"


class Registry:
    """Styles from a manifest; resolves and verifies their weight files."""

    def __init__(self, manifest: str | Path | None = None, weights_dir: str | Path | None = None,
                 hub_cache: str | Path | None = None):
        """An absent default manifest is an empty registry; ANIMEGAN_MANIFEST naming a missing file is an error.
        ``hub_cache``: the Hub cache folder (default: huggingface_hub's, from HF_HUB_CACHE / HF_HOME)."""
        named = os.environ.get("ANIMEGAN_MANIFEST")
        self.manifest = Path(manifest or named or MANIFEST)
        if not manifest and named and not self.manifest.is_file():
            raise ManifestNotFoundError(f"ANIMEGAN_MANIFEST points to {self.manifest}, which does not exist")
        self.weights_dir = Path(weights_dir) if weights_dir else self.manifest.parent
        data = json.loads(self.manifest.read_text()) if self.manifest.exists() else {"styles": []}
        self._styles = {entry["id"]: Style.from_dict(entry) for entry in data.get("styles", [])}
        self._verified: dict[tuple[str, int, int], bool] = {}
        self._hub_cache = hub_cache

    @property
    def hub_cache(self) -> str:
        """The Hub cache folder (huggingface_hub is imported only when a Hub style needs it)."""
        if self._hub_cache is None:
            from huggingface_hub import constants

            return constants.HF_HUB_CACHE
        return str(self._hub_cache)

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

    def find(self, wanted: str) -> Style:
        """The style with this id or display name, in any case (``UnknownStyleError`` suggests close names)."""
        key = wanted.strip().casefold() if isinstance(wanted, str) else ""
        for style in self._styles.values():
            if key in (style.id.casefold(), style.name.casefold()):
                return style
        names = {name.casefold(): style.id for style in self._styles.values() for name in (style.id, style.name)}
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = f" (did you mean {names[close[0]]!r}?)" if close else ""
        known = ", ".join(f"{s.id} ({s.name})" for s in self._styles.values()) or "none"
        raise UnknownStyleError(f"unknown style {wanted!r}{hint}; available: {known}")

    def bundled_file(self, style: Style, file: str | None = None) -> Path:
        """Where one of the style's files (default: its whole-picture model) is looked for in the weights folder."""
        return self.weights_dir / (file or style.file)

    def cached_file(self, style: Style, file: str | None = None) -> Path | None:
        """The Hub cache's copy at the pinned revision, if on disk (no network)."""
        if not style.repo_id:
            return None
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(style.repo_id, style.hub_filename(file or style.file),
                                        cache_dir=self.hub_cache, revision=style.revision)
        return Path(cached) if isinstance(cached, str) else None

    def local_file(self, style: Style, file: str | None = None) -> Path | None:
        """The bundled file, or the Hub cache's copy, if either is on disk (no network)."""
        bundled = self.bundled_file(style, file)
        return bundled if bundled.is_file() else self.cached_file(style, file)

    def available(self) -> list[Style]:
        """Styles that can be loaded now: an intact file on disk, or a Hub copy that can be downloaded."""
        return self.check()[0]

    def unavailable(self) -> dict[str, str]:
        """``{style_id: one-line reason}`` for every style ``available()`` leaves out."""
        return self.check()[1]

    def check(self) -> tuple[list[Style], dict[str, str]]:
        """``available()`` and ``unavailable()`` in one pass (the Hub is probed at most once)."""
        why_hub_unusable = functools.cache(_why_hub_unusable)
        reasons = {style.id: self._why_unavailable(style, why_hub_unusable) for style in self.styles()}
        return ([style for style in self.styles() if reasons[style.id] is None],
                {style_id: reason for style_id, reason in reasons.items() if reason is not None})

    def _why_unavailable(self, style: Style, why_hub_unusable: Callable[[], str | None]) -> str | None:
        """Why the style cannot be loaded now, or None (the Hub is only probed when a file is not on disk)."""
        for file, sha256 in style.files():
            local = self.local_file(style, file)
            if local is not None:
                if not self._intact(local, sha256):
                    return f"{local} is corrupt: its sha256 does not match the manifest"
                continue
            missing = f"{self.bundled_file(style, file)} is missing"
            if not style.repo_id:
                return f"{missing} and the manifest gives no Hub source"
            hub_reason = why_hub_unusable()
            if hub_reason is not None:
                return f"{missing} and {style.hub_uri(file)} cannot be downloaded: {hub_reason}"
        return None

    def _intact(self, path: Path, sha256: str) -> bool:
        """sha256 check, remembered per (path, size, mtime) so listing styles stays cheap."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._verified:
            self._verified[key] = sha256_of(path) == sha256
        return self._verified[key]

    def resolve(self, style_id: str, path: str | Path | None = None) -> Path:
        """Find, verify and return the style's whole-picture weights file (``path``: use this file instead)."""
        style = self.get(style_id)
        if path is not None:
            candidate = Path(path)
            if not candidate.is_file():
                raise WeightsNotFoundError(f"weights for style {style_id!r} not found at {candidate}")
            self._check(style.sha256, candidate, f"{candidate} is not the weights of style {style_id!r}", "")
            return candidate
        return self._resolve_file(style, style.file, style.sha256, "weights")

    def resolve_face(self, style_id: str) -> Path | None:
        """Find, verify and return the style's face model file, or None if the style has no face model."""
        style = self.get(style_id)
        return self._resolve_file(style, style.face.file, style.face.sha256, "face model weights") if style.face else None

    def _resolve_file(self, style: Style, file: str, sha256: str, what: str) -> Path:
        """One of the style's files: bundled, else from the Hub cache, else downloaded; sha256-checked."""
        bundled = self.bundled_file(style, file)
        if bundled.is_file():
            remedy = "; delete it to download it from the Hub" if style.repo_id else "; replace it with an intact copy"
            self._check(sha256, bundled, f"{what} for style {style.id!r} at {bundled} are corrupt", remedy)
            return bundled
        tried = [str(bundled)]
        candidate = self.cached_file(style, file)
        if candidate is None and style.repo_id:
            candidate = self._download(style, file, tried)
        if candidate is None:
            raise WeightsNotFoundError(f"{what} for style {style.id!r} not found (tried: {'; '.join(tried)})")
        from huggingface_hub.file_download import repo_folder_name

        cache = Path(self.hub_cache) / repo_folder_name(repo_id=str(style.repo_id), repo_type="model")
        self._check(sha256, candidate, f"{what} for style {style.id!r} from {style.hub_uri(file)} are corrupt",
                    f"; delete {cache} to download them again")
        return candidate

    @staticmethod
    def _check(sha256: str, path: Path, what: str, remedy: str) -> None:
        """``WeightsCorruptError`` (``what``: sha256 mismatch, then ``remedy``) unless the file matches ``sha256``."""
        actual = sha256_of(path)
        if actual != sha256:
            raise WeightsCorruptError(f"{what}: sha256 {actual[:12]}… does not match the manifest "
                                      f"({sha256[:12]}…){remedy}")

    def _download(self, style: Style, file: str, tried: list[str]) -> Path | None:
        """Fetch one of the style's files from the Hub (revision pinned, cached); never hangs when offline."""
        from huggingface_hub import hf_hub_download

        hub_reason = _why_hub_unusable()
        if hub_reason is not None:
            tried.append(f"{style.hub_uri(file)} ({hub_reason})")
            return None
        try:
            return Path(hf_hub_download(style.repo_id, style.hub_filename(file), revision=style.revision,
                                        cache_dir=self.hub_cache, endpoint=_hub_endpoint(), etag_timeout=5))
        except Exception as exc:  # any failure (HTTP, transport, disk) is reported as "not found, tried: ..."
            tried.append(f"{style.hub_uri(file)} ({type(exc).__name__})")
            return None
