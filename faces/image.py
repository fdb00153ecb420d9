"""Turn whatever image a user or a camera hands us into one well-defined frame: uint8 BGR, contiguous."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class FaceInputError(ValueError):
    """An image or file that cannot be used as a frame; the message is one line for the user."""


def as_bgr8(image: np.ndarray) -> np.ndarray:
    """Return `image` as a contiguous uint8 BGR array of shape (H, W, 3).

    Accepts grayscale (H, W) or (H, W, 1), BGR (H, W, 3) and BGRA (H, W, 4); uint8, uint16
    (scaled down by 257) and float images in [0, 1]. Raises FaceInputError for anything else.
    """
    if not isinstance(image, np.ndarray):
        raise FaceInputError(f"expected an image array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or image.size == 0:
        raise FaceInputError(f"expected an H x W or H x W x C image, got shape {image.shape}")
    if image.dtype == np.uint8:
        out = image
    elif image.dtype == np.uint16:
        out = (image.astype(np.uint32) // 257).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64, np.float16):
        out = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    else:
        raise FaceInputError(f"unsupported image dtype {image.dtype} (use uint8, uint16 or float in [0, 1])")
    if out.ndim == 2 or out.shape[2] == 1:
        out = cv2.cvtColor(np.ascontiguousarray(out.reshape(out.shape[:2])), cv2.COLOR_GRAY2BGR)
    elif out.shape[2] == 4:
        out = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_BGRA2BGR)
    elif out.shape[2] != 3:
        raise FaceInputError(f"expected 1, 3 or 4 channels, got {out.shape[2]}")
    return np.ascontiguousarray(out)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file (any depth, any channel count) as uint8 BGR, or raise FaceInputError."""
    path = Path(path)
    if not path.is_file():
        raise FaceInputError(f"no such image file: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise FaceInputError(f"cannot read {path} as an image")
    return as_bgr8(image)
