"""The threaded live loop: capture -> landmarks + align -> infer + composite -> sinks.

Four threads joined by bounded queues. With a live source (camera, paced file) the queues drop
their oldest frame when full, so latency never grows; without pacing they block instead, and
every input frame reaches the sinks. The main thread shows the preview window (GUI toolkits want
their windows on one thread, macOS on the main one), prints the status line once a second and
turns Ctrl-C (or SIGTERM) into a clean stop: the stages drain, the sinks are closed, files are
finalized.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Callable, Iterator, Sequence

from live.capture import CaptureThread
from live.frame import Frame
from live.profiler import Profiler, StageTimer
from live.queues import END, FrameQueue
from live.sinks import Sink
from live.sources import Source, SourceInfo
from live.swapper import FaceSwapper

POLL_S = 0.1
WINDOW_POLL_MS = 10  # how long the main thread waits for a key between two frames shown
JOIN_S = 10.0  # a thread stuck in a driver call is left behind (daemon) rather than hang the exit


class LiveLoop:
    """Runs one source through a FaceSwapper into sinks until the source ends or stop() is called."""

    def __init__(self, source: Source, info: SourceInfo, swapper: FaceSwapper, sinks: Sequence[Sink],
                 profiler: Profiler | None = None, status: bool = True, queue_size: int = 1,
                 backoff: tuple[float, float] = (0.5, 5.0), log: Callable[[str], None] | None = None,
                 services: Sequence = ()):
        self.source, self.info, self.swapper, self.sinks = source, info, swapper, list(sinks)
        self.services = list(services)  # run beside the loop (the control page): start() before, stop() after
        self.profiler = profiler or Profiler()
        self.status = status
        self.log = log or (lambda line: print(line, file=sys.stderr))
        self.stop_event = threading.Event()
        lossless = not info.live
        drop = self.profiler.frame_dropped
        self.queues = [FrameQueue(queue_size, lossless, drop) for _ in range(3)]
        self.capture = CaptureThread(source, info, self.queues[0], self.profiler, self.stop_event, backoff, self.log)
        self.errors: list[BaseException] = []
        self.closed_sinks: set[int] = set()  # sinks that failed and were closed early
        self.sinks_closed = threading.Event()  # set by the output thread once every sink is closed
        self._reported_failures = 0
        self._last_error = ""

    def stop(self) -> None:
        """Ask every thread to finish; frames already in flight still reach the sinks."""
        self.stop_event.set()

    def run(self) -> Profiler:
        """Run until the source ends, stop() is called or Ctrl-C; return the profiler. Re-raises a fatal error."""
        threads = [self.capture,
                   threading.Thread(target=self._stage, name="landmarks", daemon=True,
                                    args=(self.queues[0], self.queues[1], self.swapper.locate, "capture_wait")),
                   threading.Thread(target=self._stage, name="swap", daemon=True,
                                    args=(self.queues[1], self.queues[2], self.swapper.swap, "queue")),
                   threading.Thread(target=self._output, name="output", daemon=True)]
        restore = _sigterm_as_interrupt()
        started = []
        try:
            for service in self.services:
                started.append(service.start())
            for t in threads:
                t.start()
            self._wait(threads)
        except KeyboardInterrupt:
            self.log("stopping (Ctrl-C)")
            self.stop()
            # Wait for the output thread to have closed the sinks (it finalizes the files). Not by join(): a join
            # that Ctrl-C interrupted can leave the thread looking finished to every later join (CPython).
            self.sinks_closed.wait(JOIN_S)
        finally:
            self.stop()
            restore()
            self.profiler.stop()
            for service in started:
                service.stop()
            for sink in self.sinks:
                if getattr(sink, "main_thread", False):
                    sink.release()
        if self.capture.error is not None:
            self.errors.insert(0, self.capture.error)
        if self.errors:
            raise self.errors[0]
        return self.profiler

    def _wait(self, threads: list[threading.Thread]) -> None:
        """The main thread's work while the others run: the windows (shown here, never from another thread),
        the status line once a second, and stopping everything on another thread's fatal error."""
        next_status = time.perf_counter() + 1.0
        windows = [s for s in self.sinks if getattr(s, "main_thread", False)]
        while any(t.is_alive() for t in threads):
            if windows:
                if not all([window.pump(WINDOW_POLL_MS) for window in windows]) and not self.stop_event.is_set():
                    self.log("window closed: stopping")
                    self.stop()
            else:
                threads[-1].join(POLL_S)
            if self.errors:
                self.stop()
            if time.perf_counter() >= next_status:
                next_status += 1.0
                if self.status:
                    self.log(self.profiler.status_line())
                self._report_failures()

    def _report_failures(self) -> None:
        failed = self.profiler.failed
        if failed > self._reported_failures and self._last_error:
            self.log(f"{failed - self._reported_failures} frame(s) failed and went out unswapped; last: {self._last_error}")
        self._reported_failures = failed

    def _frames(self, inq: FrameQueue, wait_stage: str) -> Iterator[Frame]:
        """The frames of `inq` until the end of the stream or another thread's fatal error; each is charged
        the time it waited to `wait_stage`."""
        while True:
            frame = inq.get(POLL_S)
            if frame is END:
                return
            if frame is None:
                if self.errors:
                    return
                continue
            frame.timing.lap(wait_stage)
            yield frame

    def _stage(self, inq: FrameQueue, outq: FrameQueue, work: Callable[[Frame], None], wait_stage: str) -> None:
        """Take frames from `inq`, do `work`, pass them on; close `outq` at the end of the stream."""
        try:
            for frame in self._frames(inq, wait_stage):
                work(frame)
                if frame.error:
                    self._last_error = frame.error
                outq.put(frame)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            outq.close()
            if self.errors:
                inq.close()

    def _output(self) -> None:
        """Write each frame to every sink, record its timing; close the sinks at the end, whatever happens.

        A sink that raises is closed and left out, with one line, and the others go on; when none is left,
        the run ends with the last one's error.
        """
        inq = self.queues[2]
        active = list(self.sinks)
        try:
            for frame in self._frames(inq, "queue"):
                with StageTimer(frame.timing, "output"):
                    for sink in list(active):
                        try:
                            sink.write(frame)
                        except Exception as exc:
                            active.remove(sink)
                            self._drop_sink(sink, exc, others=bool(active))
                            if not active:
                                raise
                frame.timing.delivered_at = frame.timing.mark
                self.profiler.frame_out(frame.index, frame.timing, len(frame.aligned), frame.failed, frame.signal)
        except BaseException as exc:
            self.errors.append(exc)
            self.stop()
        finally:
            for q in self.queues:
                q.close()
            self._close_sinks()
            self.sinks_closed.set()

    def _drop_sink(self, sink: Sink, exc: Exception, others: bool) -> None:
        """Close a sink that failed; with other sinks left, say so in one line and go on."""
        try:
            sink.close()
        except Exception:  # it failed already; its first error is the one that matters
            pass
        self.closed_sinks.add(id(sink))
        if others:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.log(f"{sink.name} failed and is closed ({first}); the other sinks go on")

    def _close_sinks(self) -> None:
        for sink in self.sinks:
            if id(sink) in self.closed_sinks:
                continue
            try:
                sink.close()
            except Exception as exc:  # one sink failing to close must not keep the others open
                self.errors.append(exc)


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Treat SIGTERM like Ctrl-C while the loop runs (main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)
