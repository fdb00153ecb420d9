"""Awkward input: grayscale, RGBA, 16-bit, float, tiny, empty, non-contiguous arrays, bad files."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faces import FaceInputError, as_bgr8, create_landmarker, read_image
from faces.media import MediaSource


@pytest.fixture(scope="module", params=["mediapipe", "dlib"])
def landmarker(request):
    with create_landmarker(request.param, mode="image", max_faces=2) as lm:
        yield lm


@pytest.fixture(scope="module")
def reference(landmarker, astronaut):
    (face,) = landmarker.detect(astronaut.image)
    return face.landmarks


def variants(bgr: np.ndarray) -> dict[str, np.ndarray]:
    """The same picture in the forms a user or a camera may hand over."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return {
        "gray": gray,
        "gray_hw1": gray[..., None],
        "bgra": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "uint16": bgr.astype(np.uint16) * 257,
        "float32": bgr.astype(np.float32) / 255.0,
        "channels_reversed_twice": bgr[..., ::-1][..., ::-1],
        "padded_view": np.pad(bgr, ((3, 3), (5, 5), (0, 0)))[3:-3, 5:-5],
        "fortran_order": np.asfortranarray(bgr),
    }


@pytest.mark.parametrize("name", list(variants(np.zeros((2, 2, 3), np.uint8))))
def test_every_form_finds_the_same_face(landmarker, astronaut, reference, name):
    image = variants(astronaut.image)[name]
    faces = landmarker.detect(image)
    assert len(faces) == 1
    tolerance = 4.0 if name.startswith("gray") else 1.0  # colour-blind input moves the points a little
    assert np.abs(faces[0].landmarks - reference).mean() < tolerance


def test_as_bgr8_values():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = as_bgr8(gray)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert (out == gray[..., None]).all()
    assert as_bgr8(np.full((2, 2), 65535, np.uint16)).max() == 255
    assert as_bgr8(np.full((2, 2), 257 * 10, np.uint16)).max() == 10
    assert as_bgr8(np.full((2, 2, 3), 2.0, np.float32)).max() == 255, "float is clipped to [0, 1]"
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 2], bgra[..., 3] = 99, 7
    assert as_bgr8(bgra)[..., 2].max() == 99 and as_bgr8(bgra).shape == (2, 2, 3)
    view = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)[:, ::-1]
    assert as_bgr8(view).flags.c_contiguous and np.array_equal(as_bgr8(view), view)


@pytest.mark.parametrize("bad", [
    np.zeros((0, 0, 3), np.uint8), np.zeros((10, 0), np.uint8), np.zeros(5, np.uint8),
    np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3), np.int64), np.zeros((4, 4, 3), bool),
    np.zeros((2, 4, 4, 3), np.uint8), [[0, 0], [0, 0]],
])
def test_unusable_arrays_raise_one_line(landmarker, bad):
    with pytest.raises(FaceInputError) as info:
        landmarker.detect(bad)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (5, 7, 3), (64, 64, 3), (3, 4000, 3)])
def test_tiny_blank_or_faceless_frames_give_no_faces(landmarker, shape):
    assert landmarker.detect(np.zeros(shape, np.uint8)) == []


def test_video_mode_takes_odd_frames_too(astronaut):
    with create_landmarker("mediapipe", mode="video") as lm:
        assert lm.detect(np.zeros((1, 1, 3), np.uint8), 0) == []
        assert len(lm.detect(astronaut.image, 5)) == 1
        assert len(lm.detect(astronaut.image, 5)) == 1, "a repeated timestamp is bumped, not an error"
        assert len(lm.detect(cv2.cvtColor(astronaut.image, cv2.COLOR_BGR2GRAY))) == 1, "no timestamp at all"


def test_read_image_forms(tmp_path, astronaut):
    cv2.imwrite(str(tmp_path / "deep.png"), astronaut.image.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "gray.png"), cv2.cvtColor(astronaut.image, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "alpha.png"), cv2.cvtColor(astronaut.image, cv2.COLOR_BGR2BGRA))
    for name in ("deep.png", "gray.png", "alpha.png"):
        image = read_image(tmp_path / name)
        assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    assert np.array_equal(read_image(tmp_path / "deep.png"), astronaut.image)


@pytest.mark.parametrize("content", [None, b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_unreadable_files_raise_one_line(tmp_path, content):
    path = tmp_path / "face.png"
    if content is not None:
        path.write_bytes(content)
    for read in (read_image, MediaSource):
        with pytest.raises(FaceInputError) as info:
            read(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_truncated_video_is_refused_at_open(tmp_path, data_dir):
    clip = (data_dir / "videos" / "liveportrait" / "d3.mp4").read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip[: len(clip) // 3])  # d3's index (moov) sits at the end
    with pytest.raises(FaceInputError, match="cannot read"):
        MediaSource(broken)


def test_media_source_reads_every_nth_frame(data_dir):
    with MediaSource(data_dir / "videos" / "pc-avs" / "00104.mp4") as source:
        assert (source.kind, source.width, source.height) == ("video", 224, 224)
        frames = list(source.frames(every=50))
    assert [f.number for f in frames] == [0, 50, 100, 150, 200, 250]
    assert [f.timestamp_ms for f in frames] == [0, 2000, 4000, 6000, 8000, 10000]
    assert all(f.image.shape == (224, 224, 3) for f in frames)
    with pytest.raises(ValueError):
        next(MediaSource(data_dir / "videos" / "pc-avs" / "00104.mp4").frames(every=0))
