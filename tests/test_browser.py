"""The web UI in a real headless Chromium (Debian's, driven by Playwright): upload → Stylize → before/after slider,
on a desktop and a phone-sized viewport, plus a batch with a bad file. Screenshots go to ``test-artifacts/``."""
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLES = ROOT / "docs" / "examples"
PORTRAIT = EXAMPLES / "portrait_astronaut.jpg"
TIMEOUT_MS = 60_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def app_url(stylizer) -> Iterator[str]:
    """The app built on the tiny style and served in this process."""
    import app

    demo = app.build_demo(stylizer)
    _, url, _ = app.serve(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                          quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def open_page(browser: Browser, url: str, viewport: dict, mobile: bool = False) -> Page:
    context = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    return page


def stylize_portrait(page: Page) -> None:
    """Upload the portrait, pick the style, press Stylize and wait for both slider images to be drawn."""
    page.locator("#photo input[type=file]").set_input_files(PORTRAIT)
    page.locator("#style").get_by_label("Tiny test style").check()
    page.locator("#stylize-btn").click()
    slider_images = page.locator("#result img")
    expect(slider_images).to_have_count(2)
    for image in slider_images.all():
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") == 512
    expect(page.locator("#status")).to_contain_text("512×512")
    expect(page.get_by_role("button", name="Download full-size PNG")).to_be_visible()
    expect(page.get_by_role("button", name="Download before | after")).to_be_visible()
    expect(page.locator("#session-gallery img")).to_have_count(1)


def result_src(page: Page) -> str:
    return page.locator("#result img").nth(1).get_attribute("src") or ""


def test_single_picture_on_a_desktop(browser, app_url):
    page = open_page(browser, app_url, DESKTOP)
    expect(page.locator("#style-previews img")).to_have_count(1)
    stylize_portrait(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "ui.png", full_page=True)
    page.context.close()


def test_single_picture_on_a_phone(browser, app_url):
    page = open_page(browser, app_url, PHONE, mobile=True)
    stylize_portrait(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sticks out sideways
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "ui-mobile.png", full_page=True)
    page.context.close()


def test_a_bad_upload_is_flagged_at_once_and_a_failed_run_loses_nothing(browser, app_url, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("a text file with a picture's name")
    page = open_page(browser, app_url, DESKTOP)
    stylize_portrait(page)
    good_result = result_src(page)
    page.locator("#photo input[type=file]").set_input_files(bad)
    expect(page.locator("#status")).to_contain_text("notes.png: not a recognised image format")   # before Stylize
    page.locator("#stylize-btn").click()
    expect(page.locator("#status")).to_contain_text("add a photo first")
    expect(page.get_by_text("Error", exact=True)).to_have_count(0)      # no red error badges anywhere
    assert result_src(page) == good_result                               # the last result is still there
    expect(page.locator("#session-gallery img")).to_have_count(1)
    expect(page.get_by_role("button", name="Download full-size PNG")).to_be_visible()
    page.context.close()


def test_strength_and_keep_colours_re_render_the_result(browser, app_url):
    page = open_page(browser, app_url, DESKTOP)
    stylize_portrait(page)
    first = result_src(page)
    page.locator("#keep-colors input").check()
    expect(page.locator("#result img").nth(1)).not_to_have_attribute("src", first)
    second = result_src(page)
    slider = page.locator("#strength input[type=range]")
    slider.focus()
    for _ in range(10):                     # 100 % → 50 % in steps of 5, from the keyboard
        slider.press("ArrowLeft")
    expect(page.locator("#result img").nth(1)).not_to_have_attribute("src", second)
    expect(page.locator("#session-gallery img")).to_have_count(1)      # a re-render is not a new result
    page.context.close()


def test_video_tab_stylizes_a_clip_with_progress_and_a_before_after_switch(browser, app_url, tmp_path):
    from tests.test_video import patterned, write_clip

    clip = write_clip(tmp_path / "clip.mp4", [patterned(128, 96, i) for i in range(24)])
    page = open_page(browser, app_url, DESKTOP)
    page.get_by_role("tab", name="Video").click()
    page.locator("#clip input[type=file]").set_input_files(clip)
    expect(page.locator("#clip video")).to_have_count(1)
    page.locator("#video-style").get_by_label("Tiny test style").check()
    page.locator("#video-btn").click()
    expect(page.locator("#video-status")).to_contain_text("Done", timeout=TIMEOUT_MS)
    result = page.locator("#video-result video")
    expect(result).to_have_attribute("src", re.compile(r"clip_tiny\.mp4"))
    expect(page.get_by_role("button", name="Download MP4")).to_be_visible()
    page.locator("#video-which").get_by_label("Original").check()
    expect(result).to_have_attribute("src", re.compile(r"/clip\.mp4"))
    page.locator("#video-which").get_by_label("Anime").check()
    expect(result).to_have_attribute("src", re.compile(r"clip_tiny\.mp4"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "ui-video.png", full_page=True)
    page.context.close()


def test_batch_reports_the_bad_file_and_finishes_the_others(browser, app_url, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    page = open_page(browser, app_url, DESKTOP)
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-files input[type=file]").set_input_files([EXAMPLES / "scene_coffee.jpg", bad,
                                                                   EXAMPLES / "cat_chelsea.jpg"])
    expect(page.locator("#batch-files")).to_contain_text(re.compile(r"cat_chelsea\s*\.jpg"))  # all uploaded
    expect(page.locator("#batch-report")).to_contain_text("1 of 3 files cannot be read")      # flagged at once
    page.get_by_role("button", name="Stylize all").click()
    report = page.locator("#batch-report")
    expect(report).to_contain_text("2 of 3 pictures stylized")
    expect(report).to_contain_text("notes.jpg")
    expect(report).to_contain_text("not a recognised image format")
    expect(page.get_by_role("button", name="Download all (ZIP)")).to_be_visible()
    page.context.close()
