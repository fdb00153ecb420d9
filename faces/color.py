"""Colour transfer between face crops: one face given another's colours inside a region.

The live loop matches the model's face to the captured one (`COLOR_TRANSFERS`); training can give B's faces the
colours of A's (DeepFaceLab's ct_mode), so decoder B learns to draw B under any light and skin tone the encoder sees.
All crops are uint8 BGR; a region is a float mask in crop space (above 0.5: inside).
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np


def _stats_weights(region: np.ndarray) -> np.ndarray:
    w = region.reshape(-1).astype(np.float64)
    return w / w.sum() if w.sum() > 1e-6 else np.full_like(w, 1.0 / w.size)


def rct_transform(face: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Reinhard colour transfer in Lab as a 3x4 affine on OpenCV's 8-bit Lab (`apply_lab`): it gives `face`
    `target`'s per-channel mean and spread inside `region` (uint8 BGR crops, a float mask in crop space).

    OpenCV's 8-bit Lab (L scaled to 0-255, a and b offset by 128) is an affine rescaling of Lab, so the transfer is
    the same; it converts through lookup tables several times faster than float Lab, its steps under one Lab unit.
    """
    face_lab = cv2.cvtColor(face, cv2.COLOR_BGR2Lab)
    target_lab = cv2.cvtColor(target, cv2.COLOR_BGR2Lab)
    inside = cv2.compare(np.asarray(region, np.float32), 0.5, cv2.CMP_GT)
    if not cv2.countNonZero(inside):
        inside = None  # no region: the whole crop
    (mu_f, sd_f), (mu_t, sd_t) = (cv2.meanStdDev(lab, mask=inside) for lab in (face_lab, target_lab))
    gain = [float(t) / max(float(f), 0.5) for t, f in zip(sd_t.flat, sd_f.flat)]
    shift = [float(t) - float(f) * g for t, f, g in zip(mu_t.flat, mu_f.flat, gain)]
    return np.array([[gain[0], 0, 0, shift[0]], [0, gain[1], 0, shift[1]], [0, 0, gain[2], shift[2]]], np.float32)


def apply_lab(face: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """A uint8 BGR image through a 3x4 affine on its 8-bit Lab values (`rct_transform`), rounded and saturated."""
    return cv2.cvtColor(cv2.transform(cv2.cvtColor(face, cv2.COLOR_BGR2Lab), transform), cv2.COLOR_Lab2BGR)


def rct(face: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Reinhard colour transfer in Lab: `face` gets `target`'s per-channel mean and spread inside `region`."""
    return apply_lab(face, rct_transform(face, target, region))


def _sqrtm(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    return vecs @ np.diag(np.sqrt(np.maximum(vals, 1e-8))) @ vecs.T


def lct(face: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Linear colour transfer: `face`'s colour mean and covariance matched to `target`'s inside `region` (uint8)."""
    f = face.reshape(-1, 3).astype(np.float64)
    t = target.reshape(-1, 3).astype(np.float64)
    w = _stats_weights(region)
    mu_f, mu_t = w @ f, w @ t
    cov_f = (f - mu_f).T @ ((f - mu_f) * w[:, None]) + np.eye(3) * 1e-1
    cov_t = (t - mu_t).T @ ((t - mu_t) * w[:, None]) + np.eye(3) * 1e-1
    transform = _sqrtm(cov_t) @ np.linalg.inv(_sqrtm(cov_f))
    out = (f - mu_f) @ transform.T + mu_t
    return np.clip(out + 0.5, 0, 255).astype(np.uint8).reshape(face.shape)


def no_color(face: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The face as the model made it."""
    return face


# (face, target, region) -> face: BGR uint8 crops, region a float mask in crop space
COLOR_TRANSFERS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "rct": rct, "lct": lct, "none": no_color,
}
