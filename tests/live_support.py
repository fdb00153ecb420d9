"""Test doubles for live/, only where the real thing cannot exist here: an in-memory sink that checks every
output frame, a pyvirtualcam backend standing in for a virtual camera device, and a camera that unplugs."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from live.frame import Frame


def clip_frames(path: Path):
    """Every frame of a video, decoded independently of the loop (the reference the output is compared with)."""
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def count_frames(path: Path) -> tuple[int, tuple[int, int] | None]:
    """(frames decoded, (width, height)) of a video file, reading it to the end."""
    n, size = 0, None
    for frame in clip_frames(path):
        n, size = n + 1, (frame.shape[1], frame.shape[0])
    return n, size


class CheckSink:
    """In-memory sink: compares each output frame with the reference input and keeps the numbers, not the pixels.

    The reference must be decoded apart from the loop, which pastes into the captured frame itself.
    `outside_max` is the largest change outside the frame's face boxes (must be 0), `inside_mean` the
    mean change inside them, `changed_box` the bounding box of every changed pixel; all three are
    None without a reference and for "no signal" frames. `on_frame(sink, frame)` may stop the loop.
    """

    name = "check"

    def __init__(self, reference=None, on_frame=None):
        self.reference = iter(reference) if reference is not None else None
        self.on_frame = on_frame
        self.records: list[dict] = []
        self.closed = False

    def write(self, frame: Frame) -> None:
        ref = next(self.reference) if self.reference is not None and frame.signal else None
        out = frame.output
        record = {"index": frame.index, "shape": out.shape, "dtype": out.dtype, "signal": frame.signal,
                  "failed": frame.failed, "faces": len(frame.aligned), "boxes": list(frame.boxes),
                  "outside_max": None, "inside_mean": None, "changed_box": None}
        if ref is not None and out.shape == ref.shape:  # the loop pastes into the captured frame: compare
            record["inside_mean"] = 0.0                   # with a copy decoded apart from it
            diff = cv2.absdiff(out, ref)
            diff = cv2.max(cv2.max(diff[..., 0], diff[..., 1]), diff[..., 2])  # largest change over the channels
            x, y, w, h = cv2.boundingRect(diff)
            record["changed_box"] = (x, y, x + w, y + h) if w else None
            inside = [diff[y0:y1, x0:x1].copy() for x0, y0, x1, y1 in frame.boxes]
            if inside:
                record["inside_mean"] = float(np.mean(np.concatenate([d.reshape(-1) for d in inside])))
            for x0, y0, x1, y1 in frame.boxes:
                diff[y0:y1, x0:x1] = 0
            record["outside_max"] = int(diff.max())
        self.records.append(record)
        if self.on_frame:
            self.on_frame(self, frame)

    def close(self) -> None:
        self.closed = True


class RecordingCamera:
    """A pyvirtualcam backend (registered with pyvirtualcam.register_backend) that keeps what it is sent.

    Follows pyvirtualcam's Backend protocol: keyword-only constructor, send(1-D uint8), close(),
    device(), native_fourcc(). `refuse` makes the constructor fail like a device with other settings.
    """

    opened: list["RecordingCamera"] = []
    refuse: str | None = None

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw):
        if RecordingCamera.refuse:
            raise RuntimeError(RecordingCamera.refuse)
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "/dev/video-test"
        self.frames: list[np.ndarray] = []
        self.closed = False
        RecordingCamera.opened.append(self)

    def send(self, frame: np.ndarray) -> None:
        assert frame.ndim == 1 and frame.flags["C_CONTIGUOUS"]
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self._device

    def native_fourcc(self):
        return self.fourcc


class UnpluggedCamera:
    """A cv2.VideoCapture stand-in over a real clip that stops delivering after `fail_after` frames, as a camera
    whose USB cable was pulled, and refuses to reopen `dead_opens` times before it is back."""

    def __init__(self, clip: Path, fail_after: int, dead_opens: int, fps: float = 25.0):
        self.clip, self.fail_after, self.dead_opens, self.fps = clip, fail_after, dead_opens, fps
        self.opens = 0
        self.lock = threading.Lock()
        self._frames = clip_frames(clip)

    def open(self, device):
        """The opener CameraSource calls instead of cv2.VideoCapture(device)."""
        with self.lock:
            self.opens += 1
            alive = self.opens == 1 or self.opens > 1 + self.dead_opens
        return _Capture(self, alive, limit=self.fail_after if self.opens == 1 else None)


class _Capture:
    def __init__(self, camera: UnpluggedCamera, alive: bool, limit: int | None):
        self.camera, self.alive, self.limit, self.delivered = camera, alive, limit, 0

    def isOpened(self):  # noqa: N802 - cv2.VideoCapture's name
        return self.alive

    def set(self, prop, value):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: self.camera.fps}.get(prop, 0.0)

    def read(self):
        time.sleep(1.0 / self.camera.fps)
        if not self.alive or (self.limit is not None and self.delivered >= self.limit):
            return False, None
        frame = next(self.camera._frames, None)
        if frame is None:
            return False, None
        self.delivered += 1
        return True, frame

    def release(self):
        self.alive = False


def free_udp_port() -> int:
    """A UDP port on loopback that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
