"""The network: one encoder shared by both identities, one decoder per identity (DeepFaceLab 'DF' shape).

    face A ─┐                         ┌─ decoder A ─► face A', mask A
            ├─► encoder (shared) ─► z ┤
    face B ─┘                         └─ decoder B ─► face B', mask B

The encoder (optionally after folding 2x2 pixel blocks into channels, `unshuffle`) downsamples the
crop by 16, squeezes it through a dense bottleneck (`latent`), and expands it back to a small map.
Each decoder upsamples that map; its heads then predict a face (3 channels, RGB in [0, 1]) and a
mask (1 channel in [0, 1]) as sub-pixel convolutions (`head_scale` x `head_scale` blocks), so no
full-resolution feature map is computed (except in a full-resolution decoder B, below).
Swapping is encoder + the *other* decoder: `model.path("a2b")` is what gets exported. Decoder B may be wider
than decoder A (`dec_b_channels`), and may go on to the full resolution with one more upscale and predict pixels
rather than blocks (`dec_b_head_scale` 1): a pair started from a pretrained run draws it anew, so its shape is free.

`arch="liae"` is DeepFaceLab's LIAE shape instead, at the same encoder and decoder widths:

    face ─► encoder (shared convs) ─► f ─┬─► inter A  ─┐
                                         └─► inter AB ─┴─► concat ─► decoder (shared) ─► face, mask

A's faces are drawn from [inter A, inter AB] of their features, B's from [inter AB, inter AB], and the swap A->B
from [inter AB, inter AB] of A's features: one decoder draws both people, and what tells it to draw B is that both
halves of its code come from inter AB. Each inter is a dense bottleneck, an expansion and an upscale to half the
code channels of DF, so the decoder is DF's. `decoder_a` and `decoder_b` are the two routes through these shared
parts (`LiaeRoute`), so training, export and the swap path use them as they use DF's decoders.

`python -m training.model` prints every preset's parameter count and the MACs of its A->B path.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class ModelConfig:
    """The whole network shape in one place; `PRESETS` names the usual ones."""

    resolution: int = 128
    enc_channels: tuple[int, ...] = (32, 64, 128, 128)  # one stride-2 conv each: resolution / 16 at the end
    latent: int = 256                                   # dense bottleneck width
    inter_channels: int = 128                           # channels of the map the bottleneck expands to
    dec_channels: tuple[int, ...] = (64, 32)            # one 2x upscale each, from resolution / 8 to / 2
    res_blocks: int = 1                                 # residual blocks after each decoder upscale
    unshuffle: int = 1    # space-to-depth on the input: the encoder starts at resolution / unshuffle
    head_scale: int = 2   # the heads predict head_scale x head_scale blocks: the decoder stops at resolution / this
    dec_b_channels: tuple[int, ...] = ()                # decoder B's own upscale widths; () = dec_channels
    dec_b_head_scale: int = 0                           # decoder B's own head scale; 0 = head_scale
    arch: str = "df"      # df: a decoder per person; liae: one decoder, a dense "inter" per route (module docstring)

    @property
    def decoder_b_channels(self) -> tuple[int, ...]:
        """The upscale widths of decoder B, the swap path's decoder."""
        return self.dec_b_channels or self.dec_channels

    @property
    def decoder_b_head_scale(self) -> int:
        """The block size decoder B's heads predict (1: it upscales to the full resolution and predicts pixels)."""
        return self.dec_b_head_scale or self.head_scale

    def to_dict(self) -> dict:
        """Plain-JSON form (lists, ints) for checkpoints and model metadata."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Inverse of to_dict; unknown keys are an error."""
        fields = cls.__dataclass_fields__
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


PRESETS: dict[str, ModelConfig] = {
    # 128 px, 0.50 GMAC and 5.8 M weights for the A->B path: real time on a 2-core CPU. The last encoder
    # stage has 128 channels, not 256: that halves the first dense layer, the biggest weight read per face.
    "fast": ModelConfig(),
    # 256 px on a CPU budget (0.96 GMAC): the 256 px input folded 2x2 into channels, the fast encoder, and one more
    # decoder stage; the crop resolution, not the network width, is what a 720p or 1080p face needed.
    "hd": ModelConfig(resolution=256, dec_channels=(64, 32, 32), unshuffle=2),
    # 256 px, sized like DeepFaceLab's DF at ae_dims 256: for training on a GPU.
    "quality": ModelConfig(resolution=256, enc_channels=(64, 128, 256, 512), latent=512,
                           inter_channels=512, dec_channels=(256, 128), res_blocks=2),
}


