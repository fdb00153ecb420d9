"""Alignment, crop / uncrop, paste-back and masks: exact geometry on synthetic points, real faces."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faces import (COVERAGES, TEMPLATE_68, align_face, alignment_matrix, create_landmarker, eye_centres,
                   hull_mask, paste_back, paste_box, refine_mask, transform_points, uncrop)
from faces.align import PIXELS, template_in_crop, umeyama


def similar_face(scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    """The template moved by a known similarity transform: a face with exactly known geometry."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return TEMPLATE_68 @ rot.T * scale + np.array(shift)


def smooth_image(h: int, w: int) -> np.ndarray:
    """A smooth colour image whose intensity changes by about one level per pixel, so a mean error
    under one level means the crop and paste-back moved pixels by well under a pixel."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    b = 128 + 100 * np.sin(x / 90.0)
    g = 128 + 100 * np.cos(y / 80.0)
    r = 128 + 60 * np.sin((x + y) / 110.0)
    return np.clip(np.dstack([b, g, r]) + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("coverage", list(COVERAGES))
@pytest.mark.parametrize("size", [64, 256, 512])
def test_points_go_to_the_template_and_back(coverage, size):
    face = similar_face(scale=173.0, angle_deg=17.0, shift=(321.5, 240.25))
    matrix = alignment_matrix(face, size, coverage)
    in_crop = transform_points(face, matrix)
    np.testing.assert_allclose(in_crop, template_in_crop(size, coverage), atol=1e-6)
    inverse = align_face(np.zeros((480, 640, 3), np.uint8), face, size, coverage).inverse
    np.testing.assert_allclose(transform_points(in_crop, inverse), face, atol=1e-6)
    linear = matrix[:, :2]
    np.testing.assert_allclose(linear @ linear.T, np.eye(2) * np.linalg.det(linear), atol=1e-9)  # no shear


def test_real_landmarks_round_trip(astronaut):
    image, face = astronaut.image, astronaut.face
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 512, (1000, 2))
    for coverage in COVERAGES:
        aligned = align_face(image, face.landmarks, 256, coverage)
        back = transform_points(transform_points(points, aligned.matrix), aligned.inverse)
        np.testing.assert_allclose(back, points, atol=1e-6)
        np.testing.assert_allclose(aligned.landmarks, transform_points(face.landmarks, aligned.matrix), atol=1e-4)


def test_crop_pixels_follow_the_landmarks(astronaut):
    """Landmarks found again in the crop itself sit where the transform put the frame's landmarks."""
    image, face = astronaut.image, astronaut.face
    aligned = align_face(image, face.landmarks, 256, "whole_face")
    with create_landmarker("mediapipe") as landmarker:
        (again,) = landmarker.detect(aligned.crop)
    for expected, found in zip(eye_centres(aligned.landmarks), eye_centres(again.landmarks)):
        assert np.linalg.norm(expected - found) < 0.02 * 256


def test_wider_coverage_shows_a_smaller_face(astronaut):
    image, face = astronaut.image, astronaut.face
    widths = []
    for coverage in ("face", "whole_face", "head"):
        right, left = eye_centres(align_face(image, face.landmarks, 256, coverage).landmarks)
        widths.append(np.linalg.norm(left - right))
    assert widths[0] > widths[1] > widths[2]


@pytest.mark.parametrize("size", [256, 512])
def test_crop_then_uncrop_a_smooth_image(astronaut, size):
    """Align, then paste back at full mask: inside the face box the frame changes by < 1 level on average."""
    face = astronaut.face
    frame = smooth_image(512, 512)
    aligned = align_face(frame, face.landmarks, size, "whole_face")
    full = np.ones((size, size), np.float32)
    restored = paste_back(frame, aligned.crop, full, aligned.inverse)
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    error = np.abs(restored[y0:y1, x0:x1].astype(np.float64) - frame[y0:y1, x0:x1]).mean()
    assert error < 1.0, f"mean error {error:.2f}"
    assert np.abs(restored[y0:y1, x0:x1].astype(np.float64) - frame[y0:y1, x0:x1]).max() <= 4


