"""Checkpoints under stress: resuming repeats the same losses, a SIGKILL mid-save or a Ctrl-C loses nothing."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from training.checkpoint import checkpoint_path, load_checkpoint
from training.config import new_run_config, resumed_config
from training.losses import LossConfig
from training.trainer import train

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--width", "0.25", "--resolution", "64", "--batch-size", "4", "--threads", "1", "--log-every", "1"]


def small_config(faceset_a, faceset_b, **settings):
    # no last phase without warp, and no adversarial one unless asked: each is placed by the invocation's own length,
    # so a run stopped at 6 of 12 steps would have had its own (test_training_pretrain checks the no-warp phase
    # against a resume with --no-warp)
    base = dict(batch_size=4, lr=5e-4, warmup_steps=3, save_every=1000, preview_every=1000, log_every=1, threads=1,
                no_warp_share=0.0, gan=0.0)
    return new_run_config(faceset_a, faceset_b, "fast", 0.25, 64, **{**base, **settings})


def test_resumed_run_repeats_the_uninterrupted_losses(faceset_a, faceset_b, tmp_path):
    whole = train(small_config(faceset_a, faceset_b, steps=12, workers=1), tmp_path / "whole")
    first = train(small_config(faceset_a, faceset_b, steps=6, workers=0), tmp_path / "split")
    ckpt = load_checkpoint(tmp_path / "split")
    assert ckpt["step"] == 6
    rest = train(resumed_config(ckpt, "split", steps=12, workers=0), tmp_path / "split", ckpt)
    assert [h["step"] for h in first.history + rest.history] == list(range(1, 13))
    assert first.history + rest.history == whole.history  # bit for bit: same batches, weights and optimizer state
    assert load_checkpoint(tmp_path / "split")["step"] == 12


def test_resumed_adversarial_run_repeats_the_uninterrupted_losses(faceset_a, faceset_b, tmp_path):
    gan = dict(gan=0.1, gan_share=1.0, true_face=0.05, swap_mask=0.5, workers=0,  # both discriminators
               gan_patch=18, target_warp="fine",  # a shallower patch discriminator; targets from 2x the faces
               loss=LossConfig(dssim_fine=0.5, focal_freq=50.0),  # half the DSSIM at the fine window; spectra
               crop_resize="cubic",
               color_transfer="rct")  # B's faces in A's colours
    whole = train(small_config(faceset_a, faceset_b, steps=8, **gan), tmp_path / "whole")
    train(small_config(faceset_a, faceset_b, steps=4, **gan), tmp_path / "split")
    ckpt = load_checkpoint(tmp_path / "split")
    assert {"discriminator", "discriminator_optimizer", "code_discriminator", "code_discriminator_optimizer"} <= set(ckpt)
    assert sum(k.endswith(".weight") for k in ckpt["discriminator"]) == 3  # two stride-2 stages and the logits
    rest = train(resumed_config(ckpt, "split", steps=8), tmp_path / "split", ckpt)
    assert rest.history == whole.history[4:]  # the discriminators and their optimisers came back as they were
    assert ckpt["config"]["loss"]["dssim_fine"] == 0.5 and ckpt["config"]["loss"]["focal_freq"] == 50.0
    assert ckpt["config"]["color_transfer"] == "rct"
    plain = train(small_config(faceset_a, faceset_b, steps=8, workers=0, target_warp="fine", crop_resize="cubic",
                               loss=LossConfig(dssim_fine=0.5, focal_freq=50.0), color_transfer="rct"),
                  tmp_path / "plain")
    assert plain.history[0] == whole.history[0] and plain.history[-1] != whole.history[-1]


def run_cli(args: list[str], **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True, **popen)


def wait_for_line(stream, pattern: str, timeout: float) -> str:
    """Read `stream` until a line (ended by a newline, or by the carriage return of a progress bar) matches."""
    deadline = time.monotonic() + timeout
    seen, line = [], ""
    while time.monotonic() < deadline:
        char = stream.read(1)
        if not char:
            break
        if char not in "\r\n":
            line += char
            continue
        seen.append(line)
        if re.search(pattern, line):
            return line
        line = ""
    raise AssertionError(f"never saw {pattern!r}; output was:\n{chr(10).join(seen)}")


def test_sigkill_while_saving_leaves_the_previous_checkpoint(faceset_a, faceset_b, tmp_path):
    # The child trains for real; its second save writes half the checkpoint, says so, and stalls there.
    script = tmp_path / "slow_save.py"
    script.write_text(textwrap.dedent("""
        import io, sys, time, torch
        real_save, calls = torch.save, []

        def half_then_stall(obj, f, *args, **kwargs):
            calls.append(1)
            if len(calls) < 2:
                return real_save(obj, f, *args, **kwargs)
            buf = io.BytesIO()
            real_save(obj, buf, *args, **kwargs)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            f.flush()
            print("inside save", flush=True)
            time.sleep(300)

        if __name__ == "__main__":
            torch.save = half_then_stall
            from training.train import main
            sys.exit(main(sys.argv[1:]))
    """))
    run = tmp_path / "run"
    proc = run_cli([str(script), "--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--out", str(run),
                    "--steps", "50", "--save-every", "4", *SMALL], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_for_line(proc.stdout, "inside save", timeout=180)
        assert any(run.glob(".checkpoint.pt.*.tmp")), "the half-written temp file exists"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.stdout.close()
    ckpt = load_checkpoint(run)
    assert ckpt["step"] == 4
    # and the run continues from it (here as the last, unwarped phase); the next save clears the temp file
    more = train(resumed_config(ckpt, "run", steps=6, workers=0, warp=False), run, ckpt)
    after = load_checkpoint(run)
    assert more.step == 6 and after["step"] == 6 and after["config"]["warp"] is False
    assert not any(run.glob(".checkpoint.pt.*.tmp"))


def test_ctrl_c_saves_a_checkpoint_and_exits_130(faceset_a, faceset_b, tmp_path):
    run = tmp_path / "run"
    proc = run_cli(["-m", "training.train", "--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b),
                    "--out", str(run), *SMALL], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_line(proc.stderr, r"train: ([3-9]|\d\d+)step", timeout=180)  # tqdm's bar, step 3 or later
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped at step ") and "continue with --resume" in last
    step = int(last.split()[3].rstrip(";"))
    assert step >= 3 and load_checkpoint(checkpoint_path(run))["step"] == step
    assert (run / "preview.png").is_file()


def test_torchrun_two_processes_trains_and_saves_one_checkpoint(faceset_a, faceset_b, tmp_path):
    run = tmp_path / "run"
    proc = run_cli(["-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "training.train",
                    "--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--out", str(run),
                    "--steps", "3", "--workers", "0", "--gan", "0.1", "--gan-share", "1", *SMALL],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    assert sorted(p.name for p in run.iterdir() if p.suffix == ".pt") == ["checkpoint.pt"]
    ckpt = load_checkpoint(run)
    assert ckpt["step"] == 3 and ckpt["world_size"] == 2
    assert "discriminator" in ckpt  # the discriminator trained under DistributedDataParallel too
    assert out.count("trained to step 3") == 1, "only rank 0 reports"
