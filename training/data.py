"""Training data: facesets in memory at the training resolution, split into train and held-out faces, and
served as augmented batch pairs (A and B) by a DataLoader (in the trainer's process on a CPU, by worker
processes beside a GPU).

A side of a run is one faceset (a person) or a pool of many (`find_facesets` takes facesets and folders
of facesets). Faces are drawn by `sampling`:
- "uniform": every face alike; in a pool, a clip counts as at most POOL_CLIP_FACES photos, so a long
  video of one person does not crowd out thousands of one-photo people;
- "yaw": evenly over head yaw (YAW_BINS bins of a landmark yaw estimate), so the rare turned faces of
  a mostly frontal clip are seen as often as the frontal ones;
- "yaw-mouth": each band of mouth opening (MOUTH_EDGES: closed, half open, open) gets an equal share, spread
  within the band as "yaw" would, so a person who mostly keeps the mouth closed still shows the decoder their
  open mouths as often as the closed ones.

With a colour transfer (`TRAIN_COLOR_TRANSFERS` other than "none", DeepFaceLab's ct_mode), each B face is first
given the colours of a random A face inside both hulls, input and target alike: decoder B then learns B under the
light and skin tones of A's faces (of a whole pool's, for an any-face model), the codes the swap will feed it.

Batch `step` is drawn from a generator seeded by (seed, rank, step) alone, so the data a run sees
does not depend on worker count, prefetching or where a resumed run restarted.
"""
from __future__ import annotations

import itertools
import signal
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from faces import hull_mask, mouth_open
from faces.cli import progress_bar
from faces.color import apply_lab, rct_transform
from faces.tensors import fit_crop
from training.augment import AugmentConfig, augment_face, fine_face
from training.faceset import INDEX_NAME, Faceset, FacesetError

EYES_AND_MOUTH = (slice(36, 42), slice(42, 48), slice(48, 60))  # right eye, left eye, outer lips
SAMPLINGS = ("uniform", "yaw", "yaw-mouth")
CROP_RESIZES = ("area", "cubic")  # how faceset crops come to the training resolution (resized_crop); the first: default
TRAIN_COLOR_TRANSFERS = ("none", "rct")  # what B's faces take of A's colours (recolor)
POOL_CLIP_FACES = 32   # in a pool, the faces of one clip weigh together as much as this many photos
YAW_BINS = 12
MOUTH_EDGES = (0.05, 0.1)  # mouth_open bins: closed, half open, open (the bench pair's B: 75%, 15%, 10% of faces)
HELD_OUT_MAX = 256     # a pool holds out at most this many faces (scoring them runs at every checkpoint)


@dataclass
class FaceBank:
    """Faces at training resolution: BGR crops (N, R, R, 3) and aux maps (N, R, R, 2) as uint8, plus per face
    the source it came from (`groups`: one id per clip or photo), a yaw estimate (`yaw`, see `yaw_estimate`) and
    how open the mouth is (`mouth`, faces.mouth_open).

    aux[..., 0] is the loss mask (the landmark hull, feathered); aux[..., 1] marks eyes and mouth. `fine`, when
    loaded: the faces at twice the resolution (N, 2R, 2R, 3), prefiltered (`augment.fine_face`), that the targets
    are resampled from.
    """

    images: np.ndarray
    aux: np.ndarray
    groups: np.ndarray | None = None  # None: all faces from one source
    yaw: np.ndarray | None = None     # None: all frontal
    mouth: np.ndarray | None = None   # None: all closed
    fine: np.ndarray | None = None    # None: targets are resampled from `images`

    def __post_init__(self):
        if self.groups is None:
            self.groups = np.zeros(len(self.images), np.int64)
        if self.yaw is None:
            self.yaw = np.zeros(len(self.images), np.float32)
        if self.mouth is None:
            self.mouth = np.zeros(len(self.images), np.float32)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx: np.ndarray) -> "FaceBank":
        """The faces at `idx` as a new bank."""
        return FaceBank(*(None if getattr(self, f.name) is None else getattr(self, f.name)[idx] for f in fields(self)))

    @classmethod
    def concat(cls, banks: list["FaceBank"]) -> "FaceBank":
        """One bank of all the faces of `banks`, in order."""
        parts = [[getattr(b, f.name) for b in banks] for f in fields(cls)]
        return cls(*(None if any(p is None for p in part) else np.concatenate(part) for part in parts))


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


def yaw_estimate(landmarks: np.ndarray) -> float:
    """Head yaw from 68 landmarks, about -0.5 (turned to the image's left) to 0.5: where the nose tip (30) sits
    between the jaw's ends (0 and 16), 0 when frontal. Cheap and monotonic; not degrees."""
    left, right, nose = landmarks[0, 0], landmarks[16, 0], landmarks[30, 0]
    return float((nose - (left + right) / 2) / max(abs(right - left), 1e-6))


