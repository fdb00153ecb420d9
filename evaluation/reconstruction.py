"""Reconstruction quality of a training run on faces it never trained on: A->A and B->B PSNR and SSIM.

The exported model holds only the A->B path, so this reads the training checkpoint (decoder A
included). A's faces are a held-out faceset when one is given (e.g. the last frames of A's clip,
kept out of training), else the faces the run itself held out of its faceset A; B's are the faces
the run held out of its faceset B. Scores are inside the landmark face mask, as during training.
"""
from __future__ import annotations

from pathlib import Path

import torch

from training.checkpoint import build_model_from_checkpoint
from training.data import FaceBank, find_facesets, holdout_split, load_bank, load_facesets, run_crop_resize
from training.faceset import Faceset, FacesetError
from training.losses import LossConfig
from training.monitor import evaluate


def _run_heldout(run_config: dict, which: str, resolution: int, resize: str) -> tuple[FaceBank, str]:
    folders = run_config[f"facesets_{which}"]
    missing = [f for f in folders if not (Path(f) / "faceset.json").is_file()]
    if missing:
        raise FacesetError(f"the run's faceset {which.upper()} ({missing[0]}) is not here")
    bank = load_facesets(find_facesets(folders), resolution, resize=resize)
    _, held = holdout_split(len(bank), run_config["holdout"], run_config["seed"])
    where = folders[0] if len(folders) == 1 else f"its {len(folders)} facesets"
    return bank.subset(held), f"{len(held)} faces the run held out of {where}"


def reconstruction_scores(ckpt: dict, heldout_a: str | Path | None = None) -> dict:
    """A->A and B->B PSNR (dB) and SSIM of a loaded checkpoint on held-out faces, with where the faces came from.

    Raises FacesetError when a faceset the scores need is missing.
    """
    cfg = ckpt["config"]
    resolution = int(cfg["resolution"])
    resize = run_crop_resize(cfg)  # the faces at the training resolution as the run made them
    if heldout_a is not None:
        faceset = Faceset.load(heldout_a)
        held_a, from_a = load_bank(faceset, resolution, resize=resize), f"all {len(faceset)} faces of {faceset.root}"
    else:
        held_a, from_a = _run_heldout(cfg, "a", resolution, resize)
    held_b, from_b = _run_heldout(cfg, "b", resolution, resize)
    model = build_model_from_checkpoint(ckpt)
    scores = evaluate(model, held_a, held_b, LossConfig(**cfg.get("loss", {})), torch.device("cpu"))
    return {"a2a_psnr": scores["a2a_psnr"], "a2a_ssim": scores["a2a_ssim"], "b2b_psnr": scores["b2b_psnr"],
            "b2b_ssim": scores["b2b_ssim"], "faces_a": len(held_a), "faces_b": len(held_b),
            "from_a": from_a, "from_b": from_b, "steps": int(ckpt["step"])}
