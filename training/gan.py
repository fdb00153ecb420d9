"""Adversarial losses: a small patch discriminator that tells B's real faces from decoder B's (the last phase),
and a code discriminator that tells A's shared codes from B's (DeepFaceLab's "true face").

L1 and DSSIM reward the mean of what the model cannot yet place exactly, and the mean is a blur: pores,
stubble and the edges of the eyes come out smooth. A discriminator that judges local patches charges
for that smoothness itself. As in DeepFaceLab (its `gan_power`, started late in a run), it is switched
on only for the last share of a run, once the face is in place, and it judges decoder B only: B's face
is the one the A->B model draws. Both images are masked by B's landmark hull, so only the face counts.

`--gan W` sets the generator's weight (0: off), `--gan-share` the share of the run it is on for.

Decoder B learns only from the codes B's faces make, and the swap feeds it the codes A's faces make. Where the
encoder writes who is in front of it into the code (as one pretrained on many people does), A's codes lie where
decoder B never learned, and it draws a blend that keeps some of A. DeepFaceLab's `true_face_power` closes that
gap: a code discriminator learns to tell A's codes from B's, and the encoder pays for every B code it can tell
apart, so B's codes come to look like A's and decoder B learns on the codes the swap will feed it.
`--true-face W` sets that weight (0: off); it is on for the whole run.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GRID = 16  # the default discriminator's logit map is at most GRID x GRID: one logit per patch of the face


def patch_size(stages: int) -> int:
    """The receptive field in px of a discriminator with `stages` stride-2 4x4 convs and its last 3x3 conv."""
    return 5 * 2 ** stages - 2


def stages_for(resolution: int, patch: int | None) -> int:
    """How many stride-2 stages judge patches of about `patch` px of a `resolution` px face (None: down to a GRID x
    GRID map, patches of about 0.3 of the face: 38 px at 128 px, 78 at 256)."""
    if patch is None:
        stages = 3
        while resolution // 2 ** stages > GRID:
            stages += 1
        return stages
    fitting = [n for n in range(1, 8) if resolution // 2 ** n >= 2]
    return min(fitting, key=lambda n: (abs(patch_size(n) - patch), n))


class PatchDiscriminator(nn.Module):
    """Stride-2 4x4 convs (three at 128 px, four at 256 px by default; fewer judge smaller patches), then one
    logit per patch.

    About 75 MMAC a 128 px face by default: a quarter of decoder B's cost, so the phase it runs in stays cheap on a
    CPU. `patch`: the receptive field asked for, in px of the face (`stages_for`).
    """

    def __init__(self, resolution: int, channels: tuple[int, ...] = (32, 64, 128), patch: int | None = None):
        super().__init__()
        widths = list(channels)
        stages = stages_for(resolution, patch)
        while len(widths) < stages:
            widths.append(widths[-1])
        layers, cin = [], 3
        for cout in widths[:stages]:
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, R, R) faces in [0, 1] -> (N, 1, R / 2^stages, R / 2^stages) logits (real: positive)."""
        return self.net(x * 2.0 - 1.0)


def generator_loss(discriminator: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(fake), averaged over patches. The discriminator's own weights get no
    gradient from it (they are frozen while it runs), only the faces do."""
    flags = [p.requires_grad for p in discriminator.parameters()]
    for p in discriminator.parameters():
        p.requires_grad_(False)
    try:
        return F.softplus(-discriminator(fake).float()).mean()
    finally:
        for p, flag in zip(discriminator.parameters(), flags):
            p.requires_grad_(flag)


def discriminator_loss(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """-log D(real) - log(1 - D(fake)), averaged over patches; `fake` is detached here."""
    logits = discriminator(torch.cat([real, fake.detach()])).float()
    real_logits, fake_logits = logits.split([len(real), len(fake)])
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def make_discriminator(resolution: int, lr: float, device: torch.device, patch: int | None = None
                       ) -> tuple[PatchDiscriminator, torch.optim.Optimizer]:
    """A fresh discriminator for `resolution` px faces (judging patches of about `patch` px) and its AdamW (the
    trainer's betas, no weight decay)."""
    return with_optimizer(PatchDiscriminator(resolution, patch=patch), lr, device)


class CodeDiscriminator(nn.Module):
    """Two stride-2 3x3 convs over the (C, R/8, R/8) shared code, a mean over the map, one logit: about 12 MMAC a
    face for the fast preset's code (128 channels at 16 x 16)."""

    def __init__(self, channels: int, width: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(width, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) codes -> (N, 1) logits (positive: a code of A's faces)."""
        return self.net(code)


def make_code_discriminator(channels: int, lr: float, device: torch.device) -> tuple[CodeDiscriminator,
                                                                                      torch.optim.Optimizer]:
    """A fresh code discriminator for `channels`-channel codes and its AdamW."""
    return with_optimizer(CodeDiscriminator(channels), lr, device)


def with_optimizer(discriminator: nn.Module, lr: float, device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer]:
    """`discriminator` on `device` in channels_last, and its AdamW (the trainer's betas, no weight decay)."""
    discriminator = discriminator.to(device).to(memory_format=torch.channels_last)
    return discriminator, torch.optim.AdamW(discriminator.parameters(), lr=lr, betas=(0.5, 0.999), weight_decay=0.0)
