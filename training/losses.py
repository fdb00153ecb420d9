"""Losses and metrics: DSSIM + L1 inside the face mask with eyes and mouth weighted up, optionally a second DSSIM
at a finer window, an L1 on image gradients (edges) and a focal frequency loss, a mask loss against the landmark hull,
and masked PSNR / SSIM for held-out faces.

All images are float (N, C, H, W) in [0, 1]; masks and weights are (N, 1, H, W).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from faces.cli import non_negative_float, positive_float, setting, share


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms."""

    dssim: float = 1.0
    l1: float = 1.0
    mask: float = 1.0
    eyes_mouth: float = setting(3.0, "loss weight of eyes and mouth against the rest of the face", type=positive_float)
    edges: float = setting(0.0, "loss weight of an L1 on image gradients (the horizontal and vertical pixel "
                           "differences of output and target), for fine detail", type=non_negative_float)
    dssim_fine: float = setting(0.0, "share of the DSSIM weight moved to a DSSIM at a window half as wide (5 px at "
                                "128 px; DeepFaceLab's 256 px models: 0.5)", type=share, metavar="SHARE")
    focal_freq: float = setting(0.0, "loss weight of a focal frequency loss (Jiang et al. 2021) on the masked faces' "
                                "spectra, for the detail pixel losses blur away", type=non_negative_float)


# The weights a training command line offers (--eyes-mouth ...), generated from the fields above.
LOSS_OPTIONS = ("eyes_mouth", "edges", "dssim_fine", "focal_freq")


