"""The training configuration: every setting of a run in one dataclass, stored whole in each checkpoint.

Each setting is written once, here: its default, and the help text the command lines generate
their options from (`add_options`). `new_run_config` builds a config for a fresh run from a preset
and the facesets; `resumed_config` takes a checkpoint's config and applies only the settings a user
may change mid-run (length, warp, learning rate, batch size, logging), refusing changes that would
not fit the saved weights; `check_init` checks that a pretrained run can start this one.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from faces.cli import add_setting_options, given_settings, non_negative_float, non_negative_int, positive_float, \
    positive_int, setting, share
from training.augment import AugmentConfig
from training.checkpoint import CheckpointError
from training.data import CROP_RESIZES, SAMPLINGS, TRAIN_COLOR_TRANSFERS, check_alike, find_facesets
from training.faceset import Faceset, FacesetError
from training.losses import LOSS_OPTIONS, LossConfig
from training.model import ARCHS, INIT_FRESH, PAIR_DECODER_B_WIDTH, PRESETS, ModelConfig, SwapModel, scale_config

LR_SCHEDULES = ("constant", "cosine")
GAN_REGIONS = ("face", "no-features")
PRECISIONS = ("auto", "fp32", "bf16")
TARGET_WARPS = ("crop", "fine")


class TrainError(ValueError):
    """A training request that cannot be carried out; the message is one line for the user."""


@dataclass
class TrainConfig:
    """Everything a run depends on."""

    facesets_a: list[str]         # absolute paths: one faceset (a person) or many (a pool)
    facesets_b: list[str]
    identities: list[str]         # (name of A, name of B)
    preset: str
    model_config: dict
    coverage: str
    template_id: str
    resolution: int
    pretrain: bool = False        # a pool on both sides through one decoder (python -m training.pretrain)
    init: str | None = None       # the run whose weights this one started from
    init_fresh: str = setting("decoder_b", "what of the --init run starts again from random weights: decoder_b "
                              "(the swap path's decoder then only ever draws B: a generic decoder keeps drawing "
                              "whoever comes in); inter (the encoder's dense bottleneck and the layers after it, "
                              "which DeepFaceLab resets when pretraining ends); or none", choices=INIT_FRESH)
    pool: dict = field(default_factory=dict)  # {"facesets": N, "faces": M, "names": [...]} when A is a pool
    batch_size: int = setting(16, "faces per identity per step, B's alone with --batch-a (per process under "
                              "torchrun) (default 8 for a fast pair, 16 otherwise)", type=positive_int)
    batch_a: int | None = setting(None, "A faces per step, where they differ from --batch-size (default 4 for a fast "
                                  "pair from --init: its decoder A comes trained; 8 for a fast any-face run, A a pool; "
                                  "else --batch-size)",
                                  type=positive_int)
    lr: float = setting(2e-4, "AdamW learning rate (default per preset: 2e-4 fast, 5e-5 quality)",
                        type=positive_float)
    lr_fresh: float = setting(1.0, "learning rate of what an --init run draws anew (--init-fresh: decoder B), as a "
                              "multiple of --lr: a decoder that starts from nothing beside pretrained weights may "
                              "learn faster than they need to move (1: the same rate)", type=positive_float)
    lr_schedule: str = setting("constant", "learning rate after the warm-up: constant, or cosine down to "
                               "lr * lr_floor at the end of the run", choices=LR_SCHEDULES)
    lr_floor: float = setting(0.1, "the cosine schedule's last learning rate, as a share of lr", type=share)
    lr_dropout: float = setting(1.0, "share of each weight update kept, at random per weight (DeepFaceLab's "
                                "learning-rate dropout keeps 0.3; 1 is off)", type=share)
    weight_decay: float = 0.01
    warmup_steps: int = setting(100, "steps of linear learning-rate warm-up", type=non_negative_int)
    steps: int | None = None      # stop at this total step count
    minutes: float | None = None  # or after this many minutes of this invocation
    warp: bool = True
    no_warp_share: float = setting(0.2, "the last share of the run is trained without the random warp, to "
                                   "sharpen (steps, or minutes of this invocation)", type=share)
    gan: float = setting(0.0, "weight of an adversarial loss on decoder B's faces, from a patch discriminator, in "
                         "the run's last --gan-share, 0: off (default 0.02 for a fast pair, 0 otherwise)",
                         type=non_negative_float)
    gan_share: float = setting(0.2, "the last share of the run that --gan is on for (steps, or minutes of this "
                               "invocation) (default 0.4 for a fast pair, 0.2 otherwise)", type=share)
    gan_region: str = setting("face", "what the discriminator sees of B's faces: face (the landmark hull), or "
                              "no-features (the hull without the eyes and mouth, whose shape the swap takes from A)",
                              choices=GAN_REGIONS)
    gan_patch: int | None = setting(None, "the size in px of the face patches the discriminator judges, as its "
                                    "receptive field (18, 38, 78, ...; default about 0.3 of the face: 38 px at 128 px)",
                                    type=positive_int)
    true_face: float = setting(0.0, "weight of DeepFaceLab's true-face loss for the whole run: a discriminator "
                               "on the shared code tells A's codes from B's, and the encoder pays for B's codes it "
                               "can tell apart, so decoder B learns on codes like those of A's faces; 0: off "
                               "(default 0.01 for a fast any-face run, A a pool; else 0)",
                               type=non_negative_float)
    swap_mask: float = setting(0.0, "weight of a mask loss on the swap itself: decoder B's mask for A's codes (the "
                               "codes held fixed) learns A's landmark hull, the mask the swap is composited with, "
                               "where otherwise decoder B only ever drew masks for B's codes; 0: off (default 1 when "
                               "A is a pool, 0 for a pair)",
                               type=non_negative_float)
    sampling: str = setting("uniform", "how faces are drawn: uniform; evenly over head yaw; or yaw-mouth, evenly over "
                            "yaw and over how open the mouth is (default yaw-mouth for a pair, uniform when a side "
                            "is a pool)", choices=SAMPLINGS)
    target_warp: str = setting("crop", "where each target face is resampled from: crop (the face at the training "
                               "resolution, as the input; the bicubic resampling costs it about 13% of its fine "
                               "detail) or fine (the faceset's crop at twice the resolution, averaged down: none; where the "
                               "faceset's crops are that big, else as crop)",
                               choices=TARGET_WARPS)
    crop_resize: str = setting(CROP_RESIZES[0], "how faceset crops are brought to the training resolution: area "
                               "(averaged down) or cubic (bicubic, as the live loop warps its crops from the frame: "
                               "about 1.35x the Laplacian variance of area at 256 -> 128 px) (default cubic for a "
                               "pair, area otherwise)", choices=CROP_RESIZES)
    color_transfer: str = setting("none", "colours B's training faces take (DeepFaceLab's ct_mode): none, or rct, "
                                  "each B face recoloured (Reinhard, Lab) to a random A face's colours inside the "
                                  "face, input and target alike (default rct for a pair, none otherwise)",
                                  choices=TRAIN_COLOR_TRANSFERS)
    seed: int = setting(0, "random seed", type=non_negative_int)
    workers: int | None = setting(None, "data loading processes (default 0 on a CPU: batches are made in "
                                  "the trainer's process; up to 8 on a GPU)", type=non_negative_int)
    threads: int = setting(0, "torch CPU threads (default: CPUs / processes)", type=non_negative_int)
    device: str = setting("auto", "where to train: auto (CUDA if present), cpu or cuda", choices=["auto", "cpu", "cuda"])
    precision: str = setting("auto", "the forward pass's arithmetic (weights and optimiser stay float32): auto "
                             "(bfloat16 where the CPU or GPU computes it natively, float16 on older GPUs, else "
                             "float32), fp32 or bf16", choices=PRECISIONS)
    save_every: int = setting(250, "steps between checkpoints", type=positive_int)
    preview_every: int = setting(100, "steps between preview images", type=positive_int)
    log_every: int = setting(10, "steps between log entries", type=positive_int)
    holdout: float = 0.05
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @property
    def batch_sizes(self) -> tuple[int, int]:
        """A's and B's faces per step (per process)."""
        return (self.batch_a or self.batch_size, self.batch_size)

    def to_dict(self) -> dict:
        """Plain-JSON form, as stored in checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of to_dict; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known}
        values["loss"] = LossConfig(**values.get("loss", {}))
        values["augment"] = AugmentConfig(**values.get("augment", {}))
        return cls(**values)


