"""The per-frame work of the loop, in two stages that run in their own threads.

`locate` (stage 1): landmarks in tracking mode, One Euro smoothing, alignment crops at the
model's coverage and resolution. `swap` (stage 2): the model on all faces at once (or one at a
time when the model's batch is static), then colour transfer, mask, paste back and the
disclosure label, pasted into the captured frame in place. A stage that fails on a frame sends
the frame on as captured and marks it failed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from faces import Landmarker, align_face
from live.backends import InferenceBackend
from live.composite import CompositeSettings, draw_label, paste_face, prepare_face
from live.frame import Frame
from live.profiler import StageTimer
from live.tracking import LandmarkSmoother

FACE_MODES = ("largest", "all")


@dataclass(frozen=True)
class SwapSettings:
    """What the loop does to each frame."""

    faces: str = "largest"        # "largest" or "all"
    max_faces: int = 4            # with faces="all"
    composite: CompositeSettings = field(default_factory=CompositeSettings)
    label: bool = True
    smoothing: bool = True

    def __post_init__(self):
        if self.faces not in FACE_MODES:
            raise ValueError(f"faces must be one of {', '.join(FACE_MODES)}, not {self.faces!r}")

    @property
    def landmark_faces(self) -> int:
        """How many faces the landmarker should look for."""
        return 1 if self.faces == "largest" else self.max_faces


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class FaceSwapper:
    """Holds the landmarker, the smoother and the inference backend; `locate` then `swap` each frame."""

    def __init__(self, backend: InferenceBackend, landmarker: Landmarker, settings: SwapSettings = SwapSettings()):
        self.backend, self.landmarker, self.settings = backend, landmarker, settings
        self.smoother = LandmarkSmoother() if settings.smoothing else None
        self.resolution = backend.contract.resolution
        self.coverage = backend.contract.coverage
        self.batched = backend.contract.batch == "dynamic"

    def locate(self, frame: Frame) -> None:
        """Stage 1: find, smooth and align the frame's faces (fills frame.faces and frame.aligned)."""
        if not frame.signal:
            return
        try:
            with StageTimer(frame.timing, "landmarks"):
                faces = self.landmarker.detect(frame.image, timestamp_ms=int(frame.media_time * 1000))
                faces = faces[:1] if self.settings.faces == "largest" else faces[:self.settings.max_faces]
                if self.smoother is not None:
                    faces = self.smoother(faces, frame.media_time)
            with StageTimer(frame.timing, "align"):
                frame.aligned = [align_face(frame.image, f.landmarks, self.resolution, self.coverage) for f in faces]
                frame.faces = faces
        except Exception as exc:  # one bad frame must not stop the loop
            frame.faces, frame.aligned = [], []
            frame.failed, frame.error = True, _first_line(exc)

    def infer(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the backend on (N, R, R, 3) crops: one call if the model takes batches, else one per face."""
        if self.batched or len(crops) == 1:
            return self.backend.run(crops)
        results = [self.backend.run(crops[i:i + 1]) for i in range(len(crops))]
        return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])

    def swap(self, frame: Frame) -> None:
        """Stage 2: swap every located face into the frame (fills frame.output and frame.boxes).

        A live frame's image is the loop's own buffer (sources hand over a fresh array per frame), so
        the faces are pasted into it in place: no full-frame copy, which at 1280x720 costs about
        0.5 ms. Everything that can fail (inference, colour transfer, masks, boxes) runs before the
        first pixel is written, so a failed frame goes out as it was captured.
        """
        if frame.aligned and not frame.failed:
            try:
                with StageTimer(frame.timing, "infer"):
                    faces, masks = self.infer(np.stack([a.crop for a in frame.aligned]))
                with StageTimer(frame.timing, "composite"):
                    shape = frame.image.shape
                    prepared = [prepare_face(a, f, m, self.settings.composite, shape)
                                for a, f, m in zip(frame.aligned, faces, masks)]
                    frame.mask_coverage = [p.coverage for p in prepared]
                    boxes = [paste_face(frame.image, p, self.settings.composite) for p in prepared]
                    frame.boxes = [box for box in boxes if box is not None]
                    frame.output = frame.image
            except Exception as exc:  # the frame goes out as captured
                frame.output, frame.boxes = frame.image, []
                frame.failed, frame.error = True, _first_line(exc)
        if self.settings.label:
            with StageTimer(frame.timing, "composite"):
                if not frame.signal:  # a "no signal" frame may be shared between emits: label a copy
                    frame.output = frame.output.copy()
                draw_label(frame.output)

    def close(self) -> None:
        """Release the landmarker."""
        self.landmarker.close()
