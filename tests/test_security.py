"""The server reads only files that were uploaded to it (SECURITY.md), checked against the real app over HTTP.

gradio_client uploads any local path it is handed, so a file payload that *names* a server path is sent the way a
hostile caller would: as raw JSON to Gradio's HTTP routes (``/gradio_api/call/<api>`` for the API endpoints, the queue
for the UI's own events). URLs are passed through by gradio_client itself, so that case goes through it too.
"""
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from markdown_it import MarkdownIt

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "docs" / "examples" / "portrait_astronaut.jpg"
FILE_DATA = {"_type": "gradio.FileData"}


@pytest.fixture(scope="module")
def served(stylizer) -> Iterator[str]:
    """The app on the tiny style, served in this process (so the test knows Gradio's upload folder)."""
    import app

    demo = app.build_demo(stylizer)
    _, url, _ = app.serve(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                          quiet=True)
    yield url.rstrip("/")
    demo.close()


@pytest.fixture(scope="module")
def upload_folder(served) -> Path:
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


def call_api(url: str, api: str, data: list) -> tuple[str, dict | list | None]:
    """One call of a named endpoint over plain HTTP: (event kind, payload) of its final message."""
    event = httpx.post(f"{url}/gradio_api/call/{api}", json={"data": data}, timeout=30).json()["event_id"]
    lines = httpx.get(f"{url}/gradio_api/call/{api}/{event}", timeout=120).text.strip().splitlines()
    kind = [line for line in lines if line.startswith("event:")][-1].split(":", 1)[1].strip()
    payload = [line for line in lines if line.startswith("data:")][-1].split(":", 1)[1]
    return kind, json.loads(payload)


