"""Pure parts of training: augmentation, losses, data split and batches, checkpoint files, model presets."""
from __future__ import annotations

import random
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from faces.align import template_in_crop
from training.augment import AugmentConfig, augment_face, random_warp_maps
from training.checkpoint import (FORMAT, CheckpointError, load_checkpoint, restore_rng, rng_state,
                                 save_checkpoint)
from training.data import FaceBank, PairBatches, face_aux, holdout_split
from training.losses import LossConfig, face_loss, fine_ssim_window, focal_frequency_loss, masked_psnr, ssim_map
from training.model import PRESETS, ModelConfig, SwapModel, count_macs, count_parameters, scale_config

R = 64


@pytest.fixture(scope="module")
def face(faceset_a):
    from training.data import load_bank
    from training.faceset import Faceset

    bank = load_bank(Faceset.load(faceset_a), R)
    return bank.images[0], bank.aux[0]


def test_no_warp_input_equals_target_and_warp_moves_only_the_input(face):
    image, aux = face
    plain = AugmentConfig(warp=False)
    inp, target, moved_aux = augment_face(np.random.default_rng(1), image, aux, plain)
    assert np.array_equal(inp, target) and moved_aux.shape == aux.shape
    warped_inp, warped_target, warped_aux = augment_face(np.random.default_rng(1), image, aux, AugmentConfig())
    assert np.array_equal(warped_target, target) and np.array_equal(warped_aux, moved_aux), "the target is not warped"
    diff = np.abs(warped_inp.astype(int) - target.astype(int)).mean()
    assert 1.0 < diff < 40.0, diff


