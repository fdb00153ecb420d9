"""Where frames go: a virtual camera, a preview window, a video or image file, or nowhere (benchmarks).

A sink is named on the command line as `NAME` or `NAME:ARGUMENT` (`vcam`, `vcam:/dev/video5`,
`window`, `file:out.mp4`, `null`) and built from the `SINKS` registry. Every sink has
`write(frame)` and `close()`; sinks that need a fixed frame size take it from the first frame
and resize any later frame of another size.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from live.frame import Frame
from faces.media import IMAGE_SUFFIXES

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


class StopRequested(Exception):
    """Raised by a sink whose user asked to stop (the preview window's q or Esc)."""


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
    """A preview window (cv2.imshow); q or Esc stops the loop."""

    name = "window"

    def __init__(self, title: str = "swapcam"):
        if not has_display():
            raise SinkError("no display for a preview window (DISPLAY is not set); use --sink file:OUT.mp4 instead")
        self.title = title

    def write(self, frame: Frame) -> None:
        """Show the frame and poll the keyboard."""
        try:
            cv2.imshow(self.title, frame.output)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as exc:
            raise SinkError(f"cannot show a preview window: {str(exc).strip().splitlines()[-1]}") from None
        if key in (ord("q"), 27):
            raise StopRequested

    def close(self) -> None:
        """Close the window."""
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:  # never shown, or closed by the user already
            pass


class VideoFileSink:
    """An MP4 (mp4v) or other OpenCV-writable video, written under a temporary name and renamed on close.

    The rename happens only after the writer is released, so the file at `path` is always complete
    and playable; the loop closes its sinks in a finally, on Ctrl-C as at the end of a file.
    """

    def __init__(self, path: str | Path, fps: float):
        self.path, self.fps = Path(path), fps
        if not self.path.parent.is_dir():
            raise SinkError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        self.name = f"file {self.path}"
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame: Frame) -> None:
        """Append the frame (opening the writer at its size on the first one)."""
        image = frame.output
        if self._writer is None:
            self._size = (image.shape[1], image.shape[0])
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                self._writer = None
                raise SinkError(f"cannot write video {self.path} (mp4v at {self._size[0]}x{self._size[1]})")
        self._writer.write(fit(image, self._size))
        self.frames += 1

    def close(self) -> None:
        """Finalize the file and move it to its name."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
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


SINKS: dict[str, Callable[[str, SinkOptions], Sink]] = {
    "vcam": lambda arg, o: VirtualCameraSink(o.fps, arg or None, o.vcam_backend, o.vcam_format, o.size),
    "window": lambda arg, o: WindowSink(arg or "swapcam"),
    "file": _file_sink,
    "null": lambda arg, o: NullSink(),
}


def create_sink(spec: str, options: SinkOptions) -> Sink:
    """The sink a --sink value names (`vcam[:DEVICE]`, `window`, `file:PATH`, `null`)."""
    name, _, arg = spec.partition(":")
    if name not in SINKS:
        raise SinkError(f"unknown sink {spec!r}; choose from {', '.join(n + (':PATH' if n == 'file' else '') for n in SINKS)}")
    return SINKS[name](arg, options)
