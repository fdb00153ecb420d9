"""The training loop. Read top to bottom: the step, the schedule, the data, then `train`, which runs them.

Each step trains decoder A on warped A faces and decoder B on warped B faces through the shared
encoder, with AdamW (channels_last; bfloat16 autocast where the CPU or GPU has it: `amp_dtype_for`; DDP
under torchrun). Pretraining (`cfg.pretrain`) draws both halves of the batch from one pool and trains
decoder A on all of it; decoder B is kept a copy of it, so a pair started from the run (`init`) begins
with two decoders that already draw faces.

The run folder gets `checkpoint.pt` (every `save_every` steps, at the end and after Ctrl-C, always
atomically), `preview.png` (rows: A, A->A, A->B and B, B->B, B->A) and TensorBoard logs in `logs/`.
"""
from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from faces.cli import progress_bar
from training.checkpoint import FORMAT, restore_rng, rng_state, save_checkpoint
from training.config import TrainConfig, TrainError
from training.data import FaceBank, PairBatches, batch_loader, find_facesets, holdout_split, load_facesets, \
    sampling_weights
from training.distributed import Cluster, anyone, barrier, join_cluster, leave_cluster, usable_cpus
from training.gan import discriminator_loss, generator_loss, make_code_discriminator, make_discriminator
from training.losses import LossConfig, face_loss
from training.model import INIT_FRESH, ModelConfig, SwapModel
from training.monitor import PREVIEW_FACES, TrainLog, evaluate, preview_grid, write_png


# ---------------------------------------------------------------------------------------------- the step

class PairTrainer(nn.Module):
    """One forward for a training step: A and B batches through the shared encoder together, then each decoder
    (with `shared_decoder`, both through decoder A: pretraining). With `codes`, the shared codes of A and B come
    out too (for the true-face loss); with `swap_mask`, decoder B's mask for A's codes, the codes detached (the
    swap's own mask, for the swap-mask loss)."""

    def __init__(self, model: SwapModel, shared_decoder: bool = False, codes: bool = False, swap_mask: bool = False):
        super().__init__()
        self.model, self.shared_decoder, self.codes, self.swap_mask = model, shared_decoder, codes, swap_mask

    def forward(self, xa: torch.Tensor, xb: torch.Tensor):
        """((face A', mask A), (face B', mask B), extra) for batches of A and B faces; `extra` holds "codes"
        (code A, code B) and "swap_mask" (N, 1, R, R) where asked for."""
        if self.shared_decoder:
            face, mask = self.model.decoder_a(self.model.encoder(torch.cat([xa, xb])))
            return (*zip(face.split([len(xa), len(xb)]), mask.split([len(xa), len(xb)])), {})
        za, zb = self.model.encoder(torch.cat([xa, xb])).split([len(xa), len(xb)])
        extra = {}
        if self.codes:
            extra["codes"] = za, zb
        if self.swap_mask:
            extra["swap_mask"] = self.model.decoder_b(za.detach())[1]
        return self.model.decoder_a(za), self.model.decoder_b(zb), extra


def make_optimizer(model: SwapModel, lr: float = 1e-4, weight_decay: float = 0.01, fresh: tuple[str, ...] = (),
                   fresh_scale: float = 1.0) -> torch.optim.Optimizer:
    """Put `model` in channels_last and give it the trainer's AdamW (beta1 0.5, as deepfakes models use); the
    weights whose names start with one of `fresh` form a second group, its learning rate `fresh_scale` times the
    rest's (`set_learning_rate` keeps it so)."""
    # channels_last (NHWC) suits oneDNN on CPUs as well as tensor cores; fused AdamW is one kernel per step.
    model.to(memory_format=torch.channels_last)
    named = list(model.named_parameters())
    if not fresh or fresh_scale == 1.0:  # one group: every weight at the same rate
        groups = [{"params": [p for _, p in named], "lr_scale": 1.0}]
    else:
        groups = [{"params": [p for n, p in named if not n.startswith(fresh)], "lr_scale": 1.0},
                  {"params": [p for n, p in named if n.startswith(fresh)], "lr_scale": fresh_scale}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.5, 0.999), weight_decay=weight_decay, fused=True)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set each parameter group's learning rate: `lr` times its scale (`make_optimizer`)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


