"""Face masks in crop space: the landmark hull, grown over the forehead for whole-face crops, and the inner mouth."""
from __future__ import annotations

import functools

import cv2
import numpy as np

FOREHEAD_RISE = {"face": 0.0, "whole_face": 0.4, "head": 0.55}  # share of brow-to-chin height added above the brows


def hull_points(landmarks: np.ndarray, coverage: str = "whole_face") -> np.ndarray:
    """The 68 landmarks plus, for whole_face and head, brow points raised to cover the forehead."""
    landmarks = np.asarray(landmarks, np.float64)
    rise = FOREHEAD_RISE.get(coverage, 0.0)
    if rise <= 0:
        return landmarks
    chin, brows = landmarks[8], landmarks[17:27]
    up = brows.mean(0) - chin
    forehead = brows + up * rise
    return np.vstack([landmarks, forehead])


def hull_mask(landmarks: np.ndarray, size: int, coverage: str = "whole_face",
              erode: int = 0, feather: int = 0) -> np.ndarray:
    """Float32 (size, size) mask in [0, 1]: the convex hull of the face, eroded then feathered (pixels)."""
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(hull_points(landmarks, coverage)).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA)
    mask = mask.astype(np.float32) / 255.0
    return refine_mask(mask, erode, feather) if erode or feather > 0 else mask


INNER_LIPS = slice(60, 68)  # iBUG 60-67: the inner lip line, around the open mouth


def mouth_mask(landmarks: np.ndarray, size: int, grow: float = 1.0, feather: int = 0) -> np.ndarray:
    """Float32 (size, size) mask in [0, 1] of the inner mouth (teeth, tongue, the open mouth): the inner-lip polygon,
    scaled by `grow` about its centre, its edge blurred over `feather` pixels. Empty when the mouth is closed."""
    lips = np.asarray(landmarks, np.float64)[INNER_LIPS]
    centre = lips.mean(0)
    polygon = np.round(centre + (lips - centre) * grow).astype(np.int32)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [polygon], 255, lineType=cv2.LINE_AA)
    return refine_mask(mask.astype(np.float32) / 255.0, 0, feather)


def refine_mask(mask: np.ndarray, erode: int = 0, feather: int = 0) -> np.ndarray:
    """Erode (positive) or dilate (negative) a [0, 1] mask by `erode` px, then blur its edge over `feather` px."""
    mask = np.asarray(mask, np.float32)
    if erode:
        k = _disc(abs(erode))
        mask = cv2.erode(mask, k) if erode > 0 else cv2.dilate(mask, k)
    if feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=feather / 2.0)
    return np.clip(mask, 0.0, 1.0)


@functools.lru_cache(maxsize=16)
def _disc(radius: int) -> np.ndarray:
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    disc.flags.writeable = False
    return disc
