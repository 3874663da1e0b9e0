"""Face-restoration networks of the real architectures' size, random weights, as ONNX.

No restoration weights can be downloaded here, but a network's cost does not depend on
its weights. These are our own PyTorch modules with the layers of each published
architecture at 512 px (channels, kernels, resolutions and skip paths as in the
projects' architecture definitions), exported to the layout users bring (``input``
[1,3,512,512] in [-1,1], plus ``weight`` [1] double for CodeFormer):

* ``gfpgan``: GFPGAN v1.4 (``GFPGANv1Clean``, channel multiplier 2, a style code per
  layer, SFT on half the channels): a U-Net whose up path makes SFT scale and shift for
  a StyleGAN2 decoder of modulated convolutions.
* ``gpen``: GPEN-BFR-512: a strided convolutional encoder whose features replace
  StyleGAN2's noise, concatenated (so the decoder's convolutions take twice the channels),
  with transposed-convolution upsampling and blur.
* ``codeformer``: CodeFormer: a VQGAN encoder (64 channels x (1,2,2,4,4,8), two residual
  blocks per level, attention at 16 px), a 9-layer, 512-wide transformer predicting
  1024 codes, the VQGAN generator, and fidelity-weighted fusion at 32-256 px.
* ``restoreformer``: RestoreFormer (the GFPGAN project's version): the same VQ encoder
  layout with 8-head attention, and a decoder of three residual blocks per level that
  cross-attends to the encoder at 16 px.

What is left out costs no multiply-accumulates worth counting: StyleGAN2's noise
injection (random per call), activation scaling, the unused style MLP (the exports take
the style code as latent). :func:`count_cost` counts MACs and parameters from the ONNX
graph itself, so the tables state exactly what was timed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

SIZE = 512
MODELS = ("gfpgan", "gpen", "codeformer", "restoreformer")


def stylegan_channels(multiplier: int = 2, narrow: float = 1.0) -> dict[int, int]:
    """StyleGAN2's channels per resolution."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * multiplier, 128: 128 * multiplier}
    base |= {256: 64 * multiplier, 512: 32 * multiplier}
    return {resolution: int(c * narrow) for resolution, c in base.items()}


class ModulatedConv(nn.Module):
    """StyleGAN2's convolution whose weights a style vector scales (and demodulates)."""

    def __init__(self, inputs, outputs, kernel, style=512, demodulate=True, up="none"):
        super().__init__()
        self.weight = nn.Parameter(
            torch.randn(outputs, inputs, kernel, kernel) / math.sqrt(inputs * kernel**2)
        )
        self.modulation = nn.Linear(style, inputs)
        self.demodulate, self.up, self.padding = demodulate, up, kernel // 2
        if up == "transposed":  # GPEN: stride-2 transposed convolution, then a 4-tap blur
            blur = torch.tensor([1.0, 3.0, 3.0, 1.0])
            blur = (blur[:, None] * blur[None, :]) / 16
            self.register_buffer("blur", blur.expand(outputs, 1, 4, 4).clone())

    def forward(self, x, style):
        weight = self.weight * self.modulation(style).view(1, -1, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        if self.up == "bilinear":
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if self.up == "transposed":
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2, padding=0)
            return F.conv2d(x, self.blur, padding=1, groups=x.shape[1])
        return F.conv2d(x, weight, padding=self.padding)


def _leaky(x):
    return F.leaky_relu(x, 0.2)


class UNetResBlock(nn.Module):
    """GFPGAN's residual block: conv, resample (bilinear), conv, plus a 1x1 skip."""

    def __init__(self, inputs, outputs, scale):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, inputs, 3, padding=1)
        self.conv2 = nn.Conv2d(inputs, outputs, 3, padding=1)
        self.skip = nn.Conv2d(inputs, outputs, 1, bias=False)
        self.scale = scale

    def forward(self, x):
        out = F.interpolate(_leaky(self.conv1(x)), scale_factor=self.scale, mode="bilinear")
        skip = self.skip(F.interpolate(x, scale_factor=self.scale, mode="bilinear"))
        return _leaky(self.conv2(out)) + skip