# Settings only a pair started from another run (--init) has.
INIT_OPTIONS = ("init_fresh",)

# AdamW learning rate per preset: the small CPU networks (fast, hd) learn quickest near the top of the usual
# deepfakes range (a CPU run has few steps); the big quality network wants the classic 5e-5.
PRESET_LR = {"fast": 2e-4, "hd": 2e-4, "quality": 5e-5}

# Faces per identity per step of a pair, where a preset's differs from TrainConfig's: on a CPU the fast pair learns
# more per minute from twice the steps at half the batch (quality_bench, 30 CPU-minutes). Pretraining and any-face
# runs keep TrainConfig's, as measured.
PAIR_BATCH = {"fast": 8}

# A's faces per step for a pair started from a pretrained run (--init), where a preset draws fewer of them than of B's:
# the encoder and decoder A come trained, decoder B starts from nothing, so the compute goes to B's faces. For the
# fast pair 4 A faces beside 8 B faces made 21% more steps in 30 CPU-minutes (8,640 and 8,500 against 7,136 and 6,954,
# seeds 0 and 1) and brought the swap nearer B in both (distance 0.416 and 0.426 against 0.449 and 0.435), as sharp
# or sharper (0.52 and 0.47 of the ceiling against 0.46 and 0.46), mouth 0.91 and 0.92; seed 0 met every (b) target,
# the first run to (quality_bench from the 7,200-step pretraining, AMD machine). 2 A faces were as near B (0.410 and
# 0.424), no sharper (0.53 and 0.44), with eyes following A's less (0.71 against 0.82, seed 1). Pairs from random
# weights keep A's count equal to B's (not measured there).
PAIR_INIT_BATCH_A = {"fast": 4}