# The network shapes. DF is the default: LIAE lost to it at 30 CPU-minutes (quality_bench, AMD machine): its pairs from
# random weights were further from B (distance 0.446 and 0.456 against 0.407), no sharper, its eyes followed A's less,
# and its any-face model met the targets for none of 5 unseen people (DF: 3). Figures in the README.
ARCHS = ("df", "liae")

# How much wider than the preset's decoder B is, for a pair started from a pretrained run with decoder B drawn anew
# (the other weights come from that run, so only decoder B can change shape). For the fast pair 1.5x (0.75 GMAC A->B
# against 0.42) brought the swap nearer B in the same 30 CPU-minutes, at 12% fewer steps (distance to B 0.414 and
# 0.454 against 0.454 and 0.514, two seeds; mouth 0.90 and 0.95; quality_bench from the 7,200-step pretraining).
# From random weights it was not measured for a pair, so a pair from scratch keeps the preset's; on the fast any-face
# model (a pool as A, from random weights) 1.5x made 31% fewer steps and turned fewer unseen people into B (1 of 5
# against 3, seed 0), so pools keep it too.
PAIR_DECODER_B_WIDTH = {"fast": 1.5}

# What of a starting run's weights --init-fresh draws anew: none; the encoder's "inter" part (its dense
# bottleneck, the expansion and the first upscale), the layers DeepFaceLab's DF resets when pretraining ends;
# or decoder B, so that the swap path's decoder has only ever drawn B.
INIT_FRESH = {"none": (), "inter": ("encoder.bottleneck.", "encoder.expand.", "encoder.up."),
              "decoder_b": ("decoder_b.",)}


