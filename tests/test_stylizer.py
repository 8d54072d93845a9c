"""Public API: stylize() keeps size and alpha, faces on/off both work, batches go on past bad files (and past
unexpected errors: out of memory, an engine failure)."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from PIL import Image

import animegan
from animegan.errors import AnimeGANError, InvalidImageError, InvalidOptionError, NoStylesError, UnknownStyleError
from animegan.registry import Registry, sha256_of
from animegan.stylizer import Stylizer


@pytest.fixture(scope="module")
def two_styles(tiny_weights, tmp_path_factory) -> Registry:
    """The tiny style, and a "broken" one whose file matches its sha256 but is not ONNX: onnxruntime fails when
    the session is first created, inside the run."""
    folder = tmp_path_factory.mktemp("two-styles")
    shutil.copy(tiny_weights / "tiny.onnx", folder)
    broken = folder / "broken.onnx"
    broken.write_bytes(b"not an ONNX model, but exactly the bytes the manifest vouches for")
    tiny = json.loads((tiny_weights / "manifest.json").read_text())["styles"][0]
    entries = [tiny, {**tiny, "id": "broken", "file": broken.name, "sha256": sha256_of(broken)}]
    (folder / "manifest.json").write_text(json.dumps({"styles": entries}))
    return Registry(folder / "manifest.json")


@pytest.fixture(scope="module")
def with_face_model(tiny_weights, tmp_path_factory) -> Registry:
    """The tiny style with its own (tiny U-Net) face model."""
    from tests.conftest import build_tiny_generator_onnx

    folder = tmp_path_factory.mktemp("face-model")
    shutil.copy(tiny_weights / "tiny.onnx", folder)
    face = build_tiny_generator_onnx(folder / "tiny.face.onnx", seed=1, arch="unet")
    tiny = json.loads((tiny_weights / "manifest.json").read_text())["styles"][0]
    entry = {**tiny, "face_file": face.name, "face_sha256": sha256_of(face), "face_multiple": 16,
             "face_teachers": ["cute", "tiny"]}
    (folder / "manifest.json").write_text(json.dumps({"styles": [entry]}))
    return Registry(folder / "manifest.json")


def test_a_style_with_a_face_model_runs_it_on_faces_only(with_face_model, stylizer, portrait):
    own = Stylizer(registry=with_face_model, threads=1)
    style = with_face_model.get("tiny")
    assert style.face is not None and style.face.teachers == ("cute", "tiny")
    assert own.face_generator("tiny") is not own.generator("tiny")
    assert stylizer.face_generator("tiny") is stylizer.generator("tiny")     # no face model: the style's own
    plain = np.asarray(own.stylize(portrait, "tiny", faces=False)).astype(int)
    np.testing.assert_array_equal(plain, np.asarray(stylizer.stylize(portrait, "tiny", faces=False)))
    with_model = np.asarray(own.stylize(portrait, "tiny")).astype(int)
    without = np.asarray(stylizer.stylize(portrait, "tiny")).astype(int)
    differs = np.abs(with_model - without).sum(axis=2) > 0
    left, top, right, bottom = own.face_pipeline.detect(portrait)[0].box
    assert differs[top:bottom, left:right].mean() > 0.5 and not differs[450:].any()


def test_a_missing_or_corrupt_face_model_makes_the_style_unavailable(with_face_model, tmp_path):
    folder = with_face_model.manifest.parent
    for name in ("manifest.json", "tiny.onnx"):
        shutil.copy(folder / name, tmp_path)
    registry = Registry(tmp_path / "manifest.json")
    assert "tiny.face.onnx; the manifest gives no Hub source)" in registry.unavailable()["tiny"]
    (tmp_path / "tiny.face.onnx").write_bytes(b"corrupt")
    assert "tiny.face.onnx are corrupt" in registry.unavailable()["tiny"]
    with pytest.raises(animegan.WeightsCorruptError, match="face model weights for style 'tiny'"):
        Stylizer(registry=registry).stylize(np.zeros((64, 64, 3), np.uint8), "tiny")


def test_stylize_returns_a_changed_picture_of_the_input_size(stylizer, portrait):
    out = stylizer.stylize(portrait, "tiny", faces=False)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (512, 512)
    assert np.abs(np.asarray(out).astype(int) - portrait).mean() > 2


def test_faces_pass_changes_only_the_face_region(stylizer, portrait):
    plain = np.asarray(stylizer.stylize(portrait, "tiny", faces=False)).astype(int)
    with_faces = np.asarray(stylizer.stylize(portrait, "tiny", faces=True)).astype(int)
    changed = np.abs(plain - with_faces).sum(axis=2) > 0
    assert changed.any(), "the aligned face pass must contribute"
    ys, xs = np.nonzero(changed)
    # the astronaut's face sits in the upper middle; the bottom rows (suit, flag) are untouched
    assert ys.max() < 400 and changed[450:].sum() == 0


def test_working_size_downscales_then_restores_the_input_size(stylizer, portrait):
    big = np.asarray(Image.fromarray(portrait).resize((1100, 1100)))
    out = stylizer.stylize(big, "tiny", faces=False, max_size=256)
    assert out.size == (1100, 1100)
    small = np.asarray(stylizer.stylize(Image.fromarray(big).resize((256, 256)), "tiny", faces=False, max_size=0))
    np.testing.assert_allclose(np.asarray(out.resize((256, 256), Image.Resampling.BOX)), small, atol=40)
    assert np.abs(np.asarray(out).astype(int) - big).mean() > 2         # the model really ran


def test_alpha_is_kept(stylizer, portrait):
    rgba = np.dstack([portrait, np.full(portrait.shape[:2], 128, np.uint8)])
    out = stylizer.stylize(Image.fromarray(rgba, "RGBA"), "tiny", faces=False)
    assert out.mode == "RGBA" and np.asarray(out)[..., 3].max() == 128
    assert np.abs(np.asarray(out)[..., :3].astype(int) - portrait).mean() > 2


def test_unknown_style_and_bad_image_raise_specific_errors(stylizer, portrait):
    with pytest.raises(UnknownStyleError):
        stylizer.stylize(portrait, "no-such-style")
    with pytest.raises(InvalidImageError):
        stylizer.stylize(b"definitely not an image", "tiny")


def test_stylize_many_reports_bad_items_and_finishes_the_rest(stylizer, portrait_file, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    seen = []
    results = stylizer.stylize_many([portrait_file, bad, portrait_file], "tiny", faces=False,
                                    progress=lambda i, n, name: seen.append((i, n)))
    assert [r.ok for r in results] == [True, False, True]
    assert "broken.jpg" == results[1].source and results[1].error
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)


def test_out_of_memory_fails_only_that_item(registry, portrait):
    stylizer = Stylizer(registry=registry, threads=1, max_pixels=2 ** 50)
    # a real 2^24 × 2^24 picture (a read-only broadcast view): copying it out needs 768 TiB, more than any
    # address space, so numpy raises MemoryError on every machine without touching memory
    huge = np.broadcast_to(portrait[:1, :1], (2 ** 24, 2 ** 24, 3))
    results = stylizer.stylize_many([portrait, huge, portrait[:64, :96]], "tiny", faces=False, max_size=0)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "out of memory; try a smaller max_size"
    assert results[2].image.size == (96, 64)


def test_engine_failure_is_a_one_line_error_per_item_and_logged(two_styles, portrait, caplog):
    stylizer = Stylizer(registry=two_styles, threads=1)
    with caplog.at_level(logging.ERROR, logger="animegan.stylizer"):
        broken = stylizer.stylize_many([portrait, portrait[:64, :64]], "broken", faces=False)
    assert [r.ok for r in broken] == [False, False]
    for result in broken:
        assert result.error.startswith("internal error: ") and "\n" not in result.error
        assert "Protobuf" in result.error or "ONNX" in result.error   # onnxruntime's own reason, kept
    assert len(caplog.records) == 2 and all(r.exc_info for r in caplog.records)
    assert caplog.records[0].getMessage() == "image 1: internal error"
    # the same stylizer goes on with a working style
    assert [r.ok for r in stylizer.stylize_many([portrait], "tiny", faces=False)] == [True]


@pytest.mark.parametrize("max_size", [10, -2, 100.5, "512"])
def test_bad_max_size_is_an_invalid_option_error(stylizer, portrait, max_size):
    with pytest.raises(InvalidOptionError, match="max_size must be"):
        stylizer.stylize(portrait, "tiny", max_size=max_size)
    with pytest.raises(InvalidOptionError):
        stylizer.stylize_many([portrait], "tiny", max_size=max_size)
    assert issubclass(InvalidOptionError, AnimeGANError)


@pytest.mark.parametrize("flag", ["faces", "keep_colors"])
@pytest.mark.parametrize("value", ["false", "no", None, 2])
def test_a_flag_that_is_not_a_bool_is_refused_not_taken_as_truthy(stylizer, portrait, flag, value):
    with pytest.raises(InvalidOptionError, match=f"{flag} must be true or false"):
        stylizer.stylize(portrait, "tiny", **{flag: value})
    with pytest.raises(InvalidOptionError, match=f"{flag} must be true or false"):
        stylizer.stylize_many([portrait], "tiny", **{flag: value})


def test_package_exports_the_documented_api():
    for name in ("stylize", "stylize_many", "available_styles", "Stylizer", "InvalidOptionError", "NoStylesError",
                 "ManifestNotFoundError", "stylize_video", "InvalidVideoError", "VideoCancelledError"):
        assert hasattr(animegan, name)


def test_without_a_usable_style_the_error_says_why(tmp_path, tiny_weights, portrait):
    corrupt = tmp_path / "tiny.onnx"
    corrupt.write_bytes((tiny_weights / "tiny.onnx").read_bytes()[:-1])
    manifest = tmp_path / "manifest.json"
    manifest.write_text((tiny_weights / "manifest.json").read_text())
    stylizer = Stylizer(Registry(manifest))
    with pytest.raises(NoStylesError) as raised:
        stylizer.stylize(portrait)
    message = str(raised.value)
    assert "\n" not in message and "tiny:" in message and "corrupt" in message and str(corrupt) in message

    empty = tmp_path / "empty.json"
    empty.write_text('{"styles": []}')
    with pytest.raises(NoStylesError, match="no style weights are installed"):
        Stylizer(Registry(empty)).stylize(portrait)