# A pair's adversarial last phase (weight, share of the run), where a preset has one: for the fast pair it drew B's
# stubble and brows where the run without it drew a blur, from random weights and from a pretrained run
# (quality_bench, 30 CPU-minutes). Pools keep it off: on an any-face run it left blotches, not detail.
PAIR_GAN = {"fast": (0.02, 0.4)}

# An any-face run's (a pool as A) swap-mask weight: on the fast any-face model it gave all five unseen people whole
# masks in 99-100% of frames (d10 64% -> 100%, driving 5% -> 100%), in five runs out of five (two seeds, two
# machines, with and without --true-face 0.01; quality_bench, 30 CPU-minutes). At today's any-face defaults neither
# side of 1 did better (seeds 0 and 2, where 1 met every any-face target for 3 and 1 of 5 people): 2 met it for 2 and
# 1 (video-retalking 1's mask whole in 49% of frames with seed 0), 0.5 for 2 and 1 (AMD machine).
POOL_SWAP_MASK = 1.0

# An any-face run's A faces per step and true-face weight, where a preset has them. On the fast any-face model, 8 pool
# faces beside 16 of B made 41-48% more steps in 30 CPU-minutes (5,588-5,834 against 3,955 at 16 + 16), and the
# true-face loss on top turned the unseen people into B: over five unseen people 92% and 94% of frames B (seeds 0 and
# 1) against 74% with 8 A faces alone and 54-81% in the eight runs before, whole masks in 99-100% of frames for all
# five where 8 A faces alone kept them in 50% for one; 3 and 2 of 5 people met every any-face target (1 or 2 before;
# quality_bench, 30 CPU-minutes, AMD machine); a third seed met it for 1 (three people lost masks in 2-17% of frames), a
# fourth for 2. The faces stay soft (0.11-0.27 of the ceiling). --true-face 0.02 and 8 B faces (--batch-size 8) did no
# better, nor 4 pool faces (--batch-a 4: 24% more steps, 2 of 5 people; seed 0), a 1.5x decoder B (--decoder-b-width
# 1.5: 31% fewer steps, 1 of 5) or warping to the end (--no-warp-share 0: every frame B but softer, masks whole in
# 81-88% of frames for three people, 2 of 5 with seed 0 and 2 with seed 1 against 3 and 2 at the defaults; 0.1: 1 of 5).
POOL_BATCH_A = {"fast": 8}
POOL_TRUE_FACE = {"fast": 0.01}

