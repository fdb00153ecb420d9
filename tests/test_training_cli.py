"""Bad input to `python -m training.train`: one clear line, a non-zero exit, and nothing saved is touched."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_support import assert_one_line_error, assert_process_error

from training.extract import extract
from training.train import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def odd_facesets(data_dir, tmp_path_factory) -> dict[str, Path]:
    """Small real facesets cut differently from faceset_a/b: 128 px, 'face' coverage, and one with no faces."""
    root = tmp_path_factory.mktemp("odd_facesets")
    clip = data_dir / "videos" / "pc-avs" / "00098.mp4"
    extract(clip, root / "small", size=128, every=60)
    extract(clip, root / "tight", size=256, coverage="face", every=60)
    extract(data_dir / "images" / "dlib-faces" / "dogs.jpg", root / "empty")
    return {name: root / name for name in ("small", "tight", "empty")}


@pytest.fixture
def run_copy(tiny_checkpoint, tmp_path) -> Path:
    """A copy of the tiny run to misuse."""
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "run"))


PROG = "python -m training.train"


def one_error_line(capsys) -> str:
    """The one error line of the last call, without the program name."""
    line = assert_one_line_error(2, capsys.readouterr().err, PROG)
    return line.removeprefix(f"{PROG}: ")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_missing_faceset(faceset_a, tmp_path, capsys):
    assert main(["--faceset-a", str(faceset_a), "--faceset-b", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert one_error_line(capsys) == f"error: no faceset folder at {tmp_path / 'nope'}"
    assert not (tmp_path / "r").exists()


def test_empty_faceset(faceset_a, odd_facesets, tmp_path, capsys):
    assert main(["--faceset-a", str(odd_facesets["empty"]), "--faceset-b", str(faceset_a), "--out", str(tmp_path / "r")]) == 2
    assert one_error_line(capsys) == f"error: faceset {odd_facesets['empty']} holds no faces"


def test_facesets_of_different_crop_sizes(faceset_a, odd_facesets, tmp_path, capsys):
    assert main(["--faceset-a", str(faceset_a), "--faceset-b", str(odd_facesets["small"]), "--out", str(tmp_path / "r")]) == 2
    assert one_error_line(capsys) == (f"error: facesets differ in crop size: {faceset_a} is 256 px, "
                                      f"{odd_facesets['small']} is 128 px")


def test_facesets_of_different_coverage(faceset_a, odd_facesets, tmp_path, capsys):
    assert main(["--faceset-a", str(faceset_a), "--faceset-b", str(odd_facesets["tight"]), "--out", str(tmp_path / "r")]) == 2
    assert one_error_line(capsys) == (f"error: facesets differ in coverage: {faceset_a} is whole_face, "
                                      f"{odd_facesets['tight']} is face")


def test_checkpoint_from_another_preset(run_copy, capsys):
    before = snapshot(run_copy)
    assert main(["--out", str(run_copy), "--resume", "--preset", "quality", "--steps", "200"]) == 2
    assert one_error_line(capsys) == f"error: {run_copy / 'checkpoint.pt'} was trained with preset 'fast', not 'quality'"
    assert snapshot(run_copy) == before


def test_checkpoint_of_another_network_width(run_copy, capsys):
    assert main(["--out", str(run_copy), "--resume", "--width", "0.5", "--resolution", "64", "--steps", "200"]) == 2
    assert "holds a different network" in one_error_line(capsys)


def test_corrupt_checkpoint(run_copy, capsys):
    ckpt = run_copy / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:5000])
    before = snapshot(run_copy)
    assert main(["--out", str(run_copy), "--resume", "--steps", "200"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {ckpt} is corrupt or not a swapcam checkpoint")
    assert snapshot(run_copy) == before


def test_new_run_over_an_existing_checkpoint(run_copy, faceset_a, faceset_b, capsys):
    before = snapshot(run_copy)
    assert main(["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--out", str(run_copy)]) == 2
    assert one_error_line(capsys) == (f"error: {run_copy / 'checkpoint.pt'} exists: pass --resume to continue "
                                      "that run, or choose another --out")
    assert snapshot(run_copy) == before


def test_resume_without_a_checkpoint(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "r"), "--resume"]) == 2
    assert one_error_line(capsys) == f"error: no checkpoint at {tmp_path / 'r' / 'checkpoint.pt'}"


def test_resume_onto_facesets_of_another_coverage(run_copy, odd_facesets, capsys):
    tight = str(odd_facesets["tight"])
    assert main(["--out", str(run_copy), "--resume", "--faceset-a", tight, "--faceset-b", tight, "--steps", "200"]) == 2
    assert "face crops, but" in one_error_line(capsys)


def test_a_real_process_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "training.train", "--out", str(tmp_path / "r"), "--resume"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert_process_error(proc, PROG, f"no checkpoint at {tmp_path / 'r' / 'checkpoint.pt'}")


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--out", "x", "--steps", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["python -m training.train: error: argument --steps: 0 is not at least 1 (see --help)"]


@pytest.mark.parametrize("option, value, message", [
    ("--gan", "-0.1", "argument --gan: -0.1 is less than 0"),
    ("--gan", "nan", "argument --gan: 'nan' is not a finite number"),
    ("--gan-share", "1.5", "argument --gan-share: 1.5 is not between 0 and 1"),
    ("--dssim-fine", "-0.5", "argument --dssim-fine: -0.5 is not between 0 and 1"),
    ("--focal-freq", "-0.5", "argument --focal-freq: -0.5 is less than 0"),
])
def test_adversarial_options_refuse_bad_numbers_in_one_line(option, value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--out", "x", option, value])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"python -m training.train: error: {message} (see --help)"]


def test_loss_options_reach_the_runs_loss_weights():
    import argparse

    from training.config import add_options, settings_from
    from training.losses import LossConfig

    parser = argparse.ArgumentParser()
    add_options(parser)
    assert "loss" not in settings_from(parser.parse_args([]))
    args = parser.parse_args(["--focal-freq", "20", "--dssim-fine", "0.5", "--eyes-mouth", "5"])
    assert settings_from(args)["loss"] == LossConfig(focal_freq=20.0, dssim_fine=0.5, eyes_mouth=5.0)
