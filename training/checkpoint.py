"""Training checkpoints: one `checkpoint.pt` per run folder, written atomically, read with weights_only.

A checkpoint is a plain dict that `torch.load(..., weights_only=True)` can read:

    format        "swapcam-checkpoint-2"
    preset        the preset name the run started from ("fast", "quality", ...)
    model_config  ModelConfig.to_dict()
    model         the SwapModel state_dict (never wrapped in DistributedDataParallel)
    optimizer     the AdamW state_dict
    step          training steps done
    rng           torch / numpy / python RNG states, as tensors and tuples
    config        the full training config (training/config.py): facesets_a, facesets_b (absolute
                  paths), identities, coverage, template_id, resolution, batch size, learning rate, ...

Saving writes a temp file in the run folder, fsyncs it and renames it over `checkpoint.pt`, so a
process killed at any moment leaves the previous checkpoint whole.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from training.model import ModelConfig, SwapModel

FORMAT = "swapcam-checkpoint-2"
FILE_NAME = "checkpoint.pt"
REQUIRED_KEYS = ("format", "preset", "model_config", "model", "optimizer", "step", "rng", "config")


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt or not swapcam's; the message is one line for the user."""


def checkpoint_path(path_or_run_dir: str | Path) -> Path:
    """The checkpoint file of a run folder, or the path itself when it names a file (or a missing .pt)."""
    path = Path(path_or_run_dir).expanduser()
    if path.is_file() or (not path.exists() and path.suffix == ".pt"):
        return path
    return path / FILE_NAME


def save_checkpoint(run_dir: str | Path, state: dict) -> Path:
    """Write `state` to run_dir/checkpoint.pt atomically and return that path."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing or state["format"] != FORMAT:
        raise CheckpointError(f"refusing to save an incomplete checkpoint (missing {', '.join(missing) or 'format'})")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / FILE_NAME
    for stale in run_dir.glob(f".{FILE_NAME}.*.tmp"):  # left by a process killed while saving
        stale.unlink(missing_ok=True)
    tmp = run_dir / f".{FILE_NAME}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except (OSError, RuntimeError) as exc:  # a full disk: torch reports the failed write as a RuntimeError
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]
        kept = "the previous checkpoint is kept" if final.exists() else "no checkpoint was written"
        raise CheckpointError(f"cannot write the checkpoint in {run_dir} ({reason}); {kept}") from None
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(run_dir)
    return final


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename itself is still atomic
    finally:
        os.close(fd)


def load_checkpoint(path_or_run_dir: str | Path) -> dict:
    """Read a checkpoint (a run folder or the file itself) safely, or raise CheckpointError."""
    path = checkpoint_path(path_or_run_dir)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated, foreign or unsafe files
        raise CheckpointError(f"{path} is corrupt or not a swapcam checkpoint ({type(exc).__name__})") from None
    if isinstance(state, dict) and state.get("format") == "swapcam-checkpoint-1":
        raise CheckpointError(f"{path} was written by an older swapcam (swapcam-checkpoint-1); train it anew")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} file")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}")
    return state


def build_model_from_checkpoint(ckpt: dict) -> SwapModel:
    """The SwapModel a loaded checkpoint describes, with its weights, in eval mode."""
    try:
        model = SwapModel(ModelConfig.from_dict(ckpt["model_config"]))
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint weights do not fit its model config ({first})") from None
    return model.eval()


def rng_state() -> dict:
    """The torch, numpy and python global RNG states in a weights_only-loadable form."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
            "python": random.getstate()}


def restore_rng(state: dict) -> None:
    """Put back RNG states saved by `rng_state`."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
