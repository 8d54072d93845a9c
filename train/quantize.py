"""Static INT8 post-training quantization of a generator ONNX with onnxruntime.quantization.

    python -m train.quantize --model hayao.fp32.onnx --calib ../shared/photos/scenes ../shared/photos/faces \
        --out hayao.int8.onnx

QDQ format, per-channel int8 weights, asymmetric uint8 activations, calibration on real photos (MinMax over all
photos, MinMax averaged over the photos — the default —, Entropy or Percentile), intermediate shape annotations
dropped. The input conv and the output tail (last conv → residual add / tanh / clip) stay float; with
``--exclude-worst K`` the K further nodes whose activations lose most to quantization (lowest SQNR, measured with
``onnxruntime.quantization.qdq_loss_debug``) stay float too. A report (size, FP32 vs INT8 latency, INT8 vs FP32
PSNR/SSIM on held-out photos) is returned as a ``Report``; the command line prints it and writes it as JSON next to
the output.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quant_pre_process, quantize_static)
from onnxruntime.quantization import qdq_loss_debug

from animegan.engine import (PICTURE_INPUT, OnnxGenerator, create_session, picture_side, picture_thumbnail,
                             random_feeds)
from train.data import is_held_out, list_images, read_rgb, resize_short_side
from train.metrics import psnr, ssim


@dataclass(frozen=True)
class Calibration:
    """How activation ranges are read off the calibration photos."""
    method: CalibrationMethod
    description: str
    options: dict[str, bool] = field(default_factory=dict)   # extra_options for quantize_static


# "minmax-average" takes each activation's range as the mean of its per-photo min / max instead of the extremes over
# all photos: finer steps where the values are (on the face models: INT8 vs FP32 +2.5-3 dB, detail captured +0.3).
METHODS = {"minmax": Calibration(CalibrationMethod.MinMax, "MinMax"),
           "minmax-average": Calibration(CalibrationMethod.MinMax, "MinMax averaged over photos",
                                         {"CalibMovingAverage": True}),
           "entropy": Calibration(CalibrationMethod.Entropy, "Entropy"),
           "percentile": Calibration(CalibrationMethod.Percentile, "Percentile")}
DEFAULT_METHOD = "minmax-average"


@dataclass
class Report:
    """What one quantization produced and measured (``train.quantize`` writes it as ``<out>.report.json``)."""
    model: str
    int8: str
    method: str
    calibration_photos: int
    calibration_size: int
    float_nodes: list[str]
    most_sensitive_sqnr_db: dict[str, float]
    size_mb: dict[str, float]                       # {"fp32": ..., "int8": ...}
    latency_ms_512: dict[str, float]                # {"fp32": ..., "int8": ...}
    int8_vs_fp32: dict[str, float] | None           # PSNR / SSIM on held-out photos (None: no photos to check)
    speedup: float


Feeds = dict[str, np.ndarray]   # one run's inputs: ``input`` and, for a model that takes one, ``picture``


def calibration_feeds(photos: list[Path], size: int, picture: int | None = None) -> list[Feeds]:
    """Photos as model inputs: ``input`` (1, 3, size, size) float32 in [-1, 1] (short side resized to ``size``,
    centre crop) and, with ``picture`` (the side of a model's whole-picture input), the whole photo's thumbnail."""
    feeds = []
    for path in photos:
        rgb = resize_short_side(read_rgb(path), size)
        h, w = rgb.shape[:2]
        y, x = (h - size) // 2, (w - size) // 2
        crop = rgb[y:y + size, x:x + size]
        feed = {"input": crop.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0}
        if picture:
            feed[PICTURE_INPUT] = picture_thumbnail(rgb, picture)
        feeds.append(feed)
    return feeds


class PhotoReader(CalibrationDataReader):
    """Feeds calibration inputs to onnxruntime's calibrators."""

    def __init__(self, feeds: list[Feeds]):
        self.feeds = feeds
        self._iter: Iterator[Feeds] = iter(feeds)

    def get_next(self) -> Feeds | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self.feeds)


