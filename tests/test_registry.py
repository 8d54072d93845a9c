"""Registry: manifest lookup, sha256 refusal of corrupt files, offline Hub fallback with a clear error."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from animegan.errors import UnknownStyleError, WeightsCorruptError, WeightsNotFoundError
from animegan.registry import MANIFEST, Registry


def test_resolves_the_bundled_file_after_checking_its_sha256(registry, tiny_weights):
    assert registry.resolve("tiny") == tiny_weights / "tiny.onnx"
    assert [s.id for s in registry.available()] == ["tiny"]


def test_unknown_style_names_the_known_ones(registry):
    with pytest.raises(UnknownStyleError, match="available: tiny"):
        registry.get("nope")


def test_corrupt_file_is_refused(tmp_path, tiny_weights):
    shutil.copytree(tiny_weights, tmp_path / "w")
    onnx_file = tmp_path / "w" / "tiny.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    registry = Registry(tmp_path / "w" / "manifest.json")
    assert registry.available() == []  # listed only when it can really be loaded
    with pytest.raises(WeightsCorruptError, match="corrupt"):
        registry.resolve("tiny")


def test_explicit_path_wins_and_is_checked_too(registry, tiny_weights, tmp_path):
    copy = tmp_path / "elsewhere.onnx"
    shutil.copy(tiny_weights / "tiny.onnx", copy)
    assert registry.resolve("tiny", copy) == copy
    with pytest.raises(WeightsNotFoundError):
        registry.resolve("tiny", tmp_path / "missing.onnx")


@pytest.fixture()
def hub_only_registry(tmp_path, monkeypatch, tiny_weights) -> Registry:
    """The tiny style with no bundled file, only a (never uploaded) Hub location; empty Hub cache."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    entry = json.loads((tiny_weights / "manifest.json").read_text())["styles"][0]
    entry["hub"] = {"repo_id": "someone/animegan-tiny", "filename": "tiny.onnx", "revision": "0" * 40}
    (tmp_path / "manifest.json").write_text(json.dumps({"styles": [entry]}))
    return Registry(tmp_path / "manifest.json")


def _resolve_error(registry: Registry) -> str:
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError) as err:
        registry.resolve("tiny")
    assert time.monotonic() - start < 5, "a missing network must not hang"
    message = str(err.value)
    assert "weights/tiny.onnx" in message and "hf://someone/animegan-tiny/tiny.onnx" in message
    assert "\n" not in message
    return message


def test_offline_hub_fails_fast_with_what_was_tried(hub_only_registry, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_only_registry.available() == []
    assert "HF_HUB_OFFLINE" in _resolve_error(hub_only_registry)


def test_unreachable_hub_fails_fast(hub_only_registry, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assert "unreachable" in _resolve_error(hub_only_registry)


def test_bundled_manifest_entries_are_complete():
    """Every shipped style has its file, a matching sha256, a licence and its lineage."""
    registry = Registry(MANIFEST)
    for style in registry.styles():
        assert registry.resolve(style.id).is_file()
        assert style.license and style.lineage.get("teacher") and style.metrics
