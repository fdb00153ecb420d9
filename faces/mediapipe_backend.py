"""Landmarks from mediapipe's Tasks FaceLandmarker (478-point mesh), reduced to the iBUG-68 points."""
from __future__ import annotations

import atexit
import contextlib
import os
import sys
import tempfile
import weakref

import cv2
import numpy as np

from faces.image import as_bgr8
from faces.face import Face, box_from_points, sort_largest_first
from faces.mediapipe_direct import direct_reader
from faces.model_files import FACE_LANDMARKER, ModelFileError, find_model

os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ info lines are noise on a user's terminal

# Index map: IBUG68_FROM_MESH[k] is the mediapipe mesh vertex used as iBUG point k.
# Inner points (brows, nose, eyes, mouth) follow the commonly used mesh-to-iBUG correspondence.
# The jaw was re-chosen, mirror-symmetric, as the vertices nearest to dlib's 68-point predictor
# on 491 frames of the clips in shared/data: iBUG's jaw runs along the visible cheek contour,
# inside the mesh's silhouette ring. Measured against dlib on those frames, the mean distance
# is 4.5% of the inter-ocular distance on points 17-67 and 9.5% on the jaw.
IBUG68_FROM_MESH = np.array([
    127, 227, 177, 215, 138, 136, 149, 176, 152, 400, 378, 365, 367, 435, 401, 447, 356,  # jaw
    70, 63, 105, 66, 107,                      # right brow (subject's right, image left)
    336, 296, 334, 293, 300,                   # left brow
    168, 197, 195, 4,                          # nose bridge
    75, 97, 2, 326, 305,                       # nostrils
    33, 160, 158, 133, 153, 144,               # right eye
    362, 385, 387, 263, 373, 380,              # left eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips
    78, 82, 13, 312, 308, 317, 14, 87,         # inner lips
], dtype=np.int64)


@contextlib.contextmanager
def native_stderr_silenced():
    """Discard what native code writes to the process's stderr (fd 2) while the block runs.

    mediapipe 1.x logs through absl and ignores GLOG_minloglevel: creating a FaceLandmarker prints
    half a dozen warning lines. Python exceptions are unaffected. Other threads writing to fd 2
    during the block (creation takes ~50 ms) are silenced too.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


_OPEN: weakref.WeakSet = weakref.WeakSet()  # landmarkers not closed yet


@atexit.register
def _close_at_exit() -> None:
    """Close the landmarkers a program left open when it exits.

    Left to the garbage collector, a mediapipe task prints a traceback during interpreter
    teardown. This hook is registered when this module is imported, before it imports mediapipe,
    so it runs after mediapipe's own exit hook, when closing is a quiet no-op on the native side
    (a program that imported mediapipe itself first still sees that traceback).
    """
    for landmarker in list(_OPEN):
        with contextlib.suppress(Exception):
            landmarker.close()


class MediapipeLandmarker:
    """mediapipe Tasks FaceLandmarker in IMAGE mode (stills) or VIDEO mode (tracking a stream).

    mediapipe's Tasks API reports no per-face confidence: every face it returns has passed its
    detection and presence thresholds, and gets score 1.0. Its face detector finds faces down to
    about 11% of the frame width (70 px at 640x480, 145 px at 1280x720; see DlibLandmarker).
    """

    name = "mediapipe"

    def __init__(self, mode: str = "image", max_faces: int = 1, model_path: str | None = None,
                 min_confidence: float = 0.5):
        path = find_model(FACE_LANDMARKER, model_path)
        with native_stderr_silenced():
            from mediapipe.tasks.python import BaseOptions, vision
        running = vision.RunningMode.VIDEO if mode == "video" else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=running,
            num_faces=max_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self.mode = mode
        self.max_faces = max_faces
        try:
            with native_stderr_silenced():
                self._task = vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")
            raise ModelFileError(f"{path} is not a usable {FACE_LANDMARKER.name} ({reason}); "
                                 f"fetch it again with `python -m faces --download-model`") from exc
        self._last_ts = -1
        self._direct = direct_reader(self._task)
        _OPEN.add(self)

    def detect(self, frame: np.ndarray, timestamp_ms: int | None = None) -> list[Face]:
        """Faces in a BGR frame, largest first. In video mode timestamps must rise; missing ones are made up."""
        import mediapipe as mp

        if self._task is None:
            raise RuntimeError("this landmarker is closed")
        frame = as_bgr8(frame)
        h, w = frame.shape[:2]
        if min(h, w) < 8:
            return []
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        ts = None
        if self.mode == "video":
            ts = self._last_ts + 33 if timestamp_ms is None else int(timestamp_ms)
            ts = max(ts, self._last_ts + 1)
            self._last_ts = ts
        faces = []
        for marks in self._normalized_landmarks(image, ts):
            mesh = (marks.astype(np.float64) * (w, h)).astype(np.float32)
            faces.append(Face(landmarks=mesh[IBUG68_FROM_MESH], box=box_from_points(mesh), score=1.0, mesh=mesh))
        return sort_largest_first(faces)

    def _normalized_landmarks(self, image, ts: int | None) -> list[np.ndarray]:
        """Each face's mesh as (478, 2) x, y in [0, 1]: read directly when this mediapipe allows, else its public API."""
        if self._direct is not None:
            return self._direct(image, ts)
        result = self._task.detect(image) if ts is None else self._task.detect_for_video(image, ts)
        return [np.array([(p.x, p.y) for p in marks], np.float64) for marks in result.face_landmarks]

    def close(self) -> None:
        """Release the mediapipe graph (idempotent)."""
        if self._task is not None:
            self._task.close()
            self._task = None
        _OPEN.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
