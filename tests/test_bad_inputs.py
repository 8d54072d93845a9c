"""The whole bad/odd-input corpus through the real pipeline (Stylizer) and the CLI: a clear one-line error or a
correct output for every case, never a traceback, and one bad file never stops the others."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from animegan.__main__ import plan
from animegan.imageio import IMAGE_SUFFIXES
from tests.conftest import read_pixels
from tests.corpus import CASE_NAMES, build_case, build_corpus

ROOT = Path(__file__).resolve().parent.parent
SLOW_CASES = {"panorama_jpeg"}  # 8000 px wide: covered once, by the CLI run below


@pytest.mark.parametrize("name", [n for n in CASE_NAMES if n not in SLOW_CASES])
def test_stylizer_gives_a_result_or_a_clear_error(stylizer, tmp_path, name):
    case = build_case(name, tmp_path)
    if case.expect is None:
        out = stylizer.stylize(case.path, "tiny", faces=True, max_size=256)
        assert out.size == case.size
        assert out.mode == ("RGBA" if case.alpha else "RGB")
    else:
        with pytest.raises(case.expect) as err:
            stylizer.stylize(case.path, "tiny")
        message = str(err.value)
        assert message and "\n" not in message and case.message.lower() in message.lower()


def test_cli_runs_the_whole_corpus_folder(tiny_weights, tmp_path):
    cases = [c for c in build_corpus(tmp_path / "corpus") if c.path.is_file()]
    env = dict(os.environ, ANIMEGAN_MANIFEST=str(tiny_weights / "manifest.json"), ANIMEGAN_THREADS="1",
               HF_HUB_OFFLINE="1")
    out_dir = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "animegan", str(tmp_path / "corpus"), "-o", str(out_dir),
                             "--max-size", "256"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1  # some inputs are bad
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    scanned = [c for c in cases if c.path.suffix.lower() in IMAGE_SUFFIXES]
    destinations = dict(plan([tmp_path / "corpus"], out_dir))
    assert len(set(destinations.values())) == len(destinations), "two inputs must never share an output"
    for case in scanned:
        produced = destinations[case.path]
        if case.expect is None:
            assert produced.exists(), f"{case.name}: no output"
            assert read_pixels(produced).shape[:2] == case.size[::-1]
        else:
            assert not produced.exists()
            assert any(case.path.name in line for line in errors), f"{case.name}: no error line"
