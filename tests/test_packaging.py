"""``pip install .`` gives the ``animegan`` command and ``import animegan`` anywhere, bundled styles included."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pins(lines: list[str]) -> dict[str, str]:
    """{name: version} of ``name==version`` requirement lines."""
    found = (re.match(r"^\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)", line) for line in lines)
    return {m[1].lower().replace("_", "-"): m[2] for m in found if m}


def test_package_dependencies_match_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = pins((ROOT / "requirements.txt").read_text().splitlines())
    declared = pins(project["dependencies"]) | pins(project["optional-dependencies"]["app"])
    assert declared == runtime


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from the checkout, installed (without its dependencies) into a folder of its own."""
    dist, target = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(ROOT)], check=True, timeout=300)
    wheel = next(dist.glob("animegan-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "animegan/weights/manifest.json" in names and not any("checkpoints" in n for n in names)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    return target


def test_the_installed_command_works_from_any_folder(installed, tmp_path, portrait_file):
    env = {**os.environ, "PYTHONPATH": str(installed), "HF_HUB_OFFLINE": "1", "ANIMEGAN_THREADS": "1"}
    env.pop("ANIMEGAN_MANIFEST", None)
    command = [str(installed / "bin" / "animegan")]
    listed = subprocess.run(command + ["--list-styles"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr
    style = listed.stdout.split("\t")[0]
    made = subprocess.run(command + [str(portrait_file), "-s", style, "--no-faces", "-o", "out.png"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "out.png").stat().st_size > 10_000
    where = subprocess.run([sys.executable, "-c", "import animegan; print(animegan.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(installed))
