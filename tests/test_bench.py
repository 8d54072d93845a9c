"""The benchmark's code path on the tiny style: one small size, faces off and on, each in its own process."""
from __future__ import annotations

import re

from bench import bench


def test_bench_prints_a_row_per_case_and_the_eager_references(tiny_weights, capsys):
    bench.main(["--manifest", str(tiny_weights / "manifest.json"), "--style", "tiny", "--sizes", "96x64",
                "--runs", "1", "--threads", "1"])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| 96×64 \| (on|off) \| ([\d.]+) \| ([\d.]+) \| (\d+) \|$", out, re.MULTILINE)
    assert [r[0] for r in rows] == ["off", "on"]
    assert all(float(median) > 0 and int(rss) > 50 for _, median, _, rss in rows)
    assert len(re.findall(r"^- .+: [\d.]+ s → [\d.]+× faster$", out, re.MULTILINE)) == len(bench.REFERENCES)