def float_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes kept in float by default: the first conv(s) on the inputs and the output tail up to the last conv."""
    graph = model.graph
    inputs = {i.name for i in graph.input}
    keep = [n.name for n in graph.node if n.op_type == "Conv" and inputs.intersection(n.input)]
    producers = {o: n for n in graph.node for o in n.output}
    frontier = [graph.output[0].name]
    while frontier:
        node = producers.get(frontier.pop())
        if node is None or node.name in keep:
            continue
        keep.append(node.name)
        if node.op_type != "Conv":
            frontier.extend(i for i in node.input if i in producers)
    return keep


def worst_nodes(fp32: Path, int8: Path, feeds: list[Feeds], count: int, tmp: Path) -> list[tuple[str, float]]:
    """The ``count`` quantized nodes whose output loses most to quantization (lowest SQNR in dB)."""
    float_aug, qdq_aug = tmp / "float_aug.onnx", tmp / "qdq_aug.onnx"
    qdq_loss_debug.modify_model_output_intermediate_tensors(str(fp32), str(float_aug))
    qdq_loss_debug.modify_model_output_intermediate_tensors(str(int8), str(qdq_aug))
    reader = PhotoReader(feeds)
    float_acts = qdq_loss_debug.collect_activations(str(float_aug), reader)
    reader.rewind()
    qdq_acts = qdq_loss_debug.collect_activations(str(qdq_aug), reader)
    errors = qdq_loss_debug.compute_activation_error(qdq_loss_debug.create_activation_matching(qdq_acts, float_acts))
    producers = {o: n.name for n in onnx.load(str(fp32)).graph.node for o in n.output}
    scored = [(producers[t], float(e["qdq_err"])) for t, e in errors.items() if t in producers and "qdq_err" in e]
    return sorted(scored, key=lambda item: item[1])[:count]


def latency_ms(path: Path, size: int = 512, runs: int = 5) -> float:
    """Median wall time of one size×size inference (after one warm-up)."""
    session = create_session(path)
    feeds = random_feeds(session, (1, 3, size, size), np.random.default_rng(0))
    session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def compare(fp32: Path, int8: Path, photos: list[Path], size: int = 512, multiple: int = 8) -> dict[str, float]:
    """INT8 vs FP32 PSNR / SSIM on photos at ``size`` short side."""
    a, b = OnnxGenerator(fp32, multiple), OnnxGenerator(int8, multiple)
    scores = []
    for path in photos:
        rgb = resize_short_side(read_rgb(path), size, multiple)
        x, y = a(rgb), b(rgb)
        scores.append((psnr(x, y), ssim(x, y)))
    return {"psnr_db": round(float(np.mean([s[0] for s in scores])), 2),
            "psnr_db_min": round(float(np.min([s[0] for s in scores])), 2),
            "ssim": round(float(np.mean([s[1] for s in scores])), 4), "photos": len(photos)}


def quantize(model: Path, out: Path, feeds: list[Feeds], method: str, exclude: list[str]) -> None:
    calibration = METHODS[method]
    quantize_static(str(model), str(out), PhotoReader(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=calibration.method, nodes_to_exclude=exclude,
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True, **calibration.options})
    drop_shape_hints(out)


def drop_shape_hints(path: Path) -> None:
    """Remove the intermediate shape annotations (``graph.value_info``) that quantization's pre-processing leaves:
    onnxruntime infers them again when it loads the model, and they are 6–9 % of a small INT8 file."""
    model = onnx.load(str(path))
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def quantize_model(model: Path, calib: list[str | Path], out: Path, count: int = 48, size: int = 384,
                   method: str = DEFAULT_METHOD, exclude_worst: int = 0, eval_photos: list[str | Path] | None = None,
                   eval_count: int = 8, holdout: float = 0.1, multiple: int = 16, seed: int = 0) -> Report:
    """Quantize an FP32 generator to INT8 (QDQ) calibrated on ``count`` photos of ``calib`` (held-out ones skipped)
    and report float nodes, sizes, 512² latencies and INT8 vs FP32 on held-out photos (``eval_photos`` folders,
    default: the held-out split of ``calib``)."""
    rng = random.Random(seed)
    photos = list_images(calib)
    chosen = [x for x in photos if not is_held_out(x, holdout)]
    chosen = rng.sample(chosen, min(count, len(chosen)))
    evals = list_images(eval_photos) if eval_photos else [x for x in photos if is_held_out(x, holdout)]
    evals = rng.sample(evals, min(eval_count, len(evals)))
    if not chosen:
        raise ValueError(f"no calibration photos found in {', '.join(map(str, calib))}")
    feeds = calibration_feeds(chosen, size, picture_side(create_session(model)))
    out.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        prepared = tmp / "prepared.onnx"
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        exclude = float_nodes(onnx.load(str(prepared)))
        quantize(prepared, out, feeds, method, exclude)
        sensitive: list[tuple[str, float]] = []
        if exclude_worst:
            sensitive = worst_nodes(prepared, out, feeds[:8], exclude_worst, tmp)
            exclude += [name for name, _ in sensitive]
            quantize(prepared, out, feeds, method, exclude)

    latency = {"fp32": round(latency_ms(model), 1), "int8": round(latency_ms(out), 1)}
    return Report(
        model=str(model), int8=str(out), method=method, calibration_photos=len(chosen), calibration_size=size,
        float_nodes=exclude, most_sensitive_sqnr_db={name: round(err, 2) for name, err in sensitive},
        size_mb={"fp32": round(model.stat().st_size / 1e6, 3), "int8": round(out.stat().st_size / 1e6, 3)},
        latency_ms_512=latency, int8_vs_fp32=compare(model, out, evals, multiple=multiple) if evals else None,
        speedup=round(latency["fp32"] / latency["int8"], 2),
    )


def main(argv: list[str] | None = None) -> Report:
    p = argparse.ArgumentParser(prog="python -m train.quantize", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True, help="FP32 generator ONNX")
    p.add_argument("--calib", nargs="+", required=True, help="photo folders for calibration (held-out photos skipped)")
    p.add_argument("--out", type=Path, required=True, help="output INT8 ONNX")
    p.add_argument("--count", type=int, default=48, help="calibration photos")
    p.add_argument("--size", type=int, default=384, help="calibration crop side")
    p.add_argument("--method", choices=sorted(METHODS), default=DEFAULT_METHOD)
    p.add_argument("--exclude-worst", type=int, default=0, help="also keep the K most sensitive nodes in float")
    p.add_argument("--eval", nargs="*", help="photo folders for the INT8 vs FP32 check (default: held-out of --calib)")
    p.add_argument("--eval-count", type=int, default=8)
    p.add_argument("--holdout", type=float, default=0.1, help="held-out fraction (same split as train.distill)")
    p.add_argument("--multiple", type=int, default=16, help="the model's input multiple")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        report = quantize_model(args.model, args.calib, args.out, count=args.count, size=args.size,
                                method=args.method, exclude_worst=args.exclude_worst, eval_photos=args.eval,
                                eval_count=args.eval_count, holdout=args.holdout, multiple=args.multiple,
                                seed=args.seed)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    args.out.with_suffix(".report.json").write_text(json.dumps(dataclasses.asdict(report), indent=2))
    print(f"{'':22}{'FP32':>10}{'INT8':>10}")
    print(f"{'size (MB)':22}{report.size_mb['fp32']:>10}{report.size_mb['int8']:>10}")
    print(f"{'latency 512² (ms)':22}{report.latency_ms_512['fp32']:>10}{report.latency_ms_512['int8']:>10}")
    print(f"speed-up {report.speedup}×; float nodes: {len(report.float_nodes)}")
    if report.int8_vs_fp32:
        q = report.int8_vs_fp32
        print(f"INT8 vs FP32 on {q['photos']} held-out photos: PSNR {q['psnr_db']} dB (min {q['psnr_db_min']}), "
              f"SSIM {q['ssim']}")
    return report


if __name__ == "__main__":
    main()
