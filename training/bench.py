"""python -m training.bench: how fast each preset trains on this machine.

For every preset it prints the parameter count, the MACs of the A->B path and three speeds in
faces per second, counting both identities: the augmentation alone (one process), the network
step alone (batches made beforehand) and real training (batches from the DataLoader worker while
the step runs). Crops come from --faceset-a/--faceset-b when given, else random pixels (the
speed does not depend on what the faces show). How fast an exported model swaps a face is
`python -m export.bench`'s job.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from faces.align import template_in_crop
from faces.cli import OneLineParser, fail, non_negative_int, positive_int
from training.augment import AugmentConfig
from training.config import PRECISIONS
from training.data import FaceBank, PairBatches, batch_loader, face_aux, load_bank
from training.distributed import usable_cpus
from training.faceset import Faceset, FacesetError
from training.losses import LossConfig
from training.model import PRESETS, SwapModel, count_macs, count_parameters

BATCH = {"fast": 16, "quality": 2}  # per identity; quality is a GPU network, so a CPU gets a token batch
STEPS = {"fast": 10, "quality": 2}


def synthetic_bank(resolution: int, count: int = 64, seed: int = 0) -> FaceBank:
    """Random crops with the template face's masks: the same work for augmentation as real faces."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, resolution, resolution, 3), dtype=np.uint8)
    aux = face_aux(template_in_crop(resolution, "whole_face"), resolution, "whole_face")
    return FaceBank(images, np.broadcast_to(aux, (count, *aux.shape)).copy())


def precision_name(amp_dtype: torch.dtype | None) -> str:
    """"bfloat16", "float16" or "float32" (no autocast) for the figures and the header."""
    return str(amp_dtype or torch.float32).removeprefix("torch.")


def augment_rate(batches: PairBatches, count: int) -> float:
    """Faces per second that one process augments."""
    start = time.perf_counter()
    for step in range(count):
        batches[step]
    return count * sum(batches.sizes) / (time.perf_counter() - start)


def step_rate(model: SwapModel, batches: PairBatches, steps: int, amp_dtype: torch.dtype | None = None) -> float:
    """Faces per second of the training step alone, on batches made beforehand (two untimed warm-up steps)."""
    from training.trainer import PairTrainer, make_optimizer, train_step

    made = [batches[i] for i in range(min(steps, 3))]
    trainer, optimizer, device = PairTrainer(model), make_optimizer(model), torch.device("cpu")
    for i in range(2):
        train_step(trainer, optimizer, made[i % len(made)], device, LossConfig(), amp_dtype=amp_dtype)
    start = time.perf_counter()
    for i in range(steps):
        train_step(trainer, optimizer, made[i % len(made)], device, LossConfig(), amp_dtype=amp_dtype)
    return steps * sum(batches.sizes) / (time.perf_counter() - start)


def training_rate(model: SwapModel, batches: PairBatches, steps: int, workers: int,
                  amp_dtype: torch.dtype | None = None) -> float:
    """Faces per second of training fed by the DataLoader (timed after the worker is up and two steps ran)."""
    from training.trainer import PairTrainer, make_optimizer, train_step

    trainer, optimizer, device = PairTrainer(model), make_optimizer(model), torch.device("cpu")
    loader = iter(batch_loader(batches, 0, steps + 2, workers))
    for _ in range(2):
        train_step(trainer, optimizer, next(loader), device, LossConfig(), amp_dtype=amp_dtype)
    start = time.perf_counter()
    for batch in loader:
        train_step(trainer, optimizer, batch, device, LossConfig(), amp_dtype=amp_dtype)
    return steps * sum(batches.sizes) / (time.perf_counter() - start)


def bench_preset(name: str, banks: tuple[Faceset | None, Faceset | None], steps: int | None, batch: int | None,
                 workers: int, amp_dtype: torch.dtype | None = None) -> dict:
    """All figures of one preset (the steps in `amp_dtype` under autocast; None: float32)."""
    cfg = PRESETS[name]
    torch.manual_seed(0)
    model = SwapModel(cfg)
    bank_a, bank_b = (load_bank(f, cfg.resolution) if f else synthetic_bank(cfg.resolution, seed=i)
                      for i, f in enumerate(banks))
    batches = PairBatches(bank_a, bank_b, batch or BATCH[name], AugmentConfig(), seed=0)
    steps = steps or STEPS[name]
    result = {"preset": name, "resolution": cfg.resolution, "batch_per_identity": batches.sizes[1],
              "params_total_m": count_parameters(model) / 1e6, "params_a2b_m": count_parameters(model.path("a2b")) / 1e6,
              "gmac_a2b": count_macs(model.path("a2b"), cfg.resolution) / 1e9,
              "augment_faces_per_s": augment_rate(batches, max(2, steps))}
    result["precision"] = precision_name(amp_dtype)
    result["step_faces_per_s"] = step_rate(model, batches, steps, amp_dtype)
    result["train_faces_per_s"] = training_rate(model, batches, steps, workers, amp_dtype)
    return result



def format_row(r: dict) -> str:
    """One table row of bench_preset's figures."""
    return (f"{r['preset']:8s} {r['resolution']:4d} {r['params_total_m']:8.2f} {r['gmac_a2b']:7.3f} "
            f"{r['augment_faces_per_s']:9.0f} {r['step_faces_per_s']:8.1f} {r['train_faces_per_s']:8.1f}")


def build_parser() -> OneLineParser:
    """Command-line options of `python -m training.bench`."""
    p = OneLineParser(prog="python -m training.bench", description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=list(PRESETS), help="presets to time")
    p.add_argument("--faceset-a", metavar="DIR", help="real crops for person A (default: random pixels)")
    p.add_argument("--faceset-b", metavar="DIR", help="real crops for person B (default: random pixels)")
    p.add_argument("--steps", type=positive_int, metavar="N", help="timed training steps (default 10 for fast, 2 for quality)")
    p.add_argument("--batch-size", type=positive_int, metavar="B", help="faces per identity per step (default 16; 2 for quality)")
    p.add_argument("--threads", type=positive_int, default=usable_cpus(), metavar="N",
                   help="torch threads (default: all CPUs)")
    p.add_argument("--workers", type=non_negative_int, default=0, metavar="N",
                   help="DataLoader processes (default 0, as training on a CPU: batches made in the trainer's process)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the steps' arithmetic, as training's --precision (default auto)")
    p.add_argument("--json", metavar="FILE", help="also write the figures to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        facesets = tuple(Faceset.load(p) if p else None for p in (args.faceset_a, args.faceset_b))
    except FacesetError as exc:
        return fail("python -m training.bench", exc)
    from training.trainer import amp_dtype_for

    torch.set_num_threads(args.threads)
    amp_dtype = amp_dtype_for(args.precision, torch.device("cpu"))
    print(f"training speed on {args.threads} CPU threads in {precision_name(amp_dtype)}, "
          f"faces/s counting both identities "
          f"({'real crops' if facesets[0] else 'random pixels'}; timings on a busy machine are noisy)")
    print("preset   res   params M  A->B GMAC  augment   step     train")
    results = []
    for name in args.presets:
        results.append(bench_preset(name, facesets, args.steps, args.batch_size, args.workers, amp_dtype))
        print(format_row(results[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
