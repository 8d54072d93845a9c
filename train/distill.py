"""Distil a teacher ONNX generator (photo → style) into a student generator trained from random init.

    python -m train.distill --teacher ../shared/teachers/hayao.onnx \
        --photos ../shared/photos/scenes ../shared/photos/faces --out runs/hayao --steps 20000

Teacher targets are computed once with onnxruntime (in a background thread, so training starts at once) and cached
as PNG under ``--out/targets``. Each photo is used at one of several scales (``--sizes``); batches are random crops.
Loss: L1 (+ perceptual L1 on frozen CNN features, + L1 on the detail band, + optional LSGAN adversarial fine-tune).
Validation PSNR/SSIM, edit and detail captured against the teacher on held-out photos, steps/s and the learning rate
go to TensorBoard and the console; sample grids to ``--out/samples``. Runs on CUDA when available, else on the
CPU. Checkpoints (safetensors) every ``--ckpt-every`` steps: ``last`` (resumable with ``--resume``) and ``best``
(highest validation PSNR). From Python: ``distill(DistillConfig(teachers=[...], photos=[...], out=...))``, the same fields as the flags.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from animegan.engine import picture_thumbnail
from train.checkpoint import load_checkpoint, load_weights, loss_description, read_meta, save_checkpoint
from train.data import (PairPool, by_folder, cached_teacher_output, held_out_photos, list_images, read_rgb,
                        resize_short_side, rgb_to_tensor, split_holdout, tensor_to_rgb, write_rgb)
from train.features import load_feature_network
from train.losses import high_pass, lsgan_d_loss, lsgan_g_loss
from train.metrics import EditCaptured, psnr, ssim
from train.model import ARCHITECTURES, Discriminator, build_generator, generator_multiple, picture_side
from train.teachers import TeacherChain
from train.sheets import fit_height, grid


@dataclass
class DistillConfig:
    """One distillation run (the command line's flags, ``python -m train.distill --help``, say what each does)."""
    teachers: list[Path]
    photos: list[str | Path]
    out: Path
    steps: int = 20000
    resume: bool = False
    init: Path | None = None
    arch: str = "fast"
    width: float = 1.0
    batch: int = 8
    crop: int = 128
    phase_lock: bool = False
    freeze_bn: bool = False
    sizes: tuple[int, ...] = (256, 320, 384, 512)
    lr: float = 1e-3
    warmup: int = 200
    min_lr_ratio: float = 0.05
    clip_grad: float = 1.0
    perceptual: str | None = None
    perceptual_weight: float = 0.1
    detail_weight: float = 0.0
    fine_detail_weight: float = 0.0
    mse_weight: float = 0.0
    adv_weight: float = 0.0
    multiple: int = 8
    holdout: float = 0.1
    max_per_folder: int = 0
    val_count: int = 16
    val_size: int = 384
    val_every: int = 250
    ckpt_every: int = 250
    threads: int = 1
    channels_last: bool = True
    teacher_threads: int = 1
    seed: int = 0


def parse_config(argv: list[str] | None = None) -> DistillConfig:
    """The command line as a ``DistillConfig`` (defaults: the dataclass's)."""
    default = DistillConfig
    p = argparse.ArgumentParser(prog="python -m train.distill", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--teacher", dest="teachers", metavar="TEACHER", type=Path, nargs="+", required=True,
                   help="teacher ONNX (NCHW RGB in [-1,1], input 'input'); several are applied in the order given")
    p.add_argument("--photos", nargs="+", required=True, help="photo folders (or files)")
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, targets cache, logs")
    p.add_argument("--steps", type=int, default=default.steps, help="total optimisation steps")
    p.add_argument("--resume", action="store_true", help="continue from --out/last.safetensors")
    p.add_argument("--init", type=Path,
                   help="start from these generator weights (e.g. committed fp16 weights; a fast student's for "
                        "--arch context, a unet's for --arch unet_hires); with --resume and no last checkpoint yet, "
                        "the step count continues from the file's metadata and the warm-up and cosine start there")
    p.add_argument("--arch", choices=ARCHITECTURES, default=default.arch, help="student architecture")
    p.add_argument("--width", type=float, default=default.width, help="student width multiplier")
    p.add_argument("--batch", type=int, default=default.batch)
    p.add_argument("--crop", type=int, default=default.crop, help="training crop side (multiple of 4)")
    p.add_argument("--phase-lock", action="store_true",
                   help="crops start at multiples of the teachers' and student's stride and are not mirrored, so the "
                        "student learns the teacher's strokes where its strides put them on a whole picture")
    p.add_argument("--freeze-bn", action="store_true",
                   help="BatchNorm normalises with its running statistics (as at inference) and stops updating them: "
                        "a fine-tune on whole pictures at batch 1 then trains what inference runs")
    p.add_argument("--sizes", default=",".join(map(str, default.sizes)), help="working short sides photos are drawn at")
    p.add_argument("--lr", type=float, default=default.lr, help="peak learning rate (AdamW)")
    p.add_argument("--warmup", type=int, default=default.warmup, help="linear warm-up steps")
    p.add_argument("--min-lr-ratio", type=float, default=default.min_lr_ratio,
                   help="cosine decay floor, relative to --lr")
    p.add_argument("--clip-grad", type=float, default=default.clip_grad, help="gradient norm clip (0 disables)")
    p.add_argument("--perceptual", help="feature network for a perceptual loss: model.onnx[:tap] or vgg19.pth")
    p.add_argument("--perceptual-weight", type=float, default=default.perceptual_weight)
    p.add_argument("--detail-weight", type=float, default=default.detail_weight,
                   help="weight of an L1 term on the detail band (image − Gaussian blur σ = 2 px), 0 = off")
    p.add_argument("--fine-detail-weight", type=float, default=default.fine_detail_weight,
                   help="weight of an L1 term on the finest band (image − Gaussian blur σ = 1 px: one-pixel lines "
                        "and strokes), 0 = off")
    p.add_argument("--mse-weight", type=float, default=default.mse_weight,
                   help="weight of a squared-error term (what edit captured measures: it pulls hardest where the "
                        "student misses most, e.g. a line it leaves out), 0 = off")
    p.add_argument("--adv-weight", type=float, default=default.adv_weight,
                   help="LSGAN fine-tune weight (0 = L1/perceptual only)")
    p.add_argument("--multiple", type=int, default=default.multiple,
                   help="teacher input multiple when teachers.json is absent")
    p.add_argument("--holdout", type=float, default=default.holdout, help="fraction of photos held out for validation")
    p.add_argument("--max-per-folder", type=int, default=default.max_per_folder,
                   help="use at most this many training photos from each photo folder (0 = all)")
    p.add_argument("--val-count", type=int, default=default.val_count,
                   help="held-out photos used for validation during training")
    p.add_argument("--val-size", type=int, default=default.val_size, help="validation short side")
    p.add_argument("--val-every", type=int, default=default.val_every)
    p.add_argument("--ckpt-every", type=int, default=default.ckpt_every)
    p.add_argument("--threads", type=int, default=default.threads, help="torch threads")
    p.add_argument("--no-channels-last", action="store_true",
                   help="keep NCHW memory layout (channels_last is ~20%% faster on CPU here)")
    p.add_argument("--teacher-threads", type=int, default=default.teacher_threads,
                   help="onnxruntime threads for teacher targets")
    p.add_argument("--seed", type=int, default=default.seed)
    args = vars(p.parse_args(argv))
    sizes = tuple(int(s) for s in args.pop("sizes").split(","))
    channels_last = not args.pop("no_channels_last")
    return DistillConfig(**args, sizes=sizes, channels_last=channels_last)


def learning_rate(step: int, config: DistillConfig, start: int = 0) -> float:
    """Linear warm-up from step ``start`` (where the run's schedule began), then cosine decay to
    ``min_lr_ratio × lr`` at ``steps``."""
    step -= start
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - start - config.warmup))
    floor = config.min_lr_ratio
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def pick_photos(config: DistillConfig) -> tuple[list[Path], list[Path]]:
    """(training photos, validation photos); the validation ones come from the held-out split."""
    train, _ = split_holdout(list_images(config.photos), config.holdout)
    if config.max_per_folder:
        train = [p for group in by_folder(train).values()
                 for p in random.Random(config.seed).sample(group, min(len(group), config.max_per_folder))]
    return train, held_out_photos(config.photos, config.val_count, config.holdout, config.seed)


