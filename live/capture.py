"""The capture thread: reads a source into the loop's first queue, and rides out a camera that goes away.

With a live source the queue keeps only the newest frame, so the loop never works on a stale
one. When a camera stops delivering, the thread keeps the sinks fed with "no signal" frames at
the camera's rate while it reopens the camera with exponential back-off.
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


def no_signal_frame(width: int, height: int, text: str = "no signal") -> np.ndarray:
    """A dark BGR frame with `text` centred: what the sinks show while the camera is away."""
    frame = np.full((max(height, 1), max(width, 1), 3), 32, np.uint8)
    scale = max(min(width, height) / 400.0, 0.4)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(frame, text, ((width - tw) // 2, (height + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (200, 200, 200), max(int(2 * scale), 1), cv2.LINE_AA)
    return frame


class CaptureThread(threading.Thread):
    """Reads `source` into `queue` until the source ends or `stop` is set, then closes the queue."""

    def __init__(self, source: Source, info: SourceInfo, queue: FrameQueue, profiler: Profiler,
                 stop: threading.Event, backoff: tuple[float, float] = (0.5, 5.0),
                 log: Callable[[str], None] | None = None):
        super().__init__(name="capture", daemon=True)
        self.source, self.info, self.queue, self.profiler, self.stop = source, info, queue, profiler, stop
        self.backoff = backoff
        self.log = log or (lambda line: print(line, file=sys.stderr))
        self.reconnects = 0
        self.error: BaseException | None = None
        self._index = 0
        self._size = (info.width, info.height)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                got = self.source.read()
                if got is None:
                    if not self.info.reconnect:
                        break
                    self._reconnect()
                    continue
                image, media_time = got
                image = frame_from_any(image)
                self._size = (image.shape[1], image.shape[0])
                self._emit(image, media_time, signal=True)
        except BaseException as exc:  # handed to the loop, which reports it and stops
            self.error = exc
        finally:
            self.queue.close()
            self.source.close()

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
        blank = no_signal_frame(*self._size)
        delay, next_try = self.backoff[0], time.perf_counter()
        period = 1.0 / max(self.info.fps, 1.0)
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
            self._emit(blank, now, signal=False)
            self.stop.wait(period)
