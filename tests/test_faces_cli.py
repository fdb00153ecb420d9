"""`python -m faces` and `python -m faces.bench` run as a user runs them: in a subprocess."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import cv2
import pytest

from faces import FACE_LANDMARKER
from tests.cli_support import ROOT, assert_process_error, run_module

PROG = "python -m faces"


@pytest.fixture(scope="module")
def photo(astronaut) -> str:
    return str(astronaut.path)


def test_json_for_an_image(photo):
    result = run_module("faces", photo, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["kind"], doc["width"], doc["height"], doc["backend"]) == ("image", 512, 512, "mediapipe")
    (frame,) = doc["frames"]
    (face,) = frame["faces"]
    assert len(face["landmarks"]) == 68 and face["score"] > 0
    x0, y0, x1, y1 = face["box"]
    assert all(x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1 for x, y in face["landmarks"])
    assert result.stderr.strip() == "", "mediapipe's native log lines are kept off the terminal"


def test_text_output_and_crop(photo, tmp_path):
    out = tmp_path / "crop.png"
    result = run_module("faces", photo, "--backend", "dlib", "--crop", str(out), "--size", "128", "--coverage", "face")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "backend dlib" in lines[0] and lines[1] == "image: 1 face"
    assert len(lines[3].split()[1:]) == 68, "68 x,y pairs on the points line"
    crop = cv2.imread(str(out))
    assert crop.shape == (128, 128, 3) and crop.std() > 20


def test_video_every_nth_frame(data_dir, tmp_path):
    clip = data_dir / "videos" / "pc-avs" / "00104.mp4"
    result = run_module("faces", str(clip), "--json", "--every", "30", "--crop", str(tmp_path / "c.png"))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [f["frame"] for f in doc["frames"]] == list(range(0, 298, 30))
    assert doc["frames_with_faces"] == 10 and all(len(f["faces"]) == 1 for f in doc["frames"])
    assert doc["crop"] == str(tmp_path / "c.png") and (tmp_path / "c.png").is_file()


def test_no_face_is_an_empty_list(data_dir):
    result = run_module("faces", str(data_dir / "images" / "dlib-faces" / "dogs.jpg"), "--json", "--max-faces", "4")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["frames"][0]["faces"] == []


def test_group_photo_max_faces(data_dir):
    result = run_module("faces", str(data_dir / "images" / "dlib-faces" / "2008_002506.jpg"), "--json", "--max-faces", "4")
    assert len(json.loads(result.stdout)["frames"][0]["faces"]) >= 2


@pytest.mark.parametrize("content", [None, b"", b"hello, not a picture"])
def test_an_unreadable_file_is_one_line(tmp_path, content):
    path = tmp_path / "input.mp4"
    if content is not None:
        path.write_bytes(content)
    result = run_module("faces", str(path))
    assert_process_error(result, PROG, str(path))


@pytest.mark.parametrize("args", [[], ["x.png", "--every", "0"], ["x.png", "--size", "big"],
                                  ["x.png", "--backend", "opencv"], ["x.png", "--nonsense"]])
def test_bad_arguments_are_one_line(args):
    assert_process_error(run_module("faces", *args), PROG)


def test_a_crop_that_cannot_be_written_fails_before_any_work(photo, tmp_path):
    assert_process_error(run_module("faces", photo, "--crop", str(tmp_path / "crop.txt")), PROG)
    assert_process_error(run_module("faces", photo, "--crop", str(tmp_path / "missing" / "crop.png")), PROG)


def test_crop_with_no_face_fails(data_dir, tmp_path):
    result = run_module("faces", str(data_dir / "images" / "dlib-faces" / "dogs.jpg"), "--crop", str(tmp_path / "c.png"))
    assert_process_error(result, PROG, "no face", alone=False)
    assert not (tmp_path / "c.png").exists()


def test_a_script_that_forgets_to_close_exits_quietly(photo):
    script = ("import sys; from faces import create_landmarker, read_image; "
              "lm = create_landmarker('mediapipe', mode='video'); "
              f"print(len(lm.detect(read_image({photo!r}))))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "1"
    assert result.stderr.strip() == "", "neither native log lines nor a teardown traceback"


def test_a_progress_bar_with_rate_on_stderr_for_videos(data_dir, capsys):
    """In-process: tqdm's bar on stderr counts the frames looked at; the results stay on stdout."""
    from faces.__main__ import main
    clip = data_dir / "videos" / "pc-avs" / "00104.mp4"
    assert main([str(clip), "--every", "100", "--backend", "mediapipe"]) == 0
    out, err = capsys.readouterr()
    assert "3/3" in err and "frame/s" in err
    assert out.splitlines()[-1].startswith("3 frames")


def test_help():
    result = run_module("faces", "--help")
    assert result.returncode == 0 and "--download-model" in result.stdout and "--every" in result.stdout


@pytest.fixture(scope="module")
def server(http_server, landmarker_task):
    """The local HTTP server serving the real model file and a file with the same name but the wrong bytes."""
    root, base = http_server
    for folder, content in (("good", landmarker_task.read_bytes()), ("bad", b"tampered" * 1000)):
        (root / folder).mkdir()
        (root / folder / FACE_LANDMARKER.name).write_bytes(content)
    return base


def test_download_model_keeps_a_verified_file(server, tmp_path):
    url = f"{server}/good/{FACE_LANDMARKER.name}"
    result = run_module("faces", "--download-model", "--dest", str(tmp_path), "--url", url)
    assert result.returncode == 0, result.stderr
    kept = tmp_path / FACE_LANDMARKER.name
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == FACE_LANDMARKER.sha256
    assert "sha256 verified" in result.stderr and "Traceback" not in result.stderr


def test_download_model_refuses_a_bad_file(server, tmp_path):
    result = run_module("faces", "--download-model", "--dest", str(tmp_path), "--url", f"{server}/bad/{FACE_LANDMARKER.name}")
    assert_process_error(result, PROG, alone=False)
    assert "sha256" in result.stderr and list(tmp_path.iterdir()) == []


def test_bench_prints_figures_for_each_backend(data_dir, tmp_path):
    out = tmp_path / "bench.json"
    result = run_module("faces.bench", "--source", str(data_dir / "videos" / "liveportrait" / "d3.mp4"),
                 "--frames", "8", "--sizes", "320x240", "640x480", "--json", str(out))
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[2:]]
    assert [(r[0], r[1]) for r in rows] == [("mediapipe", "320x240"), ("mediapipe", "640x480"),
                                             ("dlib", "320x240"), ("dlib", "640x480")]
    figures = json.loads(out.read_text())["results"]
    assert all(0 < r["median_ms"] <= r["p95_ms"] and r["frames"] == 8 and r["found"] == 1.0 for r in figures)


def test_bench_refuses_a_still(photo):
    assert_process_error(run_module("faces.bench", "--source", photo), "python -m faces.bench")


def test_download_model_keeps_a_verified_copy_without_fetching(landmarker_task, tmp_path):
    """What set-up runs on every call: a verified file already there is kept, and nothing is fetched."""
    (tmp_path / FACE_LANDMARKER.name).write_bytes(landmarker_task.read_bytes())
    result = run_module("faces", "--download-model", "--dest", str(tmp_path), "--url", "http://127.0.0.1:9/none")
    assert result.returncode == 0 and "sha256 verified" in result.stderr and "downloading" not in result.stderr
