"""The benchmark's code path on the tiny style: one small size, faces off and on, each in its own process."""
from __future__ import annotations

import re

from animegan import Registry
from animegan.registry import Style
from bench import bench


def test_bench_prints_a_row_per_case_and_the_eager_references(tiny_weights, capsys):
    bench.main(["--manifest", str(tiny_weights / "manifest.json"), "--style", "Tiny test style", "--sizes", "96x64",
                "--runs", "1", "--threads", "1"])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| 96×64 \| (on|off) \| ([\d.]+) \| ([\d.]+) \| (\d+) \|$", out, re.MULTILINE)
    assert [r[0] for r in rows] == ["off", "on"]
    assert all(float(median) > 0 and int(rss) > 50 for _, median, _, rss in rows)
    style = Registry(str(tiny_weights / "manifest.json")).find("tiny")
    printed = re.findall(r"^- (.+) \((\w+)\): [\d.]+ s → [\d.]+× faster$", out, re.MULTILINE)
    assert [role for role, _ in printed] == list(bench.eager_references(style))
    assert printed[0][1] == "Generator" and len({name for _, name in printed}) == len(printed)


def test_video_bench_measures_flicker_speed_and_memory_on_a_tiny_clip(tiny_weights, tmp_path, monkeypatch, capsys):
    """bench.video's code paths on the tiny style and 96×64 clips (the real bench uses 480p / 720p)."""
    from animegan import Registry, Stylizer
    from bench import video

    monkeypatch.setattr(video, "FLICKER_SIZE", (96, 64))
    monkeypatch.setattr(video, "FLICKER_FRAMES", 6)
    manifest = str(tiny_weights / "manifest.json")
    stylizer = Stylizer(Registry(manifest), threads=1)
    flicker = video.flicker_rows(tmp_path, stylizer, "tiny")
    assert [row["clip"] for row in flicker] == list(video.CLIPS)
    assert all(row["input"] > 0 and row["per_frame"] > 0 and row["ours"] > 0 for row in flicker)
    clip = video.write_clip(tmp_path / "speed.mp4", video.zoom_frames((96, 64), 8), (96, 64), 8)
    speed = video.run_case(manifest, "Tiny test style", clip, clip, faces=True, threads=1)
    memory = video.run_memory(manifest, "tiny", clip, threads=1)
    assert speed["fps"] > 0 and memory["frames"] == 8 and memory["peak_rss_mb"] > 50
    batches = video.batch_rows(stylizer, "tiny", size=(96, 64), runs=1)
    video.report("tiny", flicker, [{"size": "96×64", "faces": True, "threads": 1, **speed}], batches, memory)
    out = capsys.readouterr().out
    assert re.search(r"^\| static \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| (yes|no) \|", out, re.MULTILINE)
    assert re.search(r"^\| 96×64 \| on \| 1 \| [\d.]+ \| \d+ \|$", out, re.MULTILINE)


def test_the_eager_references_are_the_styles_own_architectures():
    entry = {"id": "c", "file": "c.int8.onnx", "sha256": "0" * 64, "lineage": {"arch": "context"}}
    assert bench.eager_references(Style.from_dict(entry)) == {"classic AnimeGANv2 generator": "classic",
                                                              "whole-picture student": "context"}
    entry.update(face_file="c.face.int8.onnx", face_sha256="1" * 64, lineage={"arch": "fast", "face": {"arch": "unet"}})
    assert list(bench.eager_references(Style.from_dict(entry)).values()) == ["classic", "fast", "unet"]


def test_an_eager_reference_told_the_picture_gets_its_thumbnail():
    """The whole-picture students of hayao, shinkai and cartoon take a second input; their eager reference runs."""
    name, seconds = bench.torch_reference("fast_stats", threads=1, runs=1)
    assert name == "PictureStatsGenerator" and seconds > 0
