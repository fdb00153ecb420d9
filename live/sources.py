"""Where frames come from: a camera, a video file, an image or a folder of images, chosen by `open_source`.

Every source has the same small interface: `open()` -> SourceInfo (or SourceError, one line for
the user), `read()` -> (BGR frame, media time in seconds) or None when it ends or fails, and
`close()`. A camera that fails is reopened by the capture thread (live/capture.py); a file or an
image folder that ends, ends the run.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from faces import FaceInputError, MediaSource, as_bgr8
from faces.media import media_kind

DEFAULT_FPS = 25.0


class SourceError(ValueError):
    """A source that cannot be opened or read; the message is one line for the user."""


@dataclass(frozen=True)
class SourceInfo:
    """What a source delivers: its name for logs, frame size, frame rate and how it behaves.

    `live`: frames come whether or not the loop keeps up (a camera, a paced file), so the loop
    drops the oldest rather than fall behind; otherwise no frame may be dropped.
    `reconnect`: on failure the source is reopened (a camera) instead of ending the run.
    `stills`: frames are unrelated pictures, not a stream (no tracking, no smoothing).
    """

    description: str
    width: int
    height: int
    fps: float
    live: bool
    reconnect: bool = False
    stills: bool = False


class Source(Protocol):
    """What every frame source implements."""

    def open(self) -> SourceInfo:
        """Open (or reopen) the source; raise SourceError with one line if it cannot."""

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame and its media time in seconds, or None at the end or on failure.

        The frame must be a fresh array on every call: the loop owns it and pastes faces into it.
        """

    def close(self) -> None:
        """Release the device or file (idempotent)."""


@contextlib.contextmanager
def quiet_opencv():
    """Silence OpenCV's own warnings while probing devices and files (we report one line ourselves)."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


def fourcc_text(code: float) -> str:
    """A FOURCC code as its four characters ('MJPG'), or '?' when the driver reports none."""
    code = int(code)
    text = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4))
    return text if code > 0 and text.isprintable() else "?"


class CameraSource:
    """A webcam by index (0, 1, ...) or device path, opened at the asked size, fps and MJPG if the driver agrees."""

    def __init__(self, device: int | str, width: int | None = None, height: int | None = None,
                 fps: float | None = None, mjpg: bool = True,
                 opener: Callable[[int | str], object] = cv2.VideoCapture, log: Callable[[str], None] | None = None):
        self.device, self.width, self.height, self.fps, self.mjpg = device, width, height, fps, mjpg
        self.opener = opener
        self.log = log or (lambda line: print(line, file=sys.stderr))
        self._cap = None
        self._first: np.ndarray | None = None

    def open(self) -> SourceInfo:
        """Open the camera, ask for size/fps/MJPG, read the actual values back and log them."""
        self.close()
        with quiet_opencv():
            cap = self.opener(self.device)
            if not cap.isOpened():
                raise SourceError(f"camera {self.device} does not open (is it connected and not used by another app?)")
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver too should hold no stale frames
            if self.mjpg:
                cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.width), (cv2.CAP_PROP_FRAME_HEIGHT, self.height),
                                (cv2.CAP_PROP_FPS, self.fps)):
                if value:
                    cap.set(prop, value)
            ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise SourceError(f"camera {self.device} opened but delivers no frames")
        self._cap, self._first = cap, frame
        h, w = frame.shape[:2]
        fps = cap.get(cv2.CAP_PROP_FPS) or self.fps or DEFAULT_FPS
        asked = f"{self.width or '-'}x{self.height or '-'} @ {self.fps or '-'}{' MJPG' if self.mjpg else ''}"
        self.log(f"camera {self.device}: asked {asked}, got {w}x{h} @ {fps:g} fps "
                 f"{fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))}")
        return SourceInfo(f"camera {self.device}", w, h, float(fps), live=True, reconnect=True)

    def read(self) -> tuple[np.ndarray, float] | None:
        """The newest frame from the driver, or None if the camera stopped delivering."""
        if self._first is not None:
            frame, self._first = self._first, None
            return frame, time.perf_counter()
        if self._cap is None:
            return None
        ok, frame = self._cap.read()
        return (frame, time.perf_counter()) if ok and frame is not None else None

    def close(self) -> None:
        """Release the camera."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoFileSource:
    """A video file, paced at its own fps (or `fps`) like a camera, or as fast as possible with pacing off.

    `size` resizes every frame to (width, height); `loop` restarts at the end; `seconds` stops
    after that much media time. Frames are read by faces' MediaSource.
    """

    def __init__(self, path: str | Path, pacing: bool = True, fps: float | None = None,
                 size: tuple[int, int] | None = None, loop: bool = False, seconds: float | None = None):
        self.path, self.pacing, self.fps_override = Path(path), pacing, fps
        self.size, self.loop, self.seconds = size, loop, seconds
        self._media: MediaSource | None = None
        self._frames = None
        self._count = 0
        self._start = 0.0
        self.fps = DEFAULT_FPS

    def open(self) -> SourceInfo:
        """Open the file and check that it decodes; raise SourceError if it does not."""
        if not self.path.is_file():
            raise SourceError(f"no such video file: {self.path}")
        try:
            media = MediaSource(self.path)
        except FaceInputError as exc:
            raise SourceError(str(exc)) from None
        if media.kind != "video":
            raise SourceError(f"cannot read {self.path} as a video")
        self._media, self._frames, self._count = media, media.frames(), 0
        self.fps = float(self.fps_override or media.fps or DEFAULT_FPS)
        w, h = self.size or (media.width, media.height)
        return SourceInfo(f"video {self.path.name}", int(w), int(h), self.fps, live=self.pacing)

    def _next_image(self) -> np.ndarray | None:
        try:
            for _ in range(2):  # a second try after rewinding a looped clip
                frame = next(self._frames, None)
                if frame is not None:
                    return frame.image
                if not (self.loop and self._count):
                    return None
                self._frames = self._media.frames()
        except FaceInputError as exc:
            raise SourceError(str(exc)) from None
        return None

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame (after waiting for its due time when paced), or None at the end."""
        if self._media is None or (self.seconds is not None and self._count >= self.seconds * self.fps):
            return None
        frame = self._next_image()
        if frame is None:
            return None
        if self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        media_time = self._count / self.fps
        self._count += 1
        if self.pacing:
            if self._count == 1:  # the clock starts at the first read, not at open()
                self._start = time.perf_counter()
            delay = self._start + media_time - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        return frame, media_time

    def close(self) -> None:
        """Stop reading the file."""
        if self._frames is not None:
            self._frames.close()
        self._media, self._frames = None, None


class ImageSource:
    """One image file or every image in a folder (sorted by name), each delivered once."""

    def __init__(self, path: str | Path, fps: float = DEFAULT_FPS):
        self.path, self.fps = Path(path), fps
        self._frames = None
        self._next = 0

    def open(self) -> SourceInfo:
        """List the images and check the first one reads."""
        try:
            media = MediaSource(self.path)
        except FaceInputError as exc:
            raise SourceError(str(exc)) from None
        if media.kind == "video" or not media.width:
            raise SourceError(f"no readable image in {self.path}")
        self._frames, self._next = media.frames(), 0
        return SourceInfo(f"images {self.path.name}", media.width, media.height, self.fps, live=False, stills=True)

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next image (unreadable ones are skipped with a line on stderr), or None after the last."""
        for frame in self._frames or ():
            n = self._next
            self._next += 1
            if frame.image is None:
                print(f"skipping {Path(frame.origin).name}: {frame.error}", file=sys.stderr)
                continue
            return frame.image, n / self.fps
        return None

    def close(self) -> None:
        """Stop reading."""
        if self._frames is not None:
            self._frames.close()
            self._frames = None


