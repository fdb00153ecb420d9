"""A network stream sink: H.264 in MPEG-TS over UDP (`udp://HOST:PORT`), which OBS's Media Source and ffplay open,
or in FLV to an RTMP server (`rtmp://...`), encoded by FFmpeg's own libraries through PyAV.

The loop's output thread only hands each frame over (`write` keeps the newest and returns at once); a
writer thread encodes with x264's low-latency settings (ultrafast, zerolatency, no B-frames, a key
frame every second) and sends. A receiver that is slow or absent costs frames, never the loop's time:
frames the encoder has no time for are dropped and counted.
"""
from __future__ import annotations

import threading
import time
from fractions import Fraction

import cv2
import numpy as np

from live.frame import Frame

CLOCK = 90_000   # MPEG-TS ticks per second
SENT_KEPT = 1000  # hand-over times kept, newest, for latency measurements


class StreamError(RuntimeError):
    """A stream that cannot be opened or written; the message is one line for the user."""


class StreamSink:
    """Streams frames to `url` at up to `fps`; opens at `size` (width, height; made even for H.264)."""

    def __init__(self, url: str, fps: float, size: tuple[int, int]):
        import av

        self.url, self.fps = url, fps
        self.name = f"stream {url}"
        self.width, self.height = size[0] // 2 * 2, size[1] // 2 * 2
        muxer = "flv" if url.startswith("rtmp://") else "mpegts"
        try:
            self._container = av.open(url, mode="w", format=muxer,
                                      options={"fflags": "nobuffer", "flush_packets": "1"} if muxer == "mpegts" else {})
            stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
            stream.codec_context.time_base = Fraction(1, CLOCK)  # frames are stamped by the clock, in 90 kHz ticks
            stream.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0", "g": str(max(1, round(fps)))}
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise StreamError(f"cannot stream to {url}: {exc}") from None
        self._stream = stream
        self.frames = self.dropped = 0
        self.sent_at: dict[int, float] = {}  # pts -> when its frame was handed over (the newest SENT_KEPT)
        self.work_ms: list[float] = []  # the writer thread's time per frame (resize, convert, encode, send), newest
        self._newest: tuple[np.ndarray, float] | None = None
        self._cond = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        self._t0: float | None = None
        self._thread = threading.Thread(target=self._run, name="stream", daemon=True)
        self._thread.start()

    def write(self, frame: Frame) -> None:
        """Hand the frame to the encoder (replacing one it has not taken yet: that one is dropped)."""
        if self._error is not None:
            raise StreamError(f"stream {self.url} stopped: {self._error}")
        with self._cond:
            if self._newest is not None:
                self.dropped += 1
            self._newest = (frame.output, time.perf_counter())
            self._cond.notify()

    def _run(self) -> None:
        import av

        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._newest is not None or self._closing)
                    if self._newest is None:
                        break
                    (image, handed), self._newest = self._newest, None
                if self._t0 is None:
                    self._t0 = handed
                started = time.perf_counter()
                if image.shape[1] != self.width or image.shape[0] != self.height:
                    image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)
                video = av.VideoFrame.from_ndarray(image, format="bgr24")
                video.pts = int(round((handed - self._t0) * CLOCK))
                video.time_base = Fraction(1, CLOCK)
                self.sent_at[video.pts] = handed
                if len(self.sent_at) > SENT_KEPT:
                    del self.sent_at[next(iter(self.sent_at))]
                for packet in self._stream.encode(video):
                    self._container.mux(packet)
                self.frames += 1
                self.work_ms.append((time.perf_counter() - started) * 1e3)
                if len(self.work_ms) > SENT_KEPT:
                    del self.work_ms[:-SENT_KEPT]
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        except Exception as exc:  # reported by the next write, or by close
            self._error = exc
        finally:
            try:
                self._container.close()
            except Exception:  # the container may be broken already; the error above says why
                pass

    def close(self) -> None:
        """Send what is pending, end the stream and close it."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(10)
        if self._error is not None:
            raise StreamError(f"stream {self.url} stopped: {self._error}")
