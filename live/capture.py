"""The capture thread: reads a source into the loop's first queue, and rides out a camera that misbehaves.

With a live source the queue keeps only the newest frame, so the loop never works on a stale one.
A camera's frames leave at the size it started with (one that changes resolution mid-stream is
scaled back to it), so the sinks always get one size. A camera is read by a reader thread of its
own, so that the capture thread sees what the camera does not do:
- it stalls (no frame for STALL_PERIODS frame periods): "no signal" frames at the camera's rate,
  until frames come again;
- it hands over an empty or garbage frame: a "no signal" frame in its place;
- it stops delivering (a read fails, the cable is out): "no signal" frames while it is reopened
  with exponential back-off, until it is back.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable

import cv2
import numpy as np

from live.frame import Frame
from live.profiler import FrameTiming, Profiler
from live.queues import FrameQueue
from live.sources import Source, SourceError, SourceInfo, frame_from_any

STALL_PERIODS = 5  # a camera silent for this many frame periods (at least 0.25 s) has stalled
ENDED = object()   # what the camera reader hands over when a read fails


def no_signal_frame(width: int, height: int, text: str = "no signal") -> np.ndarray:
    """A dark BGR frame with `text` centred: what the sinks show while the camera is away."""
    frame = np.full((max(height, 1), max(width, 1), 3), 32, np.uint8)
    scale = max(min(width, height) / 400.0, 0.4)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(frame, text, ((width - tw) // 2, (height + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (200, 200, 200), max(int(2 * scale), 1), cv2.LINE_AA)
    return frame


class CameraReader(threading.Thread):
    """Reads a camera as fast as it delivers, keeping only the newest frame; ENDED when a read fails."""

    def __init__(self, source: Source, stop: threading.Event):
        super().__init__(name="camera-reader", daemon=True)
        self.source, self.stop = source, stop
        self._cond = threading.Condition()
        self._item = None

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                got = self.source.read()
            except Exception:  # a driver error is a failed read: the camera is reopened
                got = None
            with self._cond:
                self._item = ENDED if got is None else got
                self._cond.notify()
            if got is None:
                return

    def take(self, timeout: float):
        """The newest frame (image, time), ENDED, or None when nothing came within `timeout` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None, timeout)
            item, self._item = self._item, None
            return item


class CaptureThread(threading.Thread):
    """Reads `source` into `queue` until the source ends or `stop` is set, then closes the queue."""

    def __init__(self, source: Source, info: SourceInfo, queue: FrameQueue, profiler: Profiler,
                 stop: threading.Event, backoff: tuple[float, float] = (0.5, 5.0),
                 log: Callable[[str], None] | None = None):
        super().__init__(name="capture", daemon=True)
        self.source, self.info, self.queue, self.profiler, self.stop = source, info, queue, profiler, stop
        self.backoff = backoff
        self.log = log or (lambda line: print(line, file=sys.stderr))
        self.reconnects = self.stalls = self.bad_frames = 0
        self.error: BaseException | None = None
        self._index = 0
        self._size = (info.width, info.height)
        self._period = 1.0 / max(info.fps, 1.0)
        self._blank = no_signal_frame(*self._size)
        self._reader: CameraReader | None = None

    def run(self) -> None:
        try:
            if self.info.reconnect:
                self._watch_camera()
            else:
                while not self.stop.is_set():  # files and image folders: each frame at its own size
                    got = self.source.read()
                    if got is None:
                        break
                    self._emit(frame_from_any(got[0]), got[1], signal=True)
        except BaseException as exc:  # handed to the loop, which reports it and stops
            self.error = exc
        finally:
            self.queue.close()
            if self._reader is not None:
                self._reader.join(2.0)  # a driver's read returns within a frame or two; never close under it
            if self._reader is None or not self._reader.is_alive():
                self.source.close()

    def _checked(self, image) -> np.ndarray:
        """A camera's frame as BGR uint8 at the size it started with (SourceError for one that cannot be a frame)."""
        image = frame_from_any(image)
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        return image

    def _watch_camera(self) -> None:
        """Frames from a camera's reader thread; "no signal" frames while it stalls, sends garbage or is away."""
        stall = max(STALL_PERIODS * self._period, 0.25)
        reader = self._reader = CameraReader(self.source, self.stop)
        reader.start()
        stalled = False
        while not self.stop.is_set():
            item = reader.take(stall if not stalled else self._period)
            if item is ENDED:
                reader.join()
                self._reconnect()
                reader = self._reader = CameraReader(self.source, self.stop)
                reader.start()
                stalled = False
            elif item is None:
                if not stalled:
                    self.stalls += 1
                    self.log(f"{self.info.description} stalled: no frame for {stall:.2f} s")
                stalled = True
                self._emit(self._blank, time.perf_counter(), signal=False)
            else:
                if stalled:
                    self.log(f"{self.info.description} delivers again")
                stalled = False
                try:
                    image = self._checked(item[0])
                except SourceError:  # an empty or garbage frame: shown as "no signal", never fatal
                    self.bad_frames += 1
                    self._emit(self._blank, item[1], signal=False)
                    continue
                self._emit(image, item[1], signal=True)

    def _emit(self, image: np.ndarray, media_time: float, signal: bool) -> None:
        frame = Frame(image=image, index=self._index, media_time=media_time,
                      timing=FrameTiming(captured_at=time.perf_counter()), signal=signal)
        self._index += 1
        self.profiler.frame_in()
        self.queue.put(frame)

    def _reconnect(self) -> None:
        """Send "no signal" frames at the source's rate while reopening it with back-off, until it is back."""
        self.log(f"{self.info.description} stopped delivering frames; reconnecting")
        self.source.close()
        delay, next_try = self.backoff[0], time.perf_counter()
        while not self.stop.is_set():
            now = time.perf_counter()
            if now >= next_try:
                try:
                    self.source.open()
                except SourceError:
                    next_try, delay = now + delay, min(delay * 2, self.backoff[1])
                else:
                    self.reconnects += 1
                    self.log(f"{self.info.description} is back")
                    return
            self._emit(self._blank, now, signal=False)
            self.stop.wait(self._period)
