"""Public API: stylize() keeps size and alpha, faces on/off both work, batches go on past bad files."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import animegan
from animegan.errors import InvalidImageError, UnknownStyleError


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


def test_alpha_is_kept(stylizer, portrait):
    rgba = np.dstack([portrait, np.full(portrait.shape[:2], 128, np.uint8)])
    out = stylizer.stylize(Image.fromarray(rgba, "RGBA"), "tiny", faces=False)
    assert out.mode == "RGBA" and np.asarray(out)[..., 3].max() == 128


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


def test_package_exports_the_documented_api():
    for name in ("stylize", "stylize_many", "available_styles", "Stylizer"):
        assert hasattr(animegan, name)
