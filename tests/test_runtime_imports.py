"""The runtime (animegan/, app.py) never imports torch: only train/ does."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_runtime_does_not_import_torch():
    code = ("import sys, animegan, animegan.__main__, animegan.faces, animegan.imageio, app; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