def call_event(url: str, fn_name: str, data: list) -> dict:
    """Run one of the UI's own (private) events through the queue, as the browser does; returns its last message."""
    config = httpx.get(f"{url}/config", timeout=30).json()
    fn_index = next(i for i, dep in enumerate(config["dependencies"]) if dep.get("api_name") == fn_name)
    session = uuid.uuid4().hex
    httpx.post(f"{url}/gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                      "event_data": None, "trigger_id": None}, timeout=30)
    last = {}
    with httpx.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                last = json.loads(line[5:])
                if last.get("msg") == "process_completed":
                    break
    return last


def named(path: str, meta: bool = True) -> dict:
    """A file payload naming ``path``, with or without Gradio's FileData marker."""
    return {"path": path, "orig_name": "photo.jpg", **({"meta": FILE_DATA} if meta else {})}


@pytest.fixture(scope="module")
def hostile_paths(upload_folder, tmp_path_factory) -> dict[str, str]:
    """Paths a caller must not get read: an image outside the uploads, a non-image, a missing file, ``..`` out of
    the upload folder, a symlink inside it that points outside, a relative path."""
    outside = tmp_path_factory.mktemp("private")
    secret = outside / "secret.jpg"
    secret.write_bytes(PORTRAIT.read_bytes())
    link_dir = upload_folder / f"test-{uuid.uuid4().hex}"
    link_dir.mkdir(parents=True)
    (link_dir / "link.jpg").symlink_to(secret)
    return {
        "outside image": str(secret),
        "not an image": "/etc/passwd",
        "missing": str(outside / "missing.jpg"),
        "dot-dot": f"{upload_folder}/../{'../' * len(upload_folder.parts)}{str(secret).lstrip('/')}",
        "symlink": str(link_dir / "link.jpg"),
        "relative": "docs/examples/portrait_astronaut.jpg",
    }


@pytest.mark.parametrize("meta", [True, False], ids=["with-meta", "without-meta"])
@pytest.mark.parametrize("api", ["stylize", "stylize_batch", "stylize_video"])
def test_api_refuses_every_path_that_was_not_uploaded_with_one_message(served, hostile_paths, api, meta):
    import app

    for what, path in hostile_paths.items():
        payload = named(path, meta)
        kind, answer = call_api(served, api, [[payload] if api == "stylize_batch" else payload, "tiny", True, -1])
        assert kind == "error", (what, answer)
        assert answer["error"] == app.NOT_UPLOADED, what


def test_ui_events_refuse_paths_that_were_not_uploaded(served, hostile_paths):
    import app

    config = httpx.get(f"{served}/config", timeout=30).json()
    private = {dep.get("api_name") for dep in config["dependencies"]}
    assert {"ui_stylize", "ui_batch", "ui_stylize_video", "ui_check_upload", "ui_check_batch"} <= private, private
    for what, path in hostile_paths.items():
        single = call_event(served, "ui_stylize", [named(path), "tiny", True, -1, 100, False, [], None])
        batch = call_event(served, "ui_batch", [[named(path)], None, "tiny", True, -1, 100, False])
        clip = call_event(served, "ui_stylize_video", [named(path), "tiny", True, 100, False])
        checks = [call_event(served, "ui_check_upload", [named(path)]),
                  call_event(served, "ui_check_batch", [[named(path)], None])]
        for answer in (single, batch, clip, *checks):
            assert answer["success"] is False and answer["output"]["error"] == app.NOT_UPLOADED, (what, answer)


def test_urls_are_refused_even_to_the_servers_own_files(served, upload_folder):
    """A URL is not an upload: not one to the app's own file route (a real, uploaded file), nor any other."""
    import app

    client = Client(served, verbose=False, download_files=False)
    stored = client.predict(handle_file(PORTRAIT), "tiny", api_name="/stylize")["path"]   # a file the server holds
    assert Path(stored).is_relative_to(upload_folder)
    for url in (f"{served}/gradio_api/file={stored}", f"{served}/gradio_api/file=/etc/passwd",
                "http://127.0.0.1:9/photo.jpg"):
        with pytest.raises(AppError) as caught:
            client.predict({"path": url, "meta": FILE_DATA, "orig_name": "x.jpg"}, "tiny", api_name="/stylize")
        assert str(caught.value) == app.NOT_UPLOADED


def test_normal_uploads_still_work_on_both_endpoints(served):
    client = Client(served, verbose=False)
    assert Path(client.predict(handle_file(PORTRAIT), "tiny", api_name="/stylize")).exists()
    files, report = client.predict([handle_file(PORTRAIT)], "tiny", api_name="/stylize_batch")
    assert len(files) == 1 and report == ""


def test_results_live_in_unguessable_folders(served, upload_folder):
    client = Client(served, verbose=False, download_files=False)
    first, second = (client.predict(handle_file(PORTRAIT), "tiny", api_name="/stylize") for _ in range(2))
    folders = [Path(result["path"]).parent for result in (first, second)]
    assert all(folder.parent == upload_folder for folder in folders)
    names = [folder.name for folder in folders]
    assert names[0] != names[1]
    assert all(name.startswith("anime-") and len(name) >= len("anime-") + 22 for name in names)


def test_batch_report_shows_hostile_file_names_as_plain_text():
    import app

    name = '<img src=x onerror=alert(1)> ![t](http://e.invalid/x.png) [a](javascript:alert(1)) | **b**.jpg'
    report = app.batch_report([app.Saved(name, None, None, "not a recognised image format", 0.1)], 1.0)
    rendered = MarkdownIt("commonmark").enable("table").render(report)
    assert "<img" not in rendered and "<a " not in rendered and "<strong>b" not in rendered
    assert rendered.count("<td>") == 2     # the | in the name did not split the row
    cell = rendered.split("<td>")[1].split("</td>")[0]
    assert cell.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"') == name


def test_error_messages_name_no_server_folder():
    import app

    message = app.public_message("internal error: OSError: [Errno 5] Input/output error: '/srv/uploads/ab/c d.png'")
    assert message == "internal error: OSError: [Errno 5] Input/output error: 'c d.png'"
    assert app.public_message("weights for style 'x' not found at /app/weights/x.onnx") == \
        "weights for style 'x' not found at x.onnx"