def gaussian_window(size: int, sigma: float, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian kernel of odd length `size`."""
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2.0
    w = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return w / w.sum()


def _blur(t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of every channel, valid part only (depthwise; channels_last is much faster on CPU)."""
    c = t.shape[1]
    t = t.contiguous(memory_format=torch.channels_last)
    t = F.conv2d(t, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(t, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _blur_adjoint(t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The adjoint of `_blur`: spreads a valid-size map back over the full image."""
    c = t.shape[1]
    t = t.contiguous(memory_format=torch.channels_last)
    t = F.conv_transpose2d(t, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv_transpose2d(t, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


C1, C2 = 0.01 ** 2, 0.03 ** 2


class _SSIMMap(torch.autograd.Function):
    """SSIM map with a hand-written backward: three blurs instead of autograd's long chain of temporaries."""

    @staticmethod
    def forward(ctx, x, y, g):
        """SSIM map of x and y with the 1-D Gaussian kernel g."""
        c = x.shape[1]
        mu_x, mu_y, sxx, syy, sxy = _blur(torch.cat([x, y, x * x, y * y, x * y], 1), g).split(c, 1)
        a1 = 2 * mu_x * mu_y + C1
        a2 = 2 * (sxy - mu_x * mu_y) + C2
        b1 = mu_x ** 2 + mu_y ** 2 + C1
        b2 = (sxx - mu_x ** 2) + (syy - mu_y ** 2) + C2
        s = (a1 * a2) / (b1 * b2)
        ctx.save_for_backward(x, y, g, mu_x, mu_y, a1, a2, b1, b2, s)
        return s

    @staticmethod
    def backward(ctx, grad):
        """Gradients for x and y (whichever need one); none for the kernel."""
        x, y, g, mu_x, mu_y, a1, a2, b1, b2, s = ctx.saved_tensors
        gs = grad * s
        d_sxy = 2 * gs / a2          # dL/d blur(xy)
        d_sq = -gs / b2              # dL/d blur(x*x) and dL/d blur(y*y)
        grads = [None, None, None]
        for i, (own, other, mu_own, mu_other) in enumerate(((x, y, mu_x, mu_y), (y, x, mu_y, mu_x))):
            if not ctx.needs_input_grad[i]:
                continue
            d_mu = gs * (2 * mu_other / a1 - 2 * mu_other / a2 - 2 * mu_own / b1 + 2 * mu_own / b2)
            c = own.shape[1]
            spread_mu, spread_sq, spread_xy = _blur_adjoint(torch.cat([d_mu, d_sq, d_sxy], 1), g).split(c, 1)
            grads[i] = spread_mu + 2 * own * spread_sq + other * spread_xy
        return tuple(grads)


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel, per-channel SSIM of x and y (same shape) with a Gaussian window; `window // 2` px smaller per side."""
    return _SSIMMap.apply(x, y, gaussian_window(window, sigma, x.device).to(x.dtype))


def ssim_window(resolution: int) -> int:
    """SSIM window length for a crop size: about 1/11 of it, odd, at least 7 (11 at 128 px)."""
    return max(7, (resolution // 11) | 1)


def fine_ssim_window(resolution: int) -> tuple[int, float]:
    """The fine DSSIM's window length and Gaussian sigma: about 1/23 of the crop (DeepFaceLab's second window at 256
    px and up), odd, at least 3; sigma shrinks with it from the main window's 1.5 (5 px and 0.68 at 128 px)."""
    window = max(3, (resolution // 23) | 1)
    return window, 1.5 * window / ssim_window(resolution)


def _weighted_dssim(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, window: int,
                    sigma: float = 1.5) -> torch.Tensor:
    pad = window // 2
    dssim = (1.0 - ssim_map(pred, target, window, sigma)) / 2.0
    return (dssim * weight[..., pad:-pad, pad:-pad]).mean()


def face_loss(pred: torch.Tensor, pred_mask: torch.Tensor, target: torch.Tensor, aux: torch.Tensor,
              cfg: LossConfig) -> dict[str, torch.Tensor]:
    """Loss terms for one identity; `aux` is the float (N, 2, H, W) [hull mask, eyes+mouth] pair."""
    mask, features = aux[:, :1], aux[:, 1:]
    weight = mask * (1.0 + (cfg.eyes_mouth - 1.0) * features)
    masked_pred, masked_target = pred * mask, target * mask
    dssim = _weighted_dssim(masked_pred, masked_target, weight, ssim_window(pred.shape[-1]))
    l1 = ((pred - target).abs() * weight).mean()
    mask_loss = F.mse_loss(pred_mask, mask)
    terms = {"dssim": dssim, "l1": l1, "mask": mask_loss}
    if cfg.dssim_fine:
        terms["dssim_fine"] = _weighted_dssim(masked_pred, masked_target, weight, *fine_ssim_window(pred.shape[-1]))
        dssim = (1.0 - cfg.dssim_fine) * dssim + cfg.dssim_fine * terms["dssim_fine"]
    total = cfg.dssim * dssim + cfg.l1 * l1 + cfg.mask * mask_loss
    if cfg.edges:
        terms["edges"] = edge_loss(pred, target, weight)
        total = total + cfg.edges * terms["edges"]
    if cfg.focal_freq:
        terms["focal_freq"] = focal_frequency_loss(masked_pred, masked_target)
        total = total + cfg.focal_freq * terms["focal_freq"]
    return {"total": total, **terms}


def focal_frequency_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Focal frequency loss (Jiang et al., ICCV 2021): the squared distance between the two images' 2-D spectra,
    each frequency weighted by its own distance to the power `alpha`, scaled to [0, 1] per image and channel and held
    constant (no gradient through the weights).

    Pixel losses let a model settle for the blurred mean: the high frequencies a soft face misses are few pixels' worth
    of error but most of the spectrum's distance, so the weights put the loss where the model is worst. With the
    orthonormal FFT the unweighted sum equals the squared pixel error (Parseval); the mean is over frequencies.
    """
    d = torch.fft.fft2(pred.float(), norm="ortho") - torch.fft.fft2(target.float(), norm="ortho")
    dist = d.real ** 2 + d.imag ** 2
    with torch.no_grad():
        w = dist.sqrt() ** alpha
        w = w / w.flatten(2).amax(-1).clamp_min(1e-12)[..., None, None]
    return (w * dist).mean()


def edge_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted L1 between the pixel differences of pred and target, across and down.

    L1 and DSSIM on pixels let a young model settle for the blurred mean of what it cannot place yet; the
    differences are the fine detail itself, so a miss there costs as much as a miss in tone.
    """
    d = pred - target
    across = (d[..., :, 1:] - d[..., :, :-1]).abs() * torch.minimum(weight[..., :, 1:], weight[..., :, :-1])
    down = (d[..., 1:, :] - d[..., :-1, :]).abs() * torch.minimum(weight[..., 1:, :], weight[..., :-1, :])
    return across.mean() + down.mean()


def masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each image inside `mask` (values in [0, 1])."""
    weight = mask.expand_as(pred)
    mse = ((pred - target) ** 2 * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1e-8)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


def masked_ssim(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of each image over the pixels inside `mask`."""
    window = ssim_window(pred.shape[-1])
    pad = window // 2
    s = ssim_map(pred, target, window).mean(1, keepdim=True)
    m = mask[..., pad:-pad, pad:-pad]
    return (s * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1e-8)
