"""Where frames go: a virtual camera, a preview window, a video or image file, or nowhere (benchmarks).

A sink is named on the command line as `NAME` or `NAME:ARGUMENT` (`vcam`, `vcam:/dev/video5`,
`window`, `file:out.mp4`, `null`, `udp://127.0.0.1:5000`, `rtmp://...`) and built from the `SINKS` registry. Every sink has
`write(frame)` and `close()`; sinks that need a fixed frame size take it from the first frame
and resize any later frame of another size.
"""
from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from faces.media import IMAGE_SUFFIXES
from live.frame import Frame
from live.queues import END, FrameQueue

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv"}

NO_VIRTUAL_CAMERA = {
    "Linux": "no virtual camera device: load v4l2loopback first, e.g. "
             "`sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=swapcam`",
    "Windows": "no virtual camera: install OBS Studio and start its Virtual Camera once (Start Virtual Camera), then retry",
    "Darwin": "no virtual camera: install OBS Studio 28+ and start its Virtual Camera once so macOS registers it, then retry",
}
NO_DEVICE_HINTS = ("no v4l2 loopback device", "not installed", "not found", "no device")


class SinkError(RuntimeError):
    """A sink that cannot be opened or written; the message is one line for the user."""


class Sink(Protocol):
    """What every frame sink implements."""

    name: str

    def write(self, frame: Frame) -> None:
        """Deliver `frame.output` (BGR uint8)."""

    def close(self) -> None:
        """Flush and release (idempotent)."""


