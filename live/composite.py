"""Putting a swapped face back into the frame: colour transfer, mask, paste (or Poisson blend), label.

Pure functions on arrays. Crops are (R, R, 3) BGR uint8 (the model's float face is rounded to
levels once, first); masks are (R, R) float32 in [0, 1]. Only the face's bounding box in the
frame is ever written.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from faces import AlignedFace, hull_mask, paste_back, paste_box, refine_mask, uncrop
from faces.masks import mouth_mask
from faces.align import PIXELS
from faces.color import COLOR_TRANSFERS
from faces.cli import setting

LABEL_TEXT = "synthetic video"
INVISIBLE_WEIGHT = 1.0 / 512  # a paste weight this small changes no pixel by half a level


def sharpen(face: np.ndarray, amount: float) -> np.ndarray:
    """Unsharp masking of a uint8 crop: face + amount * (face - blur(face)), the blur's sigma a hundredth of the
    crop side (about 1 px at 128 px), as face-swap mergers sharpen a decoder's soft output."""
    blurred = cv2.GaussianBlur(face, (0, 0), sigmaX=max(face.shape[0] / 100.0, 0.5))
    return cv2.addWeighted(face, 1.0 + amount, blurred, -amount, 0)  # rounds, saturates


MASK_MODES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "model": lambda model, hull: model,
    "hull": lambda model, hull: hull,
    "both": np.minimum,
}


COLLAPSE_MODES = ("hull", "pass")


@dataclass(frozen=True)
class CompositeSettings:
    """How a swapped face is blended in. `erode` and `feather` are in percent of the crop side.

    When the model's mask covers less than `min_coverage` of the landmark hull (it collapsed: the
    model does not see a face it knows), the face is not blended half-transparent: `collapsed`
    'hull' pastes it with the landmark hull as its mask, 'pass' leaves the face as captured.
    """

    color: str = setting("rct", "colour transfer to the original face: rct (Reinhard, Lab), lct (linear), none",
                         choices=sorted(COLOR_TRANSFERS))
    mask: str = setting("both", "blend mask: the model's, the landmark hull, or both intersected",
                        choices=sorted(MASK_MODES))
    erode: float = setting(2.0, "shrink the mask by this % of the face crop", type=float)
    feather: float = setting(4.0, "soften the mask edge over this % of the crop", type=float)
    seamless: bool = setting(False, "Poisson (seamless) blending instead of alpha blending")
    min_coverage: float = setting(0.5, "below this share of the face covered, the model's mask has collapsed",
                                  type=float)
    collapsed: str = setting("hull", "a collapsed mask: paste the face with the landmark hull, or pass the face "
                             "through unswapped", choices=COLLAPSE_MODES)
    opacity: float = setting(1.0, "how much of the swapped face shows, 0 to 1", type=float)
    mouth: bool = setting(False, "keep the real inner mouth (teeth, tongue) from the camera")
    mouth_size: float = setting(1.0, "size of the kept mouth, relative to the inner-lip outline", type=float)
    sharpen: float = setting(0.0, "unsharp-mask the swapped face by this amount (0: off; 1: its fine detail doubled)",
                             type=float)

    def __post_init__(self):
        if self.color not in COLOR_TRANSFERS:
            raise ValueError(f"unknown colour transfer {self.color!r}; choose from {', '.join(COLOR_TRANSFERS)}")
        if self.mask not in MASK_MODES:
            raise ValueError(f"unknown mask {self.mask!r}; choose from {', '.join(MASK_MODES)}")
        if self.collapsed not in COLLAPSE_MODES:
            raise ValueError(f"unknown collapsed-mask handling {self.collapsed!r}; choose from {', '.join(COLLAPSE_MODES)}")
        for name, value, lo, hi in (("erode", self.erode, -20, 20), ("feather", self.feather, 0, 30),
                                    ("min_coverage", self.min_coverage, 0, 1), ("opacity", self.opacity, 0, 1),
                                    ("mouth_size", self.mouth_size, 0.5, 3), ("sharpen", self.sharpen, 0, 3)):
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo:g} and {hi:g}, not {value:g}")


