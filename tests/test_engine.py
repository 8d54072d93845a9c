"""Engine: any input size in → exactly that size out; tiled large images match the one-pass result, no seams."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from onnx import TensorProto, helper

from animegan.engine import OnnxGenerator, _tile_layout, default_threads, picture_thumbnail
from animegan.errors import InvalidOptionError
from tests.conftest import save_generator_onnx


@pytest.fixture(scope="module")
def engine(tiny_weights):
    return OnnxGenerator(tiny_weights / "tiny.onnx", multiple=4, threads=1)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 5), (33, 65), (301, 199), (40, 900)])
def test_output_has_exactly_the_input_size(engine, shape):
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = engine(rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8


def test_generator_really_changes_the_picture(engine, portrait):
    out = engine(portrait)
    assert np.abs(out.astype(int) - portrait).mean() > 2


@pytest.mark.parametrize("size", [257, 700, 1000, 1080, 1920, 4096])
def test_tiles_are_even_and_cover_the_image_with_overlap(size):
    tile, starts = _tile_layout(size, 256, 64, 16)
    assert tile <= 256 and tile % 16 == 0
    assert all(start % 16 == 0 for start in starts)  # every tile on the single pass's sampling grid
    assert starts[0] == 0 and size - 16 < starts[-1] + tile <= size + 15
    assert all(64 <= tile - (b - a) for a, b in zip(starts, starts[1:]))  # neighbours overlap by >= 64
    assert len(starts) == -(-(-(-size // 16) - 4) // (16 - 4))  # no more tiles than needed on that grid


def test_tiled_result_matches_single_pass_without_seams(tiny_weights, portrait):
    single = OnnxGenerator(tiny_weights / "tiny.onnx", multiple=4, threads=1, tile=4096)(portrait).astype(float)
    tiled_engine = OnnxGenerator(tiny_weights / "tiny.onnx", multiple=4, threads=1, tile=192, overlap=48)
    tiled = tiled_engine(portrait).astype(float)
    assert tiled.shape == single.shape
    assert np.abs(tiled - single).mean() < 1.5
    # no seam: the jump across each tile boundary is no larger than typical neighbouring-pixel jumps
    diff = np.abs(tiled - single).mean(axis=(1, 2))  # per row
    boundaries = _tile_layout(512, 192, 48, 4)[1][1:]
    for b in boundaries:
        assert diff[b - 2:b + 2].max() < 6


def test_session_is_safe_to_share_between_threads(engine, portrait):
    from concurrent.futures import ThreadPoolExecutor

    crops = [portrait[i * 40:i * 40 + 200, i * 30:i * 30 + 240] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(engine, crops))
    for crop, out in zip(crops, outs):
        assert np.array_equal(out, engine(crop))


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_bad_animegan_threads_is_a_clear_one_line_error(monkeypatch, value):
    monkeypatch.setenv("ANIMEGAN_THREADS", value)
    with pytest.raises(InvalidOptionError) as raised:
        default_threads()
    assert str(raised.value) == f"ANIMEGAN_THREADS must be a positive integer, got {value!r}"


def test_animegan_threads_sets_the_thread_count_and_blank_means_unset(monkeypatch):
    monkeypatch.setenv("ANIMEGAN_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("ANIMEGAN_THREADS", " ")
    assert default_threads() >= 1


def test_tiles_sample_on_the_grid_of_a_single_pass(portrait):
    """A strided model draws its strokes where its stride grid falls: tiles on the single pass's grid agree with it
    (tiles at arbitrary offsets, as before, reached only ~45 dB with the shipped hayao model)."""
    from animegan.registry import Registry

    registry = Registry()
    style = registry.get("hayao")
    path = registry.resolve("hayao")
    picture = cv2.resize(portrait, (1002, 747), interpolation=cv2.INTER_AREA)
    single = OnnxGenerator(path, style.multiple, threads=1, tile=4096)(picture)
    tiled = OnnxGenerator(path, style.multiple, threads=1, tile=512)(picture)
    mse = np.mean((tiled.astype(float) - single) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 55


def test_a_model_told_the_whole_picture_gets_the_same_thumbnail_in_every_tile(tmp_path, portrait):
    """A generator with a ``picture`` input (here: output = each channel's mean over the thumbnail) is fed the whole
    picture's thumbnail with every tile, so tiling changes nothing and the rest of the picture is seen everywhere."""
    nodes = [helper.make_node("ReduceMean", ["picture"], ["mean"], axes=[2, 3]),
             helper.make_node("Sub", ["input", "input"], ["zero"]),
             helper.make_node("Add", ["zero", "mean"], ["output"])]
    save_generator_onnx(tmp_path / "mean.onnx", nodes,
                        extra_inputs=[helper.make_tensor_value_info("picture", TensorProto.FLOAT, ["N", 3, 32, 32])])
    whole = OnnxGenerator(tmp_path / "mean.onnx", multiple=4, threads=1, tile=4096)(portrait)
    tiled_engine = OnnxGenerator(tmp_path / "mean.onnx", multiple=4, threads=1, tile=128, overlap=32)
    tiled = tiled_engine(portrait)
    mean = picture_thumbnail(portrait, 32).mean(axis=(2, 3))[0]
    assert np.array_equal(whole, tiled) and np.ptp(whole, axis=(0, 1)).max() == 0
    assert np.array_equal(whole[0, 0], np.clip((mean + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8))
    darker = portrait.copy()
    darker[: portrait.shape[0] // 2] //= 2      # the top half changes what the bottom half is told
    assert not np.array_equal(tiled_engine(darker)[-1], tiled[-1])
