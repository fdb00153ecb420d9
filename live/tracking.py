"""Landmark smoothing over time: a One Euro filter per tracked face, reset on a jump or a new face.

The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a low-pass filter whose cutoff
rises with speed: a still face is smoothed hard (no shaking swap), a moving one barely (no lag).
Landmarks are filtered in units of the face's size, so the same settings suit a small face far
from the camera and a large one close to it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from faces import Face


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Exponential smoothing factor of a first-order low-pass at `cutoff` Hz for a step of `dt` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One Euro filter over arrays of any fixed shape, element-wise."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        """Forget the past: the next value passes through unfiltered."""
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter the value `x` observed at time `t` (seconds; must increase)."""
        x = np.asarray(x, np.float64)
        if self._x is None or self._t is None or t <= self._t:
            if self._x is None or self._t is None:
                self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return self._x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + smoothing_factor(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + smoothing_factor(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x.copy()


def face_size(landmarks: np.ndarray) -> float:
    """A face's scale in pixels: the diagonal of its landmarks' bounding box."""
    span = landmarks.max(0) - landmarks.min(0)
    return float(np.hypot(*span)) or 1.0


@dataclass
class Track:
    """One face followed across frames: its filter, scale and last landmarks."""

    filter: OneEuroFilter
    scale: float
    landmarks: np.ndarray


class LandmarkSmoother:
    """Smooths the landmarks of every face over time, matching faces to tracks frame by frame.

    A face is matched to the nearest track whose centre is within `jump` face sizes; a face
    with no such track starts a fresh one (new face, or a jump: the filter restarts so the swap
    snaps to the new place instead of sliding there). Tracks with no face are dropped.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 10.0, d_cutoff: float = 1.0, jump: float = 0.25):
        self.min_cutoff, self.beta, self.d_cutoff, self.jump = min_cutoff, beta, d_cutoff, jump
        self.tracks: list[Track] = []
        self.resets = 0

    def reset(self) -> None:
        """Drop every track."""
        self.tracks = []

    def set_strength(self, strength: float) -> None:
        """Smoothing from 0 (light: a 4 Hz cutoff for a still face) to 1 (heavy: 0.25 Hz); 0.5 is the 1 Hz default."""
        cutoff = 4.0 ** (1.0 - 2.0 * strength)
        if cutoff != self.min_cutoff:
            self.min_cutoff = cutoff
            for track in self.tracks:
                track.filter.min_cutoff = cutoff

    def __call__(self, faces: list[Face], t: float) -> list[Face]:
        """The same faces with smoothed landmarks; `t` is the frame's media time in seconds."""
        unmatched = list(self.tracks)
        new_tracks, out = [], []
        for face in faces:
            marks = np.asarray(face.landmarks, np.float64)
            track = self._nearest(marks, unmatched)
            if track is None:
                self.resets += 1
                track = Track(OneEuroFilter(self.min_cutoff, self.beta, self.d_cutoff), face_size(marks), marks)
            else:
                unmatched.remove(track)
            smooth = track.filter(marks / track.scale, t) * track.scale
            track.landmarks = smooth
            new_tracks.append(track)
            out.append(replace(face, landmarks=smooth.astype(np.float32)))
        self.tracks = new_tracks
        return out

    def _nearest(self, marks: np.ndarray, tracks: list[Track]) -> Track | None:
        centre = marks.mean(0)
        best, best_d = None, self.jump
        for track in tracks:
            d = float(np.linalg.norm(track.landmarks.mean(0) - centre)) / track.scale
            size_change = abs(face_size(marks) / track.scale - 1.0)
            if d < best_d and size_change < 0.5:
                best, best_d = track, d
        return best
