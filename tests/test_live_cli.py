"""run_live.py as a user runs it: a subprocess, one clear line for each bad input, Ctrl-C, backends."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from tests.cli_support import ROOT, assert_process_error, ctrl_c_as_from_a_terminal, run_live, run_module
from tests.live_support import count_frames, free_udp_port

PROG = "run_live.py"


def assert_one_line_error(result, *words: str) -> str:
    """run_live.py's one error line (log lines printed before the mistake showed may stand)."""
    return assert_process_error(result, PROG, *words, alone=False)


@pytest.fixture(scope="module")
def not_swapcam_model(tmp_path_factory) -> Path:
    """A valid ONNX file (identity) with no swapcam contract."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "plain", [x], [y])
    path = tmp_path_factory.mktemp("plain") / "plain.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_help_lists_the_options():
    result = run_live("--help")
    assert result.returncode == 0
    for option in ("--model", "--source", "--sink", "--backend", "--faces", "--color", "--no-label", "--no-pacing",
                   "--demo", "--width", "--fps", "--mask", "--seamless"):
        assert option in result.stdout


def test_bad_inputs_each_get_one_clear_line(exported_model, not_swapcam_model, data_dir, tmp_path):
    clip = str(data_dir / "videos" / "pc-avs" / "00104.mp4")
    dogs = str(data_dir / "images" / "dlib-faces" / "dogs.jpg")
    broken = tmp_path / "broken.mp4"
    broken.write_text("this is not a video\n")
    model = str(exported_model)
    assert_one_line_error(run_live("--model", str(tmp_path / "missing.onnx"), "--source", dogs, "--sink", "null"),
                          "no such model file")
    assert_one_line_error(run_live("--model", str(not_swapcam_model), "--source", dogs, "--sink", "null"),
                          "not a swapcam model")
    assert_one_line_error(run_live("--model", clip, "--source", dogs, "--sink", "null"), "not an ONNX model")
    assert_one_line_error(run_live("--model", model, "--source", "7", "--sink", "null"), "camera 7 does not open")
    assert_one_line_error(run_live("--model", model, "--source", str(broken), "--sink", "null"), "cannot read",
                          "not an image or a video")
    assert_one_line_error(run_live("--model", model, "--source", str(tmp_path / "nope.mp4"), "--sink", "null"),
                          "no such source")
    assert_one_line_error(run_live("--model", model, "--source", clip, "--sink", "tv"), "unknown sink 'tv'")
    assert_one_line_error(run_live("--model", model, "--source", clip, "--sink", f"file:{tmp_path}/no/dir/o.mp4"),
                          "does not exist")
    assert_one_line_error(run_live("--source", clip, "--sink", "null"), "--model is required")


def test_no_virtual_camera_device_says_how_to_get_one(exported_model, data_dir):
    if Path("/dev/video0").exists():
        pytest.skip("this machine has video devices; the message is for machines without a virtual camera")
    result = run_live("--model", str(exported_model), "--source", str(data_dir / "images" / "dlib-faces" / "dogs.jpg"),
                      "--sink", "vcam")
    assert_one_line_error(result, "v4l2loopback", "exclusive_caps=1")


def test_asking_for_a_gpu_that_is_not_there_fails_loudly(exported_model, data_dir):
    import onnxruntime as ort
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA; the GPU path is checked on the device machine")
    dogs = str(data_dir / "images" / "dlib-faces" / "dogs.jpg")
    assert_one_line_error(run_live("--model", str(exported_model), "--source", dogs, "--sink", "null",
                                   "--backend", "cuda"), "CUDAExecutionProvider", "--backend cpu")
    assert_one_line_error(run_live("--model", str(exported_model), "--source", dogs, "--sink", "null",
                                   "--backend", "tensorrt"), "TensorrtExecutionProvider")


def test_auto_and_torch_backends_say_what_runs(exported_model, tiny_checkpoint, astronaut, tmp_path):
    photo = str(astronaut.path)
    result = run_live("--model", str(exported_model), "--source", photo, "--sink", f"file:{tmp_path}/a.png",
                      "--quiet")
    assert result.returncode == 0, result.stderr
    assert "backend: onnxruntime CPUExecutionProvider" in result.stderr
    result = run_live("--model", str(tiny_checkpoint), "--backend", "torch", "--source", photo,
                      "--sink", f"file:{tmp_path}/t.png", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "backend: torch cpu" in result.stderr
    import cv2
    onnx_out, torch_out = cv2.imread(f"{tmp_path}/a.png"), cv2.imread(f"{tmp_path}/t.png")
    assert onnx_out.shape == torch_out.shape == (512, 512, 3)
    assert abs(onnx_out.astype(int) - torch_out).max() <= 3  # the checkpoint and its export swap alike


def test_ctrl_c_leaves_a_playable_file(exported_model, data_dir, tmp_path):
    out = tmp_path / "live.mp4"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_live.py"), "--model", str(exported_model),
                             "--source", str(data_dir / "videos" / "liveportrait" / "d6.mp4"),  # paced: 34 s
                             "--sink", f"file:{out}"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_as_from_a_terminal)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait for two status lines: frames are flowing
        lines.append(proc.stderr.readline())
        if sum("fps" in line for line in lines) >= 2:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=90)  # finalizing waits for a core when the machine is busy
    stderr = "".join(lines) + rest
    assert proc.returncode == 0, stderr
    assert "stopping (Ctrl-C)" in stderr and "Traceback" not in stderr
    frames, size = count_frames(out)
    assert size == (480, 480) and 20 <= frames < 1008
    assert not list(tmp_path.glob(".*partial*"))


def test_demo_builds_its_model_once_and_runs_with_no_camera_gpu_or_display(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path), "SWAPCAM_DEMO_TRAIN_SECONDS": "6", "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    first = run_live("--demo", "--demo-seconds", "3", env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    clip = tmp_path / "swapcam" / "demo" / "demo.mp4"
    assert "no webcam" in first.stderr and "v4l2loopback" in first.stderr
    assert f"writing the swapped clip to {clip}" in first.stderr
    assert "model demo-v1.onnx: astronaut -> grace_hopper" in first.stderr
    assert "end_to_end" in first.stderr and "Traceback" not in first.stderr  # the latency table
    frames, size = count_frames(clip)
    assert size == (640, 480) and frames >= 40  # 3 s at 25 fps, a few dropped at most on a busy machine
    swapped = int(first.stderr.split(" with a face swapped")[0].rsplit("(", 1)[1])
    assert swapped >= 0.9 * frames
    again = run_live("--demo", "--demo-seconds", "1", env=env, timeout=120)
    assert again.returncode == 0 and "using the model built earlier" in again.stderr
    assert "training" not in again.stderr


def test_bench_paces_the_clip_and_reports_latency_and_overhead(exported_model, data_dir, tmp_path):
    """The whole loop with the model overlapping the landmarks (the early runs are counted), a stream sink beside."""
    from live.swapper import SwapSettings
    out = tmp_path / "bench.json"
    overlap = [] if SwapSettings().overlap else ["--overlap"]
    result = subprocess.run([sys.executable, "-m", "live.bench", "--model", str(exported_model), "--source",
                             str(data_dir / "videos" / "pc-avs" / "00104.mp4"), "--fps", "30", "--size", "320x240",
                             "--seconds", "3", "--model-threads", "1", "--json", str(out), *overlap,
                             "--sink", f"udp://127.0.0.1:{free_udp_port()}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for words in ("output", "fps", "dropped", "latency (capture to output) p50", "p99", "per stage p50 / p95",
                  "landmarks", "infer", "overhead ratio", "memory (RSS) start", "peak", "machine: "):
        assert words in result.stdout
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert summary["frames_in"] == 90  # 3 s at 30 fps, delivered whether or not the loop keeps up
    assert summary["frames_out"] + summary["dropped"] == 90
    assert 2.9 <= summary["seconds"] < 6.0
    assert summary["overhead_ratio"] >= 1.0 and summary["run"]["sinks"][0] == "null"
    stream = [line for line in result.stdout.splitlines() if line.startswith("sink stream udp://127.0.0.1:")]
    assert len(stream) == 1 and "its thread's work per frame p50" in stream[0], result.stdout  # the sink's own cost
    assert int(stream[0].split(": ")[1].split(" frames sent")[0]) >= 30
    assert summary["run"]["bench"]["cores"] == os.cpu_count()
    early = summary["run"]["overlap"]
    assert early["early"] >= 0.8 * summary["swapped"] and f"overlap: {early['early']} of" in result.stdout
    memory = report["memory"]  # sampled once a second: start, three more, end
    assert len(memory["samples"]) >= 3 and 50 < memory["start_mib"] <= memory["peak_mib"] < 4096
    bad = run_module("live.bench", "--model", str(exported_model), "--source", str(tmp_path / "none.mp4"))
    assert_process_error(bad, "python -m live.bench", "no such video file")


def test_model_threads_reach_onnxruntime_and_never_spin(exported_model):
    from live.backends import create_backend
    session = create_backend("cpu", exported_model, threads=1).session
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert_one_line_error(run_live("--model", str(exported_model), "--model-threads", "-1"), "--model-threads")