@dataclass
class Adversary:
    """A discriminator of training/gan.py: `module` itself, `trained` the same module or its
    DistributedDataParallel wrapper under torchrun, its optimiser, the generator loss weight, what of B's faces
    it sees (`region`: "face", the landmark hull, or "no-features", the hull without eyes and mouth; the patch
    discriminator's only) and the name a checkpoint keeps it under (`key`: "discriminator" for the patch
    discriminator of --gan, "code_discriminator" for that of --true-face)."""

    module: nn.Module
    trained: nn.Module
    optimizer: torch.optim.Optimizer
    weight: float
    region: str = "face"
    key: str = "discriminator"

    def state(self) -> dict:
        """What a checkpoint keeps of it."""
        return {self.key: self.module.state_dict(), f"{self.key}_optimizer": self.optimizer.state_dict()}

    def restore(self, ckpt: dict) -> None:
        """Continue from a checkpoint's discriminator (a run that turns it on when resumed has none yet)."""
        if self.key in ckpt:
            self.module.load_state_dict(ckpt[self.key])
            self.optimizer.load_state_dict(ckpt[f"{self.key}_optimizer"])

    def step(self, real: torch.Tensor, fake: torch.Tensor, autocast) -> torch.Tensor:
        """One step of the discriminator on `real` against `fake` (detached); returns its loss, detached."""
        with autocast():
            loss = discriminator_loss(self.trained, real, fake)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def wrap(module: nn.Module, device: torch.device, cluster: Cluster) -> nn.Module:
    """`module` itself, or under torchrun its DistributedDataParallel wrapper."""
    return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None) \
        if cluster.distributed else module


def make_adversary(cfg: TrainConfig, device: torch.device, cluster: Cluster) -> Adversary | None:
    """The run's discriminator, or None when --gan is off."""
    if not cfg.gan:
        return None
    module, optimizer = make_discriminator(cfg.resolution, cfg.lr, device, cfg.gan_patch)
    return Adversary(module, wrap(module, device, cluster), optimizer, cfg.gan, cfg.gan_region)


def make_code_adversary(cfg: TrainConfig, model: SwapModel, device: torch.device, cluster: Cluster
                        ) -> Adversary | None:
    """The run's code discriminator, or None when --true-face is off."""
    if not cfg.true_face:
        return None
    module, optimizer = make_code_discriminator(model.config.inter_channels, cfg.lr, device)
    return Adversary(module, wrap(module, device, cluster), optimizer, cfg.true_face, key="code_discriminator")


