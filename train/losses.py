"""AnimeGANv2 losses: LSGAN adversarial, content (feature L1), Gram style on grayscale style, YUV colour, total
variation; plus the per-style weight presets of the original recipe."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossWeights:
    adversarial: float = 300.0
    content: float = 1.5
    style: float = 2.5
    color: float = 15.0
    tv: float = 1.0
    # discriminator terms: real style, generated, grayscale style, smoothed grayscale style
    d_real: float = 1.7
    d_fake: float = 1.7
    d_gray: float = 1.7
    d_smooth: float = 1.0


PRESETS: dict[str, LossWeights] = {
    "hayao": LossWeights(content=1.5, style=2.5, color=15.0, tv=1.0),
    "shinkai": LossWeights(content=1.2, style=2.0, color=10.0, tv=1.0, d_smooth=0.8),
    "paprika": LossWeights(content=2.0, style=0.6, color=50.0, tv=0.1, d_smooth=0.005),
}


def high_pass(images: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """The detail band of NCHW images: themselves minus their Gaussian blur (σ in px, reflected borders), the band
    ``train.metrics.high_pass`` measures *detail captured* on."""
    radius = math.ceil(4 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device) / sigma) ** 2)
    taps = taps / taps.sum()
    channels = images.shape[1]
    blurred = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(blurred, taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    blurred = F.conv2d(blurred, taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return images - blurred


def lsgan_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator side of LSGAN: push D(G(x)) towards 1."""
    return torch.mean((fake_logits - 1.0) ** 2)


def lsgan_d_loss(real_logits: torch.Tensor, fake_logits: Sequence[torch.Tensor],
                 real_weight: float = 1.0, fake_weights: Sequence[float] | None = None) -> torch.Tensor:
    """Discriminator side of LSGAN: real → 1, each kind of fake → 0 (weighted)."""
    fake_weights = fake_weights or [1.0] * len(fake_logits)
    loss = real_weight * torch.mean((real_logits - 1.0) ** 2)
    for w, logits in zip(fake_weights, fake_logits):
        loss = loss + w * torch.mean(logits**2)
    return loss


def gram(features: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrix of (N, C, H, W) features."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def content_loss(feat_photo: torch.Tensor, feat_generated: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(feat_generated, feat_photo)


def style_loss(feat_style_gray: torch.Tensor, feat_generated: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(gram(feat_generated), gram(feat_style_gray))


def rgb_to_yuv(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] RGB → YUV (BT.601) on [0, 1] scale."""
    rgb = (x + 1) / 2
    m = torch.tensor([[0.299, 0.587, 0.114], [-0.14714119, -0.28886916, 0.43601035],
                      [0.61497538, -0.51496512, -0.10001026]], dtype=x.dtype, device=x.device)
    return torch.einsum("ij,njhw->nihw", m, rgb)


def color_loss(photo: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    """L1 on Y, Huber on U and V (keeps the photo's colours while the texture changes)."""
    a, b = rgb_to_yuv(photo), rgb_to_yuv(generated)
    return F.l1_loss(b[:, 0], a[:, 0]) + F.huber_loss(b[:, 1], a[:, 1]) + F.huber_loss(b[:, 2], a[:, 2])


def total_variation(x: torch.Tensor) -> torch.Tensor:
    dh = torch.mean((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2)
    dw = torch.mean((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2)
    return dh + dw