def scale_config(cfg: ModelConfig, width: float = 1.0, resolution: int | None = None,
                 decoder_b_width: float = 1.0, decoder_b_full_res: bool = False) -> ModelConfig:
    """`cfg` with every channel count and the latent width multiplied by `width`, optionally at another resolution;
    decoder B's upscale widths are multiplied by `decoder_b_width` as well. `decoder_b_full_res`: decoder B goes on
    upscaling, each stage half as wide as the one before (at least 8), to the full resolution, where its heads
    predict pixels (head scale 1)."""
    def ch(c: int, by: float = 1.0) -> int:
        return max(4, int(round(c * width * by)))

    dec_b = tuple(ch(c, decoder_b_width) for c in cfg.decoder_b_channels)
    dec = tuple(ch(c) for c in cfg.dec_channels)
    head_b = 0
    if decoder_b_full_res and cfg.decoder_b_head_scale > 1:
        head_b = 1
        for _ in range(cfg.decoder_b_head_scale.bit_length() - 1):
            dec_b += (max(8, dec_b[-1] // 2),)
    return replace(cfg, resolution=resolution or cfg.resolution, enc_channels=tuple(ch(c) for c in cfg.enc_channels),
                   latent=ch(cfg.latent), inter_channels=ch(cfg.inter_channels), dec_channels=dec,
                   dec_b_channels=() if dec_b == dec else dec_b, dec_b_head_scale=head_b or cfg.dec_b_head_scale)


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class Upscale(nn.Module):
    """2x upsampling by a conv to 4x the channels and a pixel shuffle."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _conv(cin, cout * 4)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        """(N, cin, H, W) -> (N, cout, 2H, 2W)."""
        return self.shuffle(F.leaky_relu(self.conv(x), 0.1))


class ResBlock(nn.Module):
    """Two 3x3 convs with a skip connection."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1, self.conv2 = _conv(ch, ch), _conv(ch, ch)

    def forward(self, x):
        """Same shape in and out."""
        y = self.conv2(F.leaky_relu(self.conv1(x), 0.2))
        return F.leaky_relu(x + y, 0.2)


def _inter_layers(part: nn.Module, features: int, latent: int, channels: int, low: int) -> None:
    """Give `part` an inter part's layers: a dense bottleneck, an expansion to a (channels, low, low) map and a 2x
    upscale (DF's encoder ends in them, under these names; each LIAE inter part is one)."""
    part.low, part.channels = low, channels
    part.bottleneck = nn.Linear(features, latent)
    part.expand = nn.Linear(latent, channels * low * low)
    part.up = Upscale(channels, channels)


def _inter_code(part: nn.Module, f: torch.Tensor) -> torch.Tensor:
    """(N, features) -> (N, channels, 2 low, 2 low) through the layers `_inter_layers` gave `part`."""
    return part.up(part.expand(part.bottleneck(f)).view(-1, part.channels, part.low, part.low))


class Inter(nn.Module):
    """LIAE's inter part: dense bottleneck, expansion to a (channels, R/16, R/16) map, 2x upscale."""

    def __init__(self, features: int, latent: int, channels: int, low: int):
        super().__init__()
        _inter_layers(self, features, latent, channels, low)

    def forward(self, f):
        """(N, features) -> (N, channels, R/8, R/8)."""
        return _inter_code(self, f)


class Encoder(nn.Module):
    """Shared encoder: strided convs, then (DF) a dense bottleneck and an expansion to a (inter, R/8, R/8) map; for
    LIAE it stops at the flattened conv features, which each route's inter parts read."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.unshuffle = nn.PixelUnshuffle(cfg.unshuffle) if cfg.unshuffle > 1 else nn.Identity()
        layers, cin = [], 3 * cfg.unshuffle ** 2
        for i, cout in enumerate(cfg.enc_channels):
            k = 5 if i == 0 else 3  # a wide first kernel is cheap on 3 channels
            layers += [nn.Conv2d(cin, cout, k, stride=2, padding=k // 2), nn.LeakyReLU(0.1)]
            cin = cout
        self.down = nn.Sequential(*layers)
        self.low = cfg.resolution // (cfg.unshuffle * 2 ** len(cfg.enc_channels))
        self.features = cin * self.low * self.low
        self.df = cfg.arch == "df"
        if self.df:  # DF: the encoder ends in the inter layers (weights named encoder.bottleneck, .expand, .up)
            _inter_layers(self, self.features, cfg.latent, cfg.inter_channels, self.low)

    def forward(self, x):
        """(N, 3, R, R) faces -> (N, inter, R/8, R/8) shared code (LIAE: (N, features) conv features)."""
        f = torch.flatten(self.down(self.unshuffle(x)), 1)
        return _inter_code(self, f) if self.df else f


class Decoder(nn.Module):
    """One identity's decoder: upscales to resolution / head_scale, then sub-pixel face and mask heads."""

    def __init__(self, cfg: ModelConfig, channels: tuple[int, ...] | None = None, head_scale: int | None = None):
        super().__init__()
        cin = cfg.inter_channels
        blocks = []
        for cout in channels or cfg.dec_channels:
            blocks.append(Upscale(cin, cout))
            blocks += [ResBlock(cout) for _ in range(cfg.res_blocks)]
            cin = cout
        self.body = nn.Sequential(*blocks)
        head_scale = head_scale or cfg.head_scale
        self.head = _conv(cin, 4 * head_scale ** 2)  # 3 face + 1 mask channels, each as sub-pixel blocks
        self.shuffle = nn.PixelShuffle(head_scale) if head_scale > 1 else nn.Identity()

    def forward(self, y):
        """Shared code -> (face (N, 3, R, R), mask (N, 1, R, R)), both in [0, 1]."""
        out = torch.sigmoid(self.shuffle(self.head(self.body(y))))
        return out[:, :3], out[:, 3:]


class LiaeRoute(nn.Module):
    """One way through LIAE's shared parts: the concatenated codes of two inter parts (the same one twice for B and
    for the swap), then the one decoder. Same interface as a DF decoder: encoder output -> (face, mask)."""

    def __init__(self, first: Inter, second: Inter, decoder: Decoder):
        super().__init__()
        self.first, self.second, self.decoder = first, second, decoder

    def forward(self, f):
        """Encoder features (N, features) -> (face (N, 3, R, R), mask (N, 1, R, R))."""
        y = self.first(f)
        return self.decoder(torch.cat([y, y if self.second is self.first else self.second(f)], 1))


class SwapModel(nn.Module):
    """The shared encoder and the two decoders, trained together."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        low = cfg.resolution // (cfg.unshuffle * 2 ** len(cfg.enc_channels))
        if low < 1 or low * 2 ** (len(cfg.dec_channels) + 1) * cfg.head_scale != cfg.resolution:
            raise ValueError(f"resolution {cfg.resolution} does not fit a {cfg.unshuffle}x unshuffle, "
                             f"{len(cfg.enc_channels)} downscales, {len(cfg.dec_channels)} + 1 upscales and a "
                             f"{cfg.head_scale}x head")
        if 2 ** len(cfg.decoder_b_channels) * cfg.decoder_b_head_scale != 2 ** len(cfg.dec_channels) * cfg.head_scale:
            raise ValueError(f"decoder B has {len(cfg.decoder_b_channels)} upscales and a {cfg.decoder_b_head_scale}x "
                             f"head, decoder A {len(cfg.dec_channels)} and a {cfg.head_scale}x head")
        if cfg.arch not in ARCHS:
            raise ValueError(f"unknown architecture {cfg.arch!r}; choose from {', '.join(ARCHS)}")
        if cfg.arch == "liae" and (cfg.dec_b_channels or cfg.dec_b_head_scale):
            raise ValueError("LIAE has one decoder for both people: decoder B cannot have a shape of its own")
        if cfg.arch == "liae" and cfg.inter_channels % 2:
            raise ValueError(f"LIAE splits the {cfg.inter_channels} code channels in two halves: it needs an even count")
        self.config = cfg
        self.encoder = Encoder(cfg)
        if cfg.arch == "df":
            self.decoder_a = Decoder(cfg)
            self.decoder_b = Decoder(cfg, cfg.decoder_b_channels, cfg.decoder_b_head_scale)
        else:  # the parts are shared between the two routes; named_parameters() lists each once
            inter_a, inter_ab = (Inter(self.encoder.features, cfg.latent, cfg.inter_channels // 2, low)
                                 for _ in range(2))
            decoder = Decoder(cfg)
            self.decoder_a = LiaeRoute(inter_a, inter_ab, decoder)
            self.decoder_b = LiaeRoute(inter_ab, inter_ab, decoder)

    def forward(self, x: torch.Tensor, identity: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode `x` (N, 3, R, R, RGB in [0, 1]) and decode it as `identity` ('a' or 'b')."""
        decoder = self.decoder_a if identity == "a" else self.decoder_b
        return decoder(self.encoder(x))

    def start_from(self, state: dict, fresh: str = "none") -> None:
        """Load another run's weights (`state`), keeping this model's own random weights for the parts that `fresh`
        names in INIT_FRESH."""
        own = {k: v.clone() for k, v in self.state_dict().items() if k.startswith(INIT_FRESH[fresh])}  # (): none
        self.load_state_dict({**{k: v for k, v in state.items() if not k.startswith(INIT_FRESH[fresh])}, **own})

    def path(self, direction: str = "a2b") -> "SwapPath":
        """The inference path for `direction` ('a2b': encoder + decoder B, 'b2a': encoder + decoder A)."""
        if direction not in ("a2b", "b2a"):
            raise ValueError(f"direction must be 'a2b' or 'b2a', not {direction!r}")
        return SwapPath(self.encoder, self.decoder_b if direction == "a2b" else self.decoder_a)


class SwapPath(nn.Module):
    """Encoder + one decoder: (N, 3, R, R) RGB [0, 1] in, (face, mask) out. This is what gets exported."""

    def __init__(self, encoder: Encoder, decoder: Decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x):
        """(N, 3, R, R) RGB [0, 1] -> (face, mask) of the decoder's identity."""
        return self.decoder(self.encoder(x))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_macs(module: nn.Module, resolution: int) -> int:
    """Multiply-accumulates of one forward pass on a single (1, 3, R, R) input, by PyTorch's FLOP counter
    (convolutions and matrix products; one MAC is two FLOPs). Works on meta-device modules too."""
    device = next(module.parameters()).device
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.zeros(1, 3, resolution, resolution, device=device))
    return counter.get_total_flops() // 2


def describe_presets() -> list[str]:
    """One line per preset: resolution, parameters (all, and of the A->B path) and A->B GMAC; and one per preset
    whose pairs started from a pretrained run get a wider decoder B."""
    networks = list(PRESETS.items())
    networks += [(f"{name}, a pair from --init (decoder B {wide:g}x)", scale_config(PRESETS[name], 1.0, None, wide))
                 for name, wide in PAIR_DECODER_B_WIDTH.items()]
    networks += [(f"{name}, a pair from --init with --decoder-b-full-res",
                  scale_config(PRESETS[name], 1.0, None, wide, decoder_b_full_res=True))
                 for name, wide in PAIR_DECODER_B_WIDTH.items()]
    networks += [(f"{name}, --arch liae", replace(cfg, arch="liae")) for name, cfg in PRESETS.items()]
    lines = []
    for name, cfg in networks:
        with torch.device("meta"):  # shapes only, no memory for the weights
            model = SwapModel(cfg)
        a2b = model.path("a2b")
        lines.append(f"{name:8s} {cfg.resolution} px  {count_parameters(model) / 1e6:7.2f} M parameters "
                     f"({count_parameters(a2b) / 1e6:.2f} M on the A->B path)  "
                     f"A->B {count_macs(a2b, cfg.resolution) / 1e9:.3f} GMAC")
    return lines


if __name__ == "__main__":
    print("\n".join(describe_presets()))