@dataclass(frozen=True)
class SinkOptions:
    """Settings shared by the sinks: output fps, virtual camera device/backend and pixel format."""

    fps: float = 30.0
    size: tuple[int, int] | None = None  # (width, height) the source delivers: the virtual camera opens at it
    live: bool = True  # frames come whether or not we keep up: a sink that cannot keep up loses frames, not time
    vcam_backend: str | None = None
    vcam_format: str = "BGR"


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` resized to (width, height) if it is not that size already."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class NullSink:
    """Throws frames away (for benchmarks)."""

    name = "null"

    def write(self, frame: Frame) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Nothing to release."""


def has_display() -> bool:
    """Whether a window can be shown here."""
    if platform.system() in ("Windows", "Darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class WindowSink:
    """A preview window, shown by the main thread.

    HighGUI wants one thread for its windows (on macOS it must be the main thread; Qt complains at exit
    otherwise), and the loop's main thread is free: the output thread hands each frame over with
    `write`, which keeps only the newest and never waits for the screen, and the main thread calls
    `pump` to show it and read the keys, and `release` at the end. q or Esc, or closing the window,
    ends the run; h shows the other keys, which `keys` maps to actions (live.controls: swap on/off,
    mouth, next model, colour).
    """

    name = "window"
    main_thread = True

    def __init__(self, title: str = "swapcam"):
        if not has_display():
            raise SinkError("no display for a preview window (DISPLAY is not set); use --sink file:OUT.mp4 instead")
        self.title = title
        self.keys: dict[str, tuple[str, Callable[[], None]]] = {}  # key -> (what it does, action)
        self.log: Callable[[str], None] = lambda line: None
        self._newest: np.ndarray | None = None
        self._lock = threading.Lock()
        self._shown = False
        self._help = False

    def write(self, frame: Frame) -> None:
        """Hand the frame to the main thread (the newest replaces one not shown yet)."""
        with self._lock:
            self._newest = frame.output

    def pump(self, wait_ms: int = 10) -> bool:
        """Main thread: show the newest frame, wait up to `wait_ms` for a key; False once the user asked to stop."""
        with self._lock:
            image, self._newest = self._newest, None
        try:
            if image is not None:
                cv2.imshow(self.title, self._with_help(image) if self._help else image)
                self._shown = True
            if not self._shown:
                time.sleep(wait_ms / 1000.0)
                return True
            key = cv2.waitKey(wait_ms) & 0xFF
            closed = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error as exc:
            raise SinkError(f"cannot show a preview window: {str(exc).strip().splitlines()[-1]}") from None
        if key == ord("h"):
            self._help = not self._help
        elif chr(key) in self.keys:
            try:
                self.keys[chr(key)][1]()
            except ValueError as exc:  # a control that cannot act now (no other model, ...) says why
                self.log(f"window: {exc}")
        return key not in (ord("q"), 27) and not closed

    def _with_help(self, image: np.ndarray) -> np.ndarray:
        """A copy of `image` with the keys written over it (the frame itself goes to other sinks unchanged)."""
        lines = ["h  hide this", *(f"{key}  {what}" for key, (what, _) in self.keys.items()), "q  quit"]
        shown = image.copy()
        scale = max(min(image.shape[:2]) / 700.0, 0.4)
        for n, line in enumerate(lines):
            y = int((n + 1) * 26 * scale) + 6
            cv2.putText(shown, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, (0, 0, 0), 4, cv2.LINE_AA)
            cv2.putText(shown, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, (255, 255, 255), 1, cv2.LINE_AA)
        return shown

    def close(self) -> None:
        """Output thread: nothing to do; the main thread releases the window."""

    def release(self) -> None:
        """Main thread: close the window."""
        if self._shown:
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # lets the GUI process the close
            except cv2.error:  # closed by the user already
                pass
            self._shown = False


class BackgroundSink:
    """Runs a sink that may block (a virtual camera whose reader stalls) in a thread of its own.

    `write` hands the frame over and returns: with a live source a frame the sink has had no time for is
    replaced by the newer one (and counted in `dropped`), so a stalled consumer costs frames, never latency;
    without one (`lossless`) it waits, and every frame arrives. The sink's error comes back from the next
    `write` (or from `close`).
    """

    def __init__(self, inner: Sink, lossless: bool = False):
        self.inner, self.name = inner, inner.name
        self.dropped = 0
        self._queue = FrameQueue(1, lossless, self._count_drop)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"sink {inner.name}", daemon=True)
        self._thread.start()

    def _count_drop(self, n: int) -> None:
        self.dropped += n

    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is END:
                return
            try:
                self.inner.write(frame)
            except BaseException as exc:
                self._error = exc
                self._queue.close()
                return

    def write(self, frame: Frame) -> None:
        """Hand `frame` to the sink's thread."""
        if self._error is not None:
            raise self._error
        self._queue.put(frame)

    def close(self) -> None:
        """Let the sink finish what it was given, then close it."""
        self._queue.close()
        self._thread.join(10)
        self.inner.close()
        if self._error is not None:
            raise self._error


class VideoFileSink:
    """A video file, H.264 through FFmpeg's libraries (PyAV), written under a temporary name and renamed on close.

    MP4 (and MOV) is written in fragments, a key frame every second, and Matroska and AVI as they stream,
    so what was written is playable at any moment: after Ctrl-C, after a kill (the .partial file), and
    when the disk fills up (the write fails with one line; the file so far is kept under its name).
    """

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = Path(path), fps
        if not self.path.parent.is_dir():
            raise SinkError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        self.name = f"file {self.path}"
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._container = self._stream = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def _open(self, width: int, height: int) -> None:
        import av

        self._size = (width, height)
        fragmented = self.path.suffix.lower() in (".mp4", ".m4v", ".mov")
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if fragmented else {}
        try:
            self._container = av.open(str(self._tmp), mode="w", options=options)
            stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = width // 2 * 2, height // 2 * 2, "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "18", "g": str(max(1, round(self.fps)))}
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._container = None
            raise SinkError(f"cannot write video {self.path} ({exc})") from None
        self._stream = stream

    def write(self, frame: Frame) -> None:
        """Append the frame (opening the file at its size on the first one)."""
        import av

        image = frame.output
        if self._container is None:
            self._open(image.shape[1], image.shape[0])
        image = fit(image, self._size)
        if image.shape[1] != self._stream.width or image.shape[0] != self._stream.height:
            image = np.ascontiguousarray(image[:self._stream.height, :self._stream.width])
        video = av.VideoFrame.from_ndarray(image, format="bgr24")
        video.pts = self.frames
        try:
            for packet in self._stream.encode(video):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            self._give_up(exc)
        self.frames += 1

    def _give_up(self, exc: BaseException) -> None:
        """The disk is full (or the file cannot grow): keep what was written, under its name, and say so."""
        try:
            self._container.close()
        except Exception:  # it cannot write its end either; the fragments before it stay playable
            pass
        self._container = None
        os.replace(self._tmp, self.path)
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]
        raise SinkError(f"cannot write {self.path} any more ({reason}); the {self.frames} frames written so far "
                        f"are kept") from None

    def close(self) -> None:
        """Finish the file and move it to its name."""
        import av

        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        except (av.FFmpegError, OSError) as exc:
            self._give_up(exc)
        self._container = None
        os.replace(self._tmp, self.path)


class ImageFileSink:
    """Writes frames as images: to one file (each frame replaces the last) or numbered into a folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.folder = self.path.suffix.lower() not in IMAGE_SUFFIXES
        parent = self.path if self.folder else self.path.parent
        if self.folder:
            parent.mkdir(parents=True, exist_ok=True)
        if not parent.is_dir():
            raise SinkError(f"cannot write {self.path}: folder {parent} does not exist")
        self.name = f"images {self.path}"

    def write(self, frame: Frame) -> None:
        """Write the frame."""
        target = self.path / f"{frame.index:06d}.png" if self.folder else self.path
        tmp = target.with_name(f".{target.stem}.partial{target.suffix}")
        if not cv2.imwrite(str(tmp), frame.output):
            raise SinkError(f"cannot write image {target}")
        os.replace(tmp, target)

    def close(self) -> None:
        """Nothing to release."""


class VirtualCameraSink:
    """A pyvirtualcam camera (v4l2loopback on Linux, OBS on Windows/macOS), opened at `size` or the first frame's."""

    def __init__(self, fps: float, device: str | None = None, backend: str | None = None, fmt: str = "BGR",
                 size: tuple[int, int] | None = None):
        import pyvirtualcam

        if fmt not in ("RGB", "BGR"):
            raise SinkError(f"virtual camera format must be RGB or BGR, not {fmt!r}")
        self.fps, self.device, self.backend = fps, device, backend
        self.fmt = pyvirtualcam.PixelFormat[fmt]
        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            raise SinkError(f"unknown virtual camera backend {backend!r}; "
                            f"available: {', '.join(pyvirtualcam.camera.BACKENDS) or 'none'}")
        self.name = f"virtual camera {device or ''}".strip()
        self._camera = None
        self._size: tuple[int, int] | None = None
        if size:
            self._open(*size)

    def _open(self, width: int, height: int) -> None:
        import pyvirtualcam

        try:
            self._camera = pyvirtualcam.Camera(width, height, self.fps, fmt=self.fmt, device=self.device,
                                               backend=self.backend)
        except Exception as exc:  # pyvirtualcam raises RuntimeError listing every backend's refusal
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if any(h in reason.lower() for h in NO_DEVICE_HINTS) and self.device is None:
                raise SinkError(NO_VIRTUAL_CAMERA.get(platform.system(), reason)) from None
            raise SinkError(f"virtual camera {self.device or ''} refused {width}x{height} {self.fmt.name} "
                            f"@ {self.fps:g} fps: {reason}".replace("  ", " ")) from None
        self._size = (width, height)
        self.name = f"virtual camera {self._camera.device} ({self._camera.backend}, {self.fmt.name})"

    def write(self, frame: Frame) -> None:
        """Send the frame in the camera's pixel format (BGR as is, RGB with channels swapped)."""
        image = frame.output
        if self._camera is None:
            self._open(image.shape[1], image.shape[0])
        image = fit(image, self._size)
        if self.fmt.name == "RGB":
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        self._camera.send(np.ascontiguousarray(image))

    def close(self) -> None:
        """Release the camera device."""
        if self._camera is not None:
            self._camera.close()
            self._camera = None


def _file_sink(arg: str, options: SinkOptions) -> Sink:
    if not arg:
        raise SinkError("file sink needs a path: --sink file:OUT.mp4 (or file:FOLDER for numbered images)")
    path = Path(arg)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoFileSink(path, options.fps)
    if path.suffix.lower() in IMAGE_SUFFIXES or not path.suffix:
        return ImageFileSink(path)
    raise SinkError(f"file sink {arg}: use a video ({', '.join(sorted(VIDEO_SUFFIXES))}), "
                    f"an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or a folder")


def _stream_sink(scheme: str) -> Callable[[str, SinkOptions], Sink]:
    def make(arg: str, options: SinkOptions) -> Sink:
        from live.stream_sink import StreamError, StreamSink
        if not arg.startswith("//") or len(arg) < 3:
            raise SinkError(f"a {scheme} sink is {scheme}://HOST:PORT" + ("" if scheme == "udp" else "/PATH"))
        if options.size is None:
            raise SinkError("a stream sink needs the source's frame size")
        try:
            return StreamSink(f"{scheme}:{arg}", options.fps, options.size)
        except StreamError as exc:
            raise SinkError(str(exc)) from None
    return make


SINKS: dict[str, Callable[[str, SinkOptions], Sink]] = {
    "vcam": lambda arg, o: BackgroundSink(VirtualCameraSink(o.fps, arg or None, o.vcam_backend, o.vcam_format, o.size),
                                          lossless=not o.live),
    "window": lambda arg, o: WindowSink(arg or "swapcam"),
    "file": _file_sink,
    "null": lambda arg, o: NullSink(),
    "udp": _stream_sink("udp"),
    "rtmp": _stream_sink("rtmp"),
}


def sink_names() -> str:
    """The --sink forms, for help texts and errors."""
    forms = {"file": "file:PATH", "udp": "udp://HOST:PORT", "rtmp": "rtmp://SERVER/PATH"}
    return ", ".join(forms.get(name, name) for name in SINKS)


def create_sink(spec: str, options: SinkOptions) -> Sink:
    """The sink a --sink value names (`vcam[:DEVICE]`, `window`, `file:PATH`, `null`, `udp://HOST:PORT`,
    `rtmp://SERVER/PATH`)."""
    name, _, arg = spec.partition(":")
    if name not in SINKS:
        raise SinkError(f"unknown sink {spec!r}; choose from {sink_names()}")
    return SINKS[name](arg, options)
