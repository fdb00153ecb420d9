"""Extraction on the real clips: frames kept, skip reasons, largest face, reruns and unreadable media."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from faces import transform_points
from faces import FaceInputError
from tests.cli_support import assert_one_line_error
from training.extract import extract, main
from training.faceset import Faceset


PROG = "python -m training.extract"


def clip_frames(data_dir, clip: str, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(data_dir / "videos" / "pc-avs" / f"{clip}.mp4"))
    frames = [cap.read()[1] for _ in range(count)]
    cap.release()
    return frames


def test_extraction_keeps_at_least_95_percent_of_frames(faceset_a, faceset_b, data_dir):
    for faceset, clip in ((faceset_a, "00104"), (faceset_b, "00098")):
        cap = cv2.VideoCapture(str(data_dir / "videos" / "pc-avs" / f"{clip}.mp4"))
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fs = Faceset.load(faceset)
        assert len(fs) >= 0.95 * frames, f"{clip}: kept {len(fs)} of {frames} frames"
        assert (fs.size, fs.coverage) == (256, "whole_face")
        assert len({e["frame"] for e in fs.entries}) == len(fs)
        crop, marks = fs.read(0), fs.landmarks(0)
        assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8
        assert marks.shape == (68, 2) and (marks > 0).all() and (marks < 256).all()
        # the stored matrix maps the frame's landmarks onto the stored crop landmarks
        frame = clip_frames(data_dir, clip, 1)[0]
        back = cv2.warpAffine(frame, fs.matrix(0), (256, 256), borderMode=cv2.BORDER_REPLICATE)
        assert np.abs(back.astype(int) - crop.astype(int)).mean() < 2.0


def test_skips_are_counted_by_reason_and_the_largest_face_is_kept(data_dir, tmp_path):
    f, g = clip_frames(data_dir, "00104", 1)[0], clip_frames(data_dir, "00098", 1)[0]
    images = tmp_path / "images"
    images.mkdir()
    two = np.zeros((224, 448, 3), np.uint8)
    two[:, :224] = f
    two[56:168, 280:392] = cv2.resize(g, (112, 112))          # a second, smaller face on the right
    small = np.zeros((448, 448, 3), np.uint8)
    small[168:280, 168:280] = cv2.resize(f, (112, 112))        # a face about 60 px across
    cv2.imwrite(str(images / "1_two_faces.png"), two)
    cv2.imwrite(str(images / "2_blurred.png"), cv2.GaussianBlur(f, (0, 0), 4))
    cv2.imwrite(str(images / "3_small.png"), small)
    cv2.imwrite(str(images / "4_dogs.jpg"), cv2.imread(str(data_dir / "images" / "dlib-faces" / "dogs.jpg")))
    (images / "5_broken.png").write_bytes(b"not an image")

    report = extract(images, tmp_path / "fs", size=128, min_face=80)
    assert report.frames == 5 and report.kept == 1
    assert dict(report.skipped) == {"blurred": 1, "too small": 1, "no face": 1, "unreadable": 1}
    fs = Faceset.load(tmp_path / "fs")
    entry = fs.entries[0]
    assert entry["source"].endswith("1_two_faces.png") and entry["frame"] == 0
    in_frame = transform_points(fs.landmarks(0), cv2.invertAffineTransform(fs.matrix(0)))
    assert in_frame[:, 0].max() < 224, "the larger face (left half) is the one kept"


def test_rerun_skips_faces_already_written(data_dir, tmp_path):
    clip = data_dir / "videos" / "pc-avs" / "00104.mp4"
    first = extract(clip, tmp_path / "fs", size=128, every=30)
    files = sorted(p.name for p in (tmp_path / "fs").iterdir())
    second = extract(clip, tmp_path / "fs", size=128, every=30)
    assert first.kept == 10 and second.kept == 0
    assert second.skipped["already extracted"] == 10
    assert sorted(p.name for p in (tmp_path / "fs").iterdir()) == files
    assert len(Faceset.load(tmp_path / "fs")) == 10


def test_truncated_video_gives_one_line_and_keeps_the_faces_written(data_dir, tmp_path, capsys):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (224, 224))
    for frame in clip_frames(data_dir, "00104", 40):
        writer.write(frame)
    writer.release()
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    out = tmp_path / "fs"
    code = main(["--input", str(video), "--output", str(out), "--size", "128"])
    assert_one_line_error(code, capsys.readouterr().err, PROG, "breaks off at frame", alone=False)
    kept = Faceset.load(out)
    assert 10 <= len(kept) < 40 and all((out / e["file"]).is_file() for e in kept.entries)


def test_unreadable_video_into_an_existing_faceset_leaves_it_untouched(data_dir, tmp_path, capsys):
    out = tmp_path / "fs"
    extract(data_dir / "videos" / "pc-avs" / "00098.mp4", out, size=128, every=60)
    index = (out / "faceset.json").read_bytes()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    code = main(["--input", str(junk), "--output", str(out)])
    line = assert_one_line_error(code, capsys.readouterr().err, PROG)
    assert line == f"{PROG}: error: cannot read {junk}: not an image or a video that OpenCV can decode"
    assert (out / "faceset.json").read_bytes() == index


def test_other_size_into_existing_faceset_and_missing_input_are_refused(data_dir, tmp_path, capsys):
    out = tmp_path / "fs"
    extract(data_dir / "videos" / "pc-avs" / "00098.mp4", out, size=128, every=120)
    index = (out / "faceset.json").read_bytes()
    clip = str(data_dir / "videos" / "pc-avs" / "00098.mp4")
    code = main(["--input", clip, "--output", str(out), "--size", "256"])
    assert_one_line_error(code, capsys.readouterr().err, PROG,
                          f"{out} already holds 128 px whole_face faces, not 256 px whole_face; choose another --output")
    code = main(["--input", str(tmp_path / "nope.mp4"), "--output", str(out)])
    assert_one_line_error(code, capsys.readouterr().err, PROG, f"no such file or folder: {tmp_path / 'nope.mp4'}")
    assert (out / "faceset.json").read_bytes() == index


def test_cli_reports_progress_and_counts(data_dir, tmp_path, capsys):
    clip = str(data_dir / "videos" / "pc-avs" / "00104.mp4")
    assert main(["--input", clip, "--output", str(tmp_path / "fs"), "--size", "96", "--every", "50"]) == 0
    captured = capsys.readouterr()
    assert "extract 00104.mp4" in captured.err and "6/6" in captured.err and "frame/s" in captured.err
    assert "kept 6 faces from 6 frames; skipped: none" in captured.out
    assert json.loads((tmp_path / "fs" / "faceset.json").read_text())["size"] == 96


@pytest.mark.parametrize("kind", ["missing", "empty", "corrupt"])
def test_faceset_load_errors_are_one_line(tmp_path, kind):
    from training.faceset import FacesetError

    root = tmp_path / "fs"
    if kind != "missing":
        root.mkdir()
        text = '{"format": "swapcam-faceset-1", "size": 256, "coverage": "whole_face", "faces": []}'
        (root / "faceset.json").write_text(text if kind == "empty" else text[:40])
    with pytest.raises(FacesetError) as err:
        Faceset.load(root)
    assert "\n" not in str(err.value) and str(root) in str(err.value)


def test_an_empty_image_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaceInputError, match="no images"):
        extract(tmp_path / "empty", tmp_path / "fs")
