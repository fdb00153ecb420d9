"""The training configuration: every setting of a run in one dataclass, stored whole in each checkpoint.

`new_run_config` builds it for a fresh run from a preset and the facesets; `resumed_config`
takes a checkpoint's config and applies only the settings a user may change mid-run (length,
warp, learning rate, batch size, logging), refusing changes that would not fit the saved weights.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from training.augment import AugmentConfig
from training.checkpoint import CheckpointError
from training.data import check_pair
from training.faceset import Faceset, FacesetError
from training.losses import LossConfig
from training.model import PRESETS, ModelConfig, SwapModel, scale_config


class TrainError(ValueError):
    """A training request that cannot be carried out; the message is one line for the user."""


@dataclass
class TrainConfig:
    """Everything a run depends on."""

    faceset_a: str
    faceset_b: str
    identities: list[str]
    preset: str
    model_config: dict
    coverage: str
    template_id: str
    resolution: int
    batch_size: int = 16          # faces per identity per step (per process under torchrun)
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    steps: int | None = None      # stop at this total step count
    minutes: float | None = None  # or after this many minutes of this invocation
    warp: bool = True
    seed: int = 0
    workers: int | None = None    # data loader processes per training process; None: 1 on CPU, more on a GPU
    threads: int = 0              # torch threads; 0: this machine's CPUs shared among its training processes
    device: str = "auto"
    save_every: int = 250
    preview_every: int = 100
    log_every: int = 10
    holdout: float = 0.05
    loss: dict = field(default_factory=lambda: asdict(LossConfig()))
    augment: dict = field(default_factory=lambda: asdict(AugmentConfig()))

    def to_dict(self) -> dict:
        """Plain-JSON form, as stored in checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of to_dict; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# AdamW learning rate per preset: the small fast network learns quickest near the top of the usual
# deepfakes range (a CPU run has few steps); the big quality network wants the classic 5e-5.
PRESET_LR = {"fast": 2e-4, "quality": 5e-5}

# Settings a resumed run may change; everything else comes from the checkpoint.
RESUMABLE = ("steps", "minutes", "warp", "lr", "weight_decay", "batch_size", "workers", "threads", "device",
             "save_every", "preview_every", "log_every")


def model_config_for(preset: str, width: float = 1.0, resolution: int | None = None) -> ModelConfig:
    """The network of a preset, optionally narrower/wider (`width`) or at another resolution; checks it builds."""
    if preset not in PRESETS:
        raise TrainError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    cfg = scale_config(PRESETS[preset], width, resolution)
    try:
        SwapModel(cfg)
    except ValueError as exc:
        raise TrainError(f"preset {preset} cannot run at resolution {cfg.resolution}: {exc}") from None
    return cfg


def load_pair(path_a: str | Path, path_b: str | Path) -> tuple[Faceset, Faceset]:
    """Both facesets, checked to be non-empty and cut alike (FacesetError otherwise)."""
    a, b = Faceset.load(path_a), Faceset.load(path_b)
    check_pair(a, b)
    return a, b


def new_run_config(faceset_a: str | Path, faceset_b: str | Path, preset: str = "fast", width: float = 1.0,
                   resolution: int | None = None, names: tuple[str | None, str | None] = (None, None),
                   **settings) -> TrainConfig:
    """Config for a fresh run; identities default to the faceset folder names."""
    a, b = load_pair(faceset_a, faceset_b)
    model_cfg = model_config_for(preset, width, resolution)
    identities = [names[0] or a.root.name, names[1] or b.root.name]
    settings.setdefault("lr", PRESET_LR.get(preset, TrainConfig.lr))
    return TrainConfig(faceset_a=str(a.root), faceset_b=str(b.root), identities=identities, preset=preset,
                       model_config=model_cfg.to_dict(), coverage=a.coverage, template_id=a.template_id,
                       resolution=model_cfg.resolution, **settings)


def resumed_config(ckpt: dict, source: str, preset: str | None = None, faceset_a: str | None = None,
                   faceset_b: str | None = None, model_config: ModelConfig | None = None,
                   **changes) -> TrainConfig:
    """The checkpoint's config with `changes` (only RESUMABLE keys) applied; refuses a different network."""
    cfg = TrainConfig.from_dict(ckpt["config"])
    if preset is not None and preset != ckpt["preset"]:
        raise CheckpointError(f"{source} was trained with preset {ckpt['preset']!r}, not {preset!r}")
    if model_config is not None and model_config.to_dict() != ckpt["model_config"]:
        raise CheckpointError(f"{source} holds a different network than the one asked for "
                              f"(--width/--resolution must match the run)")
    bad = sorted(set(changes) - set(RESUMABLE))
    if bad:
        raise TrainError(f"cannot change {', '.join(bad)} when resuming")
    if faceset_a or faceset_b:
        a, b = load_pair(faceset_a or cfg.faceset_a, faceset_b or cfg.faceset_b)
        if a.coverage != cfg.coverage:
            raise FacesetError(f"the facesets are {a.coverage} crops, but {source} was trained on {cfg.coverage}")
        cfg.faceset_a, cfg.faceset_b = str(a.root), str(b.root)
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg
