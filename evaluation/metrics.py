"""Swap-quality measures on 68 iBUG landmarks and face pixels: pure functions, arrays in, numbers out.

Expression and pose compare the landmarks found on the swapped output with those of the source
frame; stability looks at how much landmarks shake from frame to frame; sharpness is the
variance of the Laplacian inside the face. All landmark distances are divided by the
inter-ocular distance (outer eye corners, points 36 and 45), the usual normalisation of
face-alignment benchmarks, so they do not depend on the face's size in pixels.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from faces import align_face, mouth_open  # noqa: F401 (mouth_open is one of the measures read from here)
from training.extract import sharpness

INNER_FACE = slice(17, 68)  # brows, nose, eyes and mouth: the points an expression moves (no jaw line)
SHARPNESS_COVERAGE = "face"  # brows to chin: the part of the crop the swap always replaces

# A generic head for solvePnP (the widely used 6-point model, in mm-like units), in object
# coordinates that match the image: x to the subject's left (image right), y down, z away from
# the camera. Keys are iBUG indices: nose tip, chin, outer eye corners, mouth corners.
HEAD_MODEL = {
    30: (0.0, 0.0, 0.0),
    8: (0.0, 330.0, 65.0),
    36: (-225.0, -170.0, 135.0),
    45: (225.0, -170.0, 135.0),
    48: (-150.0, 150.0, 125.0),
    54: (150.0, 150.0, 125.0),
}


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the outer eye corners (points 36 and 45) in pixels."""
    return float(np.linalg.norm(landmarks[45] - landmarks[36]))


def landmark_error(reference: np.ndarray, measured: np.ndarray) -> float:
    """Mean distance of the inner-face points (17-67) of `measured` from `reference`, over the reference's inter-ocular distance."""
    diff = np.linalg.norm(np.asarray(measured, np.float64)[INNER_FACE] - np.asarray(reference, np.float64)[INNER_FACE],
                          axis=1)
    return float(diff.mean() / max(inter_ocular(reference), 1e-6))


def eye_open(landmarks: np.ndarray) -> float:
    """Eye aspect ratio (Soukupova and Cech 2016), both eyes averaged: lid gap over eye width, about 0.3 open."""
    ratios = []
    for corner_a, top_a, top_b, corner_b, bottom_b, bottom_a in ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47)):
        lids = np.linalg.norm(landmarks[top_a] - landmarks[bottom_a]) + np.linalg.norm(landmarks[top_b] - landmarks[bottom_b])
        ratios.append(lids / max(2.0 * np.linalg.norm(landmarks[corner_b] - landmarks[corner_a]), 1e-6))
    return float(np.mean(ratios))


def head_pose(landmarks: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a face, from solvePnP of HEAD_MODEL onto its landmarks.

    The camera is a pinhole with focal length = frame width and the principal point at the frame
    centre (`frame_size` is (width, height)). Angles are about the image's y (yaw), x (pitch)
    and z (roll) axes; a frontal upright face is (0, 0, 0).
    """
    width, height = frame_size
    object_points = np.array(list(HEAD_MODEL.values()), np.float64)
    image_points = np.asarray(landmarks, np.float64)[list(HEAD_MODEL)]
    camera = np.array([[width, 0, width / 2.0], [0, width, height / 2.0], [0, 0, 1]], np.float64)
    ok, rvec, _ = cv2.solvePnP(object_points, image_points, camera, None, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return math.nan, math.nan, math.nan
    rotation, _ = cv2.Rodrigues(rvec)
    pitch, yaw, roll = cv2.RQDecomp3x3(rotation)[0]
    return float(yaw), float(pitch), float(roll)


def angle_difference(a: float, b: float) -> float:
    """Absolute difference of two angles in degrees, wrapped into [0, 180]."""
    return float(abs((a - b + 180.0) % 360.0 - 180.0))


def jitter(track: list[np.ndarray | None]) -> float | None:
    """How much landmarks shake: the mean size of their frame-to-frame acceleration, over the inter-ocular distance.

    `track` holds one (68, 2) array per consecutive frame (None where no face was found). The
    second difference L[t+1] - 2 L[t] + L[t-1] ignores steady motion and keeps the shaking; it
    is averaged over every point of every run of three consecutive frames with a face. None if
    there is no such run.
    """
    values = []
    for before, now, after in zip(track, track[1:], track[2:]):
        if before is None or now is None or after is None:
            continue
        accel = np.linalg.norm(np.asarray(after, np.float64) - 2 * np.asarray(now, np.float64) + before, axis=1)
        values.append(accel.mean() / max(inter_ocular(now), 1e-6))
    return float(np.mean(values)) if values else None


def correlation(x: list[float], y: list[float]) -> float | None:
    """Pearson correlation of two equally long series; None when either is (nearly) constant or too short."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def crop_sharpness(face: np.ndarray, landmarks: np.ndarray, coverage: str) -> float:
    """Variance of the Laplacian inside the landmark hull of an aligned crop, at 128 px: a model's face (float in
    [0, 1] or uint8, BGR) or a real one, in the model's own crop space, before any paste-back."""
    levels = cv2.convertScaleAbs(face, alpha=255.0) if face.dtype != np.uint8 else face  # rounds as the loop does
    return sharpness(levels, landmarks, coverage)


def face_sharpness(frame: np.ndarray, landmarks: np.ndarray) -> float:
    """Variance of the Laplacian inside the face (brows to chin) whose 68 landmarks are given, at 128 px."""
    aligned = align_face(frame, landmarks, 128, SHARPNESS_COVERAGE)
    return sharpness(aligned.crop, aligned.landmarks, SHARPNESS_COVERAGE)