def test_fine_targets_are_the_area_downscale_unmoved_and_keep_the_detail_a_resampling_at_r_blurs(faceset_a):
    from training.data import load_bank
    from training.faceset import Faceset

    bank = load_bank(Faceset.load(faceset_a), R, fine=True)  # the faceset's 256 px crops hold 2R = 128 px faces
    assert bank.fine.shape == (len(bank), 2 * R, 2 * R, 3) and load_bank(Faceset.load(faceset_a), R).fine is None
    assert load_bank(Faceset.load(faceset_a), 256, fine=True).fine is None  # no crop twice that big: none
    still = AugmentConfig(rotation=0.0, scale=0.0, shift=0.0, flip=0.0, brightness=0.0, contrast=0.0,
                          saturation=0.0, white_balance=0.0, warp=False)
    _, target, _ = augment_face(np.random.default_rng(0), bank.images[0], bank.aux[0], still, fine=bank.fine[0])
    assert np.abs(target.astype(int) - bank.images[0]).max() <= 1  # unmoved: the area-downscaled face itself

    def detail(x):
        return cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), cv2.CV_32F)[R // 4:-R // 4, R // 4:-R // 4].var()

    moved = AugmentConfig(brightness=0.0, contrast=0.0, saturation=0.0, white_balance=0.0, warp=False)
    ratios = []
    for i in range(0, len(bank), max(1, len(bank) // 24)):
        crop = augment_face(np.random.default_rng(i), bank.images[i], bank.aux[i], moved)[1]
        fine = augment_face(np.random.default_rng(i), bank.images[i], bank.aux[i], moved, fine=bank.fine[i])[1]
        assert np.abs(fine.astype(int) - crop).mean() < 4  # the same geometry
        ratios.append(detail(crop) / detail(fine))
    assert np.median(ratios) < 0.92, np.median(ratios)  # 0.83 measured


def test_cubic_crops_are_the_live_loops_resampling_and_keep_more_detail_than_area_ones(faceset_a):
    from training.config import TrainConfig
    from training.data import load_bank, resized_crop, run_crop_resize
    from training.faceset import Faceset

    faceset = Faceset.load(faceset_a)
    area, cubic = load_bank(faceset, R), load_bank(faceset, R, resize="cubic")
    assert np.array_equal(area.aux, cubic.aux) and np.array_equal(area.yaw, cubic.yaw)  # only the pixels differ
    crop = faceset.read(0)
    assert np.array_equal(cubic.images[0], cv2.resize(crop, (R, R), interpolation=cv2.INTER_CUBIC))
    assert np.array_equal(area.images[0], cv2.resize(crop, (R, R), interpolation=cv2.INTER_AREA))
    assert np.array_equal(resized_crop(crop, crop.shape[0], "cubic"), crop)  # at its own size: as it is
    assert np.abs(area.images.astype(int) - cubic.images).mean() < 6  # the same faces

    def detail(x):
        return cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), cv2.CV_32F)[R // 4:-R // 4, R // 4:-R // 4].var()

    ratios = [detail(c) / detail(a) for a, c in zip(area.images[::8], cubic.images[::8])]
    assert np.median(ratios) > 1.15, np.median(ratios)
    with pytest.raises(ValueError, match="unknown crop resize"):
        resized_crop(crop, R, "nearest")
    # a run's crops as its config says; runs from before the setting, and no run at all, averaged them (the default)
    assert run_crop_resize({"crop_resize": "cubic"}) == "cubic"
    assert run_crop_resize({"resolution": R}) == run_crop_resize(None) == TrainConfig.crop_resize == "area"


def test_color_transfer_gives_bs_faces_as_colours_and_leaves_as_and_the_geometry(faceset_a, faceset_b):
    """On the bench pair: with rct, B's input and target faces take A's mean colour inside the hull (Lab a and b),
    the same face underneath (edges where they were), and A's faces are the batches without it."""
    from training.data import load_bank, recolor
    from training.faceset import Faceset

    banks = [load_bank(Faceset.load(f), R, fine=True) for f in (faceset_a, faceset_b)]
    still = AugmentConfig(warp=False, rotation=0, scale=0, shift=0, flip=0, brightness=0, contrast=0, saturation=0,
                          white_balance=0)
    plain, ct = (PairBatches(*banks, 8, still, seed=1, color_transfer=c)[2] for c in ("none", "rct"))
    assert torch.equal(plain["a_target"], ct["a_target"]) and torch.equal(plain["b_aux"], ct["b_aux"])

    def chroma(faces, aux):  # mean Lab (a, b) inside the hull, per face
        out = []
        for face, hull in zip(faces.permute(0, 2, 3, 1).numpy(), aux[:, 0].numpy()):
            lab = cv2.cvtColor(np.ascontiguousarray(face[..., ::-1]), cv2.COLOR_BGR2Lab)
            out.append(lab[hull > 0.5][:, 1:].mean(0))
        return np.array(out)

    mean_a = chroma(plain["a_target"], plain["a_aux"]).mean(0)
    before, after = (np.abs(chroma(b["b_target"], b["b_aux"]) - mean_a).sum(1).mean() for b in (plain, ct))
    assert after < 0.5 * before, (before, after)  # B's faces moved most of the way to A's colours
    assert torch.equal(ct["b_input"], ct["b_target"])  # no warp: input and target recoloured alike
    grey = [cv2.Canny((b["b_target"][0, 1].numpy() * 255).astype(np.uint8), 40, 100) > 0 for b in (plain, ct)]
    assert (grey[0] & grey[1]).sum() > 0.6 * grey[0].sum()  # the same face, recoloured

    image, fine, hull = banks[1].images[0], banks[1].fine[0], banks[1].aux[0][..., 0]
    recoloured, fine_recoloured = recolor(image, fine, hull, banks[0].images[0], banks[0].aux[0][..., 0])
    def shift(x, y):  # mean change per channel
        return y.reshape(-1, 3).mean(0) - x.reshape(-1, 3).astype(float).mean(0)

    assert np.abs(shift(image, recoloured)).max() > 5  # a real change, which the 2x face takes alike
    assert np.abs(shift(fine, fine_recoloured) - shift(image, recoloured)).max() < 1.5
    with pytest.raises(ValueError, match="unknown colour transfer"):
        PairBatches(*banks, 8, still, seed=1, color_transfer="sot")


def test_augmentation_is_a_pure_function_of_the_generator(face):
    image, aux = face
    a = augment_face(np.random.default_rng(7), image, aux, AugmentConfig())
    b = augment_face(np.random.default_rng(7), image, aux, AugmentConfig())
    c = augment_face(np.random.default_rng(8), image, aux, AugmentConfig())
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_rgb_faces_are_the_bgr_ones_with_channels_reversed_and_the_warp_field_is_cv2s_bicubic(face):
    image, aux = face
    bgr = augment_face(np.random.default_rng(3), image, aux, AugmentConfig())
    rgb = augment_face(np.random.default_rng(3), image, aux, AugmentConfig(), rgb=True)
    assert np.array_equal(rgb[0], bgr[0][..., ::-1]) and np.array_equal(rgb[1], bgr[1][..., ::-1])
    assert np.array_equal(rgb[2], bgr[2])
    cfg = AugmentConfig()
    for size in (64, 128, 256):  # the field comes from two small matrix products in place of cv2.resize
        dx, dy = random_warp_maps(np.random.default_rng(size), size, cfg)
        noise = np.random.default_rng(size).normal(scale=cfg.warp_noise * size, size=(2, cfg.warp_grid,
                                                                                     cfg.warp_grid)).astype(np.float32)
        for got, grid in ((dx, noise[0]), (dy, noise[1])):
            want = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
            assert got.shape == want.shape and got.dtype == np.float32
            assert np.abs(got - want).max() < 1e-4 * np.abs(want).max()


def test_flip_mirrors_image_and_masks_alike(face):
    image, aux = face
    cfg = AugmentConfig(rotation=0, scale=0, shift=0, flip=1.0, brightness=0, contrast=0, saturation=0,
                        white_balance=0, warp=False)
    _, target, moved = augment_face(np.random.default_rng(0), image, aux, cfg)
    assert np.abs(target.astype(int) - image[:, ::-1].astype(int)).mean() < 1.0
    assert np.abs(moved.astype(int) - aux[:, ::-1].astype(int)).mean() < 1.0


def test_aux_marks_the_face_and_its_eyes_and_mouth():
    marks = template_in_crop(R, "whole_face")
    aux = face_aux(marks, R, "whole_face")
    nose, corner = np.round(marks[30]).astype(int), (1, 1)
    eye, mouth = np.round(marks[36:42].mean(0)).astype(int), np.round(marks[48:60].mean(0)).astype(int)
    assert aux[nose[1], nose[0], 0] == 255 and aux[corner[1], corner[0], 0] == 0
    assert aux[eye[1], eye[0], 1] == 255 and aux[mouth[1], mouth[0], 1] == 255 and aux[nose[1], nose[0], 1] == 0


def test_ssim_backward_matches_finite_differences():
    x = torch.rand(1, 2, 12, 12, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 2, 12, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ssim_map(a, b, 5), (x, y), fast_mode=True)


def test_ssim_is_one_for_equal_images_and_lower_otherwise():
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(ssim_map(x, x), torch.ones(1), atol=1e-4)
    assert ssim_map(x, torch.rand(1, 3, 32, 32)).mean() < 0.2


def test_face_loss_is_zero_for_a_perfect_answer_and_weighs_eyes_and_mouth_up():
    aux = torch.from_numpy(face_aux(template_in_crop(R, "whole_face"), R, "whole_face")).permute(2, 0, 1)[None] / 255.0
    target = torch.rand(1, 3, R, R)
    mask = aux[:, :1]
    perfect = face_loss(target, mask, target, aux, LossConfig())
    assert perfect["total"].item() < 1e-4
    marks = template_in_crop(R, "whole_face")
    eye, cheek = np.round(marks[37]).astype(int), np.round((marks[3] + marks[30]) / 2).astype(int)

    def l1_with_error_at(x, y):
        pred = target.clone()
        pred[..., y - 1:y + 2, x - 1:x + 2] += 0.3
        return face_loss(pred, mask, target, aux, LossConfig())["l1"].item()

    assert l1_with_error_at(*eye) == pytest.approx(3 * l1_with_error_at(*cheek), rel=0.1)
    outside = target.clone()
    outside[..., :3, :3] = 0.0  # a corner is outside the face mask: it costs nothing
    assert face_loss(outside, mask, target, aux, LossConfig())["total"].item() < 1e-4


def test_edge_loss_costs_lost_detail_not_a_shift_in_tone():
    aux = torch.from_numpy(face_aux(template_in_crop(R, "whole_face"), R, "whole_face")).permute(2, 0, 1)[None] / 255.0
    mask = aux[:, :1]
    torch.manual_seed(0)
    target = 0.9 * torch.rand(1, 3, R, R)
    blurred = torch.nn.functional.avg_pool2d(target, 5, stride=1, padding=2, count_include_pad=False)
    brighter = target + 0.05
    cfg = LossConfig(edges=2.0)
    blur_terms, tone_terms = face_loss(blurred, mask, target, aux, cfg), face_loss(brighter, mask, target, aux, cfg)
    # the tone shift costs L1 but (almost) no edges; the blur costs edges well beyond its L1
    assert tone_terms["edges"].item() < 0.05 * tone_terms["l1"].item()
    assert blur_terms["edges"].item() > 2 * blur_terms["l1"].item()
    assert blur_terms["total"].item() == pytest.approx(
        sum(v.item() for k, v in face_loss(blurred, mask, target, aux, LossConfig()).items() if k != "total")
        + 2.0 * blur_terms["edges"].item(), rel=1e-5)
    assert "edges" not in face_loss(blurred, mask, target, aux, LossConfig())


def test_fine_dssim_takes_its_share_of_the_dssim_weight_and_charges_lost_detail_more(face):
    assert fine_ssim_window(128) == (5, pytest.approx(1.5 * 5 / 11))
    assert fine_ssim_window(256)[0] == 11 and fine_ssim_window(R)[0] == 3
    image, aux = face
    target = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    aux = torch.from_numpy(aux).permute(2, 0, 1)[None].float() / 255.0
    mask = aux[:, :1]
    blurred = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False)
    plain = face_loss(blurred, mask, target, aux, LossConfig())
    assert "dssim_fine" not in plain
    for share in (0.5, 1.0):
        terms = face_loss(blurred, mask, target, aux, LossConfig(dssim=2.0, dssim_fine=share))
        assert terms["dssim"].item() == pytest.approx(plain["dssim"].item(), rel=1e-6)
        expected = 2.0 * ((1 - share) * terms["dssim"] + share * terms["dssim_fine"]) + terms["l1"] + terms["mask"]
        assert terms["total"].item() == pytest.approx(expected.item(), rel=1e-5)
    # a 3 px blur of a real face loses its fine detail: the fine window charges that more than the main one
    assert terms["dssim_fine"].item() > 1.2 * terms["dssim"].item()
    same = face_loss(target, mask, target, aux, LossConfig(dssim_fine=0.5))
    assert same["dssim_fine"].item() < 1e-6 and same["dssim"].item() < 1e-6


def test_focal_frequency_loss_is_the_squared_error_unweighted_and_charges_one_missing_frequency_most(face):
    image, aux = face
    target = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    aux = torch.from_numpy(aux).permute(2, 0, 1)[None].float() / 255.0
    mask = aux[:, :1]
    torch.manual_seed(0)
    noise = 0.05 * torch.randn_like(target)
    x = torch.arange(R, dtype=torch.float32)
    stripes = torch.cos(2 * np.pi * 12 * x / R).expand_as(target)  # one fine pattern, as a face misses a texture
    stripes = stripes * (noise.square().mean() / stripes.square().mean()).sqrt()  # the same squared error
    for err in (noise, stripes):  # Parseval: with every weight 1 (alpha 0) it is the mean squared pixel error
        assert focal_frequency_loss(target + err, target, alpha=0.0).item() == pytest.approx(
            err.square().mean().item(), rel=1e-4)
    # weighted by their own distance, the frequencies the model misses most carry the loss: the same pixel error
    # costs about twice as much as one missing pattern (all of it) as spread thinly over the spectrum as noise
    focused, spread_out = focal_frequency_loss(target + stripes, target), focal_frequency_loss(target + noise, target)
    assert focused.item() > 1.8 * spread_out.item() and focused.item() <= noise.square().mean().item() * (1 + 1e-4)
    assert focal_frequency_loss(target, target).item() == 0.0
    blurred = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False)
    plain = face_loss(blurred, mask, target, aux, LossConfig())
    terms = face_loss(blurred, mask, target, aux, LossConfig(focal_freq=50.0))
    assert "focal_freq" not in plain and terms["focal_freq"].item() > 0
    assert terms["focal_freq"].item() == pytest.approx(focal_frequency_loss(blurred * mask, target * mask).item())
    assert terms["total"].item() == pytest.approx(plain["total"].item() + 50.0 * terms["focal_freq"].item(), rel=1e-5)


