"""The landmark interface: a frame in, a list of `Face` out, from a backend chosen by name.

Every backend returns the 68 iBUG-300W points (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67, subject's right side first) in frame pixels, so alignment, masks and evaluation
never care which backend ran.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np


@dataclass(frozen=True)
class Face:
    """One face in one frame: 68 iBUG points (float32, frame pixels), box (x0, y0, x1, y1), score."""

    landmarks: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    mesh: np.ndarray | None = field(default=None, repr=False)  # all 478 mediapipe points, if any

    @property
    def area(self) -> float:
        """Area of the bounding box in pixels."""
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


class Landmarker(Protocol):
    """What every landmark backend implements."""

    name: str

    def detect(self, frame: np.ndarray, timestamp_ms: int | None = None) -> list[Face]:
        """Faces in a BGR frame, largest first; an empty list when there is none."""

    def close(self) -> None:
        """Release native resources."""


def box_from_points(points: np.ndarray) -> tuple[float, float, float, float]:
    """Axis-aligned bounding box of a point set."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def sort_largest_first(faces: list[Face]) -> list[Face]:
    """Faces ordered by bounding-box area, largest first."""
    return sorted(faces, key=lambda f: f.area, reverse=True)


def _mediapipe(**kwargs) -> Landmarker:
    from faces.mediapipe_backend import MediapipeLandmarker
    return MediapipeLandmarker(**kwargs)


def _dlib(**kwargs) -> Landmarker:
    from faces.dlib_backend import DlibLandmarker
    kwargs.pop("model_path", None)
    return DlibLandmarker(**kwargs)


BACKENDS: dict[str, Callable[..., Landmarker]] = {"mediapipe": _mediapipe, "dlib": _dlib}


def create_landmarker(backend: str = "auto", mode: str = "image", max_faces: int = 1,
                      model_path: str | None = None) -> Landmarker:
    """Build a landmark backend by name ('auto', 'mediapipe' or 'dlib').

    `mode` is 'image' for unrelated stills or 'video' for frames of one stream (tracking).
    'auto' takes mediapipe when its model file can be found and falls back to dlib otherwise.
    Raises ModelFileError (one line) when the chosen backend's files or packages are missing.
    """
    if mode not in ("image", "video"):
        raise ValueError(f"mode must be 'image' or 'video', not {mode!r}")
    if max_faces < 1:
        raise ValueError(f"max_faces must be at least 1, not {max_faces}")
    if backend == "auto":
        return _auto(mode=mode, max_faces=max_faces, model_path=model_path)
    if backend not in BACKENDS:
        raise ValueError(f"unknown landmark backend {backend!r}; choose from auto, {', '.join(BACKENDS)}")
    return BACKENDS[backend](mode=mode, max_faces=max_faces, model_path=model_path)


def _auto(**kwargs) -> Landmarker:
    """mediapipe if its model file is found, else dlib; if neither works, one error naming both.

    An explicit model_path that does not exist is an error, never a silent fall back to dlib.
    """
    from faces.model_files import FACE_LANDMARKER, ModelFileError, find_model
    try:
        find_model(FACE_LANDMARKER, kwargs["model_path"])
    except ModelFileError as missing:
        if kwargs["model_path"] is not None:
            raise
        try:
            return _dlib(**kwargs)
        except ModelFileError as no_dlib:
            raise ModelFileError(f"{missing}; the offline fallback is unavailable too: {no_dlib}") from no_dlib
    return _mediapipe(**kwargs)