def test_paste_back_touches_nothing_outside_its_box(astronaut):
    image, face = astronaut.image, astronaut.face
    rng = np.random.default_rng(1)
    aligned = align_face(image, face.landmarks, 128, "whole_face")
    crop = rng.integers(0, 256, aligned.crop.shape, dtype=np.uint8)
    mask = hull_mask(aligned.landmarks, 128, "whole_face", erode=3, feather=6)
    box = paste_box(aligned.inverse, crop.shape, image.shape, mask)
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    frame = image.copy()
    result = paste_back(frame, crop, mask, aligned.inverse, out=frame)
    assert result is frame
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(result[outside], image[outside])
    assert not np.array_equal(result[y0:y1, x0:x1], image[y0:y1, x0:x1])
    assert (x1 - x0) * (y1 - y0) < 0.25 * 512 * 512, "the box is the face's, not the frame's"


def test_paste_back_is_the_premultiplied_blend_to_within_rounding(astronaut):
    """Pasting resamples crop * mask (bicubic, saturating) and the mask (bilinear), then blends: within 2 levels of
    the float formula, any crop range; where the mask is flat that is the plain blend roi + (crop - roi) * mask."""
    image, face = astronaut.image, astronaut.face
    aligned = align_face(image, face.landmarks, 128, "whole_face")
    mask = hull_mask(aligned.landmarks, 128, "whole_face", erode=3, feather=6)
    noise = np.random.default_rng(2).uniform(-20, 275, aligned.crop.shape)  # float, beyond 0-255 too
    for crop in (noise, aligned.crop[..., ::-1].copy()):
        result = paste_back(image, crop, mask, aligned.inverse)
        box = x0, y0, x1, y1 = paste_box(aligned.inverse, crop.shape, image.shape, mask)
        levels = np.clip(crop, 0, 255).astype(np.float32)
        premultiplied = np.clip(uncrop(levels * mask[..., None], aligned.inverse, box, PIXELS), 0, 255)
        weight = uncrop(mask, aligned.inverse, box)[..., None]
        roi = image[y0:y1, x0:x1].astype(np.float32)
        error = np.abs(result[y0:y1, x0:x1] - np.clip(roi * (1 - weight) + premultiplied, 0, 255))
        assert error.max() <= 2.0 and error.mean() < 0.5
        inside = cv2.erode(weight[..., 0], np.ones((5, 5), np.uint8))  # flat over the bicubic kernel's reach
        flat = np.broadcast_to((inside >= 1.0)[..., None], error.shape)
        plain = np.clip(roi + (uncrop(levels, aligned.inverse, box, PIXELS) - roi) * weight, 0, 255)
        # the input's rounding to levels (0.5) passes through bicubic weights that sum to about 1.2 in magnitude,
        # then the output is rounded (0.5): 1.1 levels at most
        assert np.abs(result[y0:y1, x0:x1] - plain)[flat].max() <= 1.15
        assert flat.mean() > 0.15, "the test reaches the mask's flat inside"


def test_umeyama_closed_form_equals_the_svd_solution():
    """The 2D closed form gives Umeyama's SVD answer (no reflection), also for a mirrored point set."""
    def svd_umeyama(src, dst):
        mu_s, mu_d = src.mean(0), dst.mean(0)
        s, d = src - mu_s, dst - mu_d
        u, sig, vt = np.linalg.svd(d.T @ s / len(src))
        sign = np.array([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
        rot = u @ np.diag(sign) @ vt
        scale = (sig * sign).sum() / ((s ** 2).sum() / len(src))
        return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])

    rng = np.random.default_rng(3)
    for _ in range(20):
        src = rng.normal(size=(23, 2)) * 80 + 300
        dst = rng.normal(size=(23, 2)) * 30 + 64
        assert np.allclose(umeyama(src, dst), svd_umeyama(src, dst), atol=1e-9)
    assert np.allclose(umeyama(src, src * (1, -1)), svd_umeyama(src, src * (1, -1)), atol=1e-9)


def test_paste_box_bounds_the_masks_nonzero_part():
    mask = np.zeros((64, 64), np.float32)
    mask[10, 20] = 1e-6  # a faint pixel counts
    mask[30:41, 5:9] = 0.5
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert paste_box(identity, (64, 64), (100, 100, 3), mask) == (5 - 1, 10 - 1, 21 + 1, 41 + 1)  # 1 px margin
    doubled = np.array([[2.0, 0.0, 3.0], [0.0, 2.0, 0.0]])
    assert paste_box(doubled, (64, 64), (100, 100, 3), mask) == (2 * 5 + 3 - 1, 2 * 10 - 1, 2 * 21 + 3 + 1, 2 * 41 + 1)
    assert paste_box(identity, (64, 64), (100, 100, 3), np.zeros((64, 64))) is None