def test_masked_psnr_ignores_pixels_outside_the_mask():
    target, mask = torch.rand(1, 3, 16, 16), torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    pred = target.clone()
    pred[..., :2, :] = 0
    assert masked_psnr(pred, target, mask).item() == pytest.approx(100.0)


def test_holdout_is_five_percent_disjoint_and_fixed_by_the_seed():
    train, held = holdout_split(298, 0.05, seed=0)
    assert len(held) == 15 and len(train) == 283 and not set(train) & set(held)
    assert np.array_equal(held, holdout_split(298, 0.05, seed=0)[1])
    assert not np.array_equal(held, holdout_split(298, 0.05, seed=1)[1])
    assert len(holdout_split(3, 0.05, 0)[1]) == 1 and len(holdout_split(1, 0.05, 0)[1]) == 0


def test_batches_depend_only_on_seed_rank_and_step():
    rng = np.random.default_rng(0)
    bank = FaceBank(rng.integers(0, 255, (10, R, R, 3), dtype=np.uint8), np.zeros((10, R, R, 2), np.uint8))
    batches = PairBatches(bank, bank, 4, AugmentConfig(), seed=3)
    late_first = batches[5]
    batches[0]
    assert all(torch.equal(late_first[k], batches[5][k]) for k in late_first)
    assert not torch.equal(batches[6]["a_input"], late_first["a_input"])
    other_rank = PairBatches(bank, bank, 4, AugmentConfig(), seed=3, rank=1)[5]
    assert not torch.equal(other_rank["a_input"], late_first["a_input"])
    assert late_first["a_input"].shape == (4, 3, R, R) and late_first["b_aux"].shape == (4, 2, R, R)
    assert late_first["a_input"].dtype == torch.float32 and 0 <= late_first["a_input"].min() <= 1
    # the batch is the augmented faces as RGB floats, laid out channels_last as the trainer's networks take them
    assert all(v.is_contiguous(memory_format=torch.channels_last) for v in late_first.values())
    rng = np.random.default_rng([3, 0, 5])
    pick = rng.integers(0, 10, size=4)[0]
    first = augment_face(rng, bank.images[pick], bank.aux[pick], AugmentConfig())[0]
    want = torch.from_numpy(first[..., ::-1] * np.float32(1 / 255)).permute(2, 0, 1)
    assert torch.equal(late_first["a_input"][0], want)


