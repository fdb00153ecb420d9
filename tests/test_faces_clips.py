"""Both landmark backends on the real clips, stills and group photos of ../shared/data.

Each clip is run once per backend in VIDEO mode (module-scoped fixture), every frame, the 720p
s18 included (dlib detects on a copy downscaled to 640 px, ~30 ms a frame), and several things
are checked on that one run.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
import pytest

from faces import (COVERAGES, align_face, alignment_matrix, create_landmarker, eye_centres, read_image,
                   transform_points)
from faces.media import MediaSource

CLIPS = ["pc-avs/00104.mp4", "liveportrait/d3.mp4", "liveportrait/s18.mp4"]
BACKENDS = ["mediapipe", "dlib"]
CROP = 256


@dataclass
class ClipRun:
    """What one backend found on every frame of one clip: the largest face's 68 points, or None."""

    clip: str
    backend: str
    frame_shape: tuple[int, ...]
    landmarks: list[np.ndarray | None]
    first_frame: np.ndarray

    @property
    def found(self) -> list[np.ndarray]:
        return [lm for lm in self.landmarks if lm is not None]


@pytest.fixture(scope="module", params=[(c, b) for c in CLIPS for b in BACKENDS], ids=lambda p: f"{p[1]}-{p[0]}")
def clip_run(request, data_dir) -> ClipRun:
    clip, backend = request.param
    landmarks, first = [], None
    with MediaSource(data_dir / "videos" / clip) as source, \
            create_landmarker(backend, mode="video", max_faces=1) as landmarker:
        for frame in source.frames():
            first = frame.image if first is None else first
            faces = landmarker.detect(frame.image, frame.timestamp_ms)
            landmarks.append(faces[0].landmarks if faces else None)
    return ClipRun(clip, backend, first.shape, landmarks, first)


def test_landmarks_found_in_99_percent_of_frames(clip_run):
    rate = len(clip_run.found) / len(clip_run.landmarks)
    assert len(clip_run.landmarks) > 250, "the clip should have been read to its end"
    assert rate >= 0.99, f"{clip_run.backend} found a face in {rate:.1%} of {clip_run.clip}"


def test_landmarks_are_finite_and_on_the_face(clip_run):
    h, w = clip_run.frame_shape[:2]
    for lm in clip_run.found:
        assert lm.shape == (68, 2) and lm.dtype == np.float32 and np.isfinite(lm).all()
        inner = lm[17:]  # brows, nose, eyes, mouth never leave the frame in these clips
        assert (inner >= -1).all() and (inner[:, 0] <= w + 1).all() and (inner[:, 1] <= h + 1).all()
        right, left = eye_centres(lm)
        assert right[0] < left[0], "iBUG order puts the subject's right eye on the image's left"
        assert lm[30, 1] > right[1] and lm[57, 1] > lm[30, 1], "nose tip below the eyes, lower lip below the nose"


@pytest.mark.parametrize("coverage", list(COVERAGES))
def test_eye_centres_steady_in_aligned_crops(clip_run, coverage):
    """Std over the clip of each eye centre, in crop coordinates, is under 3% of the crop size."""
    eyes = []
    for lm in clip_run.found:
        in_crop = transform_points(lm, alignment_matrix(lm, CROP, coverage))
        eyes.append(np.concatenate(eye_centres(in_crop)))
    spread = np.std(eyes, axis=0) / CROP
    assert spread.max() < 0.03, f"eye centres spread {np.round(spread * 100, 2)}% of the crop"


def test_aligned_crop_of_a_clip_frame(clip_run):
    lm = clip_run.landmarks[0]
    assert lm is not None
    aligned = align_face(clip_run.first_frame, lm, size=CROP, coverage="whole_face")
    assert aligned.crop.shape == (CROP, CROP, 3) and aligned.crop.dtype == np.uint8
    right, left = eye_centres(aligned.landmarks)
    assert abs(right[1] - left[1]) < 0.03 * CROP, "eyes level in the crop"
    assert 0.25 * CROP < right[0] < left[0] < 0.75 * CROP, "eyes in the middle half of the crop"


def test_dlib_and_mediapipe_agree_on_the_astronaut(astronaut):
    """The two backends' 68 points agree within 5% of the inter-ocular distance (mean over points 17-67).

    Only the inner points are compared: the jaw conventions differ by design (iBUG's jaw follows the
    visible cheek contour, mediapipe's mesh has no such line; see faces/mediapipe_backend.py).
    """
    with create_landmarker("mediapipe") as mp, create_landmarker("dlib") as dl:
        (a,), (b,) = mp.detect(astronaut.image), dl.detect(astronaut.image)
    right, left = eye_centres(b.landmarks)
    errors = np.linalg.norm(a.landmarks - b.landmarks, axis=1) / np.linalg.norm(right - left)
    assert errors[17:].mean() < 0.05, f"inner points differ by {errors[17:].mean():.1%} of the IOD"
    assert errors[:17].mean() < 0.15, f"jaw points differ by {errors[:17].mean():.1%} of the IOD"


def labelled_faces(data_dir, image_name):
    """Hand-labelled 68-point faces of one image in dlib's example annotations."""
    folder = data_dir / "images" / "dlib-faces"
    for xml in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"):
        for image in ET.parse(folder / xml).getroot().iter("image"):
            if image.get("file").endswith(image_name):
                return [np.array([(float(p.get("x")), float(p.get("y")))
                                  for p in sorted(box.findall("part"), key=lambda p: int(p.get("name")))])
                        for box in image.findall("box")]
    raise LookupError(image_name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("image_name", ["2008_002506.jpg", "2009_004587.jpg"])
def test_group_photo_faces_match_the_hand_labels(data_dir, backend, image_name):
    """At least 2 faces found (max_faces=4), each one a labelled face, inner points within 8% of its IOD.

    dlib's 68-point predictor was trained on iBUG-300W, which labels faces the same way as these
    annotations, so it is usually closer to them than mediapipe's mesh subset is.
    """
    labels = labelled_faces(data_dir, image_name)
    image = read_image(data_dir / "images" / "dlib-faces" / image_name)
    with create_landmarker(backend, mode="image", max_faces=4) as landmarker:
        faces = landmarker.detect(image)
    assert len(faces) >= 2
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True), "largest first"
    matched = set()
    for face in faces:
        k = int(np.argmin([np.linalg.norm(g.mean(0) - face.landmarks.mean(0)) for g in labels]))
        truth = labels[k]
        right, left = eye_centres(truth)
        error = np.linalg.norm(face.landmarks[17:] - truth[17:], axis=1).mean() / np.linalg.norm(right - left)
        assert error < 0.08, f"face {k}: inner points off by {error:.1%} of the IOD"
        x0, y0, x1, y1 = face.box
        cx, cy = truth[17:].mean(0)
        assert x0 <= cx <= x1 and y0 <= cy <= y1, "the box holds the labelled face"
        matched.add(k)
    assert len(matched) == len(faces), "no labelled face is found twice"


@pytest.mark.parametrize("backend", BACKENDS)
def test_dogs_give_no_face_and_no_error(data_dir, backend):
    image = read_image(data_dir / "images" / "dlib-faces" / "dogs.jpg")
    with create_landmarker(backend, mode="image", max_faces=4) as landmarker:
        assert landmarker.detect(image) == []
