"""AnimeGANv2 generator and discriminator, plus an INT8-friendly student generator.

All generators map NCHW RGB images in [-1, 1] to NCHW RGB images in [-1, 1] of the same size
(H and W must be multiples of 4).

* ``Generator``      — the classic AnimeGANv2 generator (~2.1 M parameters at width 1.0): conv–norm–LeakyReLU
                       blocks, inverted residual blocks, two bilinear upsamplings, tanh. Default for GAN training.
* ``FastGenerator``  — the same encoder/bottleneck/decoder plan built for INT8 onnxruntime: BatchNorm (folded into
                       the convolutions at export), ReLU (fused into QLinearConv), 3×3 kernels at full resolution,
                       nearest-neighbour upsampling (stays uint8 in onnxruntime; each is followed by a 3×3 conv),
                       additive U-Net skips and a global residual (the output starts as the input photo), which makes
                       distillation converge far faster.
* ``UNetGenerator``  — the student that sees a whole face: five levels (16-32-64-96-128 channels), its bottleneck
                       at 1/16 like the teachers' (a ~300 px receptive field at 512²), built from the same INT8-friendly
                       parts as ``FastGenerator``; little work at full resolution, so it is also cheaper.
* ``ContextGenerator`` — ``FastGenerator`` (all its work at full resolution for local detail) plus a context branch
                       down to 1/16 that sees what the teachers see; starts as exactly the ``FastGenerator`` it is
                       grown from, so a trained whole-picture student can be initialised into it.
* ``PictureStatsGenerator`` — ``FastGenerator`` with a second input, a thumbnail of the whole picture, whose
                       statistics scale and shift its 1/4 features (what a teacher normalising over the whole picture
                       does, kept the same in every tile); grown from a trained fast student like ``ContextGenerator``.
* ``PictureStatsHiresGenerator`` — ``PictureStatsGenerator`` with inverted residual blocks at full resolution after
                       its decoder, for the finest lines; grown from a trained ``fast_stats`` student.
* ``GuidedContextGenerator`` / ``GuidedUNetGenerator`` — the same, ending in the guided filter that ends the
                       ``cartoon`` teacher (White-box Cartoonization): its flat, edge-sharp look is a division no
                       stack of convolutions computes, so the student only learns what goes into it. Kept in float
                       after quantization (the output tail, ``train.quantize.float_nodes``).
* ``Discriminator``  — the AnimeGANv2 patch discriminator (spectral norm, LayerNorm-style norm, LeakyReLU 0.2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# the U-Net with more channels at full and half resolution, where the teachers draw lines and strokes
HIRES_CHANNELS = (24, 48, 64, 96, 128)


def _ch(channels: int, width: float) -> int:
    """Scale a channel count by ``width``, keeping it a multiple of 8 (SIMD-friendly)."""
    return max(8, int(round(channels * width / 8)) * 8)


# --------------------------------------------------------------------------------------------- classic AnimeGANv2
class ConvNormLReLU(nn.Sequential):
    """Reflect-pad → conv → GroupNorm(1) (LayerNorm over C,H,W) → LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 bias: bool = False, padding: int | tuple[int, int, int, int] | None = None):
        padding = kernel // 2 if padding is None else padding
        super().__init__(
            nn.ReflectionPad2d(padding),
            nn.Conv2d(cin, cout, kernel, stride, 0, groups=groups, bias=bias),
            nn.GroupNorm(1, cout, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
        )


class InvertedResBlock(nn.Module):
    """MobileNetV2-style block: 1×1 expand → depthwise 3×3 → 1×1 project (+ identity when shapes match)."""

    def __init__(self, cin: int, cout: int, expansion: float = 2.0):
        super().__init__()
        hidden = int(round(cin * expansion))
        self.use_residual = cin == cout
        self.layers = nn.Sequential(
            ConvNormLReLU(cin, hidden, kernel=1),
            ConvNormLReLU(hidden, hidden, groups=hidden, bias=True),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.GroupNorm(1, cout, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(x)
        return x + out if self.use_residual else out


class Generator(nn.Module):
    """The classic AnimeGANv2 generator (~2.14 M parameters at ``width=1.0``)."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        c32, c64, c128, c256 = (_ch(c, width) for c in (32, 64, 128, 256))
        down = (0, 1, 0, 1)  # TF-style "same" padding for stride 2
        self.block_a = nn.Sequential(ConvNormLReLU(3, c32, kernel=7), ConvNormLReLU(c32, c64, stride=2, padding=down),
                                     ConvNormLReLU(c64, c64))
        self.block_b = nn.Sequential(ConvNormLReLU(c64, c128, stride=2, padding=down), ConvNormLReLU(c128, c128))
        self.block_c = nn.Sequential(
            ConvNormLReLU(c128, c128),
            InvertedResBlock(c128, c256), InvertedResBlock(c256, c256),
            InvertedResBlock(c256, c256), InvertedResBlock(c256, c256),
            ConvNormLReLU(c256, c128),
        )
        self.block_d = nn.Sequential(ConvNormLReLU(c128, c128), ConvNormLReLU(c128, c128))
        self.block_e = nn.Sequential(ConvNormLReLU(c128, c64), ConvNormLReLU(c64, c64), ConvNormLReLU(c64, c32, kernel=7))
        self.out_layer = nn.Sequential(nn.Conv2d(c32, 3, 1, bias=False), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block_c(self.block_b(self.block_a(x)))
        out = self.block_d(F.interpolate(out, scale_factor=2.0, mode="bilinear", align_corners=False))
        out = self.block_e(F.interpolate(out, scale_factor=2.0, mode="bilinear", align_corners=False))
        return self.out_layer(out)


# --------------------------------------------------------------------------------------------- INT8-friendly student
class ConvBNReLU(nn.Sequential):
    """Zero-padded conv → BatchNorm → ReLU; folds into a single QLinearConv after export + quantization."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1, relu: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class FastInvertedResBlock(nn.Module):
    """Inverted residual block with BatchNorm + ReLU (identity shortcut)."""

    def __init__(self, channels: int, expansion: float = 2.0):
        super().__init__()
        hidden = int(round(channels * expansion))
        self.layers = nn.Sequential(
            ConvBNReLU(channels, hidden, kernel=1),
            ConvBNReLU(hidden, hidden, groups=hidden),
            ConvBNReLU(hidden, channels, kernel=1, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class FastGenerator(nn.Module):
    """INT8-friendly AnimeGANv2-plan student: conv-BN-ReLU, U-Net adds, global residual, hard clip to [-1, 1]."""

    def __init__(self, width: float = 1.0, blocks: int = 4):
        super().__init__()
        c32, c64, c128 = (_ch(c, width) for c in (32, 64, 128))
        self.enc_full = ConvBNReLU(3, c32)
        self.enc_half = nn.Sequential(ConvBNReLU(c32, c64, stride=2), ConvBNReLU(c64, c64))
        self.enc_quarter = nn.Sequential(ConvBNReLU(c64, c128, stride=2), ConvBNReLU(c128, c128))
        self.bottleneck = nn.Sequential(*[FastInvertedResBlock(c128) for _ in range(blocks)])
        self.dec_half = nn.Sequential(ConvBNReLU(c128, c64), ConvBNReLU(c64, c64))
        self.dec_full = nn.Sequential(ConvBNReLU(c64, c32), ConvBNReLU(c32, c32))
        self.out_layer = nn.Conv2d(c32, 3, 1)
        nn.init.zeros_(self.out_layer.weight)  # start as the identity mapping (global residual)
        nn.init.zeros_(self.out_layer.bias)

    def with_context(self, quarter: torch.Tensor, picture: torch.Tensor | None = None) -> torch.Tensor:
        """The 1/4 features the bottleneck gets (as they are here; ``ContextGenerator`` adds a wider view,
        ``PictureStatsGenerator`` what the whole ``picture`` tells)."""
        return quarter

    def unclipped(self, x: torch.Tensor, picture: torch.Tensor | None = None) -> torch.Tensor:
        full = self.enc_full(x)
        half = self.enc_half(full)
        quarter = self.bottleneck(self.with_context(self.enc_quarter(half), picture))
        up = self.dec_half(F.interpolate(quarter, scale_factor=2.0, mode="nearest")) + half
        up = self.dec_full(F.interpolate(up, scale_factor=2.0, mode="nearest")) + full
        return x + self.out_layer(self.refined(up))

    def refined(self, full: torch.Tensor) -> torch.Tensor:
        """The full-resolution features the output conv gets (as they are here; ``PictureStatsHiresGenerator``
        works on them further)."""
        return full

    def forward(self, x: torch.Tensor, picture: torch.Tensor | None = None) -> torch.Tensor:
        return torch.clamp(self.unclipped(x, picture), -1.0, 1.0)


class UNetGenerator(nn.Module):
    """INT8-friendly U-Net student with its bottleneck at 1/16: conv-BN-ReLU, stride-2 downsampling, nearest
    upsampling + additive skips, global residual (starts as the identity), hard clip to [-1, 1].

    H and W must be multiples of 16."""

    MULTIPLE = 16

    def __init__(self, width: float = 1.0, blocks: int = 4, channels: tuple[int, ...] = (16, 32, 64, 96, 128)):
        super().__init__()
        c = [_ch(ch, width) for ch in channels]
        self.encoders = nn.ModuleList([nn.Sequential(ConvBNReLU(3, c[0]), ConvBNReLU(c[0], c[0]))])
        for cin, cout in zip(c, c[1:]):
            self.encoders.append(nn.Sequential(ConvBNReLU(cin, cout, stride=2), ConvBNReLU(cout, cout)))
        self.bottleneck = nn.Sequential(*[FastInvertedResBlock(c[-1]) for _ in range(blocks)])
        self.decoders = nn.ModuleList([nn.Sequential(ConvBNReLU(cin, cout), ConvBNReLU(cout, cout))
                                       for cin, cout in zip(c[:0:-1], c[-2::-1])])
        self.out_layer = nn.Conv2d(c[0], 3, 3, padding=1)
        nn.init.zeros_(self.out_layer.weight)  # start as the identity mapping (global residual)
        nn.init.zeros_(self.out_layer.bias)

    def unclipped(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        out = x
        for encoder in self.encoders:
            out = encoder(out)
            skips.append(out)
        out = self.bottleneck(skips.pop())
        for decoder in self.decoders:
            out = decoder(F.interpolate(out, scale_factor=2.0, mode="nearest")) + skips.pop()
        return x + self.out_layer(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.unclipped(x), -1.0, 1.0)


class ContextGenerator(FastGenerator):
    """``FastGenerator`` plus a context branch: from its 1/4 features two more stride-2 levels down to 1/16 (the
    teachers' depth, a ~300 px view), inverted residual blocks there, and back up (nearest) onto the 1/4 features
    before the bottleneck. The branch ends in a BatchNorm with zero scale, so the model starts as exactly the
    ``FastGenerator`` whose weights it is initialised from (``GROWN_MODULES`` may be missing from them).

    H and W must be multiples of 16."""

    MULTIPLE = 16
    GROWN_MODULES = ("context_down", "context_up")

    def __init__(self, width: float = 1.0, blocks: int = 4, context_blocks: int = 3):
        super().__init__(width, blocks)
        c128, c64 = _ch(128, width), _ch(64, width)
        self.context_down = nn.Sequential(ConvBNReLU(c128, c64, stride=2), ConvBNReLU(c64, c64, stride=2),
                                          *[FastInvertedResBlock(c64) for _ in range(context_blocks)])
        self.context_up = nn.Sequential(ConvBNReLU(c64, c64), ConvBNReLU(c64, c128, relu=False))
        nn.init.zeros_(self.context_up[-1][1].weight)   # the branch adds nothing until it has learned something

    def with_context(self, quarter: torch.Tensor, picture: torch.Tensor | None = None) -> torch.Tensor:
        """The 1/4 features plus what the view down to 1/16 adds to them."""
        quarter = super().with_context(quarter, picture)
        out = self.context_down(quarter)
        out = self.context_up[0](F.interpolate(out, scale_factor=2.0, mode="nearest"))
        return quarter + self.context_up[1](F.interpolate(out, scale_factor=2.0, mode="nearest"))


class PictureStatsGenerator(FastGenerator):
    """``FastGenerator`` told the whole picture's statistics, which the teachers that normalise over the whole picture
    know (hayao's GroupNorm, shinkai's global pools; train/README.md 2d, 2g): a second input, the picture squeezed to
    ``PICTURE_SIDE``² (the runtime's ``animegan.engine.picture_thumbnail``, the same for every tile), goes through
    three stride-2 convs and a global average pool to a per-channel scale and shift of the 1/4 features. Both start
    at zero, so the model starts as exactly the ``FastGenerator`` it is grown from."""

    PICTURE_SIDE = 128
    GROWN_MODULES = ("picture_encoder", "picture_film")

    def __init__(self, width: float = 1.0, blocks: int = 4):
        super().__init__(width, blocks)
        self.picture_encoder = nn.Sequential(ConvBNReLU(3, 32, stride=2), ConvBNReLU(32, 64, stride=2),
                                             ConvBNReLU(64, 128, stride=2), nn.AdaptiveAvgPool2d(1),
                                             nn.Conv2d(128, 128, 1), nn.ReLU(inplace=True))
        self.picture_film = nn.Conv2d(128, 2 * _ch(128, width), 1)
        nn.init.zeros_(self.picture_film.weight)   # scale 1 and shift 0 until it has learned something
        nn.init.zeros_(self.picture_film.bias)

    def with_context(self, quarter: torch.Tensor, picture: torch.Tensor | None = None) -> torch.Tensor:
        if picture is None:
            raise ValueError("PictureStatsGenerator needs the picture's thumbnail")
        quarter = super().with_context(quarter, picture)
        scale, shift = self.picture_film(self.picture_encoder(picture)).chunk(2, dim=1)
        return quarter * (scale + 1.0) + shift


class PictureStatsHiresGenerator(PictureStatsGenerator):
    """``PictureStatsGenerator`` with more work at full resolution, where the teachers draw their finest lines
    (train/README.md 2g; the teachers' last full-resolution layers do ~7× our decoder's multiply-adds there):
    ``full_blocks`` inverted residual blocks between the decoder and the output conv. Each block's last BatchNorm starts
    at zero scale, so the model starts as exactly the ``fast_stats`` student it is grown from."""

    GROWN_MODULES = PictureStatsGenerator.GROWN_MODULES + ("full_refine",)

    def __init__(self, width: float = 1.0, blocks: int = 4, full_blocks: int = 2):
        super().__init__(width, blocks)
        self.full_refine = nn.Sequential(*[FastInvertedResBlock(_ch(32, width)) for _ in range(full_blocks)])
        for block in self.full_refine:
            nn.init.zeros_(block.layers[-1][1].weight)   # adds nothing until it has learned something

    def refined(self, full: torch.Tensor) -> torch.Tensor:
        return self.full_refine(full)


class ContextStatsGenerator(PictureStatsGenerator, ContextGenerator):
    """``ContextGenerator`` told the whole picture's statistics (``PictureStatsGenerator``; the film acts on the 1/4
    features the context branch has added to). Grown from a ``fast_stats`` (or ``context``) checkpoint, it starts as
    exactly that model."""

    GROWN_MODULES = PictureStatsGenerator.GROWN_MODULES + ContextGenerator.GROWN_MODULES


# --------------------------------------------------------------------------------------------- guided output
GUIDED_EPS = 5e-3   # the cartoon teacher's ε (read from its graph), for pictures in [-1, 1]


def box_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over each pixel's 3×3 neighbourhood, counting only the pixels inside the picture."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, eps: float = GUIDED_EPS) -> torch.Tensor:
    """Per-channel guided filter of radius 1 (He et al. 2010), as White-box Cartoonization ends its generator: a
    local linear fit ``a·guide + b`` to ``src`` whose slope falls to 0 where the guide is flatter than ``eps``."""
    mean_guide, mean_src = box_mean(guide), box_mean(src)
    variance = box_mean(guide * guide) - mean_guide * mean_guide
    slope = (box_mean(guide * src) - mean_guide * mean_src) / (variance + eps)
    return box_mean(slope) * guide + box_mean(mean_src - slope * mean_guide)


class GuidedOutput:
    """Mixin: the generator's picture (not yet clipped: the teacher's reaches ±2 before its filter), guided-filtered
    by the photo. Adds no weights, so a guided student starts from the unguided one's checkpoint."""

    def forward(self, x: torch.Tensor, *picture: torch.Tensor) -> torch.Tensor:
        return torch.clamp(guided_filter(x, self.unclipped(x, *picture)), -1.0, 1.0)


class GuidedContextGenerator(GuidedOutput, ContextGenerator):
    """``ContextGenerator`` ending in the guided filter."""


class GuidedContextStatsGenerator(GuidedOutput, ContextStatsGenerator):
    """``ContextStatsGenerator`` ending in the guided filter. Grown from a ``context_guided`` checkpoint, it starts as
    exactly that model."""


class GuidedUNetGenerator(GuidedOutput, UNetGenerator):
    """``UNetGenerator`` ending in the guided filter."""


# architecture name → (class, its keyword arguments besides the width)
GENERATORS: dict[str, tuple[type[nn.Module], dict]] = {
    "classic": (Generator, {}),
    "fast": (FastGenerator, {}),
    "unet": (UNetGenerator, {}),
    "unet_hires": (UNetGenerator, {"channels": HIRES_CHANNELS}),
    "context": (ContextGenerator, {}),
    "fast_stats": (PictureStatsGenerator, {}),
    "fast_stats_hires": (PictureStatsHiresGenerator, {}),
    "context_stats": (ContextStatsGenerator, {}),
    "context_guided": (GuidedContextGenerator, {}),
    "context_guided_stats": (GuidedContextStatsGenerator, {}),
    "unet_guided": (GuidedUNetGenerator, {}),
}
ARCHITECTURES = tuple(GENERATORS)


def build_generator(arch: str = "classic", width: float = 1.0) -> nn.Module:
    """Build a generator by architecture name (one of ``ARCHITECTURES``) and width multiplier."""
    if arch not in GENERATORS:
        raise ValueError(f"unknown generator architecture {arch!r}; choose from {ARCHITECTURES}")
    cls, kwargs = GENERATORS[arch]
    return cls(width, **kwargs)


def generator_multiple(arch: str) -> int:
    """What the sides of a picture must be a multiple of for this architecture."""
    return getattr(GENERATORS.get(arch, (None, {}))[0], "MULTIPLE", 4)


def picture_side(model: nn.Module | str) -> int | None:
    """Side of the whole-picture thumbnail a generator (or an architecture, by name) takes as its second input
    (``animegan.engine.PICTURE_INPUT``), or None if it takes none."""
    return getattr(GENERATORS[model][0] if isinstance(model, str) else model, "PICTURE_SIDE", None)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every Conv2d→BatchNorm2d pair into the convolution (eval mode); used before ONNX export."""
    model.eval()
    for module in model.modules():
        children = list(module.named_children())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                setattr(module, name_a, torch.nn.utils.fusion.fuse_conv_bn_eval(a, b))
                setattr(module, name_b, nn.Identity())
    return model


# --------------------------------------------------------------------------------------------- discriminator
class Discriminator(nn.Module):
    """AnimeGANv2 patch discriminator: spectral-normalised convs, LayerNorm-style GroupNorm(1), LeakyReLU(0.2)."""

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        ch = channels // 2
        modules: list[nn.Module] = [spectral_norm(nn.Conv2d(3, ch, 3, 1, 1)), nn.LeakyReLU(0.2, inplace=True)]
        cin = ch
        for _ in range(1, layers):
            modules += [
                spectral_norm(nn.Conv2d(cin, ch * 2, 3, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
                spectral_norm(nn.Conv2d(ch * 2, ch * 4, 3, 1, 1)), nn.GroupNorm(1, ch * 4), nn.LeakyReLU(0.2, inplace=True),
            ]
            cin, ch = ch * 4, ch * 2
        modules += [
            spectral_norm(nn.Conv2d(cin, ch * 4, 3, 1, 1)), nn.GroupNorm(1, ch * 4), nn.LeakyReLU(0.2, inplace=True),
            spectral_norm(nn.Conv2d(ch * 4, 1, 3, 1, 1)),
        ]
        self.net = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())
