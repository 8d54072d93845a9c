"""CLI: files and folders, --list-styles, per-file errors on one line, non-zero exit when any failed, an output
file only for one input file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import read_pixels, write_manifest
from tests.corpus import build_case

ROOT = Path(__file__).resolve().parent.parent


def cli_env(tiny_weights: Path, **env_vars: str) -> dict[str, str]:
    """The CLI's environment: the tiny test style, one thread, offline, the package importable from any folder."""
    return {**os.environ, "ANIMEGAN_MANIFEST": str(tiny_weights / "manifest.json"), "ANIMEGAN_THREADS": "1",
            "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **env_vars}


def run_cli(tiny_weights: Path, *args: str, cwd: Path = ROOT, **env_vars: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "animegan", *args], cwd=cwd, env=cli_env(tiny_weights, **env_vars),
                          capture_output=True, text=True, timeout=120)


def test_list_styles_prints_one_line_per_style_id_first(tiny_weights):
    result = run_cli(tiny_weights, "--list-styles")
    assert result.returncode == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["tiny"]


def test_single_file_to_named_output(tiny_weights, portrait_file, tmp_path):
    out = tmp_path / "anime.png"
    result = run_cli(tiny_weights, str(portrait_file), "--style", "tiny", "-o", str(out))
    assert result.returncode == 0, result.stderr
    stylized = read_pixels(out).astype(np.float32)
    photo = read_pixels(portrait_file).astype(np.float32)
    assert stylized.shape == photo.shape and np.abs(stylized - photo).mean() > 2   # the style did something


