"""Aligned crops to network tensors and back: the one conversion training, export and live all use.

Everywhere outside a network, a face crop is uint8 BGR (R, R, 3), as OpenCV reads and writes
it. A network takes float32 in a layout (NCHW or NHWC), a colour order (RGB or BGR) and a value
range ((0, 1) or (-1, 1)); swapcam's own networks take NCHW RGB in [0, 1], the defaults here,
and a model file's contract states its own.
"""
from __future__ import annotations

import cv2
import numpy as np

LAYOUTS = ("NCHW", "NHWC")
COLOR_ORDERS = ("RGB", "BGR")


def fit_crop(crop: np.ndarray, size: int) -> np.ndarray:
    """A square crop resized to `size` pixels (area averaging to shrink, bicubic to grow); as is when it fits."""
    if crop.shape[0] == size and crop.shape[1] == size:
        return crop
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def crops_to_tensor(crops: np.ndarray, layout: str = "NCHW", color_order: str = "RGB",
                    value_range: tuple[float, float] = (0.0, 1.0), dtype=np.float32) -> np.ndarray:
    """uint8 BGR crops (N, R, R, 3) as a network's input: float in `value_range`, `color_order`, `layout`."""
    x = np.asarray(crops).astype(np.float32) * np.float32(1.0 / 255.0)
    if color_order == "RGB":
        x = x[..., ::-1]
    lo, hi = value_range
    if (lo, hi) != (0.0, 1.0):
        x = x * np.float32(hi - lo) + np.float32(lo)
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=dtype)


def masks_to_tensor(masks: np.ndarray, layout: str = "NCHW") -> np.ndarray:
    """uint8 masks (N, R, R, C) (0-255) as float32 in [0, 1], channels kept in order, in `layout`."""
    x = np.asarray(masks).astype(np.float32) * np.float32(1.0 / 255.0)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if layout == "NCHW" else x)


def tensor_to_crops(face: np.ndarray, mask: np.ndarray, layout: str = "NCHW", color_order: str = "RGB",
                    value_range: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """A network's face and mask outputs as BGR float32 faces (N, R, R, 3) and masks (N, R, R), both in [0, 1]."""
    face = np.asarray(face, np.float32)
    mask = np.asarray(mask, np.float32)
    if layout == "NCHW":
        face, mask = face.transpose(0, 2, 3, 1), mask.transpose(0, 2, 3, 1)
    lo, hi = value_range
    if (lo, hi) != (0.0, 1.0):
        face = (face - lo) / (hi - lo)
    if color_order == "RGB":
        face = face[..., ::-1]
    return np.clip(np.ascontiguousarray(face), 0, 1), np.clip(mask[..., 0], 0, 1)


def crops_to_uint8(faces: np.ndarray) -> np.ndarray:
    """BGR float faces in [0, 1] (as `tensor_to_crops` gives them) as uint8 crops, rounded."""
    return (np.clip(faces, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