def amp_dtype_for(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a run's forward pass (None: float32 throughout).

    "auto" takes bfloat16 where the hardware computes it natively: CUDA GPUs from Ampere on, and CPUs with
    AVX512-BF16 or AMX, where oneDNN's convolutions run it about 1.7x faster than float32 on this 2-core AMD
    EPYC, for the same losses to the third digit (`python -m training.bench`). Older GPUs take float16 with a
    gradient scaler; other CPUs stay float32 (emulated bfloat16 would be slower there).
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return torch.bfloat16 if native else None


def train_step(trainer: nn.Module, optimizer, batch: dict, device: torch.device, loss_cfg: LossConfig,
               lr_dropout: float = 1.0, amp_dtype=None, scaler=None, adversary: Adversary | None = None,
               code_adversary: Adversary | None = None, swap_mask: float = 0.0) -> tuple[dict, dict]:
    """One optimisation step on a batch pair; returns the A and B loss terms (tensors).

    With `lr_dropout` below 1, each weight keeps its update with that probability (learning-rate
    dropout, as DeepFaceLab's optimisers do); the optimiser's moments still see every gradient.
    With an `adversary`, decoder B's faces also pay its generator loss, and the discriminator then takes
    one step of its own on the same faces (both masked by B's landmark hull, without the eyes and mouth with
    region "no-features"). With a `code_adversary` (the trainer then returns the codes too), B's codes pay its
    generator loss for looking unlike A's, and it then takes one step on both. With `swap_mask` (the trainer then
    returns the swap's mask too), decoder B's mask for A's codes pays an MSE against A's landmark hull, at that
    weight. The networks run in `amp_dtype`
    under autocast (None: float32); the losses in float32.
    """
    x = {k: v.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last) for k, v in batch.items()}

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None)

    with autocast():
        out = trainer(x["a_input"], x["b_input"])
    (face_a, mask_a), (face_b, mask_b), extra = out
    loss_a = face_loss(face_a.float(), mask_a.float(), x["a_target"], x["a_aux"], loss_cfg)
    loss_b = face_loss(face_b.float(), mask_b.float(), x["b_target"], x["b_aux"], loss_cfg)
    loss = loss_a["total"] + loss_b["total"]
    if adversary is not None:
        hull = x["b_aux"][:, :1]
        if adversary.region == "no-features":  # eyes and mouth keep A's shape: the reconstruction loss alone
            hull = hull * (1.0 - x["b_aux"][:, 1:2])
        fake, real = face_b.float() * hull, x["b_target"] * hull
        with autocast():
            loss_b["gan"] = generator_loss(adversary.module, fake)
        loss = loss + adversary.weight * loss_b["gan"]
    if code_adversary is not None:
        code_a, code_b = extra["codes"]
        with autocast():
            loss_b["true_face"] = generator_loss(code_adversary.module, code_b)
        loss = loss + code_adversary.weight * loss_b["true_face"]
    if swap_mask:
        loss_b["swap_mask"] = F.mse_loss(extra["swap_mask"].float(), x["a_aux"][:, :1])
        loss = loss + swap_mask * loss_b["swap_mask"]
    optimizer.zero_grad(set_to_none=True)
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    before = [p.detach().clone() for p in params] if lr_dropout < 1.0 else None
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    if before is not None:
        with torch.no_grad():
            for p, old in zip(params, before):
                keep = torch.rand_like(p) < lr_dropout
                p.copy_(torch.where(keep, p, old))
    if adversary is not None:
        loss_b["discriminator"] = adversary.step(real, fake, autocast)
    if code_adversary is not None:
        loss_b["code_discriminator"] = code_adversary.step(code_a.detach(), code_b, autocast)
    return loss_a, loss_b


# ---------------------------------------------------------------------------------------------- the schedule

class RunClock:
    """How far a run has got, from 0 to 1: by steps when it has a step count, else by this invocation's minutes."""

    def __init__(self, cfg: TrainConfig, start: int):
        self.steps, self.start = cfg.steps, start
        self.seconds = cfg.minutes * 60.0 if cfg.minutes else None
        self.t0 = time.monotonic()

    def fraction(self, step: int) -> float | None:
        """The share of the run done at `step` (None for a run with neither a step count nor minutes)."""
        if self.steps:
            return min(1.0, step / self.steps)
        if self.seconds:
            return min(1.0, (time.monotonic() - self.t0) / self.seconds)
        return None

    def out_of_time(self) -> bool:
        """Whether a time-limited run's minutes are up."""
        return self.seconds is not None and time.monotonic() - self.t0 >= self.seconds


