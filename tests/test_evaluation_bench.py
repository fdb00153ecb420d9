"""The quality bench end to end at toy scale: the three runs (scratch, pretrained, any-face), their table and JSON,
and its refusals of runs and pools that saw a person the bench keeps out."""
from __future__ import annotations

import json
import shutil

import pytest

from evaluation.split import CLIP_A, UNSEEN, clip_path, faceset_name
from tests.cli_support import assert_one_line_error, run_module

TOY = "--width 0.25 --resolution 64 --batch-size 4 --threads 1 --workers 0 --save-every 1000 --preview-every 1000"
PROG = "python -m evaluation.quality_bench"


@pytest.fixture(scope="module")
def celeba_pool(data_dir, tmp_path_factory):
    """Ten CelebA identities as facesets (python -m training.extract --each on their folders)."""
    media = tmp_path_factory.mktemp("celeba_media")
    for identity in sorted((data_dir / "pretrain" / "celeba").iterdir())[:10]:
        (media / f"celeba_{identity.name}").symlink_to(identity, target_is_directory=True)
    out = tmp_path_factory.mktemp("celeba_pool") / "pool"
    result = run_module("training.extract", "--input", str(media), "--output", str(out), "--each")
    assert result.returncode == 0, result.stderr
    return out


def test_three_runs_at_toy_scale(tiny_pretrain, celeba_pool, tmp_path):
    run_dir, _ = tiny_pretrain
    out = tmp_path / "bench.json"
    result = run_module("evaluation.quality_bench", "--minutes", "0.05", "--json", str(out), "--init", str(run_dir),
                        "--pool", str(celeba_pool), "--train-args", TOY, "--frames", "3", "--faceset-faces", "4",
                        timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert list(report["runs"]) == ["scratch", "pretrained", "anyface"]
    assert report["runs"]["pretrained"]["init"] == str(run_dir) and report["runs"]["scratch"]["init"] is None
    assert report["runs"]["anyface"]["init"] is None  # the any-face run starts from --init only with --anyface-init
    assert report["runs"]["anyface"]["pool"]["facesets"] == 10
    assert set(report["runs"]["anyface"]["evaluations"]) == {faceset_name(c) for c in UNSEEN}
    for name, run in report["runs"].items():  # a fast pair from --init draws 4 A faces, an any-face run 8
        assert run["steps"] > 0 and run["faces_per_second"] > 0
        assert (run["batch_a"], run["batch_size"]) == ((8, 4) if name == "anyface" else (4, 4))
        for evaluation in run["evaluations"].values():
            assert evaluation["summary"]["frames"] > 0 and "sharpness_vs_ceiling" in evaluation["summary"]
    assert "batch 4 A + 4 B" in result.stdout.splitlines()[0]
    header = result.stdout.splitlines()[3]
    assert header.split()[:3] == ["scratch", "pretrained", "anyface:00473"]
    assert "sharpness swapped / ceiling" in result.stdout and "unseen people meet every any-face target" in result.stdout


def test_runs_and_pools_that_saw_a_kept_out_person_are_refused(tiny_pretrain, celeba_pool, data_dir, tmp_path,
                                                               capsys):
    from evaluation.quality_bench import main
    from training.extract import extract

    tainted = tmp_path / "pool"
    shutil.copytree(celeba_pool, tainted, symlinks=True)
    extract(clip_path(data_dir, CLIP_A), tainted / "bench_a", every=50)
    code = main(["--minutes", "1", "--json", str(tmp_path / "b.json"), "--pool", str(tainted)])
    assert_one_line_error(code, capsys.readouterr().err, PROG, "keeps out", "00104.mp4")
    small = tmp_path / "small"
    small.mkdir()
    for name in sorted(p.name for p in celeba_pool.iterdir())[:3]:
        (small / name).symlink_to(celeba_pool / name, target_is_directory=True)
    code = main(["--minutes", "1", "--json", str(tmp_path / "b.json"), "--pool", str(small)])
    assert_one_line_error(code, capsys.readouterr().err, PROG, "at least 10 people")
    code = main(["--minutes", "1", "--json", str(tmp_path / "b.json"), "--no-scratch"])
    assert_one_line_error(code, capsys.readouterr().err, PROG, "nothing to run")
    code = main(["--minutes", "1", "--json", str(tmp_path / "b.json"), "--pool", str(celeba_pool), "--anyface-init"])
    assert_one_line_error(code, capsys.readouterr().err, PROG, "--anyface-init", "needs both")
    assert not list(tmp_path.glob("b-files/*/run"))
