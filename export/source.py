"""What an export starts from: a trained checkpoint's network, and real aligned faces to check it on.

`load_source` turns a checkpoint (a run folder, a checkpoint file, or an already loaded dict) into
a `SwapSource`: the SwapModel in eval mode plus the facts the model contract needs (identities,
coverage, template, preset, steps, the facesets it was trained on). `faceset_faces` reads crops
from a faceset as the network's input, refusing a faceset aligned differently from the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from export.contract import ContractError, ModelContract
from faces import TEMPLATE_ID
from faces.tensors import crops_to_tensor, fit_crop
from training.checkpoint import CheckpointError, build_model_from_checkpoint, load_checkpoint
from training.faceset import Faceset, FacesetError
from training.model import SwapModel

# direction -> (index of the source person in `identities`, config key of the source person's facesets)
DIRECTIONS = {"a2b": (0, "facesets_a"), "b2a": (1, "facesets_b")}


class ExportError(ValueError):
    """An export that cannot be made or failed its checks; the message is one line for the user."""


@dataclass(frozen=True)
class SwapSource:
    """A trained network and the training facts that go into the model contract."""

    model: SwapModel
    preset: str
    steps: int
    identities: tuple[str, str]  # (person A, person B)
    coverage: str
    template_id: str
    facesets: dict[str, str]     # config key ('facesets_a', 'facesets_b') -> the first faceset's folder, where recorded
    pool: dict                   # what the run recorded of a pool on the A side ({} for one person)

    @property
    def resolution(self) -> int:
        """Side of the square crop the network takes and returns, in pixels."""
        return self.model.config.resolution

    def path_identities(self, direction: str) -> tuple[str, str]:
        """(source person, target person) of the swap path `direction`."""
        first = DIRECTIONS[check_direction(direction)][0]
        return self.identities[first], self.identities[1 - first]

    def contract(self, direction: str = "a2b", precision: str = "fp32", batch: str = "static",
                 **extra) -> ModelContract:
        """The model contract of this network's `direction` path stored in `precision` (ExportError if invalid).

        The one place a contract is built: the ONNX export and the live PyTorch backend both call it.
        """
        if self.pool and direction == "a2b":  # an any-face model: who it was trained to take
            extra = {"pool": self.pool, **extra}
        contract = ModelContract(resolution=self.resolution, coverage=self.coverage, template_id=self.template_id,
                                 identities=self.path_identities(direction), direction=direction, batch=batch,
                                 precision=precision, steps=self.steps, preset=self.preset,
                                 extra={"model_config": self.model.config.to_dict(), **extra})
        try:
            contract.validate()
        except ContractError as exc:
            raise ExportError(str(exc)) from None
        return contract

    def source_faceset(self, direction: str) -> str | None:
        """The faceset of the person fed into the `direction` path, if the checkpoint records one."""
        return self.facesets.get(DIRECTIONS[check_direction(direction)][1])


def check_direction(direction: str) -> str:
    """`direction` itself if it names a swap path, else ExportError."""
    if direction not in DIRECTIONS:
        raise ExportError(f"unknown direction {direction!r}; choose {' or '.join(DIRECTIONS)}")
    return direction


def load_source(checkpoint: str | Path | dict) -> SwapSource:
    """The network and training facts of a checkpoint (run folder, file, or loaded dict), or ExportError."""
    try:
        ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
        model = build_model_from_checkpoint(ckpt)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    config = ckpt.get("config")
    if not isinstance(config, dict):
        raise ExportError("checkpoint has no training config")
    missing = [k for k in ("identities", "coverage", "template_id") if k not in config]
    if missing:
        raise ExportError(f"checkpoint config lacks {', '.join(missing)}")
    identities = tuple(str(name) for name in config["identities"])
    if len(identities) != 2:
        raise ExportError(f"checkpoint names {len(identities)} identities, not 2")
    if config["template_id"] != TEMPLATE_ID:
        raise ExportError(f"checkpoint was trained on alignment template {config['template_id']!r}; "
                          f"this swapcam aligns with {TEMPLATE_ID}")
    facesets = {key: str(config[key][0]) for _, key in DIRECTIONS.values() if config.get(key)}
    return SwapSource(model=model, preset=str(ckpt.get("preset", "")), steps=int(ckpt.get("step", 0)),
                      identities=identities, coverage=str(config["coverage"]),
                      template_id=str(config["template_id"]), facesets=facesets, pool=dict(config.get("pool") or {}))


def open_faceset(folder: str | Path, source: SwapSource) -> Faceset:
    """The faceset in `folder`, checked to be aligned the way `source` was trained, or ExportError."""
    try:
        faceset = Faceset.load(folder)
    except FacesetError as exc:
        raise ExportError(str(exc)) from None
    if faceset.coverage != source.coverage:
        raise ExportError(f"faceset {faceset.root} holds {faceset.coverage} crops; the model was trained on "
                          f"{source.coverage} crops")
    if faceset.template_id != source.template_id:
        raise ExportError(f"faceset {faceset.root} was aligned with template {faceset.template_id!r}; the model "
                          f"uses {source.template_id!r}")
    return faceset


def faceset_faces(faceset: Faceset, indices, resolution: int) -> np.ndarray:
    """Faces `indices` of `faceset` as network input: float32 (N, 3, R, R), RGB in [0, 1]."""
    try:
        crops = np.stack([fit_crop(faceset.read(int(i)), resolution) for i in indices])
    except FacesetError as exc:
        raise ExportError(str(exc)) from None
    return crops_to_tensor(crops)


def random_faces(count: int, resolution: int, seed: int = 0) -> np.ndarray:
    """Smooth random images as float32 (N, 3, R, R) in [0, 1]: the fallback when no faceset is at hand."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((count, 3, 8, 8), dtype=np.float32)
    smooth = np.stack([np.stack([cv2.resize(c, (resolution, resolution), interpolation=cv2.INTER_CUBIC) for c in img])
                       for img in coarse])
    noise = rng.normal(0.0, 0.05, smooth.shape).astype(np.float32)
    return np.clip(smooth + noise, 0.0, 1.0)