class PhotoMotionSource:
    """A moving clip made from one photo: a slow pan, zoom and tilt around `centre`, paced at `fps` for `seconds`."""

    def __init__(self, photo: np.ndarray, centre: tuple[float, float], size: tuple[int, int] = (640, 480),
                 fps: float = DEFAULT_FPS, seconds: float = 20.0):
        self.photo, self.centre, self.size, self.fps, self.seconds = as_bgr8(photo), centre, size, fps, seconds
        self._count = 0
        self._start = 0.0

    def open(self) -> SourceInfo:
        """Start the clip."""
        self._count = 0
        return SourceInfo("moving photo", self.size[0], self.size[1], self.fps, live=True)

    def frame_at(self, t: float) -> np.ndarray:
        """The clip's frame at `t` seconds."""
        w, h = self.size
        angle = 8.0 * math.sin(2 * math.pi * t / 5.0)
        scale = (min(w, h) / max(self.photo.shape[:2])) * (1.6 + 0.25 * math.sin(2 * math.pi * t / 7.0))
        matrix = cv2.getRotationMatrix2D(self.centre, angle, scale)
        matrix[:, 2] += (w / 2 - self.centre[0] + 40 * math.sin(2 * math.pi * t / 6.0),
                         h / 2 - self.centre[1] + 20 * math.sin(2 * math.pi * t / 4.0))
        return cv2.warpAffine(self.photo, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame at its due time, or None once `seconds` have played."""
        media_time = self._count / self.fps
        if media_time >= self.seconds:
            return None
        self._count += 1
        if self._count == 1:  # the clock starts at the first read, not at open()
            self._start = time.perf_counter()
        delay = self._start + media_time - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        return self.frame_at(media_time), media_time

    def close(self) -> None:
        """Nothing to release."""


def camera_device(spec: str) -> int | str | None:
    """The camera a --source value names (an index like '0' or a /dev/video path), else None."""
    if spec.isdigit():
        return int(spec)
    if spec.startswith("/dev/video"):
        return spec
    return None


def open_source(spec: str, pacing: bool = True, width: int | None = None, height: int | None = None,
                fps: float | None = None, mjpg: bool = True) -> tuple[Source, SourceInfo]:
    """Build and open the source a --source value names: camera index/path, image, image folder or video."""
    device = camera_device(spec)
    if device is not None:
        source: Source = CameraSource(device, width, height, fps, mjpg)
    else:
        path = Path(spec)
        if not path.exists():
            raise SourceError(f"no such source: {spec} (give a camera index, a video, an image or a folder)")
        try:
            kind = media_kind(path)
        except FaceInputError as exc:
            raise SourceError(str(exc)) from None
        if kind != "video":
            source = ImageSource(path)
        else:
            size = (width, height) if width and height else None
            source = VideoFileSource(path, pacing=pacing, fps=fps, size=size)
    return source, source.open()


def frame_from_any(image: np.ndarray) -> np.ndarray:
    """A frame of any depth and 1, 3 or 4 channels as contiguous BGR uint8 (SourceError if impossible)."""
    try:
        return as_bgr8(image)
    except FaceInputError as exc:
        raise SourceError(str(exc)) from None
