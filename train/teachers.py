"""Teachers: ``teachers.json`` read in one place, and a chain of teachers run as one photo → style function."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from animegan.engine import OnnxGenerator


def teacher_multiple(teacher: Path, default: int) -> int:
    """The teacher's input multiple from a ``teachers.json`` beside it (matched by file name), else ``default``."""
    index = teacher.parent / "teachers.json"
    if index.exists():
        info = json.loads(index.read_text())
        for entry in list(info.get("styles", {}).values()) + list(info.get("variants", {}).values()):
            if Path(entry.get("file", "")).name == teacher.name:
                return int(entry.get("input_size_policy", {}).get("multiple_of", default))
    return default


def teacher_info(teachers_dir: Path, teacher_id: str) -> dict:
    """A teacher's entry in ``teachers_dir/teachers.json`` (file, family, upstream source, licence, sha256...)."""
    styles = json.loads((teachers_dir / "teachers.json").read_text())["styles"]
    if teacher_id not in styles:
        raise KeyError(f"unknown teacher {teacher_id!r}; {teachers_dir / 'teachers.json'} has {sorted(styles)}")
    return styles[teacher_id]


def teacher_files(teachers_dir: Path, ids: list[str]) -> list[Path]:
    """The ONNX files of teachers named by id in ``teachers_dir/teachers.json``."""
    return [teachers_dir / teacher_info(teachers_dir, i)["file"] for i in ids]


class TeacherChain:
    """Teachers applied one after the other (e.g. ``cute`` then ``shinkai``: anime faces in Shinkai's light).

    Called with an (H, W, 3) uint8 RGB photo whose sides are multiples of ``multiple``; returns the last teacher's
    uint8 output."""

    def __init__(self, paths: list[Path], default_multiple: int = 8, threads: int = 1):
        if not paths:
            raise ValueError("a teacher chain needs at least one teacher")
        self.paths = [Path(p) for p in paths]
        multiples = [teacher_multiple(p, default_multiple) for p in self.paths]
        self.multiple = math.lcm(*multiples)
        self.teachers = [OnnxGenerator(p, multiple=m, threads=threads, tile=4096) for p, m in zip(self.paths, multiples)]

    @property
    def ids(self) -> list[str]:
        """The teachers' ids (file stems), in the order they are applied."""
        return [p.stem for p in self.paths]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        for teacher in self.teachers:
            rgb = teacher(rgb)
        return rgb
