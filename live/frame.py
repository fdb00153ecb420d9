"""The unit of work that flows from source to sinks: one frame, its faces and its timing."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from live.profiler import FrameTiming


@dataclass
class Frame:
    """One captured frame on its way through the loop.

    `image` is the BGR uint8 input; `output` is what the sinks get (the input until the swap
    stage replaces it). `signal` is False for the "no signal" frames sent while a camera
    reconnects. `boxes` are the frame regions the swap touched, (x0, y0, x1, y1) each.
    """

    image: np.ndarray
    index: int
    media_time: float  # seconds on the source's own clock (camera: capture time; file: position)
    timing: FrameTiming
    signal: bool = True
    output: np.ndarray | None = None
    faces: list = field(default_factory=list)   # faces.Face, smoothed, as used for the swap
    aligned: list = field(default_factory=list)  # faces.AlignedFace, one per face
    inferred: list = field(default_factory=list)  # per aligned face: (face, mask, (colour, matched face)) from an
    # early model run, or None
    boxes: list = field(default_factory=list)
    mask_coverage: list = field(default_factory=list)  # per face: share of its landmark hull the model's mask covers
    failed: bool = False
    error: str = ""
    backend: object = None  # the inference backend the frame was aligned for (live.inference.InferenceBackend)

    def __post_init__(self):
        if self.output is None:
            self.output = self.image
