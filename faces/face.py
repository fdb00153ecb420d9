"""What a landmark backend returns (`Face`), the interface every backend implements (`Landmarker`), and helpers
on 68 iBUG points (a box, an order, how open the mouth is)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

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


def mouth_open(landmarks: np.ndarray) -> float:
    """Inner-lip gap (mean of 61-67, 62-66, 63-65) over mouth width (48-54): 0 closed, about 0.5 wide open."""
    gap = np.mean([np.linalg.norm(landmarks[a] - landmarks[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    return float(gap / max(np.linalg.norm(landmarks[54] - landmarks[48]), 1e-6))