def validation_pairs(val: list[Path], teacher: TeacherChain, cache: Path, size: int,
                     multiple: int) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for path in tqdm(val, desc="validation targets", leave=False):
        photo = resize_short_side(read_rgb(path), size, multiple)
        cached = cache / f"val{size}__{path.parent.name}__{path.stem}.png"
        pairs.append((photo, cached_teacher_output(teacher, photo, cached)))
    return pairs


@torch.no_grad()
def validate(model: torch.nn.Module, pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[dict, list]:
    """Student vs teacher on the validation pairs: mean PSNR / SSIM and the pooled edit / detail captured; also
    returns the (photo, teacher, student) triples."""
    model.eval()
    scores, triples, captured = [], [], EditCaptured()
    device, side = next(model.parameters()).device, picture_side(model)
    for photo, target in pairs:
        inputs = [rgb_to_tensor(photo)[None]] + ([torch.from_numpy(picture_thumbnail(photo, side))] if side else [])
        out = tensor_to_rgb(model(*(x.to(device) for x in inputs))[0])
        scores.append((psnr(out, target), ssim(out, target)))
        captured.add(photo, target, out)
        triples.append((photo, target, out))
    return {"val_psnr": round(float(np.mean([s[0] for s in scores])), 3),
            "val_ssim": round(float(np.mean([s[1] for s in scores])), 4),
            **captured.scores()}, triples


def train_mode(model: torch.nn.Module, freeze_bn: bool) -> None:
    """Training mode; with ``freeze_bn`` the BatchNorm layers stay in inference mode (running statistics, frozen)."""
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def validation_grid(triples: list, count: int = 4, height: int = 192) -> np.ndarray:
    """Rows of photo | teacher | student, each resized to ``height``."""
    return grid([[fit_height(image, height) for image in triple] for triple in triples[:count]])


def init_description(config: DistillConfig) -> str | None:
    """What the run started from, for the lineage: the file and its folder (a run folder's ``best.safetensors``
    alone names nothing), its step and loss."""
    if not config.init:
        return None
    meta = read_meta(config.init)
    return f"{config.init.parent.name}/{config.init.name} at step {meta.get('step', 0)} ({loss_description(meta)})"


def restore(config: DistillConfig, models: dict[str, torch.nn.Module],
            optimizers: dict[str, torch.optim.Optimizer]) -> tuple[int, float, float, str | None, int]:
    """Load what ``resume`` / ``init`` ask for into ``models`` (and ``optimizers``); returns the run's (step,
    best validation PSNR, wall seconds so far, what it started from, step its learning-rate schedule began at): a
    resumed run keeps its lineage and schedule; one continued from ``init`` counts on from the init's step and starts
    its schedule there."""
    last = config.out / "last.safetensors"
    if config.resume and last.exists():
        meta = load_checkpoint(last, models, optimizers)
        print(f"resumed from {last} at step {meta['step']}")
        return (int(meta["step"]), float(meta.get("best_psnr", -1.0)), float(meta.get("wall_seconds", 0.0)),
                meta.get("init"), int(meta.get("schedule_start", 0)))
    if config.init:   # a grown generator (context, unet_hires) may start from the weights it grows from
        load_weights(config.init, models["generator"], optional=getattr(models["generator"], "GROWN_MODULES", ()),
                     grow=True)
        meta = read_meta(config.init) if config.resume else {}
        step = int(meta.get("step", 0))
        print(f"initialised generator from {config.init} (step {step})")
        # best starts afresh: this run's loss may differ, and its own best is what it should leave behind
        return step, -1.0, float(meta.get("wall_seconds", 0.0)), init_description(config), step
    return 0, -1.0, 0.0, None, 0


def distill(config: DistillConfig) -> dict:
    """Train (or continue) one student; returns its final step and best validation PSNR."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    config.out.mkdir(parents=True, exist_ok=True)
    teacher = TeacherChain(config.teachers, config.multiple, config.teacher_threads)
    multiple = math.lcm(teacher.multiple, generator_multiple(config.arch))

    train_photos, val_photos = pick_photos(config)
    if not train_photos:
        raise SystemExit("error: no training photos")
    sizes = list(config.sizes)
    pool = PairPool(train_photos, teacher, config.out / "targets", sizes, multiple, min_size=config.crop,
                    seed=config.seed, picture=picture_side(config.arch))
    pool.start()
    val_pairs = validation_pairs(val_photos, teacher, config.out / "targets", config.val_size, multiple)

    model = build_generator(config.arch, config.width)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device, memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.99), weight_decay=0.0)
    models, optimizers = {"generator": model}, {"generator": optimizer}
    disc = None
    if config.adv_weight > 0:
        disc = Discriminator().to(device)
        models["discriminator"] = disc
        optimizers["discriminator"] = torch.optim.Adam(disc.parameters(), lr=4e-5, betas=(0.5, 0.999))
    features = load_feature_network(config.perceptual).to(device) if config.perceptual else None

    step, best, wall_before, lineage, schedule_start = restore(config, models, optimizers)
    train_mode(model, config.freeze_bn)

    meta_base = {"arch": config.arch, "width": config.width, "teachers": teacher.ids, "multiple": multiple,
                 "photos": [str(p) for p in config.photos], "train_photos": len(train_photos),
                 "val_photos": [str(p) for p in val_photos], "crop": config.crop, "phase_lock": config.phase_lock,
                 "freeze_bn": config.freeze_bn,
                 "sizes": sizes, "batch": config.batch, "lr": config.lr,
                 "perceptual": config.perceptual and Path(config.perceptual).name,
                 "perceptual_weight": config.perceptual_weight if config.perceptual else 0.0,
                 "detail_weight": config.detail_weight, "fine_detail_weight": config.fine_detail_weight,
                 "mse_weight": config.mse_weight,
                 "adv_weight": config.adv_weight,
                 "init": lineage, "schedule_start": schedule_start}
    history_file = config.out / "history.jsonl"
    writer = SummaryWriter(str(config.out / "tb"))
    pool.wait_for(config.batch)
    started = time.time()

    def checkpoint(name: str, val_psnr: float | None = None) -> None:
        meta = dict(meta_base, step=step, best_psnr=best, wall_seconds=wall_before + time.time() - started,
                    val_psnr=val_psnr, pairs=len(pool))
        save_checkpoint(config.out / f"{name}.safetensors", models, optimizers if name == "last" else {}, meta)

    bar = tqdm(total=config.steps, initial=step, desc=f"distill {'+'.join(teacher.ids)}", dynamic_ncols=True)
    tick = time.time()
    while step < config.steps:
        lr = learning_rate(step, config, schedule_start)
        for group in optimizer.param_groups:
            group["lr"] = lr
        photos, targets, pictures = pool.sample(config.batch, config.crop, rng, multiple if config.phase_lock else 1)
        photos, targets = photos.to(device, memory_format=layout), targets.to(device)
        out = model(photos) if pictures is None else model(photos, pictures.to(device))
        loss_l1 = F.l1_loss(out, targets)
        loss = loss_l1
        if features is not None:
            loss = loss + config.perceptual_weight * F.l1_loss(features(out), features(targets))
        if config.detail_weight:
            loss = loss + config.detail_weight * F.l1_loss(high_pass(out), high_pass(targets))
        if config.fine_detail_weight:
            loss = loss + config.fine_detail_weight * F.l1_loss(high_pass(out, 1.0), high_pass(targets, 1.0))
        if config.mse_weight:
            loss = loss + config.mse_weight * F.mse_loss(out, targets)
        if disc is not None:
            loss = loss + config.adv_weight * lsgan_g_loss(disc(out))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
        optimizer.step()
        if disc is not None:
            d_loss = lsgan_d_loss(disc(targets), [disc(out.detach())])
            optimizers["discriminator"].zero_grad(set_to_none=True)
            d_loss.backward()
            optimizers["discriminator"].step()
        step += 1
        bar.update(1)
        if step % 25 == 0:
            rate = 25 / (time.time() - tick)
            tick = time.time()
            writer.add_scalar("train/l1", loss_l1.item(), step)
            writer.add_scalar("train/loss", loss.item(), step)
            writer.add_scalar("train/lr", lr, step)
            writer.add_scalar("train/steps_per_s", rate, step)
            writer.add_scalar("data/pairs", len(pool), step)
            bar.set_postfix(l1=f"{loss_l1.item():.4f}", lr=f"{lr:.1e}", it_s=f"{rate:.2f}", pairs=len(pool))
        if step % config.val_every == 0 or step == config.steps:
            scores, triples = validate(model, val_pairs) if val_pairs else ({"val_psnr": float("nan")}, [])
            train_mode(model, config.freeze_bn)
            for key, value in scores.items():
                writer.add_scalar(f"val/{key.removeprefix('val_')}", value, step)
            val_psnr = scores["val_psnr"]
            record = {"step": step, **scores,
                      "l1": round(loss_l1.item(), 5), "lr": lr, "pairs": len(pool),
                      "wall_seconds": round(wall_before + time.time() - started, 1)}
            with history_file.open("a") as f:
                f.write(json.dumps(record) + "\n")
            tqdm.write(json.dumps(record))
            if triples:
                grid = validation_grid(triples)
                write_rgb(config.out / "samples" / f"step{step:07d}.jpg", grid)
                writer.add_image("val/photo_teacher_student", grid, step, dataformats="HWC")
            if val_psnr > best:
                best = val_psnr
                checkpoint("best", val_psnr)
        if step % config.ckpt_every == 0 or step == config.steps:
            checkpoint("last")
    bar.close()
    writer.close()
    return {"step": step, "best_psnr": best}


def main(argv: list[str] | None = None) -> dict:
    return distill(parse_config(argv))


if __name__ == "__main__":
    main()
