"""Landmark backends chosen by name: a frame in, a list of `faces.face.Face` out.

Every backend returns the 68 iBUG-300W points (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67, subject's right side first) in frame pixels, so alignment, masks and evaluation
never care which backend ran.
"""
from __future__ import annotations

from typing import Callable

from faces.face import Landmarker


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


def auto_choice(model_path: str | None = None) -> tuple[str, str]:
    """Which backend 'auto' takes here, and why, in words for the user: ('mediapipe' | 'dlib', reason)."""
    from faces.model_files import FACE_LANDMARKER, ModelFileError, find_model
    try:
        return "mediapipe", f"{FACE_LANDMARKER.name} found at {find_model(FACE_LANDMARKER, model_path)}"
    except ModelFileError:
        return "dlib", (f"the offline fallback: {FACE_LANDMARKER.name} was not found (`python -m faces "
                        f"--download-model` fetches it); dlib needs about 4x the time per frame")


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
