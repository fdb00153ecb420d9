"""The per-frame work of the loop, in two stages that run in their own threads.

`locate` (stage 1): landmarks in tracking mode, One Euro smoothing, alignment crops at the
model's coverage and resolution. `swap` (stage 2): the model on all faces at once (or one at a
time when the model's batch is static), then colour transfer, mask, paste back and the
disclosure label, pasted into the captured frame in place. A stage that fails on a frame sends
the frame on as captured and marks it failed.

With `overlap`, `locate` first aligns the frame with the previous frame's landmarks and starts the model
on those crops in a thread of its own, then looks for this frame's landmarks while the model runs. A face
that has moved at most `OVERLAP_MOVE` of its size since keeps that model output: the crop is the current
frame's own pixels, taken a few pixels off the template's framing (within what training's random shift
teaches the model), and it goes back through the same transform, so it lands on the face where it is now;
the mask and mouth use the new landmarks. A face that moved further, or a new one, is aligned again and run
again in `swap`. The early run also colour-matches its faces to their crops (inside the previous landmarks'
hull), so that `swap` only builds the mask and pastes. Latency then holds the longer of landmarks and model
(with the colour transfer) instead of their sum.

Settings and the model may change while the loop runs (`update`, `use_backend`): each frame reads
them once, when it enters `locate`, and keeps the model it was aligned for until it leaves `swap`,
so a change takes effect on a frame boundary and no frame mixes two models.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from faces import AlignedFace, Landmarker, align_face
from faces.align import ALIGN_POINTS, transform_points
from faces.cli import setting
from live.composite import CompositeSettings, color_matched, draw_label, paste_face, prepare_face
from live.frame import Frame
from live.inference import InferenceBackend
from live.profiler import StageTimer
from live.tracking import LandmarkSmoother, face_size

FACE_MODES = ("largest", "all")
OVERLAP_MOVE = 0.03  # the farthest an alignment point may move, as a share of the face's size, to keep an early run


@dataclass(frozen=True)
class SwapSettings:
    """What the loop does to each frame."""

    faces: str = setting("largest", "swap the largest face or all", choices=FACE_MODES)
    max_faces: int = setting(4, "most faces swapped with --faces all", type=int)
    composite: CompositeSettings = field(default_factory=CompositeSettings)
    label: bool = setting(True, "do not draw the 'synthetic video' disclosure label")
    smoothing: bool = setting(True, "no One Euro smoothing of landmarks over time")
    smoothing_strength: float = setting(0.5, "landmark smoothing, 0 (light) to 1 (heavy)", type=float)
    swap: bool = setting(True, "start with the swap off (the camera passes through, labelled)")
    overlap: bool = setting(True, "no overlap: run the model only after the frame's own landmarks are found (by "
                            "default it runs on the frame aligned with the previous frame's landmarks meanwhile, and a "
                            "face that moved further is run again)")

    def __post_init__(self):
        if self.faces not in FACE_MODES:
            raise ValueError(f"faces must be one of {', '.join(FACE_MODES)}, not {self.faces!r}")
        if not 1 <= self.max_faces <= 16:
            raise ValueError(f"max_faces must be between 1 and 16, not {self.max_faces}")
        if not 0.0 <= self.smoothing_strength <= 1.0:
            raise ValueError(f"smoothing_strength must be between 0 and 1, not {self.smoothing_strength:g}")

    @property
    def landmark_faces(self) -> int:
        """How many faces the landmarker should look for."""
        return 1 if self.faces == "largest" else self.max_faces


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class FaceSwapper:
    """Holds the landmarker, the smoother and the inference backend; `locate` then `swap` each frame.

    `make_landmarker(max_faces)` (optional) lets a change of `faces` take effect while running: the locate
    stage makes a landmarker for the new face count. `tap(frame)` (optional) is called before a frame's
    pixels are swapped (the control page keeps some camera frames from it).
    """

    def __init__(self, backend: InferenceBackend, landmarker: Landmarker, settings: SwapSettings = SwapSettings(),
                 make_landmarker: Callable[[int], Landmarker] | None = None,
                 tap: Callable[[Frame], None] | None = None):
        self.backend, self.landmarker, self.settings = backend, landmarker, settings
        self.make_landmarker, self.tap = make_landmarker, tap
        self.smoother = LandmarkSmoother()
        self._landmark_faces = settings.landmark_faces
        self._previous: list[np.ndarray] = []  # the last located frame's landmarks, one (68, 2) array per face
        self._early: ThreadPoolExecutor | None = None
        self.overlap_counts = {"early": 0, "again": 0}  # faces whose early model run was kept, or redone in swap

    @property
    def resolution(self) -> int:
        """The current model's crop size."""
        return self.backend.contract.resolution

    @property
    def coverage(self) -> str:
        """The current model's face coverage."""
        return self.backend.contract.coverage

    def update(self, settings: SwapSettings) -> None:
        """Use `settings` from the next frame on."""
        self.settings = settings

    def use_backend(self, backend: InferenceBackend) -> None:
        """Swap with `backend` from the next frame on (frames already located finish with the old one)."""
        self.backend = backend

    def locate(self, frame: Frame) -> None:
        """Stage 1: find, smooth and align the frame's faces (fills frame.faces, frame.aligned, frame.backend; with
        `overlap`, also frame.inferred for the faces whose early model run is kept)."""
        settings, backend = self.settings, self.backend
        frame.backend = backend
        previous, self._previous = self._previous, []
        if not frame.signal or not settings.swap:
            return
        try:
            resolution, coverage = backend.contract.resolution, backend.contract.coverage
            guesses, early = [], None
            if settings.overlap and previous:
                with StageTimer(frame.timing, "align"):
                    guesses = [align_face(frame.image, marks, resolution, coverage) for marks in previous]
                early = self._early_runner().submit(self._early_run, guesses, backend, settings.composite.color)
            with StageTimer(frame.timing, "landmarks"):
                if settings.landmark_faces != self._landmark_faces and self.make_landmarker is not None:
                    self.landmarker.close()
                    self.landmarker, self._landmark_faces = self.make_landmarker(settings.landmark_faces), \
                        settings.landmark_faces
                faces = self.landmarker.detect(frame.image, timestamp_ms=int(frame.media_time * 1000))
                faces = faces[:1] if settings.faces == "largest" else faces[:settings.max_faces]
                if settings.smoothing:
                    self.smoother.set_strength(settings.smoothing_strength)
                    faces = self.smoother(faces, frame.media_time)
            kept = {}
            if early is not None:
                with StageTimer(frame.timing, "infer"):  # only the wait beyond the landmarks: the rest overlapped
                    kept = self._keep_early(faces, previous, guesses, early.result())
            with StageTimer(frame.timing, "align"):
                frame.aligned = [kept[i][0] if i in kept else align_face(frame.image, f.landmarks, resolution, coverage)
                                 for i, f in enumerate(faces)]
                frame.inferred = [kept[i][1] if i in kept else None for i in range(len(faces))]
                frame.faces = faces
            self._previous = [f.landmarks for f in faces]
        except Exception as exc:  # one bad frame must not stop the loop
            frame.faces, frame.aligned, frame.inferred = [], [], []
            frame.failed, frame.error = True, _first_line(exc)

    def _early_run(self, guesses: list[AlignedFace], backend: InferenceBackend, color: str) -> tuple:
        """The model on crops aligned with the previous frame's landmarks, and its faces colour-matched to those
        crops (`color`, inside the previous landmarks' hull: the face moved at most OVERLAP_MOVE when the run is
        kept, and the colour statistics with it): (faces, masks, [(color, matched face)] per face)."""
        faces, masks = self.infer(np.stack([g.crop for g in guesses]), backend)
        return faces, masks, [(color, color_matched(g, f, color)) for g, f in zip(guesses, faces)]

    def _early_runner(self) -> ThreadPoolExecutor:
        if self._early is None:
            self._early = ThreadPoolExecutor(1, thread_name_prefix="early-infer")
        return self._early

    def _keep_early(self, faces: list, previous: list[np.ndarray], guesses: list[AlignedFace],
                    results: tuple) -> dict[int, tuple[AlignedFace, tuple]]:
        """face index -> (its aligned face, (model face, model mask, (color, matched face))) for each face that
        moved at most OVERLAP_MOVE of its size from one of the previous frame's faces (each early crop used once,
        nearest first)."""
        kept, free = {}, set(range(len(previous)))
        for i, face in enumerate(faces):
            points, size = face.landmarks[ALIGN_POINTS], face_size(face.landmarks)
            moves = {k: float(np.abs(points - previous[k][ALIGN_POINTS]).max()) / size for k in free}
            k = min(moves, key=moves.get, default=None)
            if k is None or moves[k] > OVERLAP_MOVE:
                continue
            free.discard(k)
            guess = guesses[k]
            moved = replace(guess, landmarks=transform_points(face.landmarks, guess.matrix).astype(np.float32))
            kept[i] = (moved, (results[0][k], results[1][k], results[2][k]))
        self.overlap_counts["early"] += len(kept)
        self.overlap_counts["again"] += len(faces) - len(kept)
        return kept

    def infer(self, crops: np.ndarray, backend: InferenceBackend | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Run the backend on (N, R, R, 3) crops: one call if the model takes batches, else one per face."""
        backend = backend or self.backend
        if backend.contract.batch == "dynamic" or len(crops) == 1:
            return backend.run(crops)
        results = [backend.run(crops[i:i + 1]) for i in range(len(crops))]
        return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])

    def _outputs(self, frame: Frame, color: str) -> list[tuple]:
        """(model face, model mask, colour-matched face or None) for every aligned face: the early runs `locate`
        kept (their matched face when made with the transfer `color`), the others run now."""
        done = {}
        for i, result in enumerate(frame.inferred):
            if result is not None:
                face, mask, (early_color, matched) = result
                done[i] = (face, mask, matched if early_color == color else None)
        todo = [i for i in range(len(frame.aligned)) if i not in done]
        if todo:
            faces, masks = self.infer(np.stack([frame.aligned[i].crop for i in todo]), frame.backend)
            done.update((i, (faces[j], masks[j], None)) for j, i in enumerate(todo))
        return [done[i] for i in range(len(frame.aligned))]

    def swap(self, frame: Frame) -> None:
        """Stage 2: swap every located face into the frame (fills frame.output and frame.boxes).

        A live frame's image is the loop's own buffer (sources hand over a fresh array per frame), so
        the faces are pasted into it in place: no full-frame copy, which at 1280x720 costs about
        0.5 ms. Everything that can fail (inference, colour transfer, masks, boxes) runs before the
        first pixel is written, so a failed frame goes out as it was captured.
        """
        settings = self.settings
        if self.tap is not None:
            self.tap(frame)
        if frame.aligned and not frame.failed and settings.swap:
            try:
                with StageTimer(frame.timing, "infer"):
                    outputs = self._outputs(frame, settings.composite.color)
                with StageTimer(frame.timing, "composite"):
                    shape = frame.image.shape
                    prepared = [prepare_face(a, f, m, settings.composite, shape, matched)
                                for a, (f, m, matched) in zip(frame.aligned, outputs)]
                    frame.mask_coverage = [p.coverage for p in prepared]
                    paste = getattr(frame.backend, "paste", None)  # a GPU backend pastes on the GPU
                    boxes = [paste_face(frame.image, p, settings.composite, paste) for p in prepared]
                    frame.boxes = [box for box in boxes if box is not None]
                    frame.output = frame.image
            except Exception as exc:  # the frame goes out as captured
                frame.output, frame.boxes = frame.image, []
                frame.failed, frame.error = True, _first_line(exc)
        if settings.label:
            with StageTimer(frame.timing, "composite"):
                if not frame.signal:  # a "no signal" frame may be shared between emits: label a copy
                    frame.output = frame.output.copy()
                draw_label(frame.output)

    def close(self) -> None:
        """Release the landmarker and the early model thread."""
        if self._early is not None:
            self._early.shutdown(wait=True)
            self._early = None
        self.landmarker.close()
