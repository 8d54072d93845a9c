"""Recompute a checkpoint's BatchNorm statistics over its own kind of training crops.

    python -m train.recalibrate_bn --run runs/cartoon --checkpoint best --crops 400
    python -m train.bundle --style cartoon --run runs/cartoon --checkpoint recalibrated ...

A run trained at a small batch of large crops (2 × 384²) ends with each BatchNorm's running statistics an
exponential average over its last few batches: noisy, and what inference normalises with. This runs the student in
training mode, without gradients, over ``--crops`` random crops of the run's training photos (its folders, sizes,
crop, stride grid and whole-picture thumbnails, the held-out split left out) and keeps the cumulative average
instead. Weights are otherwise untouched; writes ``recalibrated.safetensors`` beside the checkpoint, its metadata
saying how many crops made the statistics.
"""
from __future__ import annotations

import argparse
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from train.checkpoint import load_weights, read_meta, save_checkpoint
from train.data import PairPool, by_folder, random_crop, rgb_to_tensor
from train.distill import DistillConfig, pick_photos
from train.model import build_generator, picture_side

BATCH = 8
Batch = tuple[torch.Tensor, torch.Tensor | None]   # crops, and their whole pictures' thumbnails or None


def training_batches(meta: dict, count: int, seed: int = 0) -> Iterator[Batch]:
    """``count`` crops like the run's training crops, in batches of ``BATCH``: (photos, thumbnails or None)."""
    train, _ = pick_photos(DistillConfig(teachers=[], photos=meta["photos"], out=Path()))   # the run's own split
    multiple = int(meta["multiple"])      # the teachers' and the student's, as the run cut its crops
    pool = PairPool(train, teacher=None, cache_dir=Path(), sizes=meta["sizes"], multiple=multiple,
                    min_size=meta["crop"], picture=picture_side(meta["arch"]))
    groups = by_folder(train)
    folders, rng = sorted(groups), random.Random(seed)
    grid = multiple if meta.get("phase_lock") else 1
    for start in range(0, count, BATCH):
        photos, thumbnails = [], []
        for _ in range(min(BATCH, count - start)):
            photo, thumbnail = pool.working_photo(rng.choice(groups[rng.choice(folders)]))
            photos.append(rgb_to_tensor(random_crop([photo], meta["crop"], rng, grid)[0]))
            thumbnails.append(thumbnail)
        yield torch.stack(photos), (torch.from_numpy(np.stack(thumbnails)) if thumbnails[0] is not None else None)


@torch.no_grad()
def recalibrate(model: torch.nn.Module, batches: Iterable[Batch]) -> None:
    """Replace every BatchNorm's running statistics by their cumulative average over ``batches``."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    for photos, thumbnails in batches:
        model(photos) if thumbnails is None else model(photos, thumbnails)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    model.eval()


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="train.distill output folder")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--crops", type=int, default=400, help="training crops the statistics are averaged over")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    meta = read_meta(args.run / f"{args.checkpoint}.safetensors")
    model = build_generator(meta["arch"], float(meta["width"]))
    load_weights(args.run / f"{args.checkpoint}.safetensors", model)
    recalibrate(model, training_batches(meta, args.crops))
    out = args.run / "recalibrated.safetensors"
    save_checkpoint(out, {"generator": model}, {}, dict(meta, bn_recalibrated=args.crops))
    print(f"{out}: BatchNorm statistics over {args.crops} training crops")
    return out


if __name__ == "__main__":
    main()
