"""Training augmentation on uint8 crops: similarity jitter, flip and colour jitter alike on input and
target, plus the deepfakes random warp on the input only.

The random warp is the original deepfakes one: a 5 x 5 grid of control points over the crop is
moved by Gaussian noise, the displacement is interpolated to every pixel, and the input is
resampled through it, while the target stays unwarped. The network cannot copy pixels, so it
learns to rebuild a face; that is what lets decoder B draw B's face from A's code.

Every random number comes from the `np.random.Generator` passed in, so a batch is a pure
function of its seed (which is what makes resumed runs repeat the same losses).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation; `warp=False` is the no-warp phase at the end of training."""

    rotation: float = 10.0    # degrees, uniform in +-
    scale: float = 0.05       # relative, uniform in +-
    shift: float = 0.05       # share of the crop side, uniform in +-
    flip: float = 0.5         # probability of a horizontal flip
    brightness: float = 0.08  # share of the full range, uniform in +-
    contrast: float = 0.15    # relative, uniform in +-
    saturation: float = 0.2   # relative, uniform in +-
    white_balance: float = 0.04  # per-channel gain, uniform in +-
    warp: bool = True
    warp_grid: int = 5        # control points per side
    warp_noise: float = 0.02  # std of control point moves, share of the crop side (deepfakes: 5 px of 256)


def random_similarity(rng: np.random.Generator, size: int, cfg: AugmentConfig) -> np.ndarray:
    """A random 2x3 similarity (rotation, scale, shift, maybe a flip) about the crop centre."""
    angle = rng.uniform(-cfg.rotation, cfg.rotation)
    scale = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    shift = rng.uniform(-cfg.shift, cfg.shift, size=2) * size
    centre = (size - 1) / 2.0
    m = cv2.getRotationMatrix2D((centre, centre), angle, scale)
    m[:, 2] += shift
    if rng.random() < cfg.flip:
        m[0] = -m[0]
        m[0, 2] += size - 1
    return m


@lru_cache(maxsize=8)
def _upsampling(n: int, size: int) -> np.ndarray:
    """(size, n) float32: the weights by which cv2.resize's bicubic upsampling of n samples gives each of `size`.

    Bicubic resizing is separable and linear, so resizing an n x n grid is K @ grid @ K.T: two small matrix
    products in place of two cv2.resize calls (a tenth of the time, to float32 rounding the same numbers)."""
    return cv2.resize(np.eye(n, dtype=np.float32), (n, size), interpolation=cv2.INTER_CUBIC)


def random_warp_maps(rng: np.random.Generator, size: int, cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel (map_x, map_y) displacements of a random control-grid warp, float32 (size, size) each."""
    n = cfg.warp_grid
    noise = rng.normal(scale=cfg.warp_noise * size, size=(2, n, n)).astype(np.float32)
    k = _upsampling(n, size)
    return k @ noise[0] @ k.T, k @ noise[1] @ k.T


def random_colour(rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """A random 3x4 affine colour transform (brightness, contrast, saturation, white balance) for uint8 BGR."""
    contrast = 1.0 + rng.uniform(-cfg.contrast, cfg.contrast)
    saturation = 1.0 + rng.uniform(-cfg.saturation, cfg.saturation)
    gains = 1.0 + rng.uniform(-cfg.white_balance, cfg.white_balance, size=3)
    brightness = rng.uniform(-cfg.brightness, cfg.brightness) * 255.0
    luma = np.array([0.114, 0.587, 0.299])  # B, G, R
    sat = saturation * np.eye(3) + (1.0 - saturation) * np.tile(luma, (3, 1))  # lerp towards grey
    linear = contrast * np.diag(gains) @ sat
    offset = (1.0 - contrast) * 128.0 + brightness  # contrast about mid-grey
    return np.hstack([linear, np.full((3, 1), offset)]).astype(np.float32)


def fine_face(face2x: np.ndarray) -> np.ndarray:
    """A face at twice the training size, prefiltered for `augment_face(..., fine=)`: each pixel the mean of the
    2 x 2 block from it, so that the face at training size sampled at q is this one sampled at 2q (at whole q
    exactly what an area downscale gives)."""
    return cv2.blur(face2x, (2, 2), anchor=(0, 0), borderType=cv2.BORDER_REFLECT)


def augment_face(rng: np.random.Generator, image: np.ndarray, aux: np.ndarray,
                 cfg: AugmentConfig, rgb: bool = False, fine: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input, target, aux) for one face: `image` uint8 BGR (R, R, 3), `aux` uint8 (R, R, C) masks moved alike.

    The faces come out BGR, or RGB with `rgb` (the colour transform's rows swapped: no extra pass). `fine`: the same
    face at 2R (`fine_face`); the target is then resampled from it, so the bicubic resampling blurs detail finer
    than the target holds, not the target's own (at R it costs a face about 13% of its Laplacian variance)."""
    size = image.shape[0]
    m = random_similarity(rng, size, cfg)
    colour = random_colour(rng, cfg)  # drawn before the warp, so the target does not depend on cfg.warp
    if rgb:
        colour = np.ascontiguousarray(colour[::-1])
    flags, border = cv2.INTER_CUBIC, cv2.BORDER_REPLICATE  # face pixels bicubic (as faces.align), masks bilinear
    if fine is None:
        target = cv2.warpAffine(image, m, (size, size), flags=flags, borderMode=border)
    else:  # output pixel p samples the fine face at 2 M^-1 p
        target = cv2.warpAffine(fine, m @ np.diag([0.5, 0.5, 1.0]), (size, size), flags=flags, borderMode=border)
    aux = cv2.warpAffine(aux, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if aux.ndim == 2:
        aux = aux[..., None]
    if cfg.warp:
        # input(p) = target(p + d(p)) = image(M^-1 (p + d(p))): one resampling of the original crop
        dx, dy = random_warp_maps(rng, size, cfg)
        grid = np.arange(size, dtype=np.float32)
        px, py = grid[None, :] + dx, grid[:, None] + dy
        inv = cv2.invertAffineTransform(m).astype(np.float32)
        map_x = inv[0, 0] * px + inv[0, 1] * py + inv[0, 2]
        map_y = inv[1, 0] * px + inv[1, 1] * py + inv[1, 2]
        inp = cv2.remap(image, map_x, map_y, flags, borderMode=border)
    else:
        inp = target
    return cv2.transform(inp, colour), cv2.transform(target, colour), aux
