"""Train an AnimeGANv2 generator on real photos + anime frames of one style (GAN training).

    python -m train.train --config train/configs/hayao.toml            # one GPU / CPU
    torchrun --nproc_per_node 4 -m train.train --config cfg.toml       # several GPUs (DistributedDataParallel)
    python -m train.train --config cfg.toml --resume                   # continue from <out>/last.safetensors

Phase 1 (``init_steps``): the generator learns to reconstruct photos (content loss only, lr 2e-4).
Phase 2: adversarial training, Adam β=(0.5, 0.999), G 2e-5, D 4e-5, with the AnimeGANv2 losses and the preset's
weights; learning rates decay linearly to ``lr_final_ratio`` over the GAN phase. CUDA + mixed precision when
available, CPU otherwise. Checkpoints (safetensors) every ``ckpt_every`` steps, TensorBoard scalars and sample grids.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from train.checkpoint import load_checkpoint, save_checkpoint
from train.data import PhotoDataset, StyleDataset
from train.features import load_feature_network
from train.losses import (PRESETS, color_loss, content_loss, lsgan_d_loss, lsgan_g_loss, style_loss,
                          total_variation)
from train.model import Discriminator, build_generator


@dataclass
class TrainConfig:
    photos: list[str]
    style: list[str]
    out: str
    features: str                      # model.onnx[:tap] or a VGG19 state dict (.pth)
    preset: str = "hayao"
    arch: str = "classic"
    width: float = 1.0
    crop: int = 256
    batch: int = 8
    init_steps: int = 2000
    gan_steps: int = 60000
    lr_init: float = 2e-4
    lr_g: float = 2e-5
    lr_d: float = 4e-5
    lr_final_ratio: float = 0.1
    clip_grad: float = 10.0
    ckpt_every: int = 1000
    sample_every: int = 500
    log_every: int = 50
    workers: int = 4
    seed: int = 0
    amp: bool = True

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        data = tomllib.loads(path.read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SystemExit(f"error: unknown config keys in {path}: {', '.join(sorted(unknown))}")
        return cls(**data)


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises torch.distributed when launched by torchrun."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", 0))
        if torch.cuda.is_available():
            torch.cuda.set_device(local)
            return rank, world, torch.device("cuda", local)
        return rank, world, torch.device("cpu")
    return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")


def forever(loader: DataLoader, sampler: DistributedSampler | None) -> Iterator:
    """Endless batches, reshuffling (and telling the distributed sampler) each epoch."""
    for epoch in itertools.count():
        if sampler is not None:
            sampler.set_epoch(epoch)
        yield from loader


def make_loader(dataset: Dataset, cfg: TrainConfig, world: int, rank: int) -> tuple[DataLoader, DistributedSampler | None]:
    sampler = DistributedSampler(dataset, world, rank, shuffle=True, seed=cfg.seed) if world > 1 else None
    loader = DataLoader(dataset, batch_size=cfg.batch, shuffle=sampler is None, sampler=sampler, drop_last=True,
                        num_workers=cfg.workers, persistent_workers=cfg.workers > 0, pin_memory=torch.cuda.is_available(),
                        generator=torch.Generator().manual_seed(cfg.seed + rank))
    return loader, sampler


def gan_lr_scale(step: int, cfg: TrainConfig) -> float:
    """1 at the start of the GAN phase, decaying linearly to ``lr_final_ratio`` at its end."""
    progress = min(1.0, max(0, step - cfg.init_steps) / max(1, cfg.gan_steps))
    return 1.0 - (1.0 - cfg.lr_final_ratio) * progress


def train(cfg: TrainConfig, resume: bool = False, max_steps: int | None = None) -> dict:
    """Run (or continue) training; ``max_steps`` stops early (tests, time-boxed sessions)."""
    rank, world, device = setup_distributed()
    torch.manual_seed(cfg.seed + rank)
    out = Path(cfg.out)
    weights = PRESETS[cfg.preset]
    use_amp = cfg.amp and device.type == "cuda"

    photos, sampler_p = make_loader(PhotoDataset(cfg.photos, cfg.crop, seed=cfg.seed), cfg, world, rank)
    styles, sampler_s = make_loader(StyleDataset(cfg.style, out / "smoothed", cfg.crop, seed=cfg.seed), cfg, world, rank)
    generator = build_generator(cfg.arch, cfg.width).to(device)
    discriminator = Discriminator().to(device)
    features = load_feature_network(cfg.features).to(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr_init, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
    models = {"generator": generator, "discriminator": discriminator}
    optimizers = {"generator": opt_g, "discriminator": opt_d}
    step = 0
    if resume and (out / "last.safetensors").exists():
        step = int(load_checkpoint(out / "last.safetensors", models, optimizers)["step"])
    g_model = DistributedDataParallel(generator) if world > 1 else generator
    d_model = DistributedDataParallel(discriminator) if world > 1 else discriminator
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    writer = SummaryWriter(str(out / "tb")) if rank == 0 else None
    total = cfg.init_steps + cfg.gan_steps
    stop = min(total, step + max_steps) if max_steps else total
    photo_iter, style_iter = forever(photos, sampler_p), forever(styles, sampler_s)
    history: list[dict] = []
    bar = tqdm(total=stop, initial=step, desc="train", disable=rank != 0, dynamic_ncols=True)
    started = time.time()

    def checkpoint() -> None:
        if rank == 0:
            save_checkpoint(out / "last.safetensors", models, optimizers,
                            {"step": step, "arch": cfg.arch, "width": cfg.width, "preset": cfg.preset,
                             "config": dataclasses.asdict(cfg)})

    while step < stop:
        photo = next(photo_iter).to(device, non_blocking=True)
        logs: dict[str, float] = {}
        if step < cfg.init_steps:  # phase 1: reconstruction warm-up
            for group in opt_g.param_groups:
                group["lr"] = cfg.lr_init
            with torch.autocast(device.type, enabled=use_amp):
                fake = g_model(photo)
                loss_g = weights.content * content_loss(features(photo), features(fake))
            logs["init/content"] = loss_g.item()
        else:  # phase 2: adversarial
            scale = gan_lr_scale(step, cfg)
            for group in opt_g.param_groups:
                group["lr"] = cfg.lr_g * scale
            for group in opt_d.param_groups:
                group["lr"] = cfg.lr_d * scale
            style, style_gray, smooth_gray = (t.to(device, non_blocking=True) for t in next(style_iter))
            with torch.autocast(device.type, enabled=use_amp):
                fake = g_model(photo)
                loss_d = lsgan_d_loss(d_model(style), [d_model(fake.detach()), d_model(style_gray),
                                                       d_model(smooth_gray)],
                                      weights.d_real, [weights.d_fake, weights.d_gray, weights.d_smooth])
            opt_d.zero_grad(set_to_none=True)
            scaler.scale(loss_d).backward()
            scaler.step(opt_d)
            discriminator.requires_grad_(False)  # the generator step must not touch D
            with torch.autocast(device.type, enabled=use_amp):
                feat_fake = features(fake)
                terms = {
                    "adversarial": weights.adversarial * lsgan_g_loss(d_model(fake)),
                    "content": weights.content * content_loss(features(photo), feat_fake),
                    "style": weights.style * style_loss(features(style_gray), feat_fake),
                    "color": weights.color * color_loss(photo, fake),
                    "tv": weights.tv * total_variation(fake),
                }
                loss_g = sum(terms.values())
            logs.update({f"gan/{k}": v.item() for k, v in terms.items()}, **{"gan/d": loss_d.item()})
        opt_g.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        if cfg.clip_grad:
            scaler.unscale_(opt_g)
            torch.nn.utils.clip_grad_norm_(generator.parameters(), cfg.clip_grad)
        scaler.step(opt_g)
        scaler.update()
        discriminator.requires_grad_(True)
        step += 1
        bar.update(1)
        logs["loss_g"] = loss_g.item()
        history.append(logs)
        if writer and step % cfg.log_every == 0:
            for key, value in logs.items():
                writer.add_scalar(key, value, step)
            writer.add_scalar("steps_per_s", step / max(1e-9, time.time() - started), step)
        if writer and step % cfg.sample_every == 0:
            grid = torch.cat([photo[:4], fake[:4].detach().float()], dim=2)  # photo above its stylization
            writer.add_images("samples/photo_generated", (grid.clamp(-1, 1) + 1) / 2, step)
        if step % cfg.ckpt_every == 0 or step == stop:
            checkpoint()
    bar.close()
    if writer:
        writer.close()
    if world > 1:
        dist.destroy_process_group()
    return {"step": step, "history": history}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m train.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, required=True, help="TOML config (see train/configs/)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.safetensors")
    p.add_argument("--max-steps", type=int, help="stop after this many more steps")
    args = p.parse_args(argv)
    train(TrainConfig.load(args.config), resume=args.resume, max_steps=args.max_steps)


if __name__ == "__main__":
    main()
