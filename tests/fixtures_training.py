"""Session fixtures made by training/: real facesets extracted from the pc-avs clips, a tiny trained checkpoint.

- `faceset_a`, `faceset_b`: Path of a faceset extracted (256 px, whole_face, every frame) from
  videos/pc-avs/00104.mp4 (A, 298 frames) and 00098.mp4 (B, 246 frames).
- `tiny_training`: (run_dir, TrainResult) of a short CPU run on them: 64 px, a quarter of the
  `fast` widths, 100 steps, about 10 s on one core. It need not look good.
- `tiny_checkpoint`: that run folder (holds checkpoint.pt, preview.png, logs/); identities
  'pcavs_00104' and 'pcavs_00098', coverage whole_face, resolution 64.
"""
from __future__ import annotations

from pathlib import Path

import pytest

# The toy recipe the evaluation tests' thresholds were set on: uniform sampling and no GAN phase, whatever a pair's
# defaults are.
TINY_RUN = dict(preset="fast", width=0.25, resolution=64, batch_size=8, lr=5e-4, warmup_steps=10, steps=100,
                sampling="uniform", gan=0.0, color_transfer="none", save_every=1000, preview_every=1000, log_every=1,
                threads=1, workers=1)


def _extract(data_dir: Path, tmp_path_factory, clip: str) -> Path:
    from training.extract import extract

    out = tmp_path_factory.mktemp("facesets") / f"pcavs_{clip}"
    extract(data_dir / "videos" / "pc-avs" / f"{clip}.mp4", out, size=256, coverage="whole_face")
    return out


@pytest.fixture(scope="session")
def faceset_a(data_dir, tmp_path_factory) -> Path:
    """Faceset of person A (pc-avs 00104), every frame."""
    return _extract(data_dir, tmp_path_factory, "00104")


@pytest.fixture(scope="session")
def faceset_b(data_dir, tmp_path_factory) -> Path:
    """Faceset of person B (pc-avs 00098), every frame."""
    return _extract(data_dir, tmp_path_factory, "00098")


@pytest.fixture(scope="session")
def tiny_training(faceset_a, faceset_b, tmp_path_factory):
    """(run_dir, TrainResult) of a 100-step CPU run at 64 px and a quarter width."""
    from training.config import new_run_config
    from training.trainer import train

    settings = dict(TINY_RUN)
    cfg = new_run_config(faceset_a, faceset_b, settings.pop("preset"), settings.pop("width"),
                         settings.pop("resolution"), **settings)
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    return run_dir, train(cfg, run_dir)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_training) -> Path:
    """Run folder of the tiny training (checkpoint.pt inside); load it with training.checkpoint.load_checkpoint."""
    return tiny_training[0]


@pytest.fixture(scope="session")
def pool_dir(data_dir, tmp_path_factory) -> Path:
    """A small pool made by `extract_each`: a folder of facesets, one per clip (the first three pool clips of
    evaluation/split.py, every 10th frame) and one per photo folder (two dlib-johns people)."""
    from evaluation.split import POOL_CLIPS, clip_path, faceset_name
    from training.extract import extract_each

    media = tmp_path_factory.mktemp("pool_media")
    for clip in POOL_CLIPS[:3]:
        (media / f"{faceset_name(clip)}.mp4").symlink_to(clip_path(data_dir, clip))
    for person in ("John_Salley", "John_Savage"):
        (media / person).symlink_to(data_dir / "images" / "dlib-johns" / person, target_is_directory=True)
    out = tmp_path_factory.mktemp("pool") / "pool"
    extract_each(media, out, size=256, coverage="whole_face", every=10)
    return out


@pytest.fixture(scope="session")
def tiny_pretrain(pool_dir, tmp_path_factory):
    """(run_dir, TrainResult) of a 40-step pretraining on `pool_dir` at 64 px and a quarter width (a few seconds)."""
    from training.config import new_run_config
    from training.trainer import train

    settings = dict(TINY_RUN, steps=40)
    cfg = new_run_config([pool_dir], [pool_dir], settings.pop("preset"), settings.pop("width"),
                         settings.pop("resolution"), names=("pool", "pool"), pretrain=True, **settings)
    run_dir = tmp_path_factory.mktemp("runs") / "pretrain"
    return run_dir, train(cfg, run_dir)