def test_an_empty_mask_changes_nothing(astronaut):
    image, face = astronaut.image, astronaut.face
    aligned = align_face(image, face.landmarks, 128)
    assert np.array_equal(paste_back(image, aligned.crop * 0, np.zeros((128, 128), np.float32), aligned.inverse),
                          image)


@pytest.mark.parametrize("border", ["replicate", "zero"])
def test_a_face_at_the_frame_edge_still_crops(border):
    frame = np.full((300, 400, 3), 200, np.uint8)
    face = similar_face(scale=150.0, angle_deg=-8.0, shift=(20.0, 290.0))  # centre near the bottom-left corner
    aligned = align_face(frame, face, 128, "whole_face", border=border)
    assert aligned.crop.shape == (128, 128, 3)
    outside = aligned.crop[-10:, :10]  # the crop's bottom-left corner lies beyond the frame
    assert (outside == (200 if border == "replicate" else 0)).all()
    crop = np.full_like(aligned.crop, 50)
    result = paste_back(frame, crop, np.ones((128, 128), np.float32), aligned.inverse)
    x0, y0, x1, y1 = paste_box(aligned.inverse, crop.shape, frame.shape)
    assert x0 == 0 and y1 == 300, "the box is clipped to the frame"
    assert result.shape == frame.shape and result[295, 5].tolist() == [50, 50, 50]


def test_uncrop_of_a_box_wholly_outside_is_none():
    inverse = np.array([[1.0, 0.0, 1000.0], [0.0, 1.0, 1000.0]])
    assert paste_box(inverse, (64, 64), (100, 100, 3)) is None
    frame = np.zeros((100, 100, 3), np.uint8)
    assert np.array_equal(paste_back(frame, np.full((64, 64, 3), 9, np.uint8), np.ones((64, 64)), inverse), frame)
    assert uncrop(np.ones((4, 4), np.float32), np.array([[1.0, 0, 0], [0, 1.0, 0]]), (0, 0, 2, 3)).shape == (3, 2)


def test_hull_mask_grows_with_coverage(astronaut):
    image, face = astronaut.image, astronaut.face
    aligned = align_face(image, face.landmarks, 256, "whole_face")
    areas = {}
    for coverage in ("face", "whole_face", "head"):
        mask = hull_mask(aligned.landmarks, 256, coverage)
        assert mask.shape == (256, 256) and mask.dtype == np.float32
        assert mask.min() >= 0.0 and mask.max() == 1.0
        areas[coverage] = mask.sum()
    assert areas["whole_face"] > 1.15 * areas["face"]
    assert areas["head"] >= areas["whole_face"]
    brows_top = aligned.landmarks[17:27, 1].min()
    whole = hull_mask(aligned.landmarks, 256, "whole_face")
    assert whole[: int(brows_top) - 10].sum() > 0, "whole_face covers the forehead"
    assert hull_mask(aligned.landmarks, 256, "face")[: int(brows_top) - 2].sum() == 0


def test_erode_and_feather(astronaut):
    image, face = astronaut.image, astronaut.face
    aligned = align_face(image, face.landmarks, 256, "whole_face")
    hard = hull_mask(aligned.landmarks, 256, "whole_face")
    eroded = hull_mask(aligned.landmarks, 256, "whole_face", erode=8)
    soft = hull_mask(aligned.landmarks, 256, "whole_face", erode=8, feather=12)
    assert eroded.sum() < hard.sum() and (eroded <= hard + 1e-6).all()
    assert ((soft > 0.05) & (soft < 0.95)).sum() > 10 * ((eroded > 0.05) & (eroded < 0.95)).sum()
    assert refine_mask(hard, erode=-8).sum() > hard.sum(), "a negative erode dilates"


def test_bad_alignment_arguments():
    face = similar_face(100.0, 0.0, (200.0, 200.0))
    frame = np.zeros((400, 400, 3), np.uint8)
    with pytest.raises(ValueError, match="coverage"):
        align_face(frame, face, 128, "shoulders")
    with pytest.raises(ValueError, match="68 x 2"):
        align_face(frame, face[:5], 128)
    with pytest.raises(ValueError, match="border"):
        align_face(frame, face, 128, border="mirror")
    with pytest.raises(ValueError, match="size"):
        align_face(frame, face, 0)
    with pytest.raises(ValueError, match="NaN"):
        align_face(frame, np.where(np.arange(68)[:, None] == 30, np.nan, face), 128)
