"""Benchmarks that print tables: bench.bench (pictures: speed and memory), bench.video (clips: flicker and speed)."""
