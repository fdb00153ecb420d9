"""Watching a run: held-out reconstruction scores, the preview grid and the TensorBoard log."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from faces.fileio import atomic_write_bytes
from faces.tensors import crops_to_tensor, crops_to_uint8, masks_to_tensor, tensor_to_crops
from training.data import FaceBank
from training.losses import LossConfig, face_loss, masked_psnr, masked_ssim
from training.model import SwapModel

PREVIEW_FACES = 4
EVAL_BATCH = 32


@torch.no_grad()
def evaluate(model: SwapModel, held_a: FaceBank, held_b: FaceBank, loss_cfg: LossConfig,
             device: torch.device) -> dict[str, float]:
    """A->A and B->B reconstruction of unaugmented held-out faces: loss, PSNR and SSIM inside the face mask."""
    was_training = model.training
    model.eval()
    scores = {}
    for name, bank in (("a", held_a), ("b", held_b)):
        sums, n = {"loss": 0.0, "psnr": 0.0, "ssim": 0.0}, 0
        for start in range(0, len(bank), EVAL_BATCH):
            x = torch.from_numpy(crops_to_tensor(bank.images[start:start + EVAL_BATCH])).to(device)
            aux = torch.from_numpy(masks_to_tensor(bank.aux[start:start + EVAL_BATCH])).to(device)
            face, mask = model(x, name)
            face, mask = face.float(), mask.float()
            k = len(x)
            sums["loss"] += face_loss(face, mask, x, aux, loss_cfg)["total"].item() * k
            sums["psnr"] += masked_psnr(face, x, aux[:, :1]).sum().item()
            sums["ssim"] += masked_ssim(face, x, aux[:, :1]).sum().item()
            n += k
        for key, total in sums.items():
            scores[f"{name}2{name}_{key}"] = total / max(n, 1)
    model.train(was_training)
    return scores


@torch.no_grad()
def preview_grid(model: SwapModel, faces_a: np.ndarray, faces_b: np.ndarray, device: torch.device) -> np.ndarray:
    """uint8 BGR grid, two rows: A, A->A, A->B for each A face, then B, B->B, B->A for each B face (BGR crops in)."""
    was_training = model.training
    model.eval()
    rows, k = [], min(len(faces_a), len(faces_b))  # both rows as long
    for faces, own, other in ((faces_a[:k], "a", "b"), (faces_b[:k], "b", "a")):
        x = torch.from_numpy(crops_to_tensor(faces)).to(device)
        same, swapped = model(x, own)[0], model(x, other)[0]
        tiles = torch.stack([x, same.float(), swapped.float()], 1).flatten(0, 1)  # (3k, 3, R, R)
        rows.append(torch.cat(list(tiles), dim=2))  # (3, R, 3k * R)
    model.train(was_training)
    grid = torch.cat(rows, dim=1)[None].cpu().numpy()  # (1, 3, 2R, 3k * R) RGB
    return crops_to_uint8(tensor_to_crops(grid, grid[:, :1])[0])[0]


def write_png(path: Path, bgr: np.ndarray) -> None:
    """Save a BGR uint8 image as PNG atomically."""
    ok, data = cv2.imencode(".png", bgr)
    if ok:
        atomic_write_bytes(path, data.tobytes())


class TrainLog:
    """TensorBoard scalars and images under run_dir/logs; events after `start_step` from an older run are dropped."""

    def __init__(self, run_dir: Path, start_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / "logs"), purge_step=start_step if start_step else None)

    def scalars(self, step: int, values: dict[str, float], prefix: str) -> None:
        """Log each value as `prefix/name` at `step`."""
        for key, value in values.items():
            self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def image(self, step: int, name: str, bgr: np.ndarray) -> None:
        """Log a BGR uint8 image."""
        self.writer.add_image(name, bgr[..., ::-1].copy(), step, dataformats="HWC")

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
