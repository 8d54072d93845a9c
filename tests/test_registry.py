"""Registry: manifest lookup, sha256 refusal of corrupt files, Hub download (a local stand-in for the Hub's file
endpoint), offline Hub fallback with a clear error, and why a style is unavailable."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from animegan.engine import OnnxGenerator
from animegan.errors import ManifestNotFoundError, UnknownStyleError, WeightsCorruptError, WeightsNotFoundError
from animegan import registry as registry_module
from animegan.registry import MANIFEST, Registry, sha256_of

REPO = "someone/animegan-tiny"
REVISION = "3c1e5a0f9b7d2e4c6a8b0d1f3e5c7a9b1d3f5e7a"


def corrupted(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0xFF
    return bytes(flipped)


def test_resolves_the_bundled_file_after_checking_its_sha256(registry, tiny_weights):
    assert registry.resolve("tiny") == tiny_weights / "tiny.onnx"
    assert [s.id for s in registry.available()] == ["tiny"]
    assert registry.unavailable() == {}


def test_unknown_style_names_the_known_ones(registry):
    with pytest.raises(UnknownStyleError, match="available: tiny"):
        registry.get("nope")


def test_corrupt_file_is_refused(tmp_path, tiny_weights):
    shutil.copytree(tiny_weights, tmp_path / "w")
    onnx_file = tmp_path / "w" / "tiny.onnx"
    onnx_file.write_bytes(corrupted(onnx_file.read_bytes()))
    registry = Registry(tmp_path / "w" / "manifest.json")
    assert registry.available() == []  # listed only when it can really be loaded
    with pytest.raises(WeightsCorruptError) as err:
        registry.resolve("tiny")
    assert registry.unavailable() == {"tiny": str(err.value)}  # the error loading it would raise
    assert str(err.value).startswith(f"weights for style 'tiny' at {onnx_file} are corrupt: sha256 ")
    assert str(err.value).endswith("; replace it with an intact copy")


def test_explicit_path_wins_and_is_checked_too(registry, tiny_weights, tmp_path):
    copy = tmp_path / "elsewhere.onnx"
    shutil.copy(tiny_weights / "tiny.onnx", copy)
    assert registry.resolve("tiny", copy) == copy
    missing = tmp_path / "missing.onnx"
    with pytest.raises(WeightsNotFoundError) as err:
        registry.resolve("tiny", missing)
    assert str(err.value) == f"weights for style 'tiny' not found at {missing}"
    copy.write_bytes(corrupted(copy.read_bytes()))
    with pytest.raises(WeightsCorruptError) as err:
        registry.resolve("tiny", copy)
    message = str(err.value)
    assert message.startswith(f"{copy} is not the weights of style 'tiny': sha256 ")
    assert message.endswith("…)") and "delete" not in message and "again" not in message


def test_missing_file_without_hub_source_says_which_path_was_tried(tmp_path, tiny_weights):
    manifest = tmp_path / "manifests" / "manifest.json"
    manifest.parent.mkdir()
    shutil.copy(tiny_weights / "manifest.json", manifest)
    registry = Registry(manifest, weights_dir=tmp_path / "models")
    missing = tmp_path / "models" / "tiny.onnx"
    with pytest.raises(WeightsNotFoundError) as err:
        registry.resolve("tiny")
    assert str(err.value) == f"weights for style 'tiny' not found (tried: {missing}; the manifest gives no Hub source)"
    assert registry.unavailable() == {"tiny": str(err.value)}


def test_mistyped_manifest_variable_is_an_error(tmp_path, monkeypatch, tiny_weights):
    missing = tmp_path / "manifset.json"
    monkeypatch.setenv("ANIMEGAN_MANIFEST", str(missing))
    with pytest.raises(ManifestNotFoundError, match=f"^ANIMEGAN_MANIFEST points to {re.escape(str(missing))}, "):
        Registry()
    assert Registry(tiny_weights / "manifest.json").styles()  # an explicit manifest still wins
    monkeypatch.delenv("ANIMEGAN_MANIFEST")
    assert Registry().manifest == MANIFEST
    assert Registry(tmp_path / "none.json").styles() == []  # an explicitly given, absent manifest: no styles


class FakeHub:
    """A local stand-in for the Hub's file endpoint ``{endpoint}/{repo_id}/resolve/{revision}/{filename}``: HEAD
    answers with the headers ``hf_hub_download`` needs (X-Repo-Commit, ETag, Content-Length), GET with the bytes."""

    def __init__(self, files: dict[tuple[str, str, str], bytes]):
        self.files = files
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                hub.answer(self, send_body=False)

            def do_GET(self) -> None:
                hub.answer(self, send_body=True)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler, send_body: bool) -> None:
        path = unquote(urlparse(handler.path).path)
        self.requests.append((handler.command, path))
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        data = self.files.get(match.groups()) if match else None
        if data is None:
            handler.send_response(404)
            handler.send_header("X-Error-Code", "EntryNotFound")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("X-Repo-Commit", match.group(2))
        handler.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.end_headers()
        if send_body:
            handler.wfile.write(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def hub_only(tmp_path: Path, tiny_weights: Path, endpoint: str) -> Registry:
    """The tiny style with no bundled file, only a Hub location at ``endpoint``; empty Hub cache under tmp_path."""
    entry = json.loads((tiny_weights / "manifest.json").read_text())["styles"][0]
    entry["hub"] = {"repo_id": REPO, "filename": "tiny.onnx", "revision": REVISION}
    (tmp_path / "manifest.json").write_text(json.dumps({"styles": [entry]}))
    return Registry(tmp_path / "manifest.json", hub_cache=tmp_path / "hf" / "hub", hub_endpoint=endpoint)


@pytest.fixture()
def online(monkeypatch):
    """huggingface_hub not in offline mode (it reads HF_HUB_OFFLINE once, at import)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def serve(data: bytes) -> FakeHub:
    """A FakeHub holding ``data`` as the style's file at the pinned revision."""
    return FakeHub({(REPO, REVISION, "tiny.onnx"): data})


