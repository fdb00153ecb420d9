"""The one split of the shared data by person, used by the quality bench, the pool builder and the tests.

- The bench pair, A = pc-avs 00104 and B = pc-avs 00098, is never in a pool.
- UNSEEN people are kept out of every pool: an any-face model is evaluated on them.
- The pool (POOL_CLIPS and POOL_PHOTOS) is everyone else: the other clips, and the pretraining photos
  (CelebA identities, UTKFace, All-Age-Faces). CelebA shows celebrities and the pc-avs clips come
  from VoxCeleb, so a CelebA identity may be a bench or unseen person: `evaluation.pool` drops every
  CelebA identity whose mean face embedding lies within SAME_PERSON of one of theirs.
Clips are named by their path under videos/, without the suffix.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CLIP_A = "pc-avs/00104"
CLIP_B = "pc-avs/00098"
UNSEEN = ("pc-avs/00473", "pc-avs/620900105", "liveportrait/d10", "tpsmm/driving", "video-retalking/1")
POOL_CLIPS = ("pc-avs/00015", "pc-avs/00086", "pc-avs/517600055", "pc-avs/681100216", "pc-avs/796100172",
              "liveportrait/d0", "liveportrait/d3", "liveportrait/d6", "liveportrait/d18", "liveportrait/d20",
              "liveportrait/s18", "liveportrait/s32", "video-retalking/2", "video-retalking/4")
POOL_PHOTOS = ("pretrain/celeba", "pretrain/utkface", "pretrain/aaf")
KEPT_OUT = (CLIP_A, CLIP_B, *UNSEEN)  # the people no pool may hold
SAME_PERSON = 0.5  # dlib embedding distance under which a CelebA identity counts as a kept-out person


def default_data_dir() -> Path:
    """The shared data folder: $SWAPCAM_SHARED/data, else ../shared/data beside the repository."""
    return Path(os.environ.get("SWAPCAM_SHARED", REPO.parent / "shared")).expanduser().resolve() / "data"


def use_shared_landmarker(data: Path) -> None:
    """Where no face_landmarker.task is configured, take the shared data's (models/ beside data/), so that the
    pool and the bench find faces with mediapipe, as the tests do, and never fall back to dlib unnoticed."""
    from faces.model_files import FACE_LANDMARKER
    shared = data.parent / "models" / FACE_LANDMARKER.name
    if shared.is_file() and not os.environ.get(FACE_LANDMARKER.env_var):
        os.environ[FACE_LANDMARKER.env_var] = str(shared)  # the training and evaluation processes inherit it


def clip_path(data: Path, clip: str) -> Path:
    """The video file of `clip` ('pc-avs/00104') in the shared data folder `data`."""
    return data / "videos" / f"{clip}.mp4"


def faceset_name(clip: str) -> str:
    """The faceset folder name for a clip: 'pc-avs/00104' -> 'pcavs_00104'."""
    folder, stem = clip.split("/")
    return f"{folder.replace('-', '')}_{stem}"


def kept_out_sources(sources: set[str]) -> list[str]:
    """Which of these faceset source paths are videos of kept-out people (the bench pair or an unseen person)."""
    files = {f"{clip}.mp4" for clip in KEPT_OUT}
    return sorted(s for s in sources if "/".join(Path(s).parts[-2:]) in files)
