"""Style registry: ``weights/manifest.json`` lists every style and where its INT8 ONNX files come from.

A style may also name its own face model (``face_file``, ``face_sha256``, ``face_multiple``, ``face_teachers``): the
generator the face pass runs on aligned 512² faces. Each file is looked for in the bundled ``weights/`` folder, then
in the Hugging Face Hub cache, then downloaded with ``hf_hub_download`` at the manifest's pinned revision; its sha256
is checked before use. The Hub is left to huggingface_hub (offline mode, endpoint, cache, errors); the only thing
added is a hard bound on how long the Hub may take to answer, since its timeouts do not cover a hanging DNS lookup.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from animegan.errors import ManifestNotFoundError, UnknownStyleError, WeightsCorruptError, WeightsNotFoundError

_CHECKOUT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"     # in a source checkout (or pip -e)
WEIGHTS_DIR = _CHECKOUT_WEIGHTS if _CHECKOUT_WEIGHTS.is_dir() else Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
HUB_TIMEOUT = 5.0      # seconds the Hub gets to answer whether a file is there, DNS lookup included


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
                   repo_id=hub.get("repo_id"), filename=hub.get("filename"), revision=hub.get("revision"),
                   face=face, lineage=entry.get("lineage", {}), metrics=entry.get("metrics", {}))

    def files(self) -> list[tuple[str, str]]:
        """(file name, sha256) of every file the style needs: the whole-picture model, then its face model."""
        return [(self.file, self.sha256)] + ([(self.face.file, self.face.sha256)] if self.face else [])

    def hub_filename(self, file: str) -> str:
        """The name of one of the style's files in its Hub repo."""
        return (self.filename or file) if file == self.file else file

    def hub_uri(self, file: str) -> str:
        """``hf://repo/file@revision`` (for messages)."""
        return f"hf://{self.repo_id}/{self.hub_filename(file)}@{self.revision or 'main'}"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Registry:
    """Styles from a manifest; finds and verifies their weight files."""

    def __init__(self, manifest: str | Path | None = None, weights_dir: str | Path | None = None,
                 hub_cache: str | Path | None = None, hub_endpoint: str | None = None):
        """An absent default manifest is an empty registry; ANIMEGAN_MANIFEST naming a missing file is an error.
        ``hub_cache``, ``hub_endpoint``: the Hub cache folder and server (default: huggingface_hub's, from HF_HOME,
        HF_HUB_CACHE and HF_ENDPOINT)."""
        named = os.environ.get("ANIMEGAN_MANIFEST")
        self.manifest = Path(manifest or named or MANIFEST)
        if not manifest and named and not self.manifest.is_file():
            raise ManifestNotFoundError(f"ANIMEGAN_MANIFEST points to {self.manifest}, which does not exist")
        self.weights_dir = Path(weights_dir) if weights_dir else self.manifest.parent
        data = json.loads(self.manifest.read_text()) if self.manifest.exists() else {"styles": []}
        self._styles = {entry["id"]: Style.from_dict(entry) for entry in data.get("styles", [])}
        self._intact: set[tuple[str, int, int]] = set()
        self.hub_cache = hub_cache
        self.hub_endpoint = hub_endpoint

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
        names = {name.casefold(): style for style in self._styles.values() for name in (style.id, style.name)}
        if key in names:
            return names[key]
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = f" (did you mean {names[close[0]].id!r}?)" if close else ""
        known = ", ".join(f"{s.id} ({s.name})" for s in self._styles.values()) or "none"
        raise UnknownStyleError(f"unknown style {wanted!r}{hint}; available: {known}")

    def local_file(self, style: Style, file: str | None = None) -> Path | None:
        """One of the style's files (default: its whole-picture model) from the weights folder or the Hub cache,
        if either has it (no network)."""
        file = file or style.file
        bundled = self.weights_dir / file
        if bundled.is_file() or not style.repo_id:
            return bundled if bundled.is_file() else None
        from huggingface_hub import try_to_load_from_cache     # imported when needed: it takes 0.15 s

        cached = try_to_load_from_cache(style.repo_id, style.hub_filename(file), cache_dir=self.hub_cache,
                                        revision=style.revision)
        return Path(cached) if isinstance(cached, str) else None

    def available(self) -> list[Style]:
        """Styles that can be loaded now: intact files on disk, or on a Hub that answers."""
        return self.check()[0]

    def unavailable(self) -> dict[str, str]:
        """``{style_id: the error loading it would raise}`` for every style ``available()`` leaves out."""
        return self.check()[1]

    def check(self) -> tuple[list[Style], dict[str, str]]:
        """``available()`` and ``unavailable()`` in one pass (the Hub is asked only about files not on disk)."""
        reasons: dict[str, str] = {}
        for style in self.styles():
            try:
                for file, sha256 in style.files():
                    self._locate(style, file, sha256, download=False)
            except (WeightsNotFoundError, WeightsCorruptError) as exc:
                reasons[style.id] = str(exc)
        return [style for style in self.styles() if style.id not in reasons], reasons

    def resolve(self, style_id: str, path: str | Path | None = None) -> Path:
        """Find, verify and return the style's whole-picture weights file (``path``: use this file instead)."""
        style = self.get(style_id)
        if path is None:
            return cast(Path, self._locate(style, style.file, style.sha256))
        if not Path(path).is_file():
            raise WeightsNotFoundError(f"weights for style {style_id!r} not found at {path}")
        self._check(style.sha256, Path(path), f"{path} is not the weights of style {style_id!r}", "")
        return Path(path)

    def resolve_face(self, style_id: str) -> Path | None:
        """Find, verify and return the style's face model file, or None if the style has no face model."""
        style = self.get(style_id)
        return self._locate(style, style.face.file, style.face.sha256) if style.face else None

    def _locate(self, style: Style, file: str, sha256: str, download: bool = True) -> Path | None:
        """One of the style's files, sha256-checked: bundled, else the Hub cache's copy, else downloaded (without
        ``download``, None: the Hub has it). The errors say what was tried and what to do."""
        what = f"{'face model weights' if file != style.file else 'weights'} for style {style.id!r}"
        bundled = self.weights_dir / file
        if bundled.is_file():
            remedy = "; delete it to download it from the Hub" if style.repo_id else "; replace it with an intact copy"
            self._check(sha256, bundled, f"{what} at {bundled} are corrupt", remedy)
            return bundled
        if not style.repo_id:
            raise WeightsNotFoundError(f"{what} not found (tried: {bundled}; the manifest gives no Hub source)")
        from huggingface_hub import constants, hf_hub_download
        from huggingface_hub.file_download import repo_folder_name

        found = self.local_file(style, file)
        if found is None:
            why_not = self._why_not_on_hub(style, file)
            if why_not is None and not download:
                return None
            if why_not is None:
                try:
                    found = Path(hf_hub_download(style.repo_id, style.hub_filename(file), revision=style.revision,
                                                 cache_dir=self.hub_cache, endpoint=self.hub_endpoint,
                                                 etag_timeout=HUB_TIMEOUT))
                except Exception as exc:  # failed after the Hub answered: dropped connection, full disk, ...
                    why_not = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'download failed'}"
            if found is None:
                raise WeightsNotFoundError(f"{what} not found (tried: {bundled}; {style.hub_uri(file)} ({why_not}))")
        cache = Path(self.hub_cache or constants.HF_HUB_CACHE) / repo_folder_name(repo_id=style.repo_id,
                                                                                  repo_type="model")
        self._check(sha256, found, f"{what} from {style.hub_uri(file)} are corrupt",
                    f"; delete {cache} to download them again")
        return found

    def _check(self, sha256: str, path: Path, what: str, remedy: str) -> None:
        """``WeightsCorruptError`` (``what``: sha256 mismatch, then ``remedy``) unless the file matches ``sha256``;
        an intact file's check is remembered per (path, size, mtime) so listing styles stays cheap."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key in self._intact:
            return
        actual = sha256_of(path)
        if actual != sha256:
            raise WeightsCorruptError(f"{what}: sha256 {actual[:12]}… does not match the manifest "
                                      f"({sha256[:12]}…){remedy}")
        self._intact.add(key)

    def _why_not_on_hub(self, style: Style, file: str) -> str | None:
        """Why one of the style's files cannot be downloaded now (huggingface_hub's offline mode, no answer within
        HUB_TIMEOUT, or the Hub's own error), or None when the Hub has it."""
        from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
        from huggingface_hub.errors import HfHubHTTPError

        if constants.HF_HUB_OFFLINE:
            return "HF_HUB_OFFLINE is set"
        url = hf_hub_url(style.repo_id, style.hub_filename(file), revision=style.revision, endpoint=self.hub_endpoint)
        outcome: list[Exception | None] = []

        def ask() -> None:
            try:
                get_hf_file_metadata(url, timeout=HUB_TIMEOUT)
                outcome.append(None)
            except Exception as exc:  # whatever went wrong becomes the reason
                outcome.append(exc)

        thread = threading.Thread(target=ask, name="hub-check", daemon=True)  # left behind if DNS never answers
        thread.start()
        thread.join(HUB_TIMEOUT)
        if outcome and isinstance(outcome[0], HfHubHTTPError):    # the Hub answered, with an error
            return str(outcome[0]).splitlines()[0]
        if outcome and outcome[0] is None:
            return None
        return f"the Hub at {self.hub_endpoint or constants.ENDPOINT} is unreachable"