# How a pair draws its faces: evenly over head yaw won per CPU-minute (sharpness, eyes and mouth, 5 CPU-minutes);
# evenly over yaw and mouth opening as well made the swapped mouth follow A's better (mouth-open correlation
# 0.896 / 0.927 / 0.905 in three runs against 0.866 / 0.874 over yaw alone, two seeds each; the same sharpness;
# quality_bench, 30 CPU-minutes from a pretrained run): B's faceset mostly keeps its mouth closed.
PAIR_SAMPLING = "yaw-mouth"

# How a pair's faceset crops reach the training resolution: plain bicubic, as the live loop's warp makes the crops it
# feeds the model, kept more of B's detail than area-averaging (0.47 and 0.48 of the ceiling against 0.44, distance to
# B 0.481 and 0.490 against 0.518, seeds 0 and 1; quality_bench, 30 CPU-minutes from a pretrained run, AMD machine).
# Pools and pretraining keep area: pairs from a pretraining on bicubic crops were a little sharper (0.48 and 0.47
# against 0.46) but further from B (0.469 and 0.452 against 0.451 and 0.435; same bench, seeds 0 and 1), and the
# any-face model on bicubic crops met the any-face targets for 1 of 5 unseen people (3 on area crops; seed 0).
PAIR_CROP_RESIZE = "cubic"

# What a pair's B faces take of A's colours: Reinhard colour transfer (DeepFaceLab's ct_mode rct) brought the swap
# nearer B (distance 0.451 and 0.435 against 0.481 and 0.490 with cubic crops alone, every frame B, seeds 0 and 1;
# quality_bench, 30 CPU-minutes from a pretrained run, AMD machine) at the same sharpness (0.46 against 0.47-0.48);
# the swapped eyes follow A's blinks less (eye-open correlation 0.78 and 0.77 against 0.89). Pools keep none: on the
# any-face model it turned no more unseen people into B (1 of 5) and cost one of them its masks; at today's any-face
# defaults (8 pool faces, true-face, swap mask) it met the any-face targets for none of 5 (3 without; seed 0) and
# kept video-retalking 1's mask whole in 14% of frames.
PAIR_COLOR_TRANSFER = "rct"

# Settings a resumed run may change; everything else comes from the checkpoint.
RESUMABLE = ("steps", "minutes", "warp", "lr", "lr_schedule", "lr_floor", "lr_dropout", "no_warp_share", "sampling",
             "gan", "gan_share", "gan_region", "true_face", "swap_mask", "target_warp", "crop_resize", "color_transfer",
             "weight_decay", "batch_size", "batch_a", "workers", "threads", "device", "precision", "save_every",
             "preview_every", "log_every")

# The settings every training command line offers, generated from the fields above.
OPTIONS = ("batch_size", "batch_a", "lr", "lr_fresh", "lr_schedule", "lr_floor", "lr_dropout", "no_warp_share", "gan",
           "gan_share", "gan_region", "gan_patch", "true_face", "swap_mask", "sampling", "target_warp", "crop_resize",
           "color_transfer", "warmup_steps", "seed", "workers", "threads", "device", "precision", "save_every",
           "preview_every", "log_every")


def add_options(parser: argparse.ArgumentParser, names: tuple[str, ...] = OPTIONS) -> None:
    """Add `--NAME` for each named TrainConfig setting and each LossConfig weight a user may set, generated from
    the fields."""
    add_setting_options(parser, TrainConfig, names)
    add_setting_options(parser, LossConfig, LOSS_OPTIONS)


def settings_from(args: argparse.Namespace, names: tuple[str, ...] = OPTIONS) -> dict:
    """The settings `add_options` options that were given, as TrainConfig keyword arguments."""
    settings = given_settings(args, names)
    loss = given_settings(args, LOSS_OPTIONS)
    if loss:
        settings["loss"] = LossConfig(**loss)
    return settings


