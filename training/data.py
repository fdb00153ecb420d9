"""Training data: both facesets in memory at the training resolution, split into train and held-out
faces, and served as augmented batch pairs (A and B) by DataLoader worker processes.

Batch `step` is drawn from a generator seeded by (seed, rank, step) alone, so the data a run sees
does not depend on worker count, prefetching or where a resumed run restarted.
"""
from __future__ import annotations

import itertools
import signal
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from faces import hull_mask
from faces.cli import progress_bar
from faces.tensors import crops_to_tensor, fit_crop, masks_to_tensor
from training.augment import AugmentConfig, augment_face
from training.faceset import Faceset, FacesetError

EYES_AND_MOUTH = (slice(36, 42), slice(42, 48), slice(48, 60))  # right eye, left eye, outer lips


@dataclass
class FaceBank:
    """One faceset at training resolution: BGR crops (N, R, R, 3) and aux maps (N, R, R, 2) as uint8.

    aux[..., 0] is the loss mask (the landmark hull, feathered); aux[..., 1] marks eyes and mouth.
    """

    images: np.ndarray
    aux: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx: np.ndarray) -> "FaceBank":
        """The faces at `idx` as a new bank."""
        return FaceBank(self.images[idx], self.aux[idx])


def face_aux(landmarks: np.ndarray, size: int, coverage: str) -> np.ndarray:
    """uint8 (size, size, 2): the feathered face hull and the eye + mouth regions, from 68 crop landmarks."""
    mask = hull_mask(landmarks, size, coverage, feather=max(1, size // 32))
    features = np.zeros((size, size), np.uint8)
    for part in EYES_AND_MOUTH:
        hull = cv2.convexHull(np.round(landmarks[part]).astype(np.int32))
        cv2.fillConvexPoly(features, hull, 255, lineType=cv2.LINE_AA)
    grow = max(1, size // 32)
    features = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    return np.dstack([np.round(mask * 255).astype(np.uint8), features])


def load_bank(faceset: Faceset, resolution: int, progress: bool = False) -> FaceBank:
    """Read every face of `faceset`, resized to `resolution`, with its aux maps (`progress`: show a bar)."""
    n, scale = len(faceset), resolution / faceset.size
    images = np.empty((n, resolution, resolution, 3), np.uint8)
    aux = np.empty((n, resolution, resolution, 2), np.uint8)
    faces = progress_bar(range(n), f"loading {faceset.root.name}", unit="face", leave=False) if progress else range(n)
    for i in faces:
        images[i] = fit_crop(faceset.read(i), resolution)
        aux[i] = face_aux(faceset.landmarks(i) * scale, resolution, faceset.coverage)
    return FaceBank(images, aux)


def holdout_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: `share` of n (at least one when n >= 2) held out, chosen by `seed`."""
    order = np.random.default_rng([seed, 7919]).permutation(n)
    held = 0 if n < 2 else max(1, int(round(share * n)))
    return np.sort(order[held:]), np.sort(order[:held])


def check_pair(a: Faceset, b: Faceset) -> None:
    """Raise FacesetError unless two facesets were cut alike (crop size, coverage, template)."""
    if a.size != b.size:
        raise FacesetError(f"facesets differ in crop size: {a.root} is {a.size} px, {b.root} is {b.size} px")
    if a.coverage != b.coverage:
        raise FacesetError(f"facesets differ in coverage: {a.root} is {a.coverage}, {b.root} is {b.coverage}")
    if a.template_id != b.template_id:
        raise FacesetError(f"facesets were aligned to different templates: {a.template_id!r} and {b.template_id!r}")


class PairBatches(Dataset):
    """Item `step` is one training batch: augmented A and B faces, drawn by a (seed, rank, step) generator.

    Each batch holds float32 NCHW tensors ready for the network: `a_input`, `a_target` (RGB in
    [0, 1]) and `a_aux` (hull mask, eyes + mouth in [0, 1]), and the same for B.
    """

    def __init__(self, bank_a: FaceBank, bank_b: FaceBank, batch_size: int, augment: AugmentConfig,
                 seed: int, rank: int = 0):
        # Shared-memory tensors reach worker processes as handles, not copies.
        self.banks = tuple((torch.from_numpy(b.images).share_memory_(), torch.from_numpy(b.aux).share_memory_())
                           for b in (bank_a, bank_b))
        self.batch_size, self.augment, self.seed, self.rank = batch_size, augment, seed, rank

    def __len__(self) -> int:
        return 2 ** 62  # indexed by step; the sampler decides where to stop

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.rank, step])
        batch = {}
        for name, (images, aux) in zip("ab", self.banks):
            images, aux = images.numpy(), aux.numpy()
            picks = rng.integers(0, len(images), size=self.batch_size)
            faces = [augment_face(rng, images[i], aux[i], self.augment) for i in picks]
            inputs, targets, masks = (np.stack([f[k] for f in faces]) for k in range(3))
            batch[f"{name}_input"] = torch.from_numpy(crops_to_tensor(inputs))
            batch[f"{name}_target"] = torch.from_numpy(crops_to_tensor(targets))
            batch[f"{name}_aux"] = torch.from_numpy(masks_to_tensor(masks))
        return batch


class StepSampler(Sampler):
    """Steps start, start + 1, ... up to `stop` (forever when stop is None)."""

    def __init__(self, start: int, stop: int | None):
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start, self.stop)) if self.stop is not None else itertools.count(self.start)


def _worker_init(_worker_id: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's to handle: it saves, then stops workers
    cv2.setNumThreads(1)


def batch_loader(batches: PairBatches, start: int, stop: int | None, workers: int,
                 pin_memory: bool = False) -> DataLoader:
    """A DataLoader yielding batches `start`, start + 1, ... from `workers` processes (0: in this process).

    Workers are spawned, not forked: a fork of a process running mediapipe's or OpenCV's threads can
    inherit a held lock and hang.
    """
    return DataLoader(batches, batch_size=None, sampler=StepSampler(start, stop), num_workers=workers,
                      worker_init_fn=_worker_init if workers else None, prefetch_factor=4 if workers else None,
                      multiprocessing_context="spawn" if workers else None, pin_memory=pin_memory)