def test_folder_in_folder_out_with_a_bad_file(tiny_weights, portrait, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(portrait).save(src / "a.jpg")
    Image.fromarray(portrait[:200, :300]).save(src / "sub" / "b.png")
    (src / "c.jpg").write_text("not really a jpeg")
    result = run_cli(tiny_weights, str(src), "--no-faces", "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == \
        ["a.png", "sub/b.png"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "c.jpg" in errors[0] and "Traceback" not in result.stderr
    stylized = read_pixels(tmp_path / "out" / "sub" / "b.png").astype(np.float32)
    assert stylized.shape == (200, 300, 3) and np.abs(stylized - portrait[:200, :300]).mean() > 2


def test_unknown_style_is_a_clear_error(tiny_weights, portrait_file):
    result = run_cli(tiny_weights, str(portrait_file), "--style", "nope")
    assert result.returncode == 2 and "unknown style 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_same_names_from_several_folders_never_overwrite_each_other(tiny_weights, portrait, tmp_path):
    for folder in ("x", "y", "z"):
        (tmp_path / folder).mkdir()
        Image.fromarray(portrait[:64, :64]).save(tmp_path / folder / "a.jpg")
    result = run_cli(tiny_weights, *(str(tmp_path / f / "a.jpg") for f in "xyz"), "--no-faces", "-o",
                     str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 3


def test_current_folder_as_input(tiny_weights, portrait, tmp_path):
    Image.fromarray(portrait[:64, :64]).save(tmp_path / "a.png")
    result = run_cli(tiny_weights, ".", "--no-faces", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path.parent / f"{tmp_path.name}_anime" / "a.png").exists()


def test_bad_options_and_empty_folders_are_clear_errors(tiny_weights, portrait_file, tmp_path):
    cases = [
        ([str(portrait_file), "-o", str(tmp_path / "out.xyz")], 2, "unknown output format"),
        ([str(portrait_file), "--max-size", "-5"], 2, "max_size must be"),
        ([str(tmp_path / "empty")], 1, "no pictures or clips found"),
    ]
    (tmp_path / "empty").mkdir()
    for args, code, message in cases:
        result = run_cli(tiny_weights, *args)
        assert result.returncode == code and message in result.stderr and "Traceback" not in result.stderr


def test_an_empty_input_is_an_error_not_the_current_folder(tiny_weights, portrait, tmp_path):
    Image.fromarray(portrait[:64, :64]).save(tmp_path / "a.png")
    result = run_cli(tiny_weights, "", "--no-faces", cwd=tmp_path)
    assert result.returncode == 2 and "an input is empty" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path.parent / f"{tmp_path.name}_anime").exists()


def test_an_output_that_would_overwrite_an_input_is_refused(tiny_weights, portrait, tmp_path):
    photo = tmp_path / "in" / "a.png"
    photo.parent.mkdir()
    Image.fromarray(portrait[:64, :64]).save(photo)
    before = photo.read_bytes()
    for args in ([str(photo), "-o", str(photo)], [str(photo.parent), "-o", str(photo.parent)],
                 [str(photo), str(photo.with_name("a_anime.png"))]):
        if len(args) == 2:
            photo.with_name("a_anime.png").write_bytes(before)   # an input that another input's output would hit
        result = run_cli(tiny_weights, *args, "--no-faces")
        assert result.returncode == 2 and "would overwrite an input" in result.stderr, (args, result.stderr)
        assert photo.read_bytes() == before


def test_ctrl_c_is_one_line_and_leaves_no_partial_file(tiny_weights, portrait, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    big = np.tile(portrait, (4, 4, 1))
    for i in range(20):
        Image.fromarray(big).save(src / f"{i:02d}.png")
    process = subprocess.Popen([sys.executable, "-m", "animegan", str(src), "--no-faces", "--max-size", "0", "-o",
                                str(tmp_path / "out")], cwd=ROOT, env=cli_env(tiny_weights), stderr=subprocess.PIPE,
                               text=True)
    seen = ""
    while "stylizing" not in seen:    # the progress bar is up: the run is under way
        char = process.stderr.read(1)
        assert char, f"the CLI ended before stylizing: {seen}"
        seen += char
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 130 and "interrupted" in rest and "Traceback" not in seen + rest
    written = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    assert len(written) < 20 and all(p.suffix == ".png" and not p.name.startswith(".") for p in written)
    assert all(read_pixels(p).shape == big.shape for p in written)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_folder_with_a_heic_file_reports_it_and_finishes_the_others(tiny_weights, portrait, tmp_path):
    src = tmp_path / "iphone"
    src.mkdir()
    Image.fromarray(portrait[:64, :64]).save(src / "a.jpg")
    Image.fromarray(portrait[64:128, :64]).save(src / "b.png")
    heic = build_case("fake_heic", src).path
    result = run_cli(tiny_weights, str(src), "--no-faces", "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert error_lines(result) == [f"error: {heic}: HEIC/HEIF is not supported; convert it to JPEG or PNG"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


def test_engine_failure_is_one_line_per_file(tiny_weights, portrait, tmp_path):
    """A style whose file matches its sha256 but is not ONNX: onnxruntime fails inside the run, for each file."""
    weights = tmp_path / "weights"
    weights.mkdir()
    broken = weights / "broken.onnx"
    broken.write_bytes(b"not an ONNX model")
    write_manifest(weights, broken, style_id="broken")
    for name in ("a.jpg", "b.jpg"):
        Image.fromarray(portrait[:64, :64]).save(tmp_path / name)
    args = [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"), "--no-faces", "-o", str(tmp_path / "out")]
    result = run_cli(weights, *args)
    assert result.returncode == 1
    errors = error_lines(result)
    assert [line.split(": ")[1] for line in errors] == [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    assert all(": internal error: " in line for line in errors)
    assert not (tmp_path / "out").exists()
    debug = run_cli(weights, *args, "--debug")
    assert debug.returncode == 1 and debug.stderr.count("Traceback") == 2


def test_bad_animegan_threads_is_a_clear_error(tiny_weights, portrait_file):
    result = run_cli(tiny_weights, str(portrait_file), ANIMEGAN_THREADS="abc")
    assert result.returncode == 2
    assert error_lines(result) == ["error: ANIMEGAN_THREADS must be a positive integer, got 'abc'"]


@pytest.mark.parametrize("option", ["--threads", "--max-pixels"])
def test_non_positive_numbers_are_refused_up_front(tiny_weights, portrait_file, option):
    result = run_cli(tiny_weights, str(portrait_file), option, "-2")
    assert result.returncode == 2 and f"{option}: must be a positive integer, got '-2'" in result.stderr
    assert "Traceback" not in result.stderr


def test_folder_input_with_a_dotted_output_name_writes_a_folder(tiny_weights, portrait, tmp_path):
    (tmp_path / "photos").mkdir()
    Image.fromarray(portrait[:64, :64]).save(tmp_path / "photos" / "a.jpg")
    result = run_cli(tiny_weights, str(tmp_path / "photos"), "--no-faces", "-o", str(tmp_path / "out.v2"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.v2" / "a.png").is_file()


def test_one_file_into_an_existing_folder(tiny_weights, portrait_file, tmp_path):
    (tmp_path / "done.v1").mkdir()
    result = run_cli(tiny_weights, str(portrait_file), "--no-faces", "-o", str(tmp_path / "done.v1"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "done.v1" / "portrait_anime.png").is_file()


@pytest.mark.parametrize("inputs, output, message", [
    (["a.jpg", "b.jpg"], "result.png", "several inputs need an output folder, got {}"),
    (["a.jpg", "missing.jpg"], "result.webp", "several inputs need an output folder, got {}"),
    (["photos"], "result.png", "a folder input needs an output folder, got {}"),
    (["photos"], "notes", "a folder input needs an output folder, got {}"),   # an existing file
])
def test_several_inputs_or_a_folder_need_an_output_folder(tiny_weights, portrait, tmp_path, inputs, output,
                                                         message):
    (tmp_path / "photos").mkdir()
    for path in (tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "photos" / "c.jpg"):
        Image.fromarray(portrait[:64, :64]).save(path)
    (tmp_path / "notes").write_text("not a folder")
    out = tmp_path / output
    result = run_cli(tiny_weights, *(str(tmp_path / name) for name in inputs), "-o", str(out))
    assert result.returncode == 2
    assert error_lines(result) == [f"error: {message.format(out)}"]
    assert not out.is_dir()


def test_display_names_strength_and_keep_colours(tiny_weights, portrait_file, tmp_path):
    outputs = {}
    for name, extra in (("full", []), ("zero", ["--strength", "0"]), ("kept", ["--keep-colors", "--strength", "0.6"])):
        out = tmp_path / f"{name}.png"
        result = run_cli(tiny_weights, str(portrait_file), "-s", "TINY test Style", "-o", str(out), *extra)
        assert result.returncode == 0, result.stderr
        outputs[name] = read_pixels(out).astype(int)
    photo = read_pixels(portrait_file).astype(int)
    np.testing.assert_array_equal(outputs["zero"], photo)
    assert 0 < np.abs(outputs["kept"] - photo).mean() < np.abs(outputs["full"] - photo).mean()


@pytest.mark.parametrize("option, value, message", [("--strength", "1.5", "strength must be a number from 0"),
                                                     ("--strength", "lots", "strength must be a number"),
                                                     ("--max-size", "10", "max_size must be -1"),
                                                     ("--max-size", "-5", "got -5\n")])
def test_bad_option_values_are_refused_up_front(tiny_weights, portrait_file, option, value, message):
    result = run_cli(tiny_weights, str(portrait_file), option, value)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_mistyped_style_gets_a_suggestion(tiny_weights, portrait_file):
    result = run_cli(tiny_weights, str(portrait_file), "--style", "tinny")
    assert result.returncode == 2 and "did you mean 'tiny'?" in result.stderr


def test_a_folder_mixing_pictures_and_clips(tiny_weights, portrait, tmp_path):
    from tests.test_video import patterned, read_clip, write_clip

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(portrait).save(src / "a.jpg")
    write_clip(src / "b.mp4", [patterned(64, 48, i) for i in range(6)])
    (src / "c.mov").write_text("not a clip")
    result = run_cli(tiny_weights, str(src), "--no-faces", "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.mp4"]
    assert len(read_clip(tmp_path / "out" / "b.mp4")["frames"]) == 6
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "c.mov" in errors[0] and "not a recognised video format" in errors[0]


def test_one_clip_to_a_named_mp4_and_the_length_limit(tiny_weights, tmp_path):
    from tests.test_video import patterned, write_clip

    clip = write_clip(tmp_path / "clip.mov", [patterned(64, 48, i) for i in range(24)])    # 2 s
    result = run_cli(tiny_weights, str(clip), "-o", str(tmp_path / "anime.mp4"))
    assert result.returncode == 0 and result.stdout.strip() == str(tmp_path / "anime.mp4")
    wrong = run_cli(tiny_weights, str(clip), "-o", str(tmp_path / "anime.png"))
    assert wrong.returncode == 2 and "use a .mp4 name" in wrong.stderr
    limited = run_cli(tiny_weights, str(clip), "--max-seconds", "0.5", "-o", str(tmp_path / "short.mp4"))
    assert limited.returncode == 1 and "error:" in limited.stderr and not (tmp_path / "short.mp4").exists()
