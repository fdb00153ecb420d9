"""Faults injected through the real code paths: a camera that stalls, sends garbage, changes size, disappears;
sinks that block, raise, or hit a full disk; a model file replaced while it runs; and the soak's leak checks."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from faces import create_landmarker
from live.backends import OnnxBackend
from live.loop import LiveLoop
from live.profiler import Profiler
from live.sinks import BackgroundSink
from live.sources import CameraSource
from live.swapper import FaceSwapper, SwapSettings
from tests.cli_support import ROOT, run_module
from tests.live_support import CheckSink, clip_frames, count_frames


class MisbehavingCamera:
    """A cv2.VideoCapture stand-in over a real clip that, after `after` good frames, does `fault` once:
    'stall' (no frame for 5 s), 'garbage' (10 reads of empty, wrong-dtype and one-pixel arrays), 'resize'
    (the next 30 frames at another size), then goes on delivering good frames."""

    def __init__(self, clip, fault: str, after: int = 20, fps: float = 25.0):
        self.clip, self.fault, self.after, self.fps = clip, fault, after, fps
        self.opens, self._frames, self.reads = 0, clip_frames(clip), 0

    def open(self, device):
        self.opens += 1
        return self

    def isOpened(self):  # noqa: N802 - cv2.VideoCapture's name
        return True

    def set(self, prop, value):
        return True

    def get(self, prop):
        return self.fps if prop == cv2.CAP_PROP_FPS else 0

    def read(self):
        self.reads += 1
        time.sleep(1.0 / self.fps)
        n = self.reads - self.after
        if self.fault == "stall" and n == 1:
            time.sleep(5.0)
        if self.fault == "garbage" and 1 <= n <= 10:
            return True, [np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 3), np.complex64), np.zeros(7)][n % 3]
        frame = next(self._frames, None)
        if frame is None:
            self._frames = clip_frames(self.clip)
            frame = next(self._frames)
        if self.fault == "resize" and 1 <= n <= 30:
            frame = cv2.resize(frame, (320, 240))
        return True, frame

    def release(self):
        pass


def run_camera(camera: MisbehavingCamera, exported_model, seconds: float, sinks=None):
    lines = []
    source = CameraSource(0, opener=camera.open, log=lines.append)
    info = source.open()
    swapper = FaceSwapper(OnnxBackend(exported_model, "CPUExecutionProvider"),
                          create_landmarker("mediapipe", mode="video"), SwapSettings(label=False))
    sink = CheckSink()
    loop = LiveLoop(source, info, swapper, [sink, *(sinks or [])], Profiler(), status=False, log=lines.append)
    timer = threading.Timer(seconds, loop.stop)
    timer.start()
    try:
        profiler = loop.run()
    finally:
        timer.cancel()
        swapper.close()
    return sink.records, lines, profiler, loop


@pytest.mark.parametrize("fault", ["stall", "garbage", "resize"])
def test_a_misbehaving_camera_shows_no_signal_and_recovers_at_one_size(fault, exported_model, data_dir):
    camera = MisbehavingCamera(data_dir / "videos" / "pc-avs" / "00104.mp4", fault)
    records, lines, profiler, loop = run_camera(camera, exported_model, 10.0 if fault == "stall" else 5.0)
    assert {r["shape"] for r in records} == {(224, 224, 3)}, "the output keeps its size"
    signal = [r["signal"] for r in records]
    assert all(signal[:15]) and signal[-10:] == [True] * 10, "good frames before, and again after"
    if fault == "stall":
        gap = [r for r in records if not r["signal"]]
        assert len(gap) >= 20, "no-signal frames while the camera is silent"
        assert loop.capture.stalls == 1 and any("stalled" in line for line in lines)
        assert any("delivers again" in line for line in lines)
    elif fault == "garbage":
        assert loop.capture.bad_frames == 10 and signal.count(False) == 10
    else:
        assert all(signal) and profiler.failed == 0
    assert camera.opens == 1


class BlockingSink:
    """A virtual-camera-like sink whose consumer stops reading: every write blocks for `block_s`."""

    name = "stalled consumer"

    def __init__(self, block_s: float):
        self.block_s, self.frames = block_s, 0

    def write(self, frame):
        time.sleep(self.block_s)
        self.frames += 1

    def close(self):
        pass


class RaisingSink:
    """A sink that fails on its 10th frame."""

    name = "flaky sink"

    def __init__(self):
        self.frames = 0

    def write(self, frame):
        self.frames += 1
        if self.frames == 10:
            raise OSError("device went away")

    def close(self):
        pass


def test_a_blocked_consumer_drops_frames_and_latency_stays_flat(exported_model, data_dir):
    camera = MisbehavingCamera(data_dir / "videos" / "pc-avs" / "00104.mp4", "none")
    slow = BackgroundSink(BlockingSink(0.5))
    records, _, profiler, _ = run_camera(camera, exported_model, 5.0, sinks=[slow])
    assert len(records) >= 90 and slow.dropped >= 80 and slow.inner.frames <= 12
    latency = profiler.summary()["stages_ms"]["end_to_end"]
    assert latency["p95"] < 200, latency  # a blocked consumer costs frames, not latency


def test_a_sink_that_raises_is_closed_and_the_others_go_on(exported_model, data_dir):
    camera = MisbehavingCamera(data_dir / "videos" / "pc-avs" / "00104.mp4", "none")
    flaky = RaisingSink()
    records, lines, _, loop = run_camera(camera, exported_model, 3.0, sinks=[flaky])
    assert flaky.frames == 10 and len(records) > 40
    assert [line for line in lines if "flaky sink failed" in line] == [
        "flaky sink failed and is closed (device went away); the other sinks go on"]
    assert not loop.errors


def test_a_full_disk_keeps_the_video_written_so_far_playable(exported_model, data_dir, tmp_path):
    out = tmp_path / "swapped.mp4"
    limit = 2_000_000  # bytes: the disk "fills up" part way through the clip, a few fragments in

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run([sys.executable, str(ROOT / "run_live.py"), "--model", str(exported_model), "--source",
                             str(data_dir / "videos" / "liveportrait" / "d6.mp4"), "--sink", f"file:{out}",
                             "--no-pacing", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            preexec_fn=small_disk)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "cannot write" in errors[0] and "kept" in errors[0] and "Traceback" not in result.stderr
    frames, size = count_frames(out)
    assert size == (480, 480) and 30 <= frames < 1008, frames


def test_a_model_file_replaced_while_running_changes_nothing(exported_model, tmp_path, astronaut):
    model = tmp_path / "model.onnx"
    model.write_bytes(exported_model.read_bytes())
    backend = OnnxBackend(model, "CPUExecutionProvider")
    crops = np.stack([cv2.resize(astronaut.image, (64, 64))])
    before = backend.run(crops)
    model.write_bytes(b"garbage now")
    after = backend.run(crops)
    model.unlink()
    again = backend.run(crops)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[0], again[0])


def test_a_short_soak_passes_its_leak_checks(exported_model, data_dir, tmp_path):
    out = tmp_path / "soak.json"
    result = run_module("live.soak", "--model", str(exported_model), "--source",
                        str(data_dir / "videos" / "pc-avs" / "00104.mp4"), "--minutes", "1", "--every", "10",
                        "--size", "320x240", "--json", str(out), timeout=300)
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: a check failed, said in its table
    import json
    report = json.loads(out.read_text())
    assert len(report["rows"]) >= 5
    # the leak checks decide here; fps and latency drift are timings, which a busy 2-core CI machine makes
    # noisy: they are the soak command's figures, not this test's (its exit status still reflects them)
    leaks = {name: ok for name, ok in report["checks"].items() if name.startswith(("memory", "file", "threads"))}
    assert len(leaks) == 3 and all(leaks.values()), report["checks"]
    assert result.returncode == (0 if report["passed"] else 1)
    assert all(key in report["rows"][0] for key in ("fps_in", "fps_out", "dropped", "latency_p95_ms", "rss_mib",
                                                    "fds", "threads"))


def test_training_killed_at_random_moments_resumes_to_the_same_end(faceset_a, faceset_b, tmp_path):
    """SIGKILL at 20 random moments of a short run (train and pretrain alike: the same trainer); every resume
    finds a loadable checkpoint, and the run ends at the step count it was asked for.

    The moments are drawn from the run's training time, not from the process's start: each attempt waits
    until the run has written a checkpoint of its own (so it is past start-up and resuming), then kills it
    at a random moment among its next steps and checkpoint writes. Timing from the launch instead made the
    test depend on how fast a machine imports torch: on a slow one every kill landed before the first step."""
    from training.checkpoint import load_checkpoint

    run = tmp_path / "run"
    ckpt = run / "checkpoint.pt"
    steps = 160  # 20 attempts reached step ~100 here; each does at least one save of 2 steps
    base = ["-m", "training.train", "--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b), "--out", str(run),
            "--steps", str(steps), "--width", "0.25", "--resolution", "64", "--batch-size", "2", "--threads", "1",
            "--workers", "0", "--save-every", "2", "--preview-every", "1000"]
    rng = np.random.default_rng(5)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed_steps = []
    for kill in range(20):
        before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
        proc = subprocess.Popen([sys.executable, *base, *(["--resume"] if before is not None else [])], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if ckpt.exists() and ckpt.stat().st_mtime_ns != before:
                break  # this attempt is training: it has saved once
            time.sleep(0.02)
        assert proc.poll() is None, f"attempt {kill} ended before it could be killed (exit {proc.returncode})"
        time.sleep(rng.uniform(0.0, 0.5))
        proc.kill()
        proc.wait()
        killed_steps.append(load_checkpoint(run)["step"])  # loadable after every kill
    assert killed_steps == sorted(killed_steps) and killed_steps[-1] < steps, killed_steps
    final = subprocess.run([sys.executable, *base, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    assert load_checkpoint(run)["step"] == steps