def learning_rate(cfg: TrainConfig, step: int, progress: float | None) -> float:
    """Linear warm-up over `warmup_steps`, then constant, or cosine from lr to lr * lr_floor over the run."""
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    if cfg.lr_schedule == "constant" or progress is None:
        return cfg.lr * warm
    return cfg.lr * warm * (cfg.lr_floor + (1.0 - cfg.lr_floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def warps_at(cfg: TrainConfig, progress: float | None) -> bool:
    """Whether the input is randomly warped at this point of the run (off for its last `no_warp_share`)."""
    return cfg.warp and not (cfg.no_warp_share and progress is not None and progress >= 1.0 - cfg.no_warp_share)


def adversarial_at(cfg: TrainConfig, progress: float | None) -> bool:
    """Whether the adversarial loss is on at this point of the run (its last `gan_share`; never in a run without
    an end, which has no last share)."""
    return bool(cfg.gan and cfg.gan_share and progress is not None and progress >= 1.0 - cfg.gan_share)


# ---------------------------------------------------------------------------------------------- the data

@dataclass
class RunData:
    """The banks of a run: training and held-out faces of A and B, and how A's and B's faces are drawn."""

    train_a: FaceBank
    train_b: FaceBank
    held_a: FaceBank
    held_b: FaceBank
    weights_a: np.ndarray | None
    weights_b: np.ndarray | None


def load_data(cfg: TrainConfig, progress: bool = False) -> RunData:
    """Both sides at the training resolution, split into training and held-out faces (one pool when pretraining)."""
    sides = [cfg.facesets_a] if cfg.pretrain else [cfg.facesets_a, cfg.facesets_b]
    banks = []
    for folders in sides:
        bank = load_facesets(find_facesets(folders), cfg.resolution, progress, fine=cfg.target_warp == "fine",
                             resize=cfg.crop_resize)
        train_idx, held_idx = holdout_split(len(bank), cfg.holdout, cfg.seed)
        banks.append((bank.subset(train_idx), bank.subset(held_idx if len(held_idx) else train_idx)))
    (train_a, held_a), (train_b, held_b) = banks if len(banks) == 2 else banks * 2
    return RunData(train_a, train_b, held_a, held_b, sampling_weights(train_a, cfg.sampling),
                   sampling_weights(train_b, cfg.sampling))


# ---------------------------------------------------------------------------------------------- the run

@dataclass
class TrainResult:
    """How a run ended: steps done, the logged losses and held-out scores, and whether Ctrl-C stopped it.

    Only the main process (rank 0) logs: on the others `history` and `scores` are empty.
    """

    step: int
    history: list[dict]
    scores: list[dict]
    interrupted: bool
    checkpoint: Path | None
    is_main: bool = True


class StopRequest:
    """Turns the first Ctrl-C (or SIGTERM) into a request to stop after the current step; a second one aborts."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def pick_device(name: str, cluster_local_rank: int = 0) -> torch.device:
    """'auto' -> this process's GPU when there is one, else the CPU; 'cpu' and 'cuda' as asked."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda asked for, but this torch sees no CUDA GPU")
    return torch.device(f"cuda:{cluster_local_rank}") if name == "cuda" else torch.device(name)


def data_workers(cfg: TrainConfig, cluster: Cluster, cuda: bool) -> int:
    """Loader processes: as configured, else none beside a CPU trainer and up to 8 for a GPU.

    A CPU trainer's threads take every core; a loader process beside them takes turns with them, and the step
    slows by more than the augmentation it saves (2-core bench: 108 faces/s with one, 128 without)."""
    if cfg.workers is not None:
        return cfg.workers
    return max(1, min(8, usable_cpus() // cluster.local_world_size - 1)) if cuda else 0


def checkpoint_state(cfg: TrainConfig, model: SwapModel, optimizer, step: int, world_size: int = 1,
                     scaler=None, adversaries: tuple[Adversary, ...] = ()) -> dict:
    """The dict `save_checkpoint` writes (see training/checkpoint.py), plus the number of training processes (and
    the discriminators, in a run with --gan or --true-face)."""
    state = {"format": FORMAT, "preset": cfg.preset, "model_config": cfg.model_config, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "step": step, "rng": rng_state(), "config": cfg.to_dict(),
             "world_size": world_size}
    if scaler is not None:
        state["grad_scaler"] = scaler.state_dict()
    for adversary in adversaries:
        state.update(adversary.state())
    return state


class Reporter:
    """Rank 0's outputs: progress bar, TensorBoard, preview PNG, held-out scores and checkpoints."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, model: SwapModel, optimizer, scaler, data: RunData,
                 device: torch.device, start: int, world_size: int, adversaries: tuple[Adversary, ...] = ()):
        self.cfg, self.run_dir, self.model, self.optimizer, self.scaler = cfg, run_dir, model, optimizer, scaler
        self.adversaries = adversaries
        self.data, self.device, self.world_size = data, device, world_size
        self.faces_per_step = sum(cfg.batch_sizes) * world_size
        run_dir.mkdir(parents=True, exist_ok=True)
        self.bar = progress_bar(desc="pretrain" if cfg.pretrain else "train", total=cfg.steps, initial=start,
                                unit="step")
        self.log = TrainLog(run_dir, start)
        self.history, self.scores, self.saved_step, self.checkpoint = [], [], None, None
        self._tick, self._tick_step = time.monotonic(), start

    def losses(self, step: int, lr: float, warp: bool, loss_a: dict, loss_b: dict) -> None:
        """Log the step's losses, learning rate and speed; update the progress bar."""
        now = time.monotonic()
        rate = (step - self._tick_step) * self.faces_per_step / max(now - self._tick, 1e-9)
        self._tick, self._tick_step = now, step
        entry = {"step": step, "loss_a": loss_a["total"].item(), "loss_b": loss_b["total"].item()}
        self.history.append(entry)
        self.log.scalars(step, {f"a_{k}": v.item() for k, v in loss_a.items()}, "loss")
        self.log.scalars(step, {f"b_{k}": v.item() for k, v in loss_b.items()}, "loss")
        self.log.scalars(step, {"learning_rate": lr, "warp": float(warp), "faces_per_second": rate}, "train")
        self.bar.set_postfix_str(f"loss A {entry['loss_a']:.4f} B {entry['loss_b']:.4f}, {rate:.1f} faces/s",
                                 refresh=False)
        self.bar.update(step - self.bar.n)

    def sync_decoders(self) -> None:
        """Pretraining trains decoder A only: decoder B becomes its copy before anything is scored or saved."""
        if self.cfg.pretrain:
            self.model.decoder_b.load_state_dict(self.model.decoder_a.state_dict())

    def evaluate(self, step: int) -> dict:
        """Score the held-out faces and log the result."""
        self.sync_decoders()
        result = evaluate(self.model, self.data.held_a, self.data.held_b, self.cfg.loss, self.device)
        self.scores.append({"step": step, **result})
        self.log.scalars(step, result, "heldout")
        return result

    def preview(self, step: int) -> None:
        """Rewrite preview.png and log it."""
        self.sync_decoders()
        grid = preview_grid(self.model, self.data.held_a.images[:PREVIEW_FACES],
                            self.data.held_b.images[:PREVIEW_FACES], self.device)
        try:
            write_png(self.run_dir / "preview.png", grid)
        except OSError as exc:  # a preview is worth a line, not the run; the checkpoint's write says more
            self.bar.write(f"preview.png not written ({exc.strerror or exc})")
        self.log.image(step, "preview", grid)

    def save(self, step: int) -> None:
        """Evaluate, preview and write the checkpoint for `step` (once per step)."""
        if self.saved_step == step:
            return
        result = self.evaluate(step)
        self.preview(step)
        state = checkpoint_state(self.cfg, self.model, self.optimizer, step, self.world_size, self.scaler,
                                 self.adversaries)
        self.checkpoint, self.saved_step = save_checkpoint(self.run_dir, state), step
        self.bar.write(f"step {step}: checkpoint saved; held-out A->A {result['a2a_psnr']:.2f} dB "
                       f"SSIM {result['a2a_ssim']:.3f}, B->B {result['b2b_psnr']:.2f} dB SSIM {result['b2b_ssim']:.3f}")

    def close(self) -> None:
        """End the progress bar, flush the TensorBoard log."""
        self.bar.close()
        self.log.close()


def train(cfg: TrainConfig, run_dir: str | Path, resume: dict | None = None, init: dict | None = None) -> TrainResult:
    """Train the run in `run_dir`: anew, from a loaded checkpoint to continue (`resume`), or from the weights of
    another loaded run (`init`, e.g. a pretrained one; its path is `cfg.init`)."""
    cluster = join_cluster(pick_device(cfg.device).type == "cuda")
    try:
        return _train(cfg, Path(run_dir), resume, init, cluster, pick_device(cfg.device, cluster.local_rank))
    finally:
        leave_cluster(cluster)


def _train(cfg: TrainConfig, run_dir: Path, resume: dict | None, init: dict | None, cluster: Cluster,
           device: torch.device) -> TrainResult:
    torch.set_num_threads(cfg.threads or max(1, usable_cpus() // cluster.local_world_size))
    torch.manual_seed(cfg.seed)
    data = load_data(cfg, progress=cluster.is_main)

    # the network and its optimiser: fresh, from a run to start from, or from the checkpoint to continue
    cuda = device.type == "cuda"
    model = SwapModel(ModelConfig.from_dict(cfg.model_config)).to(device)
    if init is not None:  # checked by training.config.check_init
        model.start_from(init["model"], cfg.init_fresh)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, INIT_FRESH[cfg.init_fresh] if cfg.init else (),
                               cfg.lr_fresh)
    amp_dtype = amp_dtype_for(cfg.precision, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    adversary = make_adversary(cfg, device, cluster)
    code_adversary = make_code_adversary(cfg, model, device, cluster)
    adversaries = tuple(a for a in (adversary, code_adversary) if a is not None)
    start = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        if scaler is not None and "grad_scaler" in resume:
            scaler.load_state_dict(resume["grad_scaler"])
        restore_rng(resume["rng"])
        for each in adversaries:
            each.restore(resume)
        start = int(resume["step"])
    if cfg.steps is not None and cfg.steps <= start:
        return TrainResult(start, [], [], False, None)
    trainer = PairTrainer(model, shared_decoder=cfg.pretrain, codes=code_adversary is not None,
                          swap_mask=bool(cfg.swap_mask))
    if cluster.distributed:
        trainer = nn.parallel.DistributedDataParallel(trainer, device_ids=[device.index] if cuda else None)

    report = Reporter(cfg, run_dir, model, optimizer, scaler, data, device, start, cluster.world_size, adversaries) \
        if cluster.is_main else None
    if report and start == 0:
        report.evaluate(0)
    clock = RunClock(cfg, start)
    step, interrupted = start, False
    workers = data_workers(cfg, cluster, cuda)
    try:
        with StopRequest() as stop:
            warp, running = warps_at(cfg, clock.fraction(step)), True
            adversarial = False
            while running:  # one pass per augmentation phase: warped, then (for the last share) unwarped
                batches = PairBatches(data.train_a, data.train_b, cfg.batch_sizes, replace(cfg.augment, warp=warp),
                                      cfg.seed, cluster.rank, data.weights_a, data.weights_b, cfg.color_transfer)
                running = False
                for batch in batch_loader(batches, step, cfg.steps, workers, pin_memory=cuda):
                    lr = learning_rate(cfg, step, clock.fraction(step))
                    set_learning_rate(optimizer, lr)
                    if adversary is not None and not adversarial:  # on for the rest of the run, on every process
                        adversarial = anyone(adversarial_at(cfg, clock.fraction(step)), cluster, device)
                    loss_a, loss_b = train_step(trainer, optimizer, batch, device, cfg.loss, cfg.lr_dropout,
                                                amp_dtype, scaler, adversary if adversarial else None,
                                                code_adversary, cfg.swap_mask)
                    step += 1
                    if report and (step % cfg.log_every == 0 or step == cfg.steps):
                        report.losses(step, lr, warp, loss_a, loss_b)
                    if report and step % cfg.preview_every == 0 and step % cfg.save_every:
                        report.preview(step)
                    if step % cfg.save_every == 0:
                        if report:
                            report.save(step)
                        barrier(cluster)
                    if anyone(stop.requested or clock.out_of_time(), cluster, device):
                        interrupted = stop.requested
                        break
                    if warp and anyone(not warps_at(cfg, clock.fraction(step)), cluster, device):
                        warp, running = False, True  # the last phase: a new loader without the warp
                        break
            if report:
                report.save(step)
    finally:
        if report:
            report.close()
    barrier(cluster)
    if not report:
        return TrainResult(step, [], [], interrupted, None, is_main=False)
    return TrainResult(step, report.history, report.scores, interrupted, report.checkpoint)
