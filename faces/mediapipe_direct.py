"""mediapipe 1.x Face Landmarker results read straight from its C result into numpy.

mediapipe's Python API turns each of the 478 landmarks of every face into a dataclass on every
frame: about a millisecond of Python holding the GIL, a tenth of the live loop's landmark stage on
a 2-core machine. `direct_reader` makes the same C calls as mediapipe's own `detect` and
`detect_for_video` (still serialized by mediapipe's dispatcher) and reads x and y with numpy,
through mediapipe's own ctypes layout of a landmark. It returns None where mediapipe has no such C
API (the 0.10 series), and the caller uses the public API instead.
"""
from __future__ import annotations

import ctypes
from typing import Callable

import numpy as np

DirectReader = Callable[[object, "int | None"], list[np.ndarray]]


def direct_reader(task) -> DirectReader | None:
    """For a mediapipe FaceLandmarker `task`: read(mp_image, timestamp_ms or None for a still) -> one (N, 2) float32
    array of normalized x, y per face; None if this mediapipe cannot be read that way."""
    try:
        from mediapipe.tasks.python.components.containers.landmark_c import MpNormalizedLandmarkC
        from mediapipe.tasks.python.vision.face_landmarker import MpFaceLandmarkerResultC

        lib, handle = task._lib, task._handle
        detect_image, detect_video = lib.MpFaceLandmarkerDetectImage, lib.MpFaceLandmarkerDetectForVideo
        close_result = lib.MpFaceLandmarkerCloseResult
        size = ctypes.sizeof(MpNormalizedLandmarkC)
        layout = np.dtype({"names": ["x", "y"], "formats": [np.float32, np.float32],
                           "offsets": [MpNormalizedLandmarkC.x.offset, MpNormalizedLandmarkC.y.offset],
                           "itemsize": size})
    except (ImportError, AttributeError):
        return None

    def read(image, timestamp_ms: int | None) -> list[np.ndarray]:
        result = MpFaceLandmarkerResultC()
        if timestamp_ms is None:
            detect_image(handle, image._image_ptr, None, ctypes.byref(result))
        else:
            detect_video(handle, image._image_ptr, None, timestamp_ms, ctypes.byref(result))
        try:
            faces = []
            for i in range(result.face_landmarks_count):
                marks = result.face_landmarks[i]
                if marks.landmarks_count == 0:
                    faces.append(np.zeros((0, 2), np.float32))
                    continue
                raw = (ctypes.c_char * (marks.landmarks_count * size)).from_address(
                    ctypes.addressof(marks.landmarks.contents))
                points = np.frombuffer(raw, layout)
                faces.append(np.stack([points["x"], points["y"]], axis=1))  # a copy: the result is freed below
            return faces
        finally:
            close_result(ctypes.byref(result))

    return read