def test_a_cpu_trainer_makes_its_batches_itself_and_a_gpu_one_has_loader_processes():
    from types import SimpleNamespace

    from training.distributed import Cluster
    from training.trainer import data_workers

    assert data_workers(SimpleNamespace(workers=None), Cluster(), cuda=False) == 0
    assert data_workers(SimpleNamespace(workers=None), Cluster(), cuda=True) >= 1
    assert data_workers(SimpleNamespace(workers=2), Cluster(), cuda=False) == 2


def test_checkpoint_round_trip_and_rng_restore(tmp_path):
    model = SwapModel(scale_config(PRESETS["fast"], 0.125, 64))
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    state = {"format": FORMAT, "preset": "fast", "model_config": model.config.to_dict(), "model": model.state_dict(),
             "optimizer": {}, "step": 3, "rng": rng_state(), "config": {}}
    expected = (torch.rand(3), np.random.rand(3), random.random())
    save_checkpoint(tmp_path, state)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    loaded = load_checkpoint(tmp_path)
    restore_rng(loaded["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]
    with pytest.raises(CheckpointError, match="incomplete"):
        save_checkpoint(tmp_path, {"format": FORMAT})


def test_foreign_torch_file_is_not_a_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="is not a swapcam-checkpoint-2 file"):
        load_checkpoint(tmp_path / "other.pt")


def test_presets_and_their_costs():
    fast = SwapModel(PRESETS["fast"])
    with torch.device("meta"):  # shapes only: no memory for the 180 M weights
        quality = SwapModel(PRESETS["quality"])
    assert PRESETS["fast"].resolution == 128 and PRESETS["quality"].resolution == 256
    assert count_macs(fast.path("a2b"), 128) <= 0.6e9
    assert count_parameters(quality) > 10 * count_parameters(fast)
    narrow = scale_config(PRESETS["fast"], 0.25, 64)
    assert narrow.resolution == 64 and narrow.enc_channels == (8, 16, 32, 32)


def test_a_full_resolution_decoder_b_predicts_pixels_and_keeps_the_rest_of_the_network():
    wide = scale_config(PRESETS["fast"], 1.0, None, 1.5)
    full = scale_config(PRESETS["fast"], 1.0, None, 1.5, decoder_b_full_res=True)
    assert (wide.dec_b_channels, wide.decoder_b_head_scale) == ((96, 48), 2)
    assert (full.dec_b_channels, full.decoder_b_head_scale, full.head_scale) == ((96, 48, 24), 1, 2)
    assert replace(full, dec_b_channels=wide.dec_b_channels, dec_b_head_scale=0) == wide
    assert ModelConfig.from_dict(full.to_dict()) == full
    assert scale_config(PRESETS["hd"], 0.25, None, 1.0, True).dec_b_channels == (16, 8, 8, 8)  # at least 8 wide
    model = SwapModel(full)
    assert model.decoder_b.head.out_channels == 4 and model.decoder_a.head.out_channels == 16
    face, mask = model(torch.rand(2, 3, 128, 128), "b")
    assert face.shape == (2, 3, 128, 128) and mask.shape == (2, 1, 128, 128)
    # the last stage works at 128 px: about 0.35 GMAC more than the 1.5x decoder B, on the A->B path only
    extra = count_macs(model.path("a2b"), 128) - count_macs(SwapModel(wide).path("a2b"), 128)
    assert 0.3e9 < extra < 0.4e9
    assert count_macs(model.path("b2a"), 128) == count_macs(SwapModel(wide).path("b2a"), 128)
    with pytest.raises(ValueError, match="decoder B has 2 upscales and a 1x head"):
        SwapModel(replace(full, dec_b_channels=(96, 48)))


def test_liae_draws_b_and_the_swap_from_the_shared_inter_twice_and_a_from_its_own_and_the_shared_one():
    """DeepFaceLab's LIAE: one decoder; B's faces and the swap come from [inter AB, inter AB], A's from
    [inter A, inter AB]. So A's own inter part moves A->A and nothing of A->B; the shared parts count once."""
    df = scale_config(PRESETS["fast"], 0.25, 64)
    liae = replace(df, arch="liae")
    assert ModelConfig.from_dict(liae.to_dict()) == liae and ModelConfig.from_dict(df.to_dict()).arch == "df"
    torch.manual_seed(0)
    model = SwapModel(liae).eval()
    assert model.decoder_a.decoder is model.decoder_b.decoder and model.decoder_a.second is model.decoder_b.first
    assert model.decoder_b.first is model.decoder_b.second and model.decoder_a.first is not model.decoder_a.second
    unique = {id(p) for p in model.parameters()}
    assert len(unique) == len(list(model.parameters())) < len(model.state_dict())  # shared weights listed once
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a2b, a2a = model.path("a2b")(x), model.path("b2a")(x)
        assert a2b[0].shape == (2, 3, 64, 64) and a2b[1].shape == (2, 1, 64, 64)
        for p in model.decoder_a.first.parameters():  # inter A only
            p.add_(0.5 * torch.randn_like(p))
        assert torch.equal(model.path("a2b")(x)[0], a2b[0])
        assert not torch.allclose(model.path("b2a")(x)[0], a2a[0], atol=1e-3)
    # the decoder is DF's; each inter part half DF's code channels: the swap path costs a little less than DF's
    assert [m.out_channels for m in model.decoder_b.decoder.modules() if isinstance(m, torch.nn.Conv2d)] == \
        [m.out_channels for m in SwapModel(df).decoder_b.modules() if isinstance(m, torch.nn.Conv2d)]
    assert count_macs(SwapModel(replace(PRESETS["fast"], arch="liae")).path("a2b"), 128) < \
        count_macs(SwapModel(PRESETS["fast"]).path("a2b"), 128)
    with pytest.raises(ValueError, match="one decoder for both people"):
        SwapModel(scale_config(liae, 1.0, None, 1.5))
    with pytest.raises(ValueError, match="unknown architecture 'lia'"):
        SwapModel(replace(df, arch="lia"))


def test_new_run_defaults_come_from_the_facesets_and_the_preset(faceset_a, faceset_b):
    from training.config import new_run_config

    cfg = new_run_config(faceset_a, faceset_b, "fast")
    assert cfg.identities == ["pcavs_00104", "pcavs_00098"] and cfg.lr == 2e-4
    assert (cfg.coverage, cfg.resolution, cfg.batch_size, cfg.warp) == ("whole_face", 128, 8, True)
    assert (cfg.sampling, cfg.gan, cfg.gan_share) == ("yaw-mouth", 0.02, 0.4)  # a pair's: what won per CPU-minute
    assert (cfg.crop_resize, cfg.color_transfer, cfg.batch_sizes) == ("cubic", "rct", (8, 8))
    from_init = new_run_config(faceset_a, faceset_b, "fast", from_init=True)  # decoder A comes trained: fewer A faces
    assert (from_init.batch_a, from_init.batch_sizes) == (4, (4, 8))
    assert new_run_config(faceset_a, faceset_b, "fast", from_init=True, batch_a=8).batch_sizes == (8, 8)
    assert new_run_config(faceset_a, faceset_b, "fast", gan=0.0).gan == 0.0
    assert new_run_config(faceset_a, faceset_b, "fast", batch_size=32, sampling="uniform").batch_size == 32
    pool = new_run_config([faceset_a, faceset_b], faceset_b, "fast")  # A a pool: uniform with its clip cap, batch 16
    assert (pool.batch_size, pool.sampling, pool.gan, pool.crop_resize, pool.color_transfer) == (
        16, "uniform", 0.0, "area", "none")
    assert (pool.batch_sizes, pool.true_face, pool.swap_mask) == ((8, 16), 0.01, 1.0)  # 8 pool faces beside B's 16
    assert new_run_config([faceset_a, faceset_b], faceset_b, "fast", true_face=0.0, batch_a=16).batch_sizes == (16, 16)
    assert (cfg.true_face, from_init.true_face) == (0.0, 0.0)
    hd = new_run_config(faceset_a, faceset_b, "hd")
    assert (hd.batch_size, hd.sampling, hd.gan) == (16, "yaw-mouth", 0.0)
    assert new_run_config(faceset_a, faceset_b, "hd", from_init=True).batch_sizes == (16, 16)
    assert new_run_config([faceset_a, faceset_b], faceset_b, "fast", from_init=True).batch_sizes == (8, 16)
    hd_pool = new_run_config([faceset_a, faceset_b], faceset_b, "hd")
    assert (hd_pool.batch_sizes, hd_pool.true_face) == ((16, 16), 0.0)
    named = new_run_config(faceset_a, faceset_b, "quality", names=("alice", None), lr=1e-4)
    assert named.identities == ["alice", "pcavs_00098"] and named.lr == 1e-4 and named.resolution == 256


def test_patch_discriminator_judges_patches_of_the_same_size_at_either_resolution():
    from training.gan import PatchDiscriminator

    for resolution, stages, grid in ((64, 3, 8), (128, 3, 16), (256, 4, 16)):
        d = PatchDiscriminator(resolution)
        assert d(torch.rand(2, 3, resolution, resolution)).shape == (2, 1, grid, grid)
        assert sum(isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2) for m in d.modules()) == stages
    assert count_macs(PatchDiscriminator(128), 128) < 0.1e9  # a fifth of the fast A->B path's 0.5 GMAC


