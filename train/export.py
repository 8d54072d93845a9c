"""Export a generator checkpoint to ONNX (opset ≥ 17, dynamic N/H/W), simplified and checked against PyTorch.

    python -m train.export --checkpoint runs/hayao/best.safetensors --out hayao.fp32.onnx

BatchNorm is folded into the convolutions first (INT8-friendly student), the TorchScript exporter constant-folds,
and onnxslim removes what is left (identities, shape arithmetic). The max abs difference against PyTorch is printed
at several sizes, and the export fails if it exceeds ``--tolerance``.
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxslim
import torch

from animegan.engine import PICTURE_INPUT, create_session, random_feeds
from train.checkpoint import load_weights, read_meta
from train.model import ARCHITECTURES, build_generator, fold_batchnorm, picture_side

PARITY_SIZES = ((64, 64), (96, 160), (256, 256))


def load_generator(checkpoint: Path, arch: str | None = None, width: float | None = None) -> torch.nn.Module:
    """Build the generator a checkpoint was trained as (architecture from its metadata) and load its weights."""
    meta = read_meta(checkpoint)
    model = build_generator(arch or meta.get("arch", "classic"), width or float(meta.get("width", 1.0)))
    load_weights(checkpoint, model)
    return fold_batchnorm(model).eval()


def export_onnx(model: torch.nn.Module, out: Path, opset: int = 17, metadata: dict[str, str] | None = None) -> Path:
    """Export with dynamic batch/height/width; input ``input``, output ``output`` (NCHW RGB in [-1, 1]); a model that
    takes the whole picture's thumbnail also gets the input ``picture`` (N, 3, side, side)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    dynamic = {0: "N", 2: "H", 3: "W"}
    args, names, axes = [torch.zeros(1, 3, 64, 64)], ["input"], {"input": dynamic, "output": dynamic}
    side = picture_side(model)
    if side:
        args.append(torch.zeros(1, 3, side, side))
        names.append(PICTURE_INPUT)
        axes[PICTURE_INPUT] = {0: "N"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, tuple(args), str(out), dynamo=False, opset_version=opset, input_names=names,
                          output_names=["output"], do_constant_folding=True, dynamic_axes=axes)
    slim = onnxslim.slim(str(out))
    for key, value in (metadata or {}).items():
        slim.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(slim)
    onnx.save(slim, str(out))
    return out


@torch.no_grad()
def parity(model: torch.nn.Module, onnx_path: Path, sizes=PARITY_SIZES, seed: int = 0) -> float:
    """Max abs difference between PyTorch and onnxruntime outputs on random inputs of several sizes."""
    session = create_session(onnx_path)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for h, w in sizes:
        feeds = random_feeds(session, (1, 3, h, w), rng)
        expected = model(*(torch.from_numpy(a) for a in feeds.values())).numpy()
        got = session.run(None, feeds)[0]
        assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def export_checkpoint(checkpoint: Path, out: Path, opset: int = 17, tolerance: float = 1e-3,
                      arch: str | None = None, width: float | None = None) -> float:
    """Export a checkpoint's generator (BatchNorm folded) to ONNX and return its max abs difference from PyTorch;
    ``ValueError`` beyond ``tolerance``."""
    model = load_generator(checkpoint, arch, width)
    meta = read_meta(checkpoint)
    teachers = meta.get("teachers") or [Path(str(meta.get("teacher", ""))).stem]
    export_onnx(model, out, opset, {"arch": str(meta.get("arch", arch)), "step": str(meta.get("step", "")),
                                    "teachers": "+".join(teachers)})
    diff = parity(model, out)
    if diff > tolerance:
        raise ValueError(f"ONNX output differs from PyTorch by {diff:.2e} > {tolerance}")
    return diff


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, required=True, help="generator checkpoint (.safetensors)")
    p.add_argument("--out", type=Path, required=True, help="output .onnx path")
    p.add_argument("--arch", choices=ARCHITECTURES, help="override the architecture stored in the checkpoint")
    p.add_argument("--width", type=float, help="override the width stored in the checkpoint")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--tolerance", type=float, default=1e-3, help="max allowed abs difference vs PyTorch")
    args = p.parse_args(argv)
    if args.opset < 17:
        p.error("--opset must be at least 17")
    try:
        diff = export_checkpoint(args.checkpoint, args.out, args.opset, args.tolerance, args.arch, args.width)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"exported {args.out} ({args.out.stat().st_size / 1e6:.2f} MB); max abs diff vs PyTorch: {diff:.2e}")
    return diff


if __name__ == "__main__":
    main()
