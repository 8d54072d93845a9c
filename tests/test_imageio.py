"""animegan.imageio: the bad/odd-input corpus, every input kind, and the resize helpers."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animegan.errors import ImageTooLargeError, InvalidImageError
from animegan.imageio import (DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, Picture, fit_within, load_picture, resize_to,
                              to_pil)
from tests.corpus import CASE_NAMES, CorpusCase, astronaut, build_case, coffee

PATH_ONLY = {"directory", "missing_file"}   # cases with no bytes to pass


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="session")
def built() -> dict[str, CorpusCase]:
    return {}   # cases built so far, filled lazily so `-k` selections stay fast


@pytest.fixture(params=CASE_NAMES)
def case(request: pytest.FixtureRequest, corpus_dir: Path, built: dict[str, CorpusCase]) -> CorpusCase:
    if request.param not in built:
        built[request.param] = build_case(request.param, corpus_dir)
    return built[request.param]


def assert_picture(picture: Picture, size: tuple[int, int], alpha: bool) -> None:
    w, h = size
    assert picture.rgb.shape == (h, w, 3) and picture.rgb.dtype == np.uint8
    assert picture.rgb.flags.c_contiguous and picture.rgb.flags.writeable
    if alpha:
        assert picture.alpha is not None and picture.alpha.shape == (h, w) and picture.alpha.dtype == np.uint8
        assert picture.alpha.flags.c_contiguous
    else:
        assert picture.alpha is None


def assert_outcome(case: CorpusCase, source: object) -> None:
    if case.expect is None:
        picture = load_picture(source)
        assert_picture(picture, case.size, case.alpha)
        if case.check:
            case.check(picture)
        return
    with pytest.raises(case.expect) as raised:
        load_picture(source)
    message = str(raised.value)
    assert type(raised.value) is case.expect   # not a subclass, not a raw PIL/OS error
    assert "\n" not in message and message.strip() == message and message
    assert case.message.lower() in message.lower()
    assert str(case.path.parent) not in message   # file names only, never full paths


def test_corpus_case_from_path(case: CorpusCase) -> None:
    assert_outcome(case, case.path)


@pytest.mark.parametrize("case", [name for name in CASE_NAMES if name not in PATH_ONLY], indirect=True)
def test_corpus_case_from_bytes(case: CorpusCase) -> None:
    assert_outcome(case, case.path.read_bytes())


def test_corpus_case_from_str_path(tmp_path: Path) -> None:
    case = build_case("exif_rotated_jpeg", tmp_path)
    assert_outcome(case, str(case.path))


def test_corpus_is_large_enough() -> None:
    assert len(CASE_NAMES) >= 15


def test_no_pillow_bomb_warning_and_no_global_state_change(tmp_path: Path) -> None:
    case = build_case("over_pillow_warning_limit", tmp_path)
    limit, filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageTooLargeError):
            load_picture(case.path)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert Image.MAX_IMAGE_PIXELS == limit and warnings.filters == filters


def test_pillow_decompression_bomb_error_becomes_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    payload = _png(np.zeros((100, 100, 3), np.uint8))          # 10 000 px > 2 × 1000: Pillow raises in open
    with pytest.raises(ImageTooLargeError, match=r"^image is 0\.0 megapixels; the limit is 40\.0 megapixels$"):
        load_picture(payload)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        picture = load_picture(_png(np.zeros((40, 40, 3), np.uint8)))   # Pillow's warning range: loads, quietly
    assert picture.rgb.shape == (40, 40, 3) and not caught


def test_max_pixels_is_checked_before_decoding() -> None:
    payload = _png(np.zeros((100, 200, 3), np.uint8))
    with pytest.raises(ImageTooLargeError, match=r"^image is 200×100 = 0\.0 megapixels; the limit is 0\.0 "):
        load_picture(payload, max_pixels=19_999)
    assert load_picture(payload, max_pixels=20_000).rgb.shape == (100, 200, 3)
    assert DEFAULT_MAX_PIXELS == 40_000_000


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


# --- bytes, PIL and ndarray inputs -------------------------------------------------------------------------------

@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_like_inputs(wrap: type) -> None:
    assert (load_picture(wrap(_png(astronaut()))).rgb == astronaut()).all()


@pytest.mark.parametrize("source", [b"", bytearray(), memoryview(b"")])
def test_empty_bytes(source: bytes) -> None:
    with pytest.raises(InvalidImageError, match="^empty file$"):
        load_picture(source)


@pytest.mark.parametrize("source", [None, 42, [[0, 1]], io.BytesIO(b"\x89PNG")])
def test_unsupported_source_types(source: object) -> None:
    with pytest.raises(InvalidImageError, match="unsupported input type"):
        load_picture(source)


def _small() -> np.ndarray:
    return astronaut()[100:164, 200:280]   # 80×64 crop with real detail


@pytest.mark.parametrize("mode, tolerance", [("RGB", 0), ("YCbCr", 2), ("LAB", 2), ("HSV", 2), ("CMYK", 0),
                                             ("RGBA", 0), ("RGBa", 0)])
def test_pil_colour_modes(mode: str, tolerance: int) -> None:
    image = Image.fromarray(_small()).convert(mode)
    picture = load_picture(image)
    assert_picture(picture, (80, 64), mode in ("RGBA", "RGBa"))
    assert picture.source_mode == mode
    assert np.abs(picture.rgb.astype(int) - _small()).mean() <= tolerance


@pytest.mark.parametrize("mode, alpha", [("1", False), ("L", False), ("P", False), ("LA", True), ("PA", True)])
def test_pil_gray_and_palette_modes(mode: str, alpha: bool) -> None:
    image = Image.fromarray(_small()).convert(mode)
    picture = load_picture(image)
    assert_picture(picture, (80, 64), alpha)
    assert (picture.rgb == np.array(image.convert("RGB"))).all()
    if alpha:
        assert (picture.alpha == 255).all()   # alpha kept because the mode has it, even if fully opaque


@pytest.mark.parametrize("values, expected", [
    (np.array([[0, 257, 65535]], np.uint16), [0, 1, 255]),                  # I;16: full 16-bit range
    (np.array([[0, 257, 65535]], ">u2"), [0, 1, 255]),                      # I;16B
    (np.array([[0, 100, 255]], np.int32), [0, 100, 255]),                   # I holding 8-bit values
    (np.array([[0, 257, 65535]], np.int32), [0, 1, 255]),                   # I holding 16-bit values
    (np.array([[-5, 400_000, 1_000_000]], np.int32), [0, 102, 255]),        # I beyond 16 bits: by its maximum
    (np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255]),               # F in [0, 1]
    (np.array([[0.0, 5.0, 10.0]], np.float32), [0, 128, 255]),              # F beyond 1: by its maximum
])
def test_pil_high_depth_gray(values: np.ndarray, expected: list[int]) -> None:
    image = Image.fromarray(values)
    picture = load_picture(image)
    assert picture.source_mode == image.mode
    assert picture.rgb.tolist() == [[[v] * 3 for v in expected]]


def test_pil_palette_with_transparency() -> None:
    image = Image.frombytes("P", (2, 1), bytes([0, 1]))
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.info["transparency"] = 0
    picture = load_picture(image)
    assert picture.alpha.tolist() == [[0, 255]] and picture.rgb[0, 1].tolist() == [255, 0, 0]


def test_pil_rgb_with_colour_key_gets_alpha() -> None:
    image = Image.fromarray(np.array([[[1, 2, 3], [9, 9, 9]]], np.uint8))
    image.info["transparency"] = (1, 2, 3)
    assert load_picture(image).alpha.tolist() == [[0, 255]]


def test_pil_input_is_not_modified_and_orientation_applied() -> None:
    stored = Image.fromarray(coffee())
    exif = Image.Exif()
    exif[0x0112] = 8                                 # rotate 90° counter-clockwise to display
    jpeg = io.BytesIO()
    stored.save(jpeg, "JPEG", exif=exif, quality=95)
    image = Image.open(jpeg)
    picture = load_picture(image)
    assert image.size == (600, 400) and image.getexif()[0x0112] == 8
    assert picture.rgb.shape == (600, 400, 3)
    assert np.abs(picture.rgb.astype(int) - np.rot90(coffee())).mean() < 4


def test_pil_zero_size_and_closed_images() -> None:
    with pytest.raises(InvalidImageError, match=r"^image has no pixels \(0×5\)$"):
        load_picture(Image.new("RGB", (0, 5)))
    image = Image.open(io.BytesIO(_png(_small())))
    image.close()
    with pytest.raises(InvalidImageError):
        load_picture(image)


def test_pil_unsupported_mode() -> None:
    with pytest.raises(InvalidImageError, match="^unsupported image mode La$"):
        load_picture(Image.new("La", (4, 4)))


@pytest.mark.parametrize("array, mode", [
    (np.full((6, 8), 7, np.uint8), "L"),
    (np.full((6, 8, 1), 7, np.uint8), "L"),
    (np.full((6, 8, 3), 7, np.uint8), "RGB"),
    (np.full((6, 8, 3), 7 * 257, np.uint16), "RGB"),
    (np.full((6, 8, 3), 7 / 255, np.float64), "RGB"),
    (np.full((6, 8), 7 / 255, np.float32), "L"),
])
def test_array_inputs(array: np.ndarray, mode: str) -> None:
    picture = load_picture(array)
    assert_picture(picture, (8, 6), False)
    assert (picture.rgb == 7).all() and picture.source_mode == mode


def test_array_rgba_bool_and_copy_semantics() -> None:
    rgba = np.dstack((_small(), np.full(_small().shape[:2], 9, np.uint8)))
    picture = load_picture(rgba)
    assert_picture(picture, (80, 64), True)
    assert (picture.rgb == _small()).all() and (picture.alpha == 9).all()
    picture.rgb[:] = 0
    assert rgba[..., :3].any()                      # the caller's array is untouched
    mask = load_picture(np.eye(3, dtype=bool))
    assert mask.rgb[..., 0].tolist() == (np.eye(3) * 255).tolist()


def test_array_non_contiguous_input() -> None:
    view = coffee()[::2, ::-3]
    picture = load_picture(view)
    assert picture.rgb.flags.c_contiguous and (picture.rgb == view).all()


@pytest.mark.parametrize("array, fragment", [
    (np.zeros((4, 4, 2), np.uint8), "is not an image"),
    (np.zeros((4, 4, 5), np.uint8), "is not an image"),
    (np.zeros((2, 4, 4, 3), np.uint8), "is not an image"),
    (np.zeros(16, np.uint8), "is not an image"),
    (np.zeros((0, 4, 3), np.uint8), "no pixels"),
    (np.zeros((4, 4), np.int64), "unsupported array dtype int64"),
    (np.zeros((4, 4), np.complex64), "unsupported array dtype"),
    (np.full((4, 4), 1.5, np.float32), "must lie in [0, 1]"),
    (np.full((4, 4), np.nan, np.float32), "must lie in [0, 1]"),
])
def test_invalid_arrays(array: np.ndarray, fragment: str) -> None:
    with pytest.raises(InvalidImageError) as raised:
        load_picture(array)
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_array_too_large() -> None:
    with pytest.raises(ImageTooLargeError, match="^image is 8×6 = "):
        load_picture(np.zeros((6, 8, 3), np.uint8), max_pixels=47)


@pytest.mark.parametrize("suffix", sorted(IMAGE_SUFFIXES - {".heic", ".heif"}))
def test_every_scanned_suffix_decodes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(coffee()[:48, :64]).save(path)
    assert load_picture(path).rgb.shape == (48, 64, 3)


@pytest.mark.parametrize("suffix", [".heic", ".HEIF"])
def test_scanned_heic_suffixes_get_the_clear_heic_error(tmp_path: Path, suffix: str) -> None:
    path = build_case("fake_heic", tmp_path).path.rename(tmp_path / f"IMG_0002{suffix}")
    assert suffix.lower() in IMAGE_SUFFIXES
    with pytest.raises(InvalidImageError, match="^HEIC/HEIF is not supported; convert it to JPEG or PNG$"):
        load_picture(path)


def test_missing_file_message_has_name_not_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError, match="^file not found: photo.jpg$"):
        load_picture(tmp_path / "deep" / "photo.jpg")


# --- to_pil, fit_within, resize_to -------------------------------------------------------------------------------

def test_to_pil_round_trip() -> None:
    image = to_pil(coffee())
    assert image.mode == "RGB" and image.size == (600, 400) and (np.array(image) == coffee()).all()
    alpha = np.arange(600 * 400, dtype=np.uint32).reshape(400, 600).astype(np.uint8)
    image = to_pil(coffee(), alpha)
    assert image.mode == "RGBA"
    picture = load_picture(image)
    assert (picture.rgb == coffee()).all() and (picture.alpha == alpha).all()


@pytest.mark.parametrize("rgb, alpha", [
    (np.zeros((4, 4), np.uint8), None),
    (np.zeros((4, 4, 3), np.float32), None),
    (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8)),
    (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32)),
])
def test_to_pil_rejects_bad_arrays(rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    with pytest.raises(ValueError):
        to_pil(rgb, alpha)


def test_fit_within() -> None:
    photo = coffee()                                          # 600×400
    assert fit_within(photo, None) is photo
    assert fit_within(photo, 600) is photo and fit_within(photo, 5000) is photo   # never upscales
    assert fit_within(photo, 300).shape == (200, 300, 3)
    assert fit_within(np.ascontiguousarray(photo.transpose(1, 0, 2)), 150).shape == (150, 100, 3)
    assert fit_within(np.zeros((3, 8000, 3), np.uint8), 512).shape == (1, 512, 3)   # thin strips keep 1 px
    assert fit_within(np.zeros((400, 600), np.uint8), 60).shape == (40, 60)         # alpha planes too
    with pytest.raises(ValueError):
        fit_within(photo, 0)


def test_fit_within_uses_area_filter() -> None:
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::2] = 255
    assert np.abs(fit_within(stripes, 16).astype(int) - 128).max() <= 1   # averaged, not aliased


def test_resize_to() -> None:
    photo = _small()                                          # 80×64
    assert resize_to(photo, (80, 64)) is photo
    up = resize_to(photo, (160, 128))
    assert up.shape == (128, 160, 3) and up.dtype == np.uint8
    assert np.abs(up[::2, ::2].astype(int) - photo).mean() < 12
    down = resize_to(photo, (40, 32))
    assert down.shape == (32, 40, 3) and abs(down.mean() - photo.mean()) < 1
    assert resize_to(photo[..., 0], (10, 7)).shape == (7, 10)
    assert resize_to(photo[..., :1], (10, 7)).shape == (7, 10, 1)
    assert resize_to(photo, (200, 30)).shape == (30, 200, 3)   # mixed up/down


def test_resize_to_saturates_cubic_overshoot() -> None:
    edge = np.zeros((8, 8), np.uint8)
    edge[:, 4:] = 255
    up = resize_to(edge, (64, 64))
    assert up.min() == 0 and up.max() == 255                 # cubic overshoot clipped, not wrapped around
    assert (up[:, :20] == 0).all() and (up[:, -20:] == 255).all()


@pytest.mark.parametrize("array, size", [(np.zeros((4, 4), np.float32), (2, 2)), (np.zeros((4, 4), np.uint8), (0, 2))])
def test_resize_to_rejects(array: np.ndarray, size: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        resize_to(array, size)