def test_a_smaller_gan_patch_makes_a_shallower_discriminator_with_a_finer_logit_map():
    from training.gan import PatchDiscriminator, patch_size, stages_for

    assert [patch_size(n) for n in (1, 2, 3, 4)] == [8, 18, 38, 78]
    assert stages_for(128, None) == stages_for(128, 38) == 3 and stages_for(256, None) == stages_for(256, 78) == 4
    assert stages_for(128, 16) == stages_for(128, 18) == 2 and stages_for(128, 1000) == 6  # down to a 2 x 2 map
    d = PatchDiscriminator(128, patch=18)
    assert d(torch.rand(2, 3, 128, 128)).shape == (2, 1, 32, 32)
    # the receptive field really is 18 px: a change at one pixel reaches only the logits whose patches hold it
    x = torch.rand(1, 3, 128, 128)
    y = x.clone()
    y[..., 64, 64] += 0.5
    changed = (d(y) - d(x)).abs()[0, 0] > 0
    rows, cols = changed.nonzero(as_tuple=True)
    assert changed.any() and (rows.max() - rows.min() + 1) * 4 <= 18 and (cols.max() - cols.min() + 1) * 4 <= 18


def test_discriminator_learns_to_tell_detail_from_blur():
    from training.gan import discriminator_loss, generator_loss, make_discriminator

    torch.manual_seed(0)
    d, opt = make_discriminator(R, 2e-4, torch.device("cpu"))

    def batch():
        sharp = 0.2 + 0.6 * torch.rand(8, 3, R, R)
        return sharp, torch.nn.functional.avg_pool2d(sharp, 5, stride=1, padding=2, count_include_pad=False)

    start = discriminator_loss(d, *batch()).item()
    for _ in range(60):
        loss = discriminator_loss(d, *batch())
        opt.zero_grad()
        loss.backward()
        opt.step()
    sharp, blurred = batch()
    assert discriminator_loss(d, sharp, blurred).item() < 0.5 * start
    # the generator loss charges the blur more than the detail, and moves only the faces, not the discriminator
    opt.zero_grad(set_to_none=True)
    blurred.requires_grad_(True)
    g_blur = generator_loss(d, blurred)
    g_blur.backward()
    assert g_blur.item() > 2 * generator_loss(d, sharp).item()
    assert blurred.grad.abs().sum() > 0
    assert all(p.grad is None and p.requires_grad for p in d.parameters())