def model_config_for(preset: str, width: float = 1.0, resolution: int | None = None,
                     decoder_b_width: float = 1.0, decoder_b_full_res: bool = False, arch: str = "df") -> ModelConfig:
    """The network of a preset, optionally narrower/wider (`width`; decoder B alone: `decoder_b_width`), at another
    resolution, with decoder B upscaling to the full resolution (`decoder_b_full_res`), or in DeepFaceLab's LIAE shape
    (`arch`); checks it builds."""
    if preset not in PRESETS:
        raise TrainError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if arch not in ARCHS:
        raise TrainError(f"unknown --arch {arch!r}; choose from {', '.join(ARCHS)}")
    if arch == "liae" and (decoder_b_width != 1.0 or decoder_b_full_res):
        raise TrainError("--arch liae has one decoder for both people: --decoder-b-width and --decoder-b-full-res "
                         "do not apply")
    cfg = replace(scale_config(PRESETS[preset], width, resolution, decoder_b_width, decoder_b_full_res), arch=arch)
    try:
        SwapModel(cfg)
    except ValueError as exc:
        raise TrainError(f"preset {preset} cannot run at resolution {cfg.resolution}: {exc}") from None
    return cfg


def pool_name(facesets: list[Faceset], name: str | None) -> str:
    """The name of one side of a run: the given one, the faceset's folder, or the pool's folder."""
    if name:
        return name
    if len(facesets) == 1:
        return facesets[0].root.name
    parents = {f.root.parent for f in facesets}
    return f"pool:{parents.pop().name}" if len(parents) == 1 else f"pool of {len(facesets)} facesets"


def describe_pool(facesets: list[Faceset]) -> dict:
    """What the model contract records of a pool: its facesets' names and its face count ({} for one faceset)."""
    if len(facesets) == 1:
        return {}
    return {"facesets": len(facesets), "faces": sum(len(f) for f in facesets), "names": [f.root.name for f in facesets]}


def new_run_config(facesets_a, facesets_b, preset: str = "fast", width: float = 1.0, resolution: int | None = None,
                   names: tuple[str | None, str | None] = (None, None), pretrain: bool = False,
                   decoder_b_width: float | None = None, from_init: bool = False, decoder_b_full_res: bool = False,
                   arch: str = "df", **settings) -> TrainConfig:
    """Config for a fresh run; a side given as one path or a list of paths (facesets or folders of facesets).
    `from_init`: the run starts from another run's weights (--init), which decides decoder B's default width.
    `arch`: the network's shape, DF or LIAE (training.model)."""
    if arch == "liae" and (pretrain or from_init):
        raise TrainError("--arch liae trains a pair or an any-face model from random weights: its pretraining and "
                         "--init are not built (a pretrained run is DF)")
    if arch == "liae" and settings.get("true_face"):
        raise TrainError("--true-face judges the shared code of DF's encoder: --arch liae has none (as in DeepFaceLab)")
    a = find_facesets(facesets_a if isinstance(facesets_a, (list, tuple)) else [facesets_a])
    b = find_facesets(facesets_b if isinstance(facesets_b, (list, tuple)) else [facesets_b])
    check_alike(a[0], b[0])
    if decoder_b_width is None:  # a pair whose decoder B is drawn anew beside pretrained weights: the preset's own
        fresh_b = "decoder_b." in INIT_FRESH[settings.get("init_fresh", TrainConfig.init_fresh)]
        pair = not pretrain and len(a) == 1 and len(b) == 1
        decoder_b_width = PAIR_DECODER_B_WIDTH.get(preset, 1.0) if pair and from_init and fresh_b else 1.0
    model_cfg = model_config_for(preset, width, resolution, decoder_b_width, decoder_b_full_res, arch)
    settings.setdefault("lr", PRESET_LR.get(preset, TrainConfig.lr))
    if pretrain:  # a pool is pretrained warped to the end: the pairs started from it sharpen in their own last phase
        settings.setdefault("no_warp_share", 0.0)
    elif len(a) == 1 and len(b) == 1:  # a pair (a pool keeps its per-clip cap): its sampling, batch and GAN phase
        settings.setdefault("sampling", PAIR_SAMPLING)
        settings.setdefault("crop_resize", PAIR_CROP_RESIZE)
        settings.setdefault("color_transfer", PAIR_COLOR_TRANSFER)
        settings.setdefault("batch_size", PAIR_BATCH.get(preset, TrainConfig.batch_size))
        if from_init:
            settings.setdefault("batch_a", PAIR_INIT_BATCH_A.get(preset))
        gan, gan_share = PAIR_GAN.get(preset, (TrainConfig.gan, TrainConfig.gan_share))
        settings.setdefault("gan", gan)
        settings.setdefault("gan_share", gan_share)
    else:  # a pool as A: the people it swaps were never in it, so decoder B learns the swap's mask on A's codes
        # and, for the fast preset, the encoder draws B's codes like A's (true-face) from fewer A faces a step
        settings.setdefault("swap_mask", POOL_SWAP_MASK)
        settings.setdefault("batch_a", POOL_BATCH_A.get(preset))
        settings.setdefault("true_face", POOL_TRUE_FACE.get(preset, TrainConfig.true_face) if arch == "df" else 0.0)
    return TrainConfig(facesets_a=[str(f.root) for f in a], facesets_b=[str(f.root) for f in b],
                       identities=[pool_name(a, names[0]), pool_name(b, names[1])], preset=preset,
                       model_config=model_cfg.to_dict(), coverage=a[0].coverage, template_id=a[0].template_id,
                       resolution=model_cfg.resolution, pretrain=pretrain, pool=describe_pool(a), **settings)