def resized_crop(crop: np.ndarray, resolution: int, resize: str = "area") -> np.ndarray:
    """A faceset crop at the training resolution: `resize` 'area' (averaged down: `fit_crop`) or 'cubic' (bicubic
    either way, without a prefilter, as the live loop's bicubic warp makes its crops from a frame)."""
    if resize not in CROP_RESIZES:
        raise ValueError(f"unknown crop resize {resize!r}; choose from {', '.join(CROP_RESIZES)}")
    if resize == "area" or crop.shape[0] == resolution:
        return fit_crop(crop, resolution)
    return cv2.resize(crop, (resolution, resolution), interpolation=cv2.INTER_CUBIC)


def run_crop_resize(run_config: dict | None) -> str:
    """How a run (its stored config; None: no run at hand) brought its faceset crops to its resolution: runs from
    before `--crop-resize` existed, like every run's default, averaged them down."""
    return (run_config or {}).get("crop_resize", CROP_RESIZES[0])


def load_bank(faceset: Faceset, resolution: int, progress: bool = False, group_base: int = 0,
              fine: bool = False, resize: str = "area") -> FaceBank:
    """Read every face of `faceset`, resized to `resolution` (`resize`: see `resized_crop`), with its aux maps
    (`progress`: show a bar).

    Faces get group ids from `group_base` up, one per source file (a clip, or a photo). `fine`: keep each face at
    twice the resolution as well, for the targets, where the faceset's crops are that big."""
    n, scale = len(faceset), resolution / faceset.size
    fine = fine and faceset.size >= 2 * resolution
    fine_images = np.empty((n, 2 * resolution, 2 * resolution, 3), np.uint8) if fine else None
    images = np.empty((n, resolution, resolution, 3), np.uint8)
    aux = np.empty((n, resolution, resolution, 2), np.uint8)
    sources: dict[str, int] = {}
    groups, yaw, mouth = np.empty(n, np.int64), np.empty(n, np.float32), np.empty(n, np.float32)
    faces = progress_bar(range(n), f"loading {faceset.root.name}", unit="face", leave=False) if progress else range(n)
    for i in faces:
        crop = faceset.read(i)
        images[i] = resized_crop(crop, resolution, resize)
        if fine_images is not None:
            fine_images[i] = fine_face(fit_crop(crop, 2 * resolution))
        landmarks = faceset.landmarks(i)
        aux[i] = face_aux(landmarks * scale, resolution, faceset.coverage)
        groups[i] = group_base + sources.setdefault(faceset.entries[i]["source"], len(sources))
        yaw[i] = yaw_estimate(landmarks)
        mouth[i] = mouth_open(landmarks)
    return FaceBank(images, aux, groups, yaw, mouth, fine_images)


def find_facesets(paths: list[str | Path]) -> list[Faceset]:
    """The facesets that `paths` name: each a faceset, or a folder whose sub-folders are facesets (a pool).

    Raises FacesetError (one line) when a path holds no faceset, or the facesets were cut differently.
    """
    found = []
    for path in paths:
        root = Path(path).expanduser().resolve()
        if (root / INDEX_NAME).is_file() or not root.is_dir():
            found.append(Faceset.load(root))
            continue
        subs = sorted(p for p in root.iterdir() if (p / INDEX_NAME).is_file())
        if not subs:
            raise FacesetError(f"{root} is neither a faceset nor a folder of facesets (no {INDEX_NAME} in it "
                               f"or its sub-folders)")
        found += [Faceset.load(p) for p in subs]
    if not found:
        raise FacesetError("the pool is empty: give at least one faceset")
    for other in found[1:]:
        check_alike(found[0], other)
    return found


def load_facesets(facesets: list[Faceset], resolution: int, progress: bool = False, fine: bool = False,
                  resize: str = "area") -> FaceBank:
    """All faces of `facesets` in one bank (groups numbered across them; `fine`, `resize`: see `load_bank`)."""
    banks, base = [], 0
    many = progress and len(facesets) > 1
    items = progress_bar(facesets, "loading facesets", unit="faceset", leave=False) if many else facesets
    for faceset in items:
        banks.append(load_bank(faceset, resolution, progress and not many, base, fine, resize))
        base = int(banks[-1].groups.max()) + 1
    return FaceBank.concat(banks)


def sampling_weights(bank: FaceBank, sampling: str) -> np.ndarray | None:
    """Each face's probability of being drawn (None: all alike), for `sampling` one of SAMPLINGS."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; choose from {', '.join(SAMPLINGS)}")
    if sampling in ("yaw", "yaw-mouth"):
        bins = np.clip(((bank.yaw + 0.5) * YAW_BINS).astype(int), 0, YAW_BINS - 1)
        weights = 1.0 / np.bincount(bins, minlength=YAW_BINS)[bins]
        if sampling == "yaw-mouth":  # then every mouth bin gets an equal share, each shared out as yaw says
            bins = np.digitize(bank.mouth, MOUTH_EDGES)
            weights = weights / np.bincount(bins, weights, minlength=len(MOUTH_EDGES) + 1)[bins]
    else:
        sizes = Counter(bank.groups.tolist())
        if len(sizes) == 1:
            return None
        per_group = np.array([min(n, POOL_CLIP_FACES) / n for n in (sizes[g] for g in bank.groups.tolist())])
        weights = per_group
    return weights / weights.sum()


def holdout_split(n: int, share: float, seed: int, most: int = HELD_OUT_MAX) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: `share` of n (at least one when n >= 2, at most `most`) held out, chosen by `seed`."""
    order = np.random.default_rng([seed, 7919]).permutation(n)
    held = 0 if n < 2 else min(max(1, int(round(share * n))), most)
    return np.sort(order[held:]), np.sort(order[:held])