@pytest.mark.parametrize("region", ["face", "no-features"])
def test_the_discriminator_sees_the_hull_or_the_hull_without_eyes_and_mouth(region):
    """--gan-region: the faces the discriminator judges (B's own and decoder B's) are masked by B's landmark hull,
    and with no-features also blacked out over the eyes and mouth, so the adversary cannot reshape them."""
    from training.gan import make_discriminator
    from training.trainer import Adversary, PairTrainer, make_optimizer, train_step

    torch.manual_seed(0)
    model = SwapModel(scale_config(PRESETS["fast"], 0.125, R))
    optimizer = make_optimizer(model)
    d, d_opt = make_discriminator(R, 2e-4, torch.device("cpu"))
    seen = []
    d.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    hull = torch.zeros(2, 1, R, R)
    hull[..., 8:56, 8:56] = 1.0
    features = torch.zeros(2, 1, R, R)
    features[..., 40:50, 20:44] = 1.0  # a mouth
    batch = {"a_input": torch.rand(2, 3, R, R), "a_target": torch.rand(2, 3, R, R),
             "a_aux": torch.cat([hull, features], 1), "b_input": torch.rand(2, 3, R, R),
             "b_target": 0.2 + 0.6 * torch.rand(2, 3, R, R), "b_aux": torch.cat([hull, features], 1)}
    _, loss_b = train_step(PairTrainer(model), optimizer, batch, torch.device("cpu"), LossConfig(),
                           adversary=Adversary(d, d, d_opt, 0.1, region))
    assert "gan" in loss_b and "discriminator" in loss_b and len(seen) >= 2
    mouth, cheek = (..., slice(40, 50), slice(20, 44)), (..., slice(10, 30), slice(10, 30))
    for judged in seen:
        assert judged[..., :8, :].abs().max() == 0  # outside the hull: never seen
        assert judged[cheek].abs().min() > 0
        assert (judged[mouth].abs().max() == 0) == (region == "no-features")


