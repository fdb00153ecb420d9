"""A short real CPU training on the pc-avs facesets: the loss falls, and the checkpoint holds the whole run."""
from __future__ import annotations

import numpy as np
import torch

from faces import TEMPLATE_ID
from training.checkpoint import build_model_from_checkpoint, load_checkpoint


def test_short_training_lowers_the_a2a_loss_by_30_percent(tiny_training):
    _, result = tiny_training
    first, last = result.scores[0], result.scores[-1]
    assert first["step"] == 0 and last["step"] == result.step == 100
    assert last["a2a_loss"] <= 0.7 * first["a2a_loss"], (first, last)
    assert last["a2a_psnr"] > first["a2a_psnr"] + 2.0
    train_losses = [h["loss_a"] for h in result.history]
    assert np.mean(train_losses[-10:]) <= 0.7 * np.mean(train_losses[:10])


def test_checkpoint_holds_weights_optimizer_step_rng_and_config(tiny_checkpoint, faceset_a, faceset_b):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt["step"] == 100 and ckpt["preset"] == "fast"
    assert set(ckpt["rng"]) == {"torch", "numpy", "python"}
    assert ckpt["optimizer"]["state"], "optimizer moments are saved"
    cfg = ckpt["config"]
    assert cfg["facesets_a"] == [str(faceset_a.resolve())] and cfg["facesets_b"] == [str(faceset_b.resolve())]
    assert cfg["identities"] == ["pcavs_00104", "pcavs_00098"]
    assert (cfg["coverage"], cfg["template_id"], cfg["resolution"]) == ("whole_face", TEMPLATE_ID, 64)
    model = build_model_from_checkpoint(ckpt)
    assert not model.training
    face, mask = model.path("a2b")(torch.rand(2, 3, 64, 64))
    assert face.shape == (2, 3, 64, 64) and mask.shape == (2, 1, 64, 64)


def test_run_folder_has_the_preview_and_tensorboard_logs(tiny_checkpoint):
    import cv2
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    preview = cv2.imread(str(tiny_checkpoint / "preview.png"))
    assert preview.shape == (2 * 64, 4 * 3 * 64, 3), "two rows: A, A->A, A->B and B, B->B, B->A for 4 faces"
    events = EventAccumulator(str(tiny_checkpoint / "logs"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {"loss/a_total", "loss/a_dssim", "loss/a_l1", "loss/a_mask", "loss/b_total", "train/learning_rate",
                "train/faces_per_second", "heldout/a2a_psnr", "heldout/a2a_ssim", "heldout/b2b_psnr", "heldout/b2b_ssim"}
    assert expected <= scalars, expected - scalars
    assert len(events.Scalars("loss/a_total")) == 100
    assert events.Tags()["images"] == ["preview"]
