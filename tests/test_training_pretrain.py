"""Pretraining on a pool, pairs and any-face models started from it, and the schedule levers, on real facesets."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli_support import assert_one_line_error, run_module
from training.checkpoint import build_model_from_checkpoint, load_checkpoint
from training.config import TrainConfig, new_run_config, resumed_config
from training.augment import AugmentConfig
from training.data import FaceBank, PairBatches, find_facesets, holdout_split, load_facesets, sampling_weights
from training.faceset import Faceset
from training.pretrain import main as pretrain_main
from training.train import main as train_main
from training.trainer import learning_rate, train, warps_at

TINY = ["--width", "0.25", "--resolution", "64", "--batch-size", "4", "--threads", "1", "--workers", "0",
        "--warmup-steps", "2", "--save-every", "1000", "--preview-every", "1000", "--log-every", "1"]


def test_extract_each_makes_one_faceset_per_clip_and_photo_folder(pool_dir):
    names = sorted(p.name for p in pool_dir.iterdir())
    assert names == ["John_Salley", "John_Savage", "pcavs_00015", "pcavs_00086", "pcavs_517600055"]
    facesets = find_facesets([pool_dir])
    assert [f.root.name for f in facesets] == names and all(len(f) >= 2 for f in facesets)
    clip = Faceset.load(pool_dir / "pcavs_00015")
    assert {e["frame"] for e in clip.entries} <= set(range(0, 174, 10))


def test_pretraining_trains_one_decoder_and_saves_it_as_both(tiny_pretrain, pool_dir):
    run_dir, result = tiny_pretrain
    ckpt = load_checkpoint(run_dir)
    assert ckpt["step"] == result.step == 40 and ckpt["config"]["pretrain"] is True
    assert ckpt["config"]["no_warp_share"] == 0.0  # warped to the end: the pairs have their own last phase
    assert ckpt["config"]["facesets_a"] == ckpt["config"]["facesets_b"] == [str(p) for p in sorted(pool_dir.iterdir())]
    assert ckpt["config"]["pool"]["facesets"] == 5 and ckpt["config"]["pool"]["faces"] > 40
    model = build_model_from_checkpoint(ckpt)
    for a, b in zip(model.decoder_a.state_dict().values(), model.decoder_b.state_dict().values()):
        assert torch.equal(a, b)
    first, last = result.scores[0], result.scores[-1]
    assert last["a2a_psnr"] > first["a2a_psnr"] + 1.0, (first, last)
    assert (run_dir / "preview.png").is_file()


@pytest.mark.parametrize("fresh", ["none", "inter", "decoder_b"])
def test_a_pair_starts_from_the_pretrained_weights(tiny_pretrain, faceset_a, faceset_b, tmp_path, fresh):
    run_dir, _ = tiny_pretrain
    out = tmp_path / "pair"
    assert train_main(["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--out", str(out),
                       "--init", str(run_dir), "--init-fresh", fresh, "--steps", "1", "--lr", "1e-12", *TINY]) == 0
    pretrained, pair = load_checkpoint(run_dir), load_checkpoint(out)
    assert pair["step"] == 1 and pair["config"]["init"] == str((run_dir / "checkpoint.pt").resolve())
    assert pair["config"]["init_fresh"] == fresh and pair["config"]["no_warp_share"] == 0.2  # the pair default
    anew = {"none": (), "inter": ("encoder.bottleneck.", "encoder.expand.", "encoder.up."),
            "decoder_b": ("decoder_b.",)}[fresh]
    wide = [round(1.5 * c) for c in pretrained["model_config"]["dec_channels"]]  # a fast pair's decoder B drawn anew
    assert pair["model_config"]["dec_b_channels"] == (wide if fresh == "decoder_b" else [])
    for key, weight in pretrained["model"].items():  # one step at a negligible learning rate moved nothing
        mine = pair["model"][key]
        kept = mine.shape == weight.shape and torch.allclose(mine, weight, atol=1e-6)
        assert kept == (not key.startswith(anew) if anew else True), key  # what --init-fresh names is drawn anew


def test_a_wider_decoder_b_starts_from_the_pretrained_run_and_exports(tiny_pretrain, faceset_a, faceset_b, tmp_path,
                                                                     capsys):
    """--decoder-b-width widens only the decoder drawn anew: the encoder and decoder A come from the pretrained run,
    the exported A->B model runs, and a run that would keep the pretrained decoder B refuses it in one line."""
    import onnxruntime as ort

    from export.onnx_export import export_checkpoint

    run_dir, _ = tiny_pretrain
    out = tmp_path / "wide"
    assert train_main(["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--out", str(out),
                       "--init", str(run_dir), "--decoder-b-width", "2", "--steps", "1", "--lr", "1e-12", *TINY]) == 0
    capsys.readouterr()
    pretrained, pair = load_checkpoint(run_dir), load_checkpoint(out)
    narrow, wide = pretrained["model_config"], pair["model_config"]
    assert narrow["dec_b_channels"] == [] and wide["dec_b_channels"] == [2 * c for c in narrow["dec_channels"]]
    assert wide["dec_channels"] == narrow["dec_channels"]
    for key, weight in pretrained["model"].items():
        if not key.startswith("decoder_b."):
            assert torch.allclose(pair["model"][key], weight, atol=1e-6), key
    assert pair["model"]["decoder_b.head.weight"].shape[1] == 2 * pretrained["model"]["decoder_b.head.weight"].shape[1]
    result = export_checkpoint(out, tmp_path / "wide.onnx")
    contract = result.contract
    session = ort.InferenceSession(str(tmp_path / "wide.onnx"), providers=["CPUExecutionProvider"])
    face, mask = session.run([contract.face_output, contract.mask_output],
                             {contract.input_name: np.random.rand(1, 3, 64, 64).astype(np.float32)})
    assert face.shape == (1, 3, 64, 64) and mask.shape == (1, 1, 64, 64) and contract.resolution == 64
    code = train_main(["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--out", str(tmp_path / "keep"),
                       "--init", str(run_dir), "--init-fresh", "none", "--decoder-b-width", "2", "--steps", "1", *TINY])
    assert_one_line_error(code, capsys.readouterr().err, "python -m training.train", "--init", "another network")
    assert not (tmp_path / "keep" / "checkpoint.pt").exists()


def test_a_full_resolution_decoder_b_starts_from_the_pretrained_run_exports_and_resumes(tiny_pretrain, faceset_a,
                                                                                       faceset_b, tmp_path, capsys):
    """--decoder-b-full-res gives the decoder drawn anew one more upscale and a head that predicts pixels; the encoder
    and decoder A come from the pretrained run, the exported A->B model runs, and a resumed run keeps the shape."""
    import onnxruntime as ort

    from export.onnx_export import export_checkpoint

    run_dir, _ = tiny_pretrain
    out = tmp_path / "full"
    pair_args = ["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--out", str(out), *TINY]
    assert train_main([*pair_args, "--init", str(run_dir), "--decoder-b-full-res", "--steps", "1",
                       "--lr", "1e-12"]) == 0
    capsys.readouterr()
    pretrained, pair = load_checkpoint(run_dir), load_checkpoint(out)
    narrow, full = pretrained["model_config"], pair["model_config"]
    assert full["dec_b_head_scale"] == 1 and len(full["dec_b_channels"]) == len(narrow["dec_channels"]) + 1
    assert (full["dec_channels"], full["head_scale"]) == (narrow["dec_channels"], narrow["head_scale"])
    for key, weight in pretrained["model"].items():
        if not key.startswith("decoder_b."):
            assert torch.allclose(pair["model"][key], weight, atol=1e-6), key
    assert pair["model"]["decoder_b.head.weight"].shape[0] == 4  # face and mask, a pixel each
    contract = export_checkpoint(out, tmp_path / "full.onnx").contract
    session = ort.InferenceSession(str(tmp_path / "full.onnx"), providers=["CPUExecutionProvider"])
    face, mask = session.run([contract.face_output, contract.mask_output],
                             {contract.input_name: np.random.rand(1, 3, 64, 64).astype(np.float32)})
    assert face.shape == (1, 3, 64, 64) and mask.shape == (1, 1, 64, 64)
    # the same --width and --resolution again: decoder B stays as the run drew it
    assert train_main(["--out", str(out), "--resume", "--steps", "2", *TINY[:4], "--threads", "1"]) == 0
    resumed = load_checkpoint(out)
    assert resumed["step"] == 2 and resumed["model_config"] == full


def test_lr_fresh_gives_the_decoder_drawn_anew_its_own_rate_and_resumes(tiny_pretrain, faceset_a, faceset_b, tmp_path,
                                                                        capsys):
    """--lr-fresh K: decoder B, drawn anew beside the pretrained weights, learns at K times --lr in its own AdamW
    group; a resumed run keeps the groups; without an --init run, or with nothing drawn anew, it says so in one line."""
    run_dir, _ = tiny_pretrain
    out = tmp_path / "fresh"
    pair_args = ["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), *TINY]
    assert train_main([*pair_args, "--out", str(out), "--init", str(run_dir), "--lr-fresh", "4", "--lr", "1e-4",
                       "--warmup-steps", "0", "--steps", "2"]) == 0
    capsys.readouterr()
    ckpt = load_checkpoint(out)
    groups = ckpt["optimizer"]["param_groups"]
    model = build_model_from_checkpoint(ckpt)
    names = [n for n, _ in model.named_parameters()]
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 4e-4]) and ckpt["config"]["lr_fresh"] == 4
    assert [names[i] for i in groups[1]["params"]] == [n for n in names if n.startswith("decoder_b.")]
    assert train_main(["--out", str(out), "--resume", "--steps", "3", *TINY[:4], "--threads", "1"]) == 0
    capsys.readouterr()
    resumed = load_checkpoint(out)
    assert resumed["step"] == 3
    assert [g["lr"] for g in resumed["optimizer"]["param_groups"]] == pytest.approx([1e-4, 4e-4])
    # at the default rate, one group holds every weight, decoder B's included, and each of them took its updates
    assert train_main([*pair_args, "--out", str(tmp_path / "same"), "--init", str(run_dir), "--steps", "2"]) == 0
    capsys.readouterr()
    same = load_checkpoint(tmp_path / "same")
    assert [sorted(g["params"]) for g in same["optimizer"]["param_groups"]] == [list(range(len(names)))]
    assert sorted(same["optimizer"]["state"]) == list(range(len(names)))
    prog = "python -m training.train"
    code = train_main([*pair_args, "--out", str(tmp_path / "a"), "--lr-fresh", "2", "--steps", "1"])
    assert_one_line_error(code, capsys.readouterr().err, prog, "--lr-fresh", "needs --init")
    code = train_main([*pair_args, "--out", str(tmp_path / "b"), "--init", str(run_dir), "--init-fresh", "none",
                       "--lr-fresh", "2", "--steps", "1"])
    assert_one_line_error(code, capsys.readouterr().err, prog, "--lr-fresh", "other than none")
    assert not (tmp_path / "a" / "checkpoint.pt").exists() and not (tmp_path / "b" / "checkpoint.pt").exists()


def test_batch_a_draws_fewer_a_faces_per_step_and_resumes_with_another_count(tiny_pretrain, faceset_a, faceset_b,
                                                                             tmp_path, capsys):
    """--batch-a N: each step draws N faces of A beside --batch-size of B, through the whole step (the GAN and
    true-face discriminators included); a resumed run may change it; 0 is refused in one line (argparse's)."""
    run_dir, _ = tiny_pretrain
    bank_a = FaceBank(np.zeros((5, 32, 32, 3), np.uint8), np.zeros((5, 32, 32, 2), np.uint8))
    bank_b = FaceBank(np.full((7, 32, 32, 3), 255, np.uint8), np.zeros((7, 32, 32, 2), np.uint8))
    batch = PairBatches(bank_a, bank_b, (2, 3), AugmentConfig(), seed=0)[0]
    assert batch["a_input"].shape[0] == batch["a_aux"].shape[0] == 2
    assert batch["b_input"].shape[0] == batch["b_target"].shape[0] == 3
    assert batch["a_input"].max() < 0.5 < batch["b_input"].min()  # each side from its own bank
    out = tmp_path / "pair"
    assert train_main(["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), *TINY, "--out", str(out),
                       "--init", str(run_dir), "--batch-a", "2", "--gan", "0.02", "--gan-share", "1",
                       "--true-face", "0.01", "--steps", "2"]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt["step"] == 2 and (ckpt["config"]["batch_a"], ckpt["config"]["batch_size"]) == (2, 4)
    assert TrainConfig.from_dict(ckpt["config"]).batch_sizes == (2, 4)
    assert "discriminator" in ckpt and "code_discriminator" in ckpt
    assert train_main(["--out", str(out), "--resume", "--steps", "3", "--batch-a", "4", *TINY[:4],
                       "--threads", "1"]) == 0
    assert load_checkpoint(out)["config"]["batch_a"] == 4
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        train_main(["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), *TINY,
                    "--out", str(tmp_path / "zero"), "--batch-a", "0", "--steps", "1"])
    assert exit_.value.code == 2 and "argument --batch-a: 0 is not at least 1" in capsys.readouterr().err
    assert not (tmp_path / "zero" / "checkpoint.pt").exists()


def test_init_refuses_another_network_and_an_incomplete_run(tiny_pretrain, faceset_a, faceset_b, tmp_path, capsys):
    run_dir, _ = tiny_pretrain
    base = ["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--steps", "1", "--threads", "1",
            "--batch-size", "4", "--workers", "0"]
    prog = "python -m training.train"
    code = train_main([*base, "--out", str(tmp_path / "a"), "--init", str(run_dir), "--resolution", "128",
                       "--width", "0.25"])
    assert_one_line_error(code, capsys.readouterr().err, prog, "--init", "64 px", "128 px")
    incomplete = tmp_path / "half"
    incomplete.mkdir()
    shutil.copy(run_dir / "preview.png", incomplete)  # a run that never reached its first checkpoint
    code = train_main([*base, "--out", str(tmp_path / "b"), "--init", str(incomplete), *TINY])
    assert_one_line_error(code, capsys.readouterr().err, prog, "incomplete")
    (incomplete / "checkpoint.pt").write_bytes((run_dir / "checkpoint.pt").read_bytes()[:5000])
    code = train_main([*base, "--out", str(tmp_path / "c"), "--init", str(incomplete), *TINY])
    assert_one_line_error(code, capsys.readouterr().err, prog, "corrupt")
    code = train_main([*base, "--out", str(tmp_path / "d"), "--init-fresh", "inter", *TINY])
    assert_one_line_error(code, capsys.readouterr().err, prog, "--init-fresh", "needs --init")
    assert not (tmp_path / "a" / "checkpoint.pt").exists() and not (tmp_path / "c" / "checkpoint.pt").exists()


def test_a_pool_as_a_is_recorded_in_the_run_and_the_model_contract(pool_dir, faceset_b, tmp_path):
    from export.onnx_export import export_checkpoint

    out = tmp_path / "anyface"
    assert train_main(["--faceset-a", str(pool_dir), "--faceset-b", str(faceset_b), "--out", str(out),
                       "--steps", "2", *TINY]) == 0
    contract = export_checkpoint(out, tmp_path / "anyface.onnx").contract
    assert contract.identities == ("pool:pool", "pcavs_00098")
    pool = contract.extra["pool"]
    assert pool["facesets"] == 5 and pool["names"] == sorted(p.name for p in pool_dir.iterdir())
    assert pool["faces"] == sum(len(Faceset.load(p)) for p in pool_dir.iterdir())


def test_defaults_differ_for_a_pair_a_pool_and_pretraining(pool_dir, faceset_a, faceset_b):
    """A pair samples over yaw and has the GAN phase; an any-face run (a pool as A) learns the swap's mask, with the
    true-face loss on fewer A faces a step; neither the pair nor pretraining does; a given setting wins over each
    default."""
    pair = new_run_config(faceset_a, faceset_b, "fast", 0.25, 64)
    pool = new_run_config([pool_dir], faceset_b, "fast", 0.25, 64)
    pretrain = new_run_config([pool_dir], [pool_dir], "fast", 0.25, 64, pretrain=True)
    assert (pair.sampling, pair.gan > 0, pair.swap_mask) == ("yaw-mouth", True, 0.0)
    assert (pool.sampling, pool.gan, pool.swap_mask) == ("uniform", 0.0, 1.0)
    assert (pretrain.gan, pretrain.swap_mask, pretrain.no_warp_share) == (0.0, 0.0, 0.0)
    assert (pool.true_face, pool.batch_sizes, pretrain.true_face, pretrain.batch_sizes) == (0.01, (8, 16), 0.0, (16, 16))
    assert new_run_config([pool_dir], faceset_b, "fast", 0.25, 64, swap_mask=0.0).swap_mask == 0.0
    # decoder B is wider only where it is drawn anew beside pretrained weights, in a pair, unless told otherwise
    decoder_b = lambda *a, **k: new_run_config(*a, **k).model_config["dec_b_channels"]  # noqa: E731
    assert decoder_b(faceset_a, faceset_b, "fast", 1.0, 128, from_init=True) == [96, 48]
    assert decoder_b(faceset_a, faceset_b, "fast", 1.0, 128) == []
    assert decoder_b(faceset_a, faceset_b, "fast", 1.0, 128, from_init=True, init_fresh="inter") == []
    assert decoder_b(faceset_a, faceset_b, "fast", 1.0, 128, from_init=True, decoder_b_width=1.0) == []
    assert decoder_b([pool_dir], faceset_b, "fast", 1.0, 128, from_init=True) == []
    assert decoder_b(faceset_a, faceset_b, "hd", from_init=True) == []


def test_bad_pools_get_one_line(pool_dir, faceset_b, data_dir, tmp_path, capsys):
    from training.extract import extract

    empty = tmp_path / "empty"
    empty.mkdir()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "big").symlink_to(pool_dir / "pcavs_00015", target_is_directory=True)
    extract(data_dir / "videos" / "pc-avs" / "00086.mp4", mixed / "small", size=128, every=40)
    tight = tmp_path / "tight"
    tight.mkdir()
    (tight / "whole").symlink_to(pool_dir / "pcavs_00015", target_is_directory=True)
    extract(data_dir / "videos" / "pc-avs" / "00086.mp4", tight / "face", size=256, coverage="face", every=40)
    for pool, words in ((empty, ("neither a faceset nor a folder of facesets",)), (mixed, ("crop size",)),
                        (tight, ("coverage",))):
        code = pretrain_main(["--facesets", str(pool), "--out", str(tmp_path / "run"), "--steps", "1", *TINY])
        assert_one_line_error(code, capsys.readouterr().err, "python -m training.pretrain", *words)
        code = train_main(["--faceset-a", str(pool), "--faceset-b", str(faceset_b), "--out", str(tmp_path / "r"),
                           "--steps", "1", *TINY])
        assert_one_line_error(code, capsys.readouterr().err, "python -m training.train", *words)
    code = pretrain_main(["--facesets", str(pool_dir), "--out", str(tmp_path / "run"), "--steps", "1",
                          "--true-face", "0.01", *TINY])
    assert_one_line_error(code, capsys.readouterr().err, "python -m training.pretrain", "--true-face", "one pool")
    code = pretrain_main(["--facesets", str(pool_dir), "--out", str(tmp_path / "run"), "--steps", "1",
                          "--swap-mask", "1", *TINY])
    assert_one_line_error(code, capsys.readouterr().err, "python -m training.pretrain", "--swap-mask", "one decoder")
    assert not (tmp_path / "run").exists() and not (tmp_path / "r").exists()


def test_pretraining_resumes_where_it_stopped_with_the_same_losses(pool_dir, tmp_path):
    def config(steps):
        return new_run_config([pool_dir], [pool_dir], "fast", 0.25, 64, names=("pool", "pool"), pretrain=True,
                              batch_size=4, warmup_steps=2, steps=steps, threads=1, workers=0, save_every=1000,
                              preview_every=1000, log_every=1)

    whole = train(config(6), tmp_path / "whole")
    first = train(config(3), tmp_path / "split")
    ckpt = load_checkpoint(tmp_path / "split")
    rest = train(resumed_config(ckpt, "split", steps=6), tmp_path / "split", ckpt)
    assert first.history + rest.history == whole.history


def test_the_last_phase_without_warp_is_the_same_run_as_a_resume_with_no_warp(faceset_a, faceset_b, tmp_path):
    def config(**settings):
        return new_run_config(faceset_a, faceset_b, "fast", 0.25, 64, batch_size=4, warmup_steps=2, threads=1,
                              workers=0, save_every=1000, preview_every=1000, log_every=1, gan=0.0, **settings)

    switched = train(config(steps=6, no_warp_share=0.5), tmp_path / "switched")
    first = train(config(steps=3), tmp_path / "split")
    ckpt = load_checkpoint(tmp_path / "split")
    rest = train(resumed_config(ckpt, "split", steps=6, warp=False), tmp_path / "split", ckpt)
    assert switched.history == first.history + rest.history


def test_schedule_warm_up_cosine_and_the_no_warp_share():
    cfg = TrainConfig([], [], ["a", "b"], "fast", {}, "whole_face", "x", 64, lr=1e-3, warmup_steps=10,
                      lr_schedule="cosine", lr_floor=0.1, no_warp_share=0.2)
    assert learning_rate(cfg, 0, 0.0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 100, 0.0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 100, 0.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert learning_rate(cfg, 100, 1.0) == pytest.approx(1e-4)
    assert warps_at(cfg, 0.79) and not warps_at(cfg, 0.8) and warps_at(cfg, None)
    cfg.lr_schedule = "constant"
    assert learning_rate(cfg, 100, 0.9) == pytest.approx(1e-3)


def test_lr_dropout_keeps_about_that_share_of_each_update(faceset_a, faceset_b, tmp_path):
    from training.model import ModelConfig, SwapModel
    from training.data import PairBatches, load_bank
    from training.augment import AugmentConfig
    from training.losses import LossConfig
    from training.trainer import PairTrainer, make_optimizer, train_step

    cfg = new_run_config(faceset_a, faceset_b, "fast", 0.25, 64)
    model = SwapModel(ModelConfig.from_dict(cfg.model_config))
    bank = load_bank(Faceset.load(faceset_a), 64)
    batch = PairBatches(bank, bank, 4, AugmentConfig(), seed=0)[0]
    optimizer = make_optimizer(model, lr=1e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_step(PairTrainer(model), optimizer, batch, torch.device("cpu"), LossConfig(), lr_dropout=0.3)
    moved = [(model.state_dict()[k] != v).float().mean().item() for k, v in before.items() if v.numel() > 1000]
    assert 0.25 < float(np.mean(moved)) < 0.35


def test_sampling_weights_cap_long_clips_in_a_pool_and_even_out_yaw_and_mouth(pool_dir):
    bank = load_facesets(find_facesets([pool_dir]), 64)
    uniform = sampling_weights(bank, "uniform")
    by_group = {g: uniform[bank.groups == g].sum() for g in np.unique(bank.groups)}
    photos = [w for g, w in by_group.items() if (bank.groups == g).sum() == 1]
    clips = [w for g, w in by_group.items() if (bank.groups == g).sum() > 1]
    assert photos and clips and np.allclose(photos, photos[0])  # a photo is one unit
    assert all(w <= 32 * photos[0] + 1e-9 for w in clips)  # a clip weighs as 32 photos at most
    assert sampling_weights(FaceBank(bank.images[:4], bank.aux[:4]), "uniform") is None  # one source: alike
    yaw = np.array([-0.4, -0.4, -0.4, 0.0, 0.0, 0.4], np.float32)
    weights = sampling_weights(FaceBank(bank.images[:6], bank.aux[:6], yaw=yaw), "yaw")
    assert weights[0] * 3 == pytest.approx(weights[3] * 2) == pytest.approx(weights[5])  # each yaw bin alike
    mouth = np.array([0.0, 0.0, 0.3, 0.0, 0.07, 0.0], np.float32)  # closed, half open, open
    weights = sampling_weights(FaceBank(bank.images[:6], bank.aux[:6], yaw=yaw, mouth=mouth), "yaw-mouth")
    shares = [weights[mouth < 0.05].sum(), weights[(mouth >= 0.05) & (mouth < 0.1)].sum(), weights[mouth >= 0.1].sum()]
    assert shares == pytest.approx([1 / 3] * 3)  # each mouth bin alike
    assert weights[0] == pytest.approx(weights[1]) and weights[3] * 2 == pytest.approx(weights[0] * 3)  # yaw within


def test_a_pool_holds_out_at_most_256_faces():
    train_idx, held = holdout_split(20000, 0.05, 0)
    assert len(held) == 256 and len(train_idx) == 20000 - 256
    assert len(holdout_split(300, 0.05, 0)[1]) == 15


def test_pretrain_command_line_runs_and_says_how_to_resume(pool_dir, tmp_path):
    out = tmp_path / "cli"
    result = run_module("training.pretrain", "--facesets", str(pool_dir), "--out", str(out), "--steps", "2", *TINY)
    assert result.returncode == 0, result.stderr
    assert f"trained to step 2; checkpoint: {out / 'checkpoint.pt'}" in result.stdout
    again = run_module("training.train", "--out", str(out), "--resume", "--steps", "3")
    assert again.returncode == 2 and "resume it with python -m training.pretrain" in again.stderr
    assert json.loads(json.dumps(load_checkpoint(out)["config"]["pool"]))["facesets"] == 5


def test_a_liae_pair_trains_resumes_exports_and_refuses_what_it_cannot_do_in_one_line(tiny_pretrain, pool_dir,
                                                                                      faceset_a, faceset_b, tmp_path,
                                                                                      capsys):
    """--arch liae: a pair from random weights learns, resumes as LIAE, and exports an A->B model (ONNX, int8 and
    DFM) that runs; its pretraining, --init (either way), --true-face, a decoder B of its own and a changed --arch on
    resume are refused in one line each, with no run folder left behind."""
    import onnxruntime as ort

    from export.onnx_export import export_checkpoint

    from tests.fixtures_training import TINY_RUN

    settings = dict(TINY_RUN)
    cfg = new_run_config(faceset_a, faceset_b, settings.pop("preset"), settings.pop("width"), settings.pop("resolution"),
                         arch="liae", **settings)
    out = tmp_path / "liae"
    result = train(cfg, out)
    first, last = result.scores[0], result.scores[-1]
    assert last["a2a_loss"] <= 0.8 * first["a2a_loss"] and last["b2b_loss"] <= 0.8 * first["b2b_loss"], (first, last)
    ckpt = load_checkpoint(out)
    assert ckpt["model_config"]["arch"] == "liae" and ckpt["config"]["true_face"] == 0.0
    assert {"decoder_a.first.bottleneck.weight", "decoder_b.first.bottleneck.weight",
            "decoder_b.decoder.head.weight"} <= set(ckpt["model"])
    assert torch.equal(ckpt["model"]["decoder_a.second.expand.weight"], ckpt["model"]["decoder_b.first.expand.weight"])
    pair = ["--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), *TINY]
    assert train_main(["--out", str(out), "--resume", "--steps", "105", "--threads", "1"]) == 0
    assert load_checkpoint(out)["step"] == 105 and load_checkpoint(out)["model_config"]["arch"] == "liae"
    capsys.readouterr()
    result = export_checkpoint(out, tmp_path / "liae.onnx")
    contract = result.contract
    session = ort.InferenceSession(str(tmp_path / "liae.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    face, mask = session.run([contract.face_output, contract.mask_output], {contract.input_name: x})
    with torch.no_grad():
        expected = build_model_from_checkpoint(load_checkpoint(out)).path("a2b")(torch.from_numpy(x))
    assert np.abs(face - expected[0].numpy()).max() < 1e-4 and np.abs(mask - expected[1].numpy()).max() < 1e-4
    export_checkpoint(out, tmp_path / "liae8.onnx", int8_faceset=faceset_a, dfm=True)  # raises unless parity holds
    assert (tmp_path / "liae8.onnx").stat().st_size < (tmp_path / "liae.onnx").stat().st_size / 2
    assert (tmp_path / "liae8.dfm").exists()
    run_dir, _ = tiny_pretrain
    refusals = [([*pair, "--arch", "liae", "--init", str(run_dir)], "--init"),
                ([*pair, "--arch", "liae", "--true-face", "0.01"], "--true-face"),
                ([*pair, "--arch", "liae", "--decoder-b-width", "2"], "--decoder-b-width"),
                ([*pair, "--init", str(out)], "liae network")]
    for i, (args, word) in enumerate(refusals):
        code = train_main([*args, "--out", str(tmp_path / f"no{i}"), "--steps", "1"])
        assert_one_line_error(code, capsys.readouterr().err, "python -m training.train", word)
        assert not (tmp_path / f"no{i}" / "checkpoint.pt").exists()
    code = train_main(["--out", str(out), "--resume", "--arch", "df", "--steps", "110"])
    assert_one_line_error(code, capsys.readouterr().err, "python -m training.train", "--arch", "resuming")
    assert load_checkpoint(out)["step"] == 105
    with pytest.raises(ValueError, match="pretraining"):
        new_run_config([pool_dir], [pool_dir], "fast", 0.25, 64, names=("pool", "pool"), pretrain=True, arch="liae")