def test_the_true_face_loss_moves_only_the_encoder_and_its_discriminator_learns():
    """--true-face: the code discriminator takes A's codes as real and B's as fake; its generator loss reaches the
    encoder through B's codes only, so the decoders' updates are those of a step without it, the encoder's are not;
    and a few steps teach the discriminator to tell two sets of codes apart."""
    from training.gan import discriminator_loss, make_code_discriminator
    from training.trainer import Adversary, PairTrainer, make_optimizer, train_step

    torch.manual_seed(0)
    batch = {"a_input": 0.3 * torch.rand(2, 3, R, R), "a_target": torch.rand(2, 3, R, R),
             "a_aux": torch.ones(2, 2, R, R), "b_input": 0.7 + 0.3 * torch.rand(2, 3, R, R),
             "b_target": torch.rand(2, 3, R, R), "b_aux": torch.ones(2, 2, R, R)}  # A dark, B bright
    updates = []
    for weight in (0.0, 0.5):
        torch.manual_seed(0)
        model = SwapModel(scale_config(PRESETS["fast"], 0.125, R))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        d, d_opt = make_code_discriminator(model.config.inter_channels, 1e-3, torch.device("cpu"))
        seen = []
        d.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
        codes = model.encoder(torch.cat([batch["a_input"], batch["b_input"]])).detach()
        adversary = Adversary(d, d, d_opt, weight, key="code_discriminator") if weight else None
        _, loss_b = train_step(PairTrainer(model, codes=bool(weight)), make_optimizer(model), batch,
                               torch.device("cpu"), LossConfig(), code_adversary=adversary)
        updates.append({k: v - before[k] for k, v in model.state_dict().items()})
        if weight:
            assert "true_face" in loss_b and "code_discriminator" in loss_b
            assert torch.allclose(seen[0], codes[2:], atol=1e-5)  # the generator loss judges B's codes
            assert torch.allclose(seen[1], codes, atol=1e-5)      # the discriminator: A's (real), then B's
    plain, true_face = updates
    for key in plain:
        same = torch.allclose(plain[key], true_face[key], atol=1e-7)
        assert same == (not key.startswith("encoder.")), key
    code_a, code_b = torch.rand(8, *codes.shape[1:]), 0.2 + torch.rand(8, *codes.shape[1:])  # a random encoder's
    losses = []                                                              # codes are all alike: two made apart
    for _ in range(30):
        loss = discriminator_loss(d, code_a, code_b)
        d_opt.zero_grad()
        loss.backward()
        d_opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3, losses  # it learns to tell them apart


