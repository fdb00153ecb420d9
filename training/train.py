"""Train a face-swap model on two sides: a person each, or a pool of people as A (a model that takes any face).

    python -m training.train --faceset-a A [A ...] --faceset-b B --preset fast --out models/NAME
                             [--steps N | --minutes M] [--init PRETRAINED_RUN] [--resume] [--no-warp] ...
    torchrun --nproc_per_node N -m training.train ...   (DistributedDataParallel; same options)

A side is one faceset or several, or a folder of facesets (a pool: A = many people, so the model
swaps people it never saw into B). --init starts from the weights of another run of the same
network, such as one made by `python -m training.pretrain`. Without --steps or --minutes it trains
until Ctrl-C, which saves a checkpoint before stopping. --steps counts the run's total steps, so
`--resume --steps 20000` continues a run up to step 20000.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from faces.cli import INTERRUPTED, OneLineParser, add_setting_options, fail, given_settings, positive_float, positive_int, \
    report_full_disks
from training.checkpoint import CheckpointError, checkpoint_path, load_checkpoint
from training.config import INIT_OPTIONS, TrainConfig, TrainError, add_options, check_init, model_config_for, \
    new_run_config, path_of, resumed_config, settings_from
from training.faceset import FacesetError
from training.model import ARCHS, INIT_FRESH, PAIR_DECODER_B_WIDTH, PRESETS, ModelConfig

USER_ERRORS = (TrainError, FacesetError, CheckpointError)


def build_parser(prog: str, description: str, pretrain: bool = False) -> OneLineParser:
    """Command-line options of `python -m training.train` (or, with `pretrain`, of training.pretrain)."""
    p = OneLineParser(prog=prog, description=description,
                      epilog="Outputs in --out: checkpoint.pt, preview.png, logs/ (tensorboard --logdir OUT/logs).")
    if pretrain:
        p.add_argument("--facesets", nargs="+", metavar="DIR",
                       help="facesets of many people, or folders of facesets (made by training.extract --each)")
    else:
        p.add_argument("--faceset-a", nargs="+", metavar="DIR",
                       help="faceset of person A, the face to replace; several, or a folder of facesets, make A a pool")
        p.add_argument("--faceset-b", nargs="+", metavar="DIR", help="faceset of person B, the face to put in its place")
        p.add_argument("--init", metavar="RUN", help="start from the weights of this run (e.g. a pretrained one; "
                                                     "same preset, width and resolution)")
        add_setting_options(p, TrainConfig, INIT_OPTIONS)
        p.add_argument("--decoder-b-width", type=positive_float, metavar="X",
                       help="scale decoder B's channel counts (after --width): decoder B, the swap path's decoder, is "
                            "drawn anew from an --init run, so it may be wider than the pretrained one (default: "
                            + ", ".join(f"{w:g} for a {name} pair from --init" for name, w in PAIR_DECODER_B_WIDTH.items())
                            + ", else 1)")
        p.add_argument("--decoder-b-full-res", action="store_true",
                       help="decoder B goes on upscaling to the full resolution and predicts pixels, not 2x2 blocks "
                            "(a pair from --init draws decoder B anew, so its shape is free)")
        p.add_argument("--arch", choices=ARCHS, help="the network's shape: df (a decoder per person, the default) or "
                                                     "liae (DeepFaceLab's LIAE: one decoder, a dense inter part for A "
                                                     "and one shared; from random weights only, no --true-face; a "
                                                     "resumed run keeps its own)")
        p.add_argument("--name-a", metavar="NAME", help="name of A (default: the faceset or pool folder name)")
        p.add_argument("--name-b", metavar="NAME", help="name of B (default: the faceset folder name)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="network size (default fast; a resumed run keeps its own)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder for the checkpoint, preview and logs")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=positive_int, metavar="N", help="train until the run has done N steps")
    length.add_argument("--minutes", type=positive_float, metavar="M", help="train for M minutes")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--no-warp", action="store_true", help="turn the random warp off (for the last phase of training)")
    p.add_argument("--width", type=positive_float, default=1.0, metavar="X", help="scale every channel count of the preset")
    p.add_argument("--resolution", type=positive_int, metavar="PX", help="train at this crop size instead of the preset's")
    add_options(p)
    return p


def run_main(prog: str, description: str, argv: list[str] | None, pretrain: bool = False) -> int:
    """Run the train (or pretrain) command; returns the process exit code."""
    args = build_parser(prog, description, pretrain).parse_args(argv)
    report_full_disks()
    settings = settings_from(args)
    if not pretrain:
        settings.update(given_settings(args, INIT_OPTIONS))
    length = {"steps": args.steps, "minutes": args.minutes, "warp": not args.no_warp}
    init = None
    try:
        if args.resume:
            ckpt = load_checkpoint(args.out)
            if bool(ckpt["config"].get("pretrain")) != pretrain:
                other = "training.pretrain" if ckpt["config"].get("pretrain") else "training.train"
                raise TrainError(f"{checkpoint_path(args.out)} is a {other} run: resume it with python -m {other}")
            decoder_b_width = getattr(args, "decoder_b_width", None) or 1.0
            full_res = getattr(args, "decoder_b_full_res", False)
            theirs = ModelConfig.from_dict(ckpt["model_config"])  # the network the run has
            arch = theirs.arch
            if getattr(args, "arch", None) not in (None, arch):
                raise TrainError(f"{checkpoint_path(args.out)} is a {arch} run: --arch cannot change when resuming")
            wants_other_net = args.width != 1.0 or args.resolution is not None or decoder_b_width != 1.0 or full_res
            model_cfg = model_config_for(args.preset or ckpt["preset"], args.width, args.resolution,
                                         decoder_b_width, full_res, arch) if wants_other_net else None
            if model_cfg and not (getattr(args, "decoder_b_width", None) or full_res):  # decoder B as the run has it
                model_cfg = replace(model_cfg, dec_b_channels=theirs.dec_b_channels,
                                    dec_b_head_scale=theirs.dec_b_head_scale)
            side_a = args.facesets if pretrain else args.faceset_a
            side_b = args.facesets if pretrain else args.faceset_b
            cfg = resumed_config(ckpt, str(checkpoint_path(args.out)), args.preset, side_a, side_b, model_cfg,
                                 **settings, **length)
        else:
            ckpt = None
            if Path(args.out).exists() and not Path(args.out).is_dir():
                raise TrainError(f"--out {args.out} is a file, not a run folder")
            existing = Path(args.out) / "checkpoint.pt"
            if existing.exists():
                raise TrainError(f"{existing} exists: pass --resume to continue that run, or choose another --out")
            if pretrain:
                if not args.facesets:
                    raise TrainError("pretraining needs --facesets (a pool of many people)")
                sides, names = (args.facesets, args.facesets), ("pool", "pool")
            else:
                if not (args.faceset_a and args.faceset_b):
                    raise TrainError("a new run needs --faceset-a and --faceset-b")
                sides, names = (args.faceset_a, args.faceset_b), (args.name_a, args.name_b)
            cfg = new_run_config(*sides, args.preset or "fast", args.width, args.resolution, names,
                                 pretrain=pretrain, decoder_b_width=getattr(args, "decoder_b_width", None),
                                 from_init=bool(getattr(args, "init", None)),
                                 decoder_b_full_res=getattr(args, "decoder_b_full_res", False),
                                 arch=getattr(args, "arch", None) or "df", **settings, **length)
            if not pretrain and not args.init and "init_fresh" in settings:
                raise TrainError("--init-fresh says what of an --init run starts anew: it needs --init RUN")
            if "lr_fresh" in settings and (pretrain or not args.init or not INIT_FRESH[cfg.init_fresh]):
                raise TrainError("--lr-fresh sets the learning rate of what an --init run draws anew: it needs --init "
                                 "RUN and an --init-fresh other than none")
            if not pretrain and args.init:
                init = load_init(args.init)
                check_init(cfg, init, args.init)
                cfg.init = str(checkpoint_path(path_of(args.init)))
        if cfg.pretrain and cfg.true_face:
            raise TrainError("--true-face tells A's codes from B's: pretraining has one pool on both sides")
        if cfg.pretrain and cfg.swap_mask:
            raise TrainError("--swap-mask trains decoder B on A's codes: pretraining has one decoder for both sides")
    except USER_ERRORS as exc:
        return fail(prog, exc)

    from training.trainer import train  # torch and the data pipeline load only for a run that will happen

    try:
        result = train(cfg, args.out, ckpt, init)
    except USER_ERRORS as exc:
        return fail(prog, exc)
    if not result.is_main:
        return INTERRUPTED if result.interrupted else 0
    where = result.checkpoint or checkpoint_path(args.out)
    if result.interrupted:
        print(f"stopped at step {result.step}; checkpoint: {where} (continue with --resume)", file=sys.stderr)
        return INTERRUPTED
    print(f"trained to step {result.step}; checkpoint: {where}")
    return 0


def load_init(run: str) -> dict:
    """The checkpoint of the run named by --init, or CheckpointError (one line) when it is missing or incomplete."""
    path = checkpoint_path(run)
    if Path(run).is_dir() and not path.is_file():
        raise CheckpointError(f"--init {run} holds no checkpoint.pt: an incomplete or unfinished run "
                              f"(pretraining writes it every --save-every steps)")
    return load_checkpoint(run)


def main(argv: list[str] | None = None) -> int:
    """Run the train command; returns the process exit code."""
    return run_main("python -m training.train", __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())
