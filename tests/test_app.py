"""End-to-end tests of the web app: ``python app.py`` runs in a subprocess on the tiny style's manifest (so ``main()``,
ANIMEGAN_MANIFEST and GRADIO_SERVER_PORT are exercised too) and is driven through its API with gradio_client.

Batch API contract: ``/stylize_batch`` returns ``(files, report)`` — the PNGs of the pictures that worked and one
``"<file>: <reason>"`` line per failed file ("" if none failed); it raises only if no picture could be stylized.
"""
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageOps
from animegan.registry import MANIFEST, Registry
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "docs" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.jpg"))
PORTRAIT = EXAMPLES_DIR / "portrait_astronaut.jpg"
STARTUP_SECONDS = 90
NOT_AN_IMAGE = "not a recognised image format"


@dataclass
class Server:
    url: str
    cache: Path
    process: subprocess.Popen


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    """Poll ``url`` until it answers; fail with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"app.py did not answer at {url} within {STARTUP_SECONDS} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def app_manifest(tiny_weights, tmp_path_factory) -> Path:
    """The tiny style plus every bundled style of weights/manifest.json, so the API is checked on the real styles."""
    folder = tmp_path_factory.mktemp("app_weights")
    (folder / "tiny.onnx").symlink_to(tiny_weights / "tiny.onnx")
    styles = json.loads((tiny_weights / "manifest.json").read_text())["styles"]
    bundled = Registry(MANIFEST)
    for style in bundled.available():
        (folder / style.file).symlink_to(bundled.resolve(style.id))
        if style.face:
            (folder / style.face.file).symlink_to(bundled.resolve_face(style.id))
    loadable = {style.id for style in bundled.available()}
    if MANIFEST.exists():
        styles += [entry for entry in json.loads(MANIFEST.read_text())["styles"] if entry["id"] in loadable]
    (folder / "manifest.json").write_text(json.dumps({"styles": styles}))
    return folder / "manifest.json"


@pytest.fixture(scope="module")
def server(app_manifest, tmp_path_factory) -> Iterator[Server]:
    """``python app.py`` on a free port, with the tiny + bundled styles and its own Gradio cache folder."""
    folder = tmp_path_factory.mktemp("app")
    port = free_port()
    env = {**os.environ, "ANIMEGAN_MANIFEST": str(app_manifest), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(folder / "cache"), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_SERVER_NAME", None)   # the default host must be 127.0.0.1
    log = folder / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, log)
        yield Server(url, folder / "cache", process)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def client(server, tmp_path_factory) -> Client:
    return Client(server.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture()
def not_an_image(tmp_path) -> Path:
    path = tmp_path / "notes.jpg"
    path.write_text("this is a text file with a .jpg name\n")
    return path


def upright_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).size


def test_api_has_exactly_the_three_named_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/stylize", "/stylize_batch", "/stylize_video"}
    for name, first in (("/stylize", "image"), ("/stylize_batch", "files"), ("/stylize_video", "video")):
        params = {p["parameter_name"]: p for p in endpoints[name]["parameters"]}
        assert list(params) == [first, "style", "faces", "max_size", "strength", "keep_colors"]
        assert not params[first]["parameter_has_default"] and not params["style"]["parameter_has_default"]
        assert params["faces"]["parameter_default"] is True
        assert params["max_size"]["parameter_default"] == -1
        assert params["strength"]["parameter_default"] == 1.0 and params["keep_colors"]["parameter_default"] is False
    assert len(endpoints["/stylize_batch"]["returns"]) == 2


def test_stylize_keeps_the_size_of_every_example_in_every_style(client, app_manifest):
    styles = Registry(app_manifest).available()
    assert styles and styles[0].id == "tiny"
    for style in styles:
        for photo in EXAMPLES:
            result = Path(client.predict(handle_file(photo), style.id, api_name="/stylize"))
            with Image.open(result) as image:
                assert image.format == "PNG"
                assert image.size == upright_size(photo), (style.id, photo.name)
            assert np.abs(pixels(result) - pixels(photo)).mean() > 2, (style.id, photo.name)   # restyled


def test_stylize_accepts_the_display_name_and_explicit_options(client):
    by_position = client.predict(handle_file(PORTRAIT), "Tiny test style", False, 256, api_name="/stylize")
    by_keyword = client.predict(image=handle_file(PORTRAIT), style="TINY", faces=True, max_size=0,
                                api_name="/stylize")
    for result in (by_position, by_keyword):
        assert upright_size(Path(result)) == upright_size(PORTRAIT)


def test_stylize_follows_the_exif_orientation(client, tmp_path):
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6    # Orientation: rotate 90° clockwise to display
    with Image.open(EXAMPLES_DIR / "scene_coffee.jpg") as image:
        image.save(rotated, exif=exif)
        stored = image.size
    result = client.predict(handle_file(rotated), "tiny", api_name="/stylize")
    assert upright_size(Path(result)) == upright_size(rotated) == stored[::-1]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB")).astype(int)


def test_strength_moves_between_the_photo_and_the_style(client):
    photo = pixels(PORTRAIT)
    full, none, half = (pixels(Path(client.predict(handle_file(PORTRAIT), "tiny", strength=k, api_name="/stylize")))
                        for k in (1.0, 0.0, 0.5))
    np.testing.assert_array_equal(none, photo)      # 0 gives the photo back exactly
    assert np.abs(full - photo).mean() > 5
    assert np.abs(half - (full + photo) / 2).max() <= 1


def test_keep_colors_keeps_the_photos_colours_and_the_styles_light(client):
    import cv2

    photo = pixels(PORTRAIT).astype(np.uint8)
    plain = pixels(Path(client.predict(handle_file(PORTRAIT), "tiny", api_name="/stylize"))).astype(np.uint8)
    kept = pixels(Path(client.predict(handle_file(PORTRAIT), "tiny", keep_colors=True, api_name="/stylize")))
    lab = lambda rgb: cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2LAB).astype(int)  # noqa: E731
    assert np.abs(lab(kept)[..., 1:] - lab(photo)[..., 1:]).mean() < 1.5 < np.abs(
        lab(plain)[..., 1:] - lab(photo)[..., 1:]).mean()
    assert np.abs(lab(kept)[..., 0] - lab(plain)[..., 0]).mean() < 1.5


@pytest.mark.parametrize("options, message", [
    ({"strength": 1.5}, "strength must be a number from 0"), ({"strength": "lots"}, "strength must be a number"),
    ({"keep_colors": "maybe"}, "keep_colors must be true or false"), ({"faces": "false"}, "faces must be true or false"),
    ({"max_size": 10}, "max_size must be -1")])
def test_bad_options_are_refused_before_the_model_runs(client, options, message):
    for endpoint, first in (("/stylize", handle_file(PORTRAIT)), ("/stylize_batch", [handle_file(PORTRAIT)])):
        with pytest.raises(AppError, match=message):
            client.predict(first, "tiny", api_name=endpoint, **options)


def test_batch_takes_strength_and_keep_colors(client):
    files, report = client.predict([handle_file(PORTRAIT)], "tiny", strength=0.0, api_name="/stylize_batch")
    assert report == "" and np.array_equal(pixels(Path(files[0])), pixels(PORTRAIT))


def test_unknown_style_error_lists_the_styles(client):
    with pytest.raises(AppError, match=r"unknown style 'nope'; available: tiny \(Tiny test style\)"):
        client.predict(handle_file(PORTRAIT), "nope", api_name="/stylize")


def test_bad_option_is_a_clear_error(client):
    with pytest.raises(AppError, match="max_size must be -1"):
        client.predict(handle_file(PORTRAIT), "tiny", max_size=3, api_name="/stylize")


def test_bad_file_is_a_one_line_error_and_the_server_keeps_working(client, not_an_image):
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(not_an_image), "tiny", api_name="/stylize")
    message = str(caught.value)
    assert message == NOT_AN_IMAGE
    assert "Traceback" not in message and "\n" not in message
    result = client.predict(handle_file(PORTRAIT), "tiny", api_name="/stylize")
    assert upright_size(Path(result)) == upright_size(PORTRAIT)


def test_batch_returns_the_good_results_and_reports_the_bad_file(client, not_an_image):
    good = [EXAMPLES[0], EXAMPLES[1]]
    files, report = client.predict([handle_file(good[0]), handle_file(not_an_image), handle_file(good[1])], "tiny",
                                   api_name="/stylize_batch")
    assert [Path(f).name for f in files] == [f"{p.stem}_tiny.png" for p in good]
    assert [upright_size(Path(f)) for f in files] == [upright_size(p) for p in good]
    assert report == f"notes.jpg: {NOT_AN_IMAGE}"


def test_batch_without_failures_has_an_empty_report(client):
    files, report = client.predict([handle_file(PORTRAIT)], "tiny", faces=False, api_name="/stylize_batch")
    assert len(files) == 1 and report == ""


def test_batch_fails_only_when_nothing_worked(client, not_an_image):
    with pytest.raises(AppError, match=f"no picture could be stylized: notes.jpg: {NOT_AN_IMAGE}"):
        client.predict([handle_file(not_an_image)], "tiny", api_name="/stylize_batch")


def test_stylize_video_returns_the_clip_with_its_frames_and_sound(client, tmp_path):
    from tests.test_video import patterned, read_clip, write_clip

    source = write_clip(tmp_path / "clip.mp4", [patterned(96, 64, i) for i in range(12)])
    result = client.predict(handle_file(source), "tiny", api_name="/stylize_video")
    made, original = read_clip(Path(result)), read_clip(source)
    assert Path(result).suffix == ".mp4" and made["codec"] == "h264" and made["pix_fmt"] == "yuv420p"
    assert len(made["frames"]) == 12 and made["frames"][0].shape == (64, 96, 3) and made["audio"] == "aac"
    assert np.abs(made["frames"][5].astype(int) - original["frames"][5]).mean() > 2      # restyled


def test_stylize_video_refuses_a_picture_and_a_text_file(client, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a clip")
    with pytest.raises(AppError, match="not a recognised video format"):
        client.predict(handle_file(notes), "tiny", api_name="/stylize_video")
    picture = tmp_path / "still.mp4"
    picture.write_bytes(PORTRAIT.read_bytes())
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(picture), "tiny", api_name="/stylize_video")
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_an_over_size_picture_is_a_clear_error(client, tmp_path):
    """Pictures over 20 MB (the uploads limit is the video one, 200 MB) get an AppError like any bad picture."""
    big = tmp_path / "huge.jpg"
    big.write_bytes(os.urandom(21_000_000))
    with pytest.raises(AppError, match=r"^file is 21.0 MB; the limit is 20 MB$"):
        client.predict(handle_file(big), "tiny", api_name="/stylize")
    files, report = client.predict([handle_file(big), handle_file(PORTRAIT)], "tiny", api_name="/stylize_batch")
    assert len(files) == 1 and report == "huge.jpg: file is 21.0 MB; the limit is 20 MB"


def test_an_upload_over_200_mb_is_refused_before_it_is_stored(client, server, tmp_path):
    """gradio_client checks the server's limit itself (a ValueError before uploading); a raw upload past it gets
    HTTP 413 and nothing is kept."""
    huge = tmp_path / "huge.mp4"
    with huge.open("wb") as f:
        f.truncate(201 * 1024 * 1024)       # sparse: no real disk use
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(handle_file(huge), "tiny", api_name="/stylize")
    with huge.open("rb") as f:
        answer = httpx.post(f"{server.url}gradio_api/upload", files={"files": ("huge.mp4", f)}, timeout=120)
    assert answer.status_code == 413
    assert not list(server.cache.rglob("huge.mp4"))


def test_style_previews_are_rendered_once_and_cached(server, client, app_cache):
    """The first start renders each style's preview in the background, named after the weights' sha256."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((app_cache / "previews").glob("*.png"))) < 2:
        time.sleep(0.5)
    names = sorted(p.name for p in (app_cache / "previews").glob("*.png"))
    assert any(name.startswith("tiny-") for name in names), names
    assert not any(".partial" in name for name in names)


def test_stopping_the_server_deletes_the_results(server, client):
    """SIGTERM shuts down like Ctrl-C, so Gradio's ``delete_cache`` removes the files it handed out."""
    client.predict(handle_file(PORTRAIT), "tiny", api_name="/stylize")
    assert list(server.cache.rglob("*_tiny.png"))
    stop(server.process)
    assert server.process.returncode == 0
    assert not list(server.cache.rglob("*_tiny.png"))


def test_without_styles_the_page_says_so(tmp_path):
    import app
    from animegan import Registry, Stylizer

    demo = app.build_demo(Stylizer(Registry(tmp_path / "missing.json")))
    texts = [c.get("props", {}).get("value") for c in demo.config["components"]]
    assert app.NO_STYLES in texts

