"""The preview window in a real X display (Xvfb): it shows the swapped frames, q ends the run cleanly, nothing
is printed about threads or timers; and a truncated video gives exactly one line, with no FFmpeg lines."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from tests.cli_support import ROOT, assert_process_error, ctrl_c_as_from_a_terminal, run_live, run_module

TITLE = "swapcam-window-test"


@pytest.fixture(scope="module")
def display():
    """A virtual X display (Xvfb, installed by .ci/run) on a free display number; yields its DISPLAY value."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed (apt-get install xvfb xdotool; .ci/run installs them)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def still_clip(astronaut, tmp_path_factory):
    """A 60 s clip of the astronaut photo (10 fps), so the window has a steady picture to show for as long as a busy
    machine takes to start run_live and map its window (up to 60 s)."""
    path = tmp_path_factory.mktemp("clip") / "astronaut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for _ in range(600):
        writer.write(astronaut.image)
    writer.release()
    return path


def screenshot(display: str) -> np.ndarray:
    """The whole X screen as a BGR image, through python-xlib."""
    from Xlib import X
    from Xlib import display as xdisplay

    connection = xdisplay.Display(display)
    try:
        screen = connection.screen()
        width, height = screen.width_in_pixels, screen.height_in_pixels
        raw = screen.root.get_image(0, 0, width, height, X.ZPixmap, 0xFFFFFFFF)
        return np.frombuffer(raw.data, np.uint8).reshape(height, width, 4)[..., :3].copy()
    finally:
        connection.close()


def xdotool(display: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "DISPLAY": display})


def test_the_window_shows_the_frames_and_q_ends_the_run(display, still_clip, exported_model, astronaut, tmp_path):
    out = tmp_path / "also.mp4"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_live.py"), "--model", str(exported_model), "--source",
                             str(still_clip), "--sink", f"window:{TITLE}", "--sink", f"file:{out}", "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"})
    try:
        window = ""
        deadline = time.monotonic() + 60
        while not window and time.monotonic() < deadline:
            window = xdotool(display, "search", "--name", TITLE).stdout.strip()
            time.sleep(0.2)
        assert window, "the window never appeared"
        # the photo's top-left corner lies far from the face: the swap leaves it as it is. The window can be mapped
        # before its first frame is drawn (a busy CI machine once took longer than 1.5 s), so look until it is.
        patch = astronaut.image[10:130, 10:170]
        score, deadline = 0.0, time.monotonic() + 30
        while score <= 0.9 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            score = float(cv2.matchTemplate(screenshot(display), patch, cv2.TM_CCOEFF_NORMED).max())
        if score <= 0.9 and proc.poll() is not None:  # the clip ran out, or run_live failed: say which
            pytest.fail(f"run_live ended (code {proc.returncode}) before its frame was seen on the screen: "
                        f"{proc.communicate()[1][-2000:]}")
        assert score > 0.9, f"the frame's pixels are not on the screen (best match {score:.2f})"
        xdotool(display, "key", "--window", window.splitlines()[0], "q")
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "window closed: stopping" in err
    for word in ("QObject", "Timer", "thread", "Traceback"):
        assert word not in err, err
    assert out.is_file() and not list(tmp_path.glob(".*partial*")), "the file sink was finalized"


def test_ctrl_c_with_a_window_ends_cleanly(display, still_clip, exported_model, tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_live.py"), "--model", str(exported_model), "--source",
                             str(still_clip), "--sink", f"window:{TITLE}-2", "--quiet"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_from_a_terminal,
                            env={**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"})
    try:
        deadline, found = time.monotonic() + 60, ""
        while not found and time.monotonic() < deadline and proc.poll() is None:
            found = xdotool(display, "search", "--name", f"{TITLE}-2").stdout.strip()
            time.sleep(0.2)
        # Ctrl-C only into a run that is showing its window; else say what happened
        if not found or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"no Ctrl-C sent: window found: {bool(found)}, run_live exit code: {proc.poll()}; "
                        f"its stderr: {proc.communicate()[1][-2000:]}")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopping (Ctrl-C)" in err, err
    for word in ("QObject", "Timer", "Traceback"):
        assert word not in err, err


@pytest.mark.parametrize("command", [("training.extract", "--input", "{clip}", "--output", "{out}"),
                                     ("faces", "{clip}"),
                                     ("run_live.py", "--model", "{model}", "--source", "{clip}", "--sink", "null")])
def test_a_truncated_video_is_exactly_one_line(command, data_dir, exported_model, tmp_path):
    clip = tmp_path / "truncated.mp4"
    clip.write_bytes((data_dir / "videos" / "liveportrait" / "d3.mp4").read_bytes()[:200_000])  # no moov atom
    args = [a.format(clip=clip, out=tmp_path / "fs", model=exported_model) for a in command[1:]]
    if command[0] == "run_live.py":
        result, prog = run_live(*args), "run_live.py"
    else:
        result, prog = run_module(command[0], *args), f"python -m {command[0]}"
    assert_process_error(result, prog, "cannot read", str(clip))
    assert "moov" not in result.stderr