def test_the_swap_mask_loss_moves_only_decoder_b_and_fits_the_swaps_mask_to_a():
    """--swap-mask: decoder B's mask for A's (detached) codes pays an MSE against A's hull, so the encoder's and
    decoder A's updates are those of a step without it and decoder B's are not; and steps with it alone make decoder
    B's mask of A's faces fit A's hull, which is unlike B's."""
    from training.trainer import PairTrainer, make_optimizer, train_step

    hull_a, hull_b = torch.zeros(2, 1, R, R), torch.zeros(2, 1, R, R)
    hull_a[..., 4:60, 12:52], hull_b[..., 20:44, 20:44] = 1.0, 1.0  # A's face tall, B's small
    batch = {"a_input": 0.3 * torch.rand(2, 3, R, R), "a_target": torch.rand(2, 3, R, R),
             "a_aux": torch.cat([hull_a, torch.zeros_like(hull_a)], 1), "b_input": 0.7 + 0.3 * torch.rand(2, 3, R, R),
             "b_target": torch.rand(2, 3, R, R), "b_aux": torch.cat([hull_b, torch.zeros_like(hull_b)], 1)}
    updates = []
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = SwapModel(scale_config(PRESETS["fast"], 0.125, R))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        _, loss_b = train_step(PairTrainer(model, swap_mask=bool(weight)), make_optimizer(model), batch,
                               torch.device("cpu"), LossConfig(), swap_mask=weight)
        assert ("swap_mask" in loss_b) == bool(weight)
        updates.append({k: v - before[k] for k, v in model.state_dict().items()})
    plain, swap = updates
    same = {key: torch.allclose(plain[key], swap[key], atol=1e-7) for key in plain}
    assert all(same[key] for key in plain if not key.startswith("decoder_b.")), same
    # AdamW's first step moves every weight by about lr either way: decoder B's differ where a sign flipped
    assert not all(same[key] for key in plain if key.startswith("decoder_b."))

    def swap_error() -> float:
        with torch.no_grad():
            return torch.nn.functional.mse_loss(model.decoder_b(model.encoder(batch["a_input"]))[1], hull_a).item()

    trainer, optimizer, start = PairTrainer(model, swap_mask=True), make_optimizer(model, 1e-3), swap_error()
    for _ in range(30):
        train_step(trainer, optimizer, batch, torch.device("cpu"), LossConfig(mask=0.0), swap_mask=10.0)
    assert swap_error() < 0.5 * start, (start, swap_error())


def test_precision_auto_takes_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    """--precision: fp32 and bf16 as asked; auto is bfloat16 on a CPU with AVX512-BF16 or AMX, float32 elsewhere."""
    from training.trainer import amp_dtype_for

    cpu = torch.device("cpu")
    assert amp_dtype_for("fp32", cpu) is None and amp_dtype_for("bf16", cpu) is torch.bfloat16
    for avx512_bf16, amx, expected in [(True, False, torch.bfloat16), (False, True, torch.bfloat16),
                                       (False, False, None)]:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert amp_dtype_for("auto", cpu) is expected


def test_a_bfloat16_step_learns_what_a_float32_step_learns(faceset_a, faceset_b):
    """On real faces, from the same weights, with the adversary on: the bf16 step's losses are the float32 step's to
    1%, its weights stay float32, and its update points the same way (cosine above 0.9 over all weights)."""
    from training.data import load_bank
    from training.faceset import Faceset
    from training.gan import make_discriminator
    from training.trainer import Adversary, PairTrainer, make_optimizer, train_step

    banks = [load_bank(Faceset.load(f), R) for f in (faceset_a, faceset_b)]
    batch = PairBatches(*banks, 4, AugmentConfig(), seed=0)[0]
    results = []
    for dtype in (None, torch.bfloat16):
        torch.manual_seed(0)
        model = SwapModel(scale_config(PRESETS["fast"], 0.25, R))
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        d, d_opt = make_discriminator(R, 2e-4, torch.device("cpu"))
        loss_a, loss_b = train_step(PairTrainer(model), make_optimizer(model, 2e-4), batch, torch.device("cpu"),
                                    LossConfig(), amp_dtype=dtype, adversary=Adversary(d, d, d_opt, 0.05, "face"))
        assert all(p.dtype == torch.float32 for p in model.parameters())
        after = torch.cat([p.detach().flatten() for p in model.parameters()])
        results.append(({k: v.item() for k, v in {**loss_a, **{"b_" + k: v for k, v in loss_b.items()}}.items()},
                        after - before))
    (losses32, update32), (losses16, update16) = results
    assert losses32.keys() == losses16.keys() and "b_gan" in losses16
    for key in losses32:
        assert losses16[key] == pytest.approx(losses32[key], rel=0.01), key
    assert update16.abs().sum() > 0 and not torch.equal(update16, update32)  # it did run in bfloat16
    assert torch.nn.functional.cosine_similarity(update32, update16, dim=0) > 0.9