def blend_mask(model_mask: np.ndarray, hull: np.ndarray, settings: CompositeSettings,
               landmarks: np.ndarray | None = None) -> np.ndarray:
    """The paste mask: model mask, landmark hull or both (intersection), eroded and feathered, times the opacity,
    with the inner mouth cut out when `settings.mouth` (needs the crop's `landmarks`).

    Weights under 1/512 (they move no pixel by half a level) are set to 0, so the feather's
    long faint tail does not widen the box that gets pasted.
    """
    size = model_mask.shape[0]
    mask = MASK_MODES[settings.mask](np.asarray(model_mask, np.float32), hull)
    mask = refine_mask(mask, int(round(settings.erode * size / 100)), int(round(settings.feather * size / 100)))
    if settings.mouth and landmarks is not None:
        mouth = mouth_mask(landmarks, size, settings.mouth_size, max(1, size // 64))
        mask = cv2.multiply(mask, cv2.subtract(np.ones_like(mouth), mouth))
    if settings.opacity < 1.0:
        mask = mask * np.float32(settings.opacity)
    return cv2.threshold(mask, INVISIBLE_WEIGHT, 0, cv2.THRESH_TOZERO)[1]


def seamless_paste(frame: np.ndarray, crop: np.ndarray, mask: np.ndarray, inverse: np.ndarray,
                   out: np.ndarray | None = None, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Poisson-blend `crop` (0-255 scale, crop space) into `frame` through `inverse`, inside the face box only.

    `box`: what `paste_box` gives for this mask, when already known."""
    result = frame.copy() if out is None else out
    box = box or paste_box(inverse, crop.shape, frame.shape, mask)
    if box is None:
        return result
    x0, y0, x1, y1 = box
    patch = np.clip(uncrop(crop.astype(np.float32), inverse, box, PIXELS), 0, 255).astype(np.uint8)
    weight = uncrop(mask.astype(np.float32), inverse, box)
    inside = (weight > 0.5).astype(np.uint8) * 255
    if inside.sum() == 0:
        return paste_back(frame, crop, mask, inverse, out=result)
    pad = 2  # seamlessClone needs the mask clear of the image border
    roi = result[y0:y1, x0:x1]
    padded = [cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_REPLICATE) for a in (patch, roi)]
    inside = cv2.copyMakeBorder(inside, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    bx, by, bw, bh = cv2.boundingRect(inside)
    cloned = cv2.seamlessClone(padded[0], padded[1], inside, (bx + bw // 2, by + bh // 2), cv2.NORMAL_CLONE)
    cloned = cloned[pad:-pad, pad:-pad].astype(np.float32)
    base = roi.astype(np.float32)
    result[y0:y1, x0:x1] = np.clip(base + (cloned - base) * weight[..., None] + 0.5, 0, 255).astype(np.uint8)
    return result


@dataclass(frozen=True)
class PreparedFace:
    """A swapped face ready to paste: colour-matched uint8 crop, paste mask, crop-to-frame transform and box.

    `box` is None when there is nothing to paste. `coverage` is the share of the landmark hull that the
    model's own mask covers (see `mask_coverage`).
    """

    face: np.ndarray | None
    mask: np.ndarray | None
    inverse: np.ndarray
    box: tuple[int, int, int, int] | None
    coverage: float


def mask_coverage(model_mask: np.ndarray, hull: np.ndarray) -> float:
    """How much of the landmark hull the model's mask covers: sum(mask * hull) / sum(hull), 1.0 for a full face."""
    area = float(cv2.sumElems(hull)[0])
    return float(cv2.sumElems(cv2.multiply(np.asarray(model_mask, np.float32), hull))[0]) / area if area else 0.0


def color_matched(aligned: AlignedFace, face: np.ndarray, color: str, hull: np.ndarray | None = None) -> np.ndarray:
    """`face` (float [0, 1] or uint8, BGR) in whole levels, given the original crop's colour inside the landmark
    hull (`hull`: that mask, when already made) by the transfer `color`."""
    if hull is None:
        hull = hull_mask(aligned.landmarks, face.shape[0], aligned.coverage)
    levels = cv2.convertScaleAbs(face, alpha=255.0) if face.dtype != np.uint8 else face  # rounds, saturates
    return COLOR_TRANSFERS[color](levels, aligned.crop, hull)


def prepare_face(aligned: AlignedFace, face: np.ndarray, model_mask: np.ndarray, settings: CompositeSettings,
                 frame_shape: tuple[int, ...], matched: np.ndarray | None = None) -> PreparedFace | None:
    """Colour-match `face` (float [0, 1] or uint8, BGR) to the original crop and build its paste mask and box.

    `matched`: the face already colour-matched (`color_matched` with `settings.color`), as the live loop's
    early run does beside the landmarks. Writes nothing into any frame. The box is None when there is nothing
    to paste inside the frame (or the model's mask collapsed and `settings.collapsed` is 'pass').
    """
    size = face.shape[0]
    hull = hull_mask(aligned.landmarks, size, aligned.coverage)
    coverage = mask_coverage(model_mask, hull)
    if coverage < settings.min_coverage and settings.mask != "hull":
        if settings.collapsed == "pass":
            return PreparedFace(None, None, aligned.inverse, None, coverage)
        model_mask = hull  # never a half-transparent face
    levels = color_matched(aligned, face, settings.color, hull) if matched is None else matched
    if settings.sharpen > 0:
        levels = sharpen(levels, settings.sharpen)
    mask = blend_mask(model_mask, hull, settings, aligned.landmarks)
    box = paste_box(aligned.inverse, levels.shape, frame_shape, mask)
    return PreparedFace(levels, mask, aligned.inverse, box, coverage)


def paste_face(out: np.ndarray, prepared: PreparedFace, settings: CompositeSettings,
               paste: Callable | None = None) -> tuple[int, int, int, int] | None:
    """Paste a prepared face into `out` in place (blend, or Poisson with `settings.seamless`); returns its box
    (None, and nothing written, when it has none). `paste(out, face, mask, inverse, box)`, when given, does
    the blend instead of `paste_back` (a backend's own: on the GPU)."""
    if prepared.box is None:
        return None
    if settings.seamless:
        seamless_paste(out, prepared.face, prepared.mask, prepared.inverse, out=out, box=prepared.box)
    elif paste is not None:
        paste(out, prepared.face, prepared.mask, prepared.inverse, prepared.box)
    else:
        paste_back(out, prepared.face, prepared.mask, prepared.inverse, out=out, box=prepared.box)
    return prepared.box


def composite_face(out: np.ndarray, aligned: AlignedFace, face: np.ndarray, model_mask: np.ndarray,
                   settings: CompositeSettings) -> tuple[int, int, int, int] | None:
    """Colour-match `face` to the original crop, mask it and paste it into `out` (in place); returns the box
    touched, or None when nothing was pasted."""
    return paste_face(out, prepare_face(aligned, face, model_mask, settings, out.shape), settings)


@functools.lru_cache(maxsize=16)
def _label_layout(shape: tuple[int, ...], text: str) -> tuple[tuple[int, int, int, int], float, int, int, int]:
    h, w = shape[:2]
    scale = max(min(w, h) / 900.0, 0.35)
    thick = max(int(round(scale * 1.5)), 1)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    margin = max(int(4 * scale), 2)
    box = (0, max(h - th - base - 2 * margin, 0), min(tw + 2 * margin, w), h)
    return box, scale, thick, margin, base


def label_box(shape: tuple[int, ...], text: str = LABEL_TEXT) -> tuple[int, int, int, int]:
    """Where `draw_label` draws on a frame of this shape: (x0, y0, x1, y1)."""
    return _label_layout(shape, text)[0]


def draw_label(frame: np.ndarray, text: str = LABEL_TEXT) -> np.ndarray:
    """Draw a small visible disclosure label in the bottom-left corner of `frame` (in place) and return it."""
    (x0, y0, x1, y1), scale, thick, margin, base = _label_layout(frame.shape, text)
    roi = frame[y0:y1, x0:x1]
    roi[:] = cv2.convertScaleAbs(roi, alpha=0.4)  # darken so the text reads on any background
    cv2.putText(frame, text, (x0 + margin, y1 - base - margin // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), thick, cv2.LINE_AA)
    return frame
