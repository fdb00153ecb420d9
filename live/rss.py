"""Process figures for the benchmarks: resident memory (RSS) sampled once a second in a thread, and the load."""
from __future__ import annotations

import threading
import time

import numpy as np
import psutil


def current_rss() -> int | None:
    """This process's resident set size in bytes now (psutil), or None where the OS does not tell."""
    try:
        return psutil.Process().memory_info().rss
    except (psutil.Error, OSError):
        return None


def load_average() -> float | None:
    """The machine's 1-minute load average (psutil emulates it on Windows), or None: other work skews timings."""
    try:
        return psutil.getloadavg()[0]
    except (psutil.Error, OSError, AttributeError):
        return None


class RssSampler:
    """Samples `current_rss()` every `period_s` seconds between start() and stop(); `summary()` gives the figures."""

    def __init__(self, period_s: float = 1.0):
        self.period_s = period_s
        self.samples: list[tuple[float, int]] = []  # (seconds since start, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)
        self._t0 = 0.0
        self.end: int | None = None

    def start(self) -> "RssSampler":
        """Take the first sample now and keep sampling in the background."""
        self._t0 = time.perf_counter()
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling and take the end figure (after the run, kept apart from the samples taken during it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.end = current_rss()

    def _sample(self) -> None:
        value = current_rss()
        if value is not None:
            self.samples.append((time.perf_counter() - self._t0, value))

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def summary(self, warmup_s: float = 5.0) -> dict:
        """RSS in MiB at the start, at its peak, during the run's last sample and after the run; and its growth during
        the run after `warmup_s`: last minus first sample after the warm-up, and the slope of the line through
        those samples (MiB per minute)."""
        if not self.samples:
            return {"available": False}
        mib = [(t, v / 2**20) for t, v in self.samples]
        settled = [(t, v) for t, v in mib if t >= warmup_s] or mib[-1:]
        slope = float(np.polyfit(*zip(*settled), 1)[0] * 60) if len(settled) >= 3 else float("nan")
        end = mib[-1][1] if self.end is None else self.end / 2**20
        return {"available": True, "start_mib": mib[0][1], "peak_mib": max(v for _, v in mib + [(0, end)]),
                "last_in_run_mib": mib[-1][1], "end_mib": end, "warmup_s": warmup_s,
                "growth_after_warmup_mib": settled[-1][1] - settled[0][1], "slope_mib_per_min": slope,
                "samples": [{"t": round(t, 2), "mib": round(v, 2)} for t, v in mib]}