@pytest.fixture()
def hub_with_the_file(online, tiny_weights):
    hub = serve((tiny_weights / "tiny.onnx").read_bytes())
    yield hub
    hub.close()


@pytest.fixture()
def hub_with_other_bytes(online, tiny_weights):
    hub = serve(corrupted((tiny_weights / "tiny.onnx").read_bytes()))
    yield hub
    hub.close()


def test_hub_download_is_pinned_cached_verified_and_usable(hub_with_the_file, tmp_path, tiny_weights, portrait):
    hub = hub_with_the_file
    registry = hub_only(tmp_path, tiny_weights, hub.url)
    assert [s.id for s in registry.available()] == ["tiny"]  # the endpoint answers
    assert registry.unavailable() == {}
    path = registry.resolve("tiny")
    assert path.is_relative_to(tmp_path / "hf" / "hub") and path.name == "tiny.onnx"
    assert sha256_of(path) == registry.get("tiny").sha256
    assert ("HEAD", f"/{REPO}/resolve/{REVISION}/tiny.onnx") in hub.requests
    assert ("GET", f"/{REPO}/resolve/{REVISION}/tiny.onnx") in hub.requests
    photo = np.ascontiguousarray(portrait[:96, :80])
    expected = OnnxGenerator(tiny_weights / "tiny.onnx", multiple=4, threads=1)(photo)
    np.testing.assert_array_equal(OnnxGenerator(path, multiple=4, threads=1)(photo), expected)
    seen = len(hub.requests)
    assert registry.resolve("tiny") == path  # from the cache, without asking the Hub again
    assert len(hub.requests) == seen