def resumed_config(ckpt: dict, source: str, preset: str | None = None, facesets_a: list[str] | None = None,
                   facesets_b: list[str] | None = None, model_config: ModelConfig | None = None,
                   **changes) -> TrainConfig:
    """The checkpoint's config with `changes` (only RESUMABLE keys) applied; refuses a different network."""
    cfg = TrainConfig.from_dict(ckpt["config"])
    if preset is not None and preset != ckpt["preset"]:
        raise CheckpointError(f"{source} was trained with preset {ckpt['preset']!r}, not {preset!r}")
    if model_config is not None and model_config != ModelConfig.from_dict(ckpt["model_config"]):
        raise CheckpointError(f"{source} holds a different network than the one asked for "
                              f"(--width/--resolution must match the run)")
    bad = sorted(set(changes) - set(RESUMABLE))
    if bad:
        raise TrainError(f"cannot change {', '.join(bad)} when resuming")
    if facesets_a or facesets_b:
        a = find_facesets(facesets_a or cfg.facesets_a)
        b = find_facesets(facesets_b or cfg.facesets_b)
        check_alike(a[0], b[0])
        if a[0].coverage != cfg.coverage:
            raise FacesetError(f"the facesets are {a[0].coverage} crops, but {source} was trained on {cfg.coverage}")
        cfg.facesets_a, cfg.facesets_b = [str(f.root) for f in a], [str(f.root) for f in b]
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


def check_init(cfg: TrainConfig, init: dict, source: str) -> None:
    """Raise TrainError (one line) unless the loaded run `init` can start `cfg`'s run: same network, same crops."""
    init_cfg = init["config"]
    own, theirs = ModelConfig.from_dict(cfg.model_config), ModelConfig.from_dict(init["model_config"])
    if own.arch != theirs.arch:
        raise TrainError(f"--init {source} is a {theirs.arch} network; this run is {own.arch}")
    own_b = {"dec_b_channels": own.dec_b_channels, "dec_b_head_scale": own.dec_b_head_scale}
    same_but_decoder_b = replace(theirs, **own_b) == own
    if same_but_decoder_b and own != theirs and "decoder_b." not in INIT_FRESH[cfg.init_fresh]:  # B anew: any shape
        raise TrainError(f"--init {source} has another network: its decoder B is {list(theirs.decoder_b_channels)} "
                         f"wide with a {theirs.decoder_b_head_scale}x head, this run's {list(own.decoder_b_channels)} "
                         f"with a {own.decoder_b_head_scale}x head; another decoder B needs --init-fresh decoder_b "
                         f"(drawn anew)")
    if not same_but_decoder_b:
        raise TrainError(f"--init {source} is a {init['preset']} run at {init_cfg.get('resolution')} px with another "
                         f"network; this run is {cfg.preset} at {cfg.resolution} px (pretrain with the same --preset, "
                         f"--width and --resolution)")
    if (init_cfg.get("coverage"), init_cfg.get("template_id")) != (cfg.coverage, cfg.template_id):
        raise TrainError(f"--init {source} was trained on {init_cfg.get('coverage')} crops; these facesets are "
                         f"{cfg.coverage} crops")


def path_of(value: str | Path) -> str:
    """An absolute path, as configs record them."""
    return str(Path(value).expanduser().resolve())