class GfpganV14(nn.Module):
    """GFPGAN v1.4 at 512 px: U-Net (half channels) -> SFT conditions + style codes -> StyleGAN2."""

    def __init__(self):
        super().__init__()
        unet = {r: c // 2 for r, c in stylegan_channels().items()}
        decoder = stylegan_channels()
        levels = [2**i for i in range(3, 10)]  # 8 ... 512
        self.first = nn.Conv2d(3, unet[SIZE], 1)
        self.down = nn.ModuleList(
            UNetResBlock(unet[r], unet[r // 2], 0.5) for r in reversed(levels)
        )
        self.final = nn.Conv2d(unet[4], unet[4], 3, padding=1)
        self.style = nn.Linear(unet[4] * 16, 16 * 512)  # one 512-wide code per layer
        self.up = nn.ModuleList(UNetResBlock(unet[r // 2], unet[r], 2) for r in levels)
        self.conditions = nn.ModuleList(
            nn.ModuleList(
                nn.Sequential(nn.Conv2d(unet[r], unet[r], 3, padding=1), nn.LeakyReLU(0.2),
                              nn.Conv2d(unet[r], unet[r], 3, padding=1))
                for _ in ("scale", "shift")
            )
            for r in levels
        )  # fmt: skip
        self.constant = nn.Parameter(torch.randn(1, decoder[4], 4, 4))
        self.conv_first = ModulatedConv(decoder[4], decoder[4], 3)
        self.rgb_first = ModulatedConv(decoder[4], 3, 1, demodulate=False)
        self.convs = nn.ModuleList()
        self.rgbs = nn.ModuleList()
        for r in levels:
            self.convs.append(ModulatedConv(decoder[r // 2], decoder[r], 3, up="bilinear"))
            self.convs.append(ModulatedConv(decoder[r], decoder[r], 3))
            self.rgbs.append(ModulatedConv(decoder[r], 3, 1, demodulate=False))

    def forward(self, x):
        feature = _leaky(self.first(x))
        skips = []
        for block in self.down:
            feature = block(feature)
            skips.insert(0, feature)
        feature = _leaky(self.final(feature))
        styles = self.style(feature.flatten(1)).view(16, 1, 512)
        conditions = []
        for block, (scale, shift), skip in zip(self.up, self.conditions, skips, strict=True):
            feature = block(feature + skip)
            conditions.append((scale(feature), shift(feature)))
        out = _leaky(self.conv_first(self.constant, styles[0]))
        image = self.rgb_first(out, styles[1])
        for level, (scale, shift) in enumerate(conditions):
            out = _leaky(self.convs[2 * level](out, styles[2 * level + 1]))
            half = out.shape[1] // 2  # SFT on half of the channels
            out = torch.cat([out[:, :half], out[:, half:] * scale + shift], dim=1)
            out = _leaky(self.convs[2 * level + 1](out, styles[2 * level + 2]))
            image = F.interpolate(image, scale_factor=2, mode="bilinear") + self.rgbs[level](
                out, styles[2 * level + 3]
            )
        return image


class Gpen512(nn.Module):
    """GPEN-BFR-512: strided encoder; its features, concatenated, replace StyleGAN2's noise."""

    def __init__(self):
        super().__init__()
        channels = stylegan_channels()
        levels = [2**i for i in range(3, 10)]
        self.first = nn.Conv2d(3, channels[SIZE], 1)
        self.down = nn.ModuleList(
            nn.Conv2d(channels[r], channels[r // 2], 3, stride=2, padding=1)
            for r in reversed(levels)
        )
        self.style = nn.Linear(channels[4] * 16, 512)
        self.mapping = nn.Sequential(*[nn.Linear(512, 512) for _ in range(8)])
        self.constant = nn.Parameter(torch.randn(1, channels[4], 4, 4))
        self.conv_first = ModulatedConv(channels[4], channels[4], 3)
        self.rgb_first = ModulatedConv(2 * channels[4], 3, 1, demodulate=False)
        self.convs, self.rgbs = nn.ModuleList(), nn.ModuleList()
        for r in levels:
            self.convs.append(ModulatedConv(2 * channels[r // 2], channels[r], 3, up="transposed"))
            self.convs.append(ModulatedConv(2 * channels[r], channels[r], 3))
            self.rgbs.append(ModulatedConv(2 * channels[r], 3, 1, demodulate=False))

    def forward(self, x):
        features = [_leaky(self.first(x))]
        for conv in self.down:
            features.append(_leaky(conv(features[-1])))
        style = self.mapping(self.style(features[-1].flatten(1)))
        features = features[::-1]  # 4 px first
        out = torch.cat([_leaky(self.conv_first(self.constant, style)), features[0]], dim=1)
        image = self.rgb_first(out, style)
        for level in range(len(self.rgbs)):
            noise = features[level + 1]
            out = torch.cat([_leaky(self.convs[2 * level](out, style)), noise], dim=1)
            out = torch.cat([_leaky(self.convs[2 * level + 1](out, style)), noise], dim=1)
            image = F.interpolate(image, scale_factor=2, mode="bilinear") + self.rgbs[level](
                out, style
            )
        return image


def _norm(channels):
    return nn.GroupNorm(32, channels, eps=1e-6)


class VqResBlock(nn.Module):
    """The VQGAN residual block: norm, swish, conv, norm, swish, conv, plus a 1x1 skip."""

    def __init__(self, inputs, outputs):
        super().__init__()
        self.norm1, self.conv1 = _norm(inputs), nn.Conv2d(inputs, outputs, 3, padding=1)
        self.norm2, self.conv2 = _norm(outputs), nn.Conv2d(outputs, outputs, 3, padding=1)
        self.skip = nn.Conv2d(inputs, outputs, 1) if inputs != outputs else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class Attention(nn.Module):
    """Multi-head attention over the pixels of a feature map, optionally to another map."""

    def __init__(self, channels, heads=1):
        super().__init__()
        self.norm, self.context_norm = _norm(channels), _norm(channels)
        self.q, self.k, self.v, self.out = (nn.Conv2d(channels, channels, 1) for _ in range(4))
        self.heads, self.scale = heads, 1.0 / math.sqrt(channels // heads)

    def forward(self, x, context=None):
        h = self.norm(x)
        query_source = h if context is None else self.context_norm(context)
        b, c, height, width = x.shape

        def split(t):
            return t.reshape(b, self.heads, c // self.heads, height * width)

        q, k, v = split(self.q(query_source)), split(self.k(h)), split(self.v(h))
        weights = torch.softmax(q.transpose(2, 3) @ k * self.scale, dim=-1)
        attended = (v @ weights.transpose(2, 3)).reshape(b, c, height, width)
        return x + self.out(attended)


def _downsample(channels):
    return nn.Conv2d(channels, channels, 3, stride=2, padding=1)


class _Upsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


VQ_MULTIPLIERS = (1, 2, 2, 4, 4, 8)  # 512, 256, 128, 64, 32, 16 px; 64 channels each


class VqEncoder(nn.Module):
    """The VQGAN encoder at 512 px: 2 residual blocks per level, attention at 16 px."""

    def __init__(self, heads=1, latent=256):
        super().__init__()
        self.conv_in = nn.Conv2d(3, 64, 3, padding=1)
        self.levels = nn.ModuleList()
        inputs = 64
        for level, multiplier in enumerate(VQ_MULTIPLIERS):
            outputs = 64 * multiplier
            blocks = nn.ModuleList([VqResBlock(inputs, outputs), VqResBlock(outputs, outputs)])
            attention = nn.ModuleList(Attention(outputs, heads) for _ in range(2) if level == 5)
            down = _downsample(outputs) if level < 5 else nn.Identity()
            self.levels.append(nn.ModuleList([blocks, attention, down]))
            inputs = outputs
        self.mid = nn.ModuleList(
            [VqResBlock(512, 512), Attention(512, heads), VqResBlock(512, 512)]
        )
        self.norm_out, self.conv_out = _norm(512), nn.Conv2d(512, latent, 3, padding=1)

    def forward(self, x):
        """The latent, with the features before each downsampling by resolution."""
        h = self.conv_in(x)
        features = {}
        for level, (blocks, attention, down) in enumerate(self.levels):
            for position, block in enumerate(blocks):
                h = block(h)
                if len(attention):
                    h = attention[position](h)
            features[SIZE >> level] = h
            h = down(h)
        h = self.mid[0](h)
        features["mid_in"] = h
        h = self.mid[2](self.mid[1](h))
        features["mid"] = h
        return self.conv_out(F.silu(self.norm_out(h))), features


class FidelityFusion(nn.Module):
    """CodeFormer's controllable feature transform: encoder features into the decoder, by w."""

    def __init__(self, channels):
        super().__init__()
        self.encode = VqResBlock(2 * channels, channels)
        self.scale, self.shift = (
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
                          nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(2)
        )  # fmt: skip

    def forward(self, encoder, decoder, weight):
        features = self.encode(torch.cat([encoder, decoder], dim=1))
        return decoder + weight * (decoder * self.scale(features) + self.shift(features))


class VqDecoder(nn.Module):
    """The VQGAN generator from 16 px: ``blocks`` residual blocks per level, attention at 16."""

    def __init__(self, blocks=2, heads=1, latent=256):
        super().__init__()
        self.conv_in = nn.Conv2d(latent, 512, 3, padding=1)
        self.mid = nn.ModuleList(
            [VqResBlock(512, 512), Attention(512, heads), VqResBlock(512, 512)]
        )
        self.levels = nn.ModuleList()
        inputs = 512
        for level in reversed(range(6)):
            outputs = 64 * VQ_MULTIPLIERS[level]
            stack = nn.ModuleList(
                VqResBlock(inputs if i == 0 else outputs, outputs) for i in range(blocks)
            )
            attention = nn.ModuleList(
                Attention(outputs, heads) for _ in range(blocks) if level == 5
            )
            up = _Upsample(outputs) if level > 0 else nn.Identity()
            self.levels.append(nn.ModuleList([stack, attention, up]))
            inputs = outputs
        self.norm_out, self.conv_out = _norm(64), nn.Conv2d(64, 3, 3, padding=1)

    def forward(self, z, features=None, after_first_block=None):
        """``after_first_block(resolution, h)`` may change h after each level's first block."""
        h = self.conv_in(z)
        context = None if features is None else features["mid"]
        h = self.mid[2](self.mid[1](self.mid[0](h), context))
        for index, (stack, attention, up) in enumerate(self.levels):
            resolution = 16 << index
            for position, block in enumerate(stack):
                h = block(h)
                if len(attention):
                    h = attention[position](h, None if features is None else features["mid_in"])
                if position == 0 and after_first_block is not None:
                    h = after_first_block(resolution, h)
            h = up(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class TransformerLayer(nn.Module):
    """CodeFormer's self-attention layer (pre-norm, learned positions, GELU feed-forward)."""

    def __init__(self, width=512, heads=8, hidden=1024):
        super().__init__()
        self.attention = nn.MultiheadAttention(width, heads)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.linear1, self.linear2 = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, tokens, position):
        h = self.norm1(tokens)
        tokens = tokens + self.attention(h + position, h + position, h, need_weights=False)[0]
        return tokens + self.linear2(F.gelu(self.linear1(self.norm2(tokens))))


class CodeFormer(nn.Module):
    """CodeFormer at 512 px, w the fidelity weight (``weight`` input, a double)."""

    def __init__(self):
        super().__init__()
        self.encoder = VqEncoder()
        self.position = nn.Parameter(torch.randn(256, 1, 512) * 0.02)
        self.embed = nn.Linear(256, 512)
        self.layers = nn.ModuleList(TransformerLayer() for _ in range(9))
        self.predict = nn.Sequential(nn.LayerNorm(512), nn.Linear(512, 1024, bias=False))
        self.codebook = nn.Parameter(torch.randn(1024, 256))
        self.decoder = VqDecoder(blocks=2)
        self.fusion = nn.ModuleDict(
            {str(r): FidelityFusion(c) for r, c in ((32, 256), (64, 256), (128, 128), (256, 128))}
        )

    def forward(self, x, weight):
        latent, features = self.encoder(x)
        tokens = self.embed(latent.flatten(2).permute(2, 0, 1))  # 256 tokens, batch 1
        for layer in self.layers:
            tokens = layer(tokens, self.position)
        codes = self.predict(tokens).argmax(dim=-1).flatten()
        quantized = self.codebook[codes].transpose(0, 1).reshape(1, 256, 16, 16)
        w = weight.to(torch.float32).reshape(1, 1, 1, 1)

        def fuse(resolution, h):
            key = str(resolution)
            return self.fusion[key](features[resolution], h, w) if key in self.fusion else h

        return self.decoder(quantized, after_first_block=fuse)


class RestoreFormer(nn.Module):
    """RestoreFormer at 512 px: VQ encoder (8 heads), codebook, cross-attending decoder."""

    def __init__(self):
        super().__init__()
        self.encoder = VqEncoder(heads=8)
        self.quant_conv, self.post_quant_conv = nn.Conv2d(256, 256, 1), nn.Conv2d(256, 256, 1)
        self.codebook = nn.Parameter(torch.randn(1024, 256))
        self.decoder = VqDecoder(blocks=3, heads=8)

    def forward(self, x):
        latent, features = self.encoder(x)
        z = self.quant_conv(latent).flatten(2).transpose(1, 2)[0]  # 256 x 256
        distances = (
            (z * z).sum(1, keepdim=True) - 2 * z @ self.codebook.t() + (self.codebook**2).sum(1)
        )
        quantized = self.codebook[distances.argmin(dim=1)].transpose(0, 1).reshape(1, 256, 16, 16)
        return self.decoder(self.post_quant_conv(quantized), features)


BUILDERS = {
    "gfpgan": GfpganV14,
    "gpen": Gpen512,
    "codeformer": CodeFormer,
    "restoreformer": RestoreFormer,
}


def export(name: str, path: Path, seed: int = 0) -> dict[str, float]:
    """Builds ``name`` with random weights and writes it as ONNX in the users' layout.

    Returns:
        Its cost: ``gmacs``, multiply-accumulates of one 512 px face (every convolution,
        linear layer and attention product, counted by PyTorch's FLOP counter during a
        forward pass), and ``parameters_millions``, the weights stored in the file.
    """
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(seed)
    model = BUILDERS[name]().eval()
    image = torch.zeros(1, 3, SIZE, SIZE)
    if name == "codeformer":
        arguments, names = (image, torch.tensor([0.7], dtype=torch.float64)), ["input", "weight"]
    else:
        arguments, names = (image,), ["input"]
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            model(*arguments)
        torch.onnx.export(
            model, arguments, str(path), input_names=names, output_names=["output"],
            opset_version=17, dynamo=False,
        )  # fmt: skip
    return {
        "gmacs": counter.get_total_flops() / 2e9,
        "parameters_millions": _stored_parameters(path),
    }


def _stored_parameters(path: Path) -> float:
    """Millions of numbers in the ONNX file's initialisers."""
    import onnx

    model = onnx.load(str(path))
    return sum(int(np.prod(tensor.dims)) for tensor in model.graph.initializer) / 1e6