def test_hub_serving_other_bytes_is_refused(hub_with_other_bytes, tmp_path, tiny_weights):
    registry = hub_only(tmp_path, tiny_weights, hub_with_other_bytes.url)
    with pytest.raises(WeightsCorruptError) as err:
        registry.resolve("tiny")
    message = str(err.value)
    assert message.startswith(f"weights for style 'tiny' from hf://{REPO}/tiny.onnx@{REVISION} are corrupt: sha256 ")
    assert message.endswith(f"; delete {tmp_path / 'hf' / 'hub' / 'models--someone--animegan-tiny'} "
                            "to download them again")
    assert registry.available() == []
    assert registry.unavailable() == {"tiny": message}


def _resolve_error(registry: Registry, tmp_path: Path) -> str:
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError) as err:
        registry.resolve("tiny")
    assert time.monotonic() - start < 5, "a missing network must not hang"
    message = str(err.value)
    assert message.startswith(f"weights for style 'tiny' not found (tried: {tmp_path / 'tiny.onnx'}; "
                              f"hf://{REPO}/tiny.onnx@{REVISION} (")
    assert "\n" not in message
    return message


def test_offline_hub_fails_fast_with_what_was_tried(monkeypatch, tmp_path, tiny_weights):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)   # what HF_HUB_OFFLINE=1 gives at import
    with FakeHub({}) as hub:
        registry = hub_only(tmp_path, tiny_weights, hub.url)
        assert registry.available() == []
        assert _resolve_error(registry, tmp_path).endswith("(HF_HUB_OFFLINE is set))")
        assert registry.unavailable() == {"tiny": _resolve_error(registry, tmp_path)}
        assert hub.requests == []


def test_unreachable_hub_fails_fast(online, tmp_path, tiny_weights):
    from tests.conftest import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    registry = hub_only(tmp_path, tiny_weights, endpoint)
    assert registry.available() == []
    assert registry.unavailable()["tiny"] == _resolve_error(registry, tmp_path)
    assert _resolve_error(registry, tmp_path).endswith(f"(the Hub at {endpoint} is unreachable))")


def test_hub_without_the_file_gives_its_own_reason(online, tmp_path, tiny_weights):
    with FakeHub({}) as hub:
        registry = hub_only(tmp_path, tiny_weights, hub.url)
        reason = _resolve_error(registry, tmp_path)
        assert "unreachable" not in reason and reason.endswith("(404 Client Error.))")
        assert registry.unavailable()["tiny"] == reason


def test_hub_check_is_bounded_when_dns_hangs(online, monkeypatch, tmp_path, tiny_weights):
    """A resolver that never answers (broken DNS) must not hold the check past HUB_TIMEOUT."""
    release = threading.Event()

    def hanging_getaddrinfo(*args, **kwargs):
        release.wait(30)
        raise socket.gaierror("no answer")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    monkeypatch.setattr(registry_module, "HUB_TIMEOUT", 0.3)
    endpoint = "https://hub.example.invalid"
    registry = hub_only(tmp_path, tiny_weights, endpoint)
    try:
        start = time.monotonic()
        assert registry.unavailable()["tiny"].endswith(f"(the Hub at {endpoint} is unreachable))")
        assert time.monotonic() - start < 4, "bounded by HUB_TIMEOUT, not by the hanging lookup (30 s)"
    finally:
        release.set()


def test_bundled_manifest_entries_are_complete():
    """Every shipped style has its file(s), a matching sha256, a licence, its lineage and edit/detail metrics."""
    registry = Registry(MANIFEST)
    for style in registry.styles():
        assert registry.resolve(style.id).is_file()
        assert style.license and style.lineage.get("teachers") and style.metrics.get("edit_captured") is not None
        if style.face:
            assert registry.resolve_face(style.id).is_file() and style.face.teachers[0] == "cute"
            assert style.lineage["face"]["arch"] == "unet" and style.metrics["faces"]["edit_captured"] > 0.5