def check_alike(a: Faceset, b: Faceset) -> None:
    """Raise FacesetError unless two facesets were cut alike (crop size, coverage, template)."""
    if a.size != b.size:
        raise FacesetError(f"facesets differ in crop size: {a.root} is {a.size} px, {b.root} is {b.size} px")
    if a.coverage != b.coverage:
        raise FacesetError(f"facesets differ in coverage: {a.root} is {a.coverage}, {b.root} is {b.coverage}")
    if a.template_id != b.template_id:
        raise FacesetError(f"facesets were aligned to different templates: {a.template_id!r} and {b.template_id!r}")


def recolor(image: np.ndarray, fine: np.ndarray | None, region: np.ndarray, reference: np.ndarray,
            reference_region: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """`image` (and its 2x `fine` copy, alike) with `reference`'s colours (Reinhard, Lab) inside both hull masks
    (uint8, same crop): the two faces are aligned to one template, so their hulls nearly coincide."""
    transform = rct_transform(image, reference, np.minimum(region, reference_region) * np.float32(1 / 255))
    return apply_lab(image, transform), None if fine is None else apply_lab(fine, transform)


class PairBatches(Dataset):
    """Item `step` is one training batch: augmented A and B faces, drawn by a (seed, rank, step) generator.

    Each batch holds float32 NCHW tensors (channels_last in memory, as the trainer's networks take them) ready for
    the network: `a_input`, `a_target` (RGB in [0, 1]) and `a_aux` (hull mask, eyes + mouth in [0, 1]), and the
    same for B, `batch_size` faces of each (or a pair: A's count, B's count). Faces are drawn with `weights_a` /
    `weights_b` (None: uniformly); with `color_transfer` "rct" each B face first takes the colours of an A face
    drawn uniformly (`recolor`).
    """

    def __init__(self, bank_a: FaceBank, bank_b: FaceBank, batch_size: int | tuple[int, int],
                 augment: AugmentConfig, seed: int, rank: int = 0, weights_a: np.ndarray | None = None,
                 weights_b: np.ndarray | None = None, color_transfer: str = "none"):
        if color_transfer not in TRAIN_COLOR_TRANSFERS:
            raise ValueError(f"unknown colour transfer {color_transfer!r}; "
                             f"choose from {', '.join(TRAIN_COLOR_TRANSFERS)}")
        # Shared-memory tensors reach worker processes as handles, not copies.
        self.banks = tuple(tuple(None if x is None else torch.from_numpy(x).share_memory_()
                                 for x in (b.images, b.aux, b.fine)) for b in (bank_a, bank_b))
        self.weights = (weights_a, weights_b)
        self.sizes = (batch_size, batch_size) if isinstance(batch_size, int) else tuple(batch_size)
        self.augment, self.seed, self.rank = augment, seed, rank
        self.color_transfer = color_transfer

    def __len__(self) -> int:
        return 2 ** 62  # indexed by step; the sampler decides where to stop

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.rank, step])
        batch = {}
        a_images, a_aux = self.banks[0][0].numpy(), self.banks[0][1].numpy()  # B's colour references
        for name, (images, aux, fine), weights, size in zip("ab", self.banks, self.weights, self.sizes):
            images, aux, fine = images.numpy(), aux.numpy(), None if fine is None else fine.numpy()
            if weights is None:
                picks = rng.integers(0, len(images), size=size)
            else:
                picks = rng.choice(len(images), size=size, p=weights)
            faces = []
            for i in picks:
                image, fine_i = images[i], None if fine is None else fine[i]
                if name == "b" and self.color_transfer != "none":
                    j = rng.integers(0, len(a_images))
                    image, fine_i = recolor(image, fine_i, aux[i][..., 0], a_images[j], a_aux[j][..., 0])
                faces.append(augment_face(rng, image, aux[i], self.augment, rgb=True, fine=fine_i))
            inputs, targets, masks = (np.stack([f[k] for f in faces]) for k in range(3))
            for key, pixels in (("input", inputs), ("target", targets), ("aux", masks)):
                batch[f"{name}_{key}"] = _channels_last(pixels)
        return batch


def _channels_last(nhwc: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) as the float (N, C, H, W) tensor in [0, 1] the trainer takes, in channels_last memory
    order: neither the batch's maker nor the trainer transposes a pixel."""
    return torch.from_numpy(np.multiply(nhwc, np.float32(1.0 / 255.0), dtype=np.float32)).permute(0, 3, 1, 2)


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
