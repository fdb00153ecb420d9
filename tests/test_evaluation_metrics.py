"""The swap-quality measures on known geometry: head pose, landmark error, mouth and eye opening, jitter, sharpness."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faces import TEMPLATE_68
from evaluation.metrics import (HEAD_MODEL, angle_difference, correlation, crop_sharpness, eye_open, face_sharpness,
                                head_pose, inter_ocular, jitter, landmark_error, mouth_open)
from evaluation.summary import FrameResult, check_targets, collapsed_frames, summarize, summary_table

FRAME = (640, 480)


def projected_head(rvec, distance: float = 1500.0) -> np.ndarray:
    """68 landmarks whose HEAD_MODEL points are the generic head seen by the pinhole camera head_pose assumes."""
    w, h = FRAME
    camera = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], np.float64)
    points, _ = cv2.projectPoints(np.array(list(HEAD_MODEL.values())), np.array(rvec, np.float64),
                                  np.array([0, 0, distance]), camera, None)
    marks = np.zeros((68, 2))
    marks[list(HEAD_MODEL)] = points[:, 0]
    return marks


@pytest.mark.parametrize("rvec, expected", [
    ((0, 0, 0), (0, 0, 0)),
    ((0, np.radians(25), 0), (25, 0, 0)),
    ((np.radians(-15), 0, 0), (0, -15, 0)),
    ((0, 0, np.radians(10)), (0, 0, 10)),
])
def test_head_pose_recovers_the_rotation_of_a_projected_head(rvec, expected):
    assert head_pose(projected_head(rvec), FRAME) == pytest.approx(expected, abs=0.5)


def test_head_pose_of_a_real_frontal_face_is_near_zero(astronaut):
    image, marks = astronaut.image, astronaut.face.landmarks
    yaw, pitch, roll = head_pose(marks, (image.shape[1], image.shape[0]))
    assert abs(yaw) < 25 and abs(roll) < 15 and abs(pitch) < 30, (yaw, pitch, roll)
    centre = marks.mean(0)
    tilt = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), -30, 1.0)  # the head tilted by 30 degrees
    tilted = head_pose(marks @ tilt[:, :2].T + tilt[:, 2], (image.shape[1], image.shape[0]))
    assert angle_difference(tilted[2], roll) == pytest.approx(30, abs=3)


def test_angle_difference_wraps_around():
    assert angle_difference(179, -179) == pytest.approx(2)
    assert angle_difference(-30, 30) == pytest.approx(60)


def test_landmark_error_is_zero_for_the_same_face_and_scales_with_inter_ocular_distance():
    face = TEMPLATE_68 * 200 + 300
    assert landmark_error(face, face) == 0
    shifted = face + [0.1 * inter_ocular(face), 0]
    assert landmark_error(face, shifted) == pytest.approx(0.1)
    assert landmark_error(face * 3, shifted * 3) == pytest.approx(0.1)  # same error on a bigger face
    jaw_only = face.copy()
    jaw_only[:17] += 50  # the jaw line is not an inner-face point
    assert landmark_error(face, jaw_only) == 0


def test_mouth_and_eye_opening_grow_as_they_open():
    face = TEMPLATE_68 * 200
    closed = mouth_open(face)
    opened = face.copy()
    opened[[55, 56, 57, 58, 59, 65, 66, 67]] += [0, 30]  # lower lip down by 30 px on an 89 px wide mouth
    assert mouth_open(opened) == pytest.approx(closed + 30 / np.linalg.norm(face[54] - face[48]), rel=0.01)
    shut = face.copy()
    shut[[37, 38, 43, 44]] = face[[41, 40, 47, 46]]  # upper lids onto the lower ones
    assert eye_open(shut) == pytest.approx(0, abs=1e-9)
    assert 0.15 < eye_open(face) < 0.5  # an open eye


def test_jitter_ignores_steady_motion_and_measures_shaking():
    face = TEMPLATE_68 * 200 + 300
    iod = inter_ocular(face)
    steady = [face + [3.0 * t, 1.0 * t] for t in range(20)]
    assert jitter(steady) == pytest.approx(0, abs=1e-9)
    shaking = [f + (0.01 * iod if t % 2 else 0.0) for t, f in enumerate(steady)]
    assert jitter(shaking) == pytest.approx(0.02 * np.sqrt(2), rel=1e-6)  # |+-2 * 0.01 iod| in x and y
    with_gaps = [f if t % 3 else None for t, f in enumerate(shaking)]
    assert jitter(with_gaps) is None  # never three frames in a row


def test_correlation_is_none_for_a_constant_series():
    assert correlation([1, 2, 3, 4], [2, 4, 6, 8.5]) > 0.99
    assert correlation([1, 2, 3], [5, 5, 5]) is None


def test_face_sharpness_falls_when_the_face_is_blurred(astronaut):
    image, marks = astronaut.image, astronaut.face.landmarks
    sharp, blurred = face_sharpness(image, marks), face_sharpness(cv2.GaussianBlur(image, (0, 0), 3), marks)
    assert blurred < 0.25 * sharp


def test_crop_sharpness_reads_a_models_float_face_as_the_loop_rounds_it(astronaut):
    from faces import align_face

    aligned = align_face(astronaut.image, astronaut.face.landmarks, 128, "whole_face")
    crop, marks = aligned.crop, aligned.landmarks
    as_float = crop.astype(np.float32) / 255.0  # a model's face
    assert crop_sharpness(as_float, marks, "whole_face") == pytest.approx(crop_sharpness(crop, marks, "whole_face"))
    assert crop_sharpness(cv2.GaussianBlur(crop, (0, 0), 1.5), marks, "whole_face") < 0.5 * crop_sharpness(
        crop, marks, "whole_face")


def test_summary_counts_missing_output_faces_against_the_model_and_checks_targets():
    face = TEMPLATE_68 * 100 + 150
    results = []
    for i in range(10):
        r = FrameResult(frame=i, time_s=i / 25, swapped=True, source_landmarks=face, output_landmarks=face,
                        dist_a=0.8, dist_b=0.5, landmark_error=0.01, mouth_open=(0.1 + i % 3 / 10, 0.1 + i % 3 / 10),
                        eye_open=(0.3, 0.3), pose_source=(0, 0, 0), pose_output=(1, -2, 3),
                        sharpness_source=100.0, sharpness_output=60.0, sharpness_ceiling=80.0,
                        mask_coverage=0.95 if i else 0.3)
        results.append(r)
    results[9].output_landmarks, results[9].dist_a, results[9].dist_b = None, None, None  # no face in the output
    summary = summarize(results, "b")
    assert summary["closer_to_b"] == pytest.approx(0.9) and summary["dist_b_median"] == pytest.approx(0.5)
    assert summary["mouth_open_correlation"] == pytest.approx(1.0) and summary["eye_open_correlation"] is None
    assert (summary["yaw_error_mean"], summary["pitch_error_mean"], summary["roll_error_mean"]) == (1, 2, 3)
    assert summary["sharpness_ratio"] == pytest.approx(0.6) and summary["jitter_source"] == 0
    assert summary["sharpness_ceiling_ratio"] == pytest.approx(0.8) and summary["sharpness_vs_ceiling"] == pytest.approx(0.75)
    assert summary["mask_whole"] == pytest.approx(0.9) and summary["mask_collapsed_frames"] == 1
    assert summary["mask_coverage_min"] == pytest.approx(0.3) and collapsed_frames(results) == [0]
    met = {c["key"]: c["met"] for c in check_targets(summary)}
    assert met == {"closer_to_b": False, "dist_b_median": False, "sharpness_vs_ceiling": True,
                   "landmark_error_mean": True, "mouth_open_correlation": True,
                   "jitter_ratio": False}  # no jitter at all: the ratio is undefined
    met = {c["key"]: c["met"] for c in check_targets(summary, "anyface")}
    assert met == {"closer_to_b": True, "dist_b_median": True, "mask_whole": False}
    table = summary_table(summary)
    assert "swapped frames closer to B than to A" in table and "NO" in table
