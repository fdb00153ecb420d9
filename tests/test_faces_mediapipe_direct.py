"""mediapipe results read straight from its C struct equal its public API's, bit for bit, on real frames."""
from __future__ import annotations

import cv2
import numpy as np

from faces import create_landmarker, read_image
from faces.mediapipe_direct import direct_reader


def public_and_direct(mode: str, max_faces: int = 1):
    """Two landmarkers on the same settings: the first forced onto mediapipe's public API, the second reading directly."""
    public, direct = (create_landmarker("mediapipe", mode=mode, max_faces=max_faces) for _ in range(2))
    assert direct._direct is not None, "this mediapipe (1.x) should be read directly"
    public._direct = None
    return public, direct


def assert_same_faces(a, b):
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        assert np.array_equal(fa.mesh, fb.mesh) and np.array_equal(fa.landmarks, fb.landmarks) and fa.box == fb.box


def test_direct_results_equal_the_public_api_on_a_clip(data_dir):
    public, direct = public_and_direct("video")
    cap = cv2.VideoCapture(str(data_dir / "videos" / "liveportrait" / "d3.mp4"))
    found = 0
    for i in range(40):
        ok, frame = cap.read()
        assert ok
        a, b = public.detect(frame, i * 33), direct.detect(frame, i * 33)
        assert_same_faces(a, b)
        found += len(b)
    cap.release()
    public.close(), direct.close()
    assert found == 40


def test_direct_results_equal_the_public_api_on_stills(data_dir):
    public, direct = public_and_direct("image", max_faces=4)
    for name in ("astronaut/astronaut.png", "dlib-faces/2008_001009.jpg", "dlib-faces/dogs.jpg"):
        image = read_image(data_dir / "images" / name)
        assert_same_faces(public.detect(image), direct.detect(image))
    assert len(direct.detect(read_image(data_dir / "images" / "dlib-faces" / "2008_001009.jpg"))) == 2
    public.close(), direct.close()


def test_a_mediapipe_without_the_c_api_falls_back():
    assert direct_reader(object()) is None
