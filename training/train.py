"""Train a face-swap model on two facesets.

    python -m training.train --faceset-a A --faceset-b B --preset fast --out models/NAME [--steps N | --minutes M]
                             [--batch-size B] [--resume] [--no-warp]
    torchrun --nproc_per_node N -m training.train ...   (DistributedDataParallel; same options)

Without --steps or --minutes it trains until Ctrl-C, which saves a checkpoint before stopping.
--steps counts the run's total steps, so `--resume --steps 20000` continues a run up to step 20000.
"""
from __future__ import annotations

import sys
from pathlib import Path

from training.checkpoint import CheckpointError, checkpoint_path, load_checkpoint
from faces.cli import INTERRUPTED, OneLineParser, fail, non_negative_int, positive_float, positive_int
from training.config import TrainError, model_config_for, new_run_config, resumed_config
from training.faceset import FacesetError
from training.model import PRESETS


PROG = "python -m training.train"


def build_parser() -> OneLineParser:
    """Command-line options of `python -m training.train`."""
    p = OneLineParser(prog=PROG, description=__doc__.split("\n")[0],
                      epilog="Outputs in --out: checkpoint.pt, preview.png, logs/ (tensorboard --logdir OUT/logs).")
    p.add_argument("--faceset-a", metavar="DIR", help="faceset of person A, the face to replace (made by training.extract)")
    p.add_argument("--faceset-b", metavar="DIR", help="faceset of person B, the face to put in its place")
    p.add_argument("--preset", choices=sorted(PRESETS), help="network size (default fast; a resumed run keeps its own)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder for the checkpoint, preview and logs")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=positive_int, metavar="N", help="train until the run has done N steps")
    length.add_argument("--minutes", type=positive_float, metavar="M", help="train for M minutes")
    p.add_argument("--batch-size", type=positive_int, metavar="B", help="faces per identity per step (default 16)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--no-warp", action="store_true", help="turn the random warp off (for the last phase of training)")
    p.add_argument("--lr", type=positive_float, help="AdamW learning rate (default 2e-4 for fast, 5e-5 for quality)")
    p.add_argument("--name-a", metavar="NAME", help="name of person A (default: the faceset folder name)")
    p.add_argument("--name-b", metavar="NAME", help="name of person B (default: the faceset folder name)")
    p.add_argument("--width", type=positive_float, default=1.0, metavar="X", help="scale every channel count of the preset")
    p.add_argument("--resolution", type=positive_int, metavar="PX", help="train at this crop size instead of the preset's")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=non_negative_int, metavar="N", help="data loading processes (default 1 on CPU, up to 8 on a GPU; 0: in the trainer)")
    p.add_argument("--threads", type=non_negative_int, metavar="N", help="torch CPU threads (default: CPUs / processes)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default auto: CUDA if present)")
    p.add_argument("--save-every", type=positive_int, metavar="K", help="steps between checkpoints (default 250)")
    p.add_argument("--preview-every", type=positive_int, metavar="K", help="steps between preview images (default 100)")
    p.add_argument("--log-every", type=positive_int, metavar="K", help="steps between log lines (default 10)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the train command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    settings = {k: v for k, v in vars(args).items()
                if k in ("batch_size", "lr", "workers", "threads", "device", "save_every", "preview_every",
                         "log_every") and v is not None}
    length = {"steps": args.steps, "minutes": args.minutes, "warp": not args.no_warp}
    try:
        if args.resume:
            ckpt = load_checkpoint(args.out)
            wants_other_net = args.width != 1.0 or args.resolution is not None
            model_cfg = model_config_for(args.preset or ckpt["preset"], args.width, args.resolution) \
                if wants_other_net else None
            cfg = resumed_config(ckpt, str(checkpoint_path(args.out)), args.preset, args.faceset_a, args.faceset_b,
                                 model_cfg, **settings, **length)
        else:
            if Path(args.out).exists() and not Path(args.out).is_dir():
                raise TrainError(f"--out {args.out} is a file, not a run folder")
            existing = Path(args.out) / "checkpoint.pt"
            if existing.exists():
                raise TrainError(f"{existing} exists: pass --resume to continue that run, or choose another --out")
            if not (args.faceset_a and args.faceset_b):
                raise TrainError("a new run needs --faceset-a and --faceset-b")
            ckpt = None
            cfg = new_run_config(args.faceset_a, args.faceset_b, args.preset or "fast", args.width, args.resolution,
                                 (args.name_a, args.name_b), seed=args.seed, **settings, **length)
    except (TrainError, FacesetError, CheckpointError) as exc:
        return fail(PROG, exc)

    from training.trainer import train  # torch and the data pipeline load only for a run that will happen

    try:
        result = train(cfg, args.out, ckpt)
    except (TrainError, FacesetError, CheckpointError) as exc:
        return fail(PROG, exc)
    if not result.is_main:
        return INTERRUPTED if result.interrupted else 0
    where = result.checkpoint or checkpoint_path(args.out)
    if result.interrupted:
        print(f"stopped at step {result.step}; checkpoint: {where} (continue with --resume)", file=sys.stderr)
        return INTERRUPTED
    print(f"trained to step {result.step}; checkpoint: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
