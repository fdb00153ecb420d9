"""Per-frame stage timings and the collector that turns them into rates, percentiles and reports.

Every frame carries a `FrameTiming` from capture to sink. Its stages add up to the frame's
capture-to-output latency exactly: each stage is charged the time since the previous one ended
(so a thread waiting for a core or the GIL between stages is counted, not lost):

    capture_wait  captured, waiting for the landmark stage to pick it up
    landmarks     landmark detection and smoothing
    align         alignment crops
    queue         waiting between the landmark stage and the swap stage, and before output
    infer         the model (with the overlap, the default: only the wait for it beyond the landmark search)
    composite     colour transfer, mask, paste back, label
    output        writing to every sink

The `Profiler` collects them (thread-safe), counts frames in, out, dropped and failed, and gives
the status line, the p50/p95/p99/max table and a JSON report.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

STAGES = ("capture_wait", "landmarks", "align", "queue", "infer", "composite", "output")
PROCESSING_STAGES = ("landmarks", "align", "infer", "composite", "output")  # work, not waiting
PERCENTILES = (50, 95, 99)


@dataclass
class FrameTiming:
    """Stage durations of one frame in seconds, plus its capture and delivery times (time.perf_counter)."""

    captured_at: float
    capture_wait: float = 0.0
    landmarks: float = 0.0
    align: float = 0.0
    queue: float = 0.0
    infer: float = 0.0
    composite: float = 0.0
    output: float = 0.0
    delivered_at: float | None = None
    mark: float | None = None  # perf_counter up to which the frame's time has been charged to its stages

    def __post_init__(self):
        if self.mark is None:
            self.mark = self.captured_at

    @property
    def latency(self) -> float:
        """Capture-to-output latency in seconds (0 until delivered)."""
        return 0.0 if self.delivered_at is None else self.delivered_at - self.captured_at

    def stages(self) -> dict[str, float]:
        """Stage name -> seconds, in pipeline order."""
        return {s: getattr(self, s) for s in STAGES}

    def add(self, stage: str, seconds: float) -> None:
        """Add `seconds` to `stage`."""
        setattr(self, stage, getattr(self, stage) + seconds)

    def lap(self, stage: str) -> float:
        """Charge the time since the previous lap (or the capture) to `stage`; returns the time now."""
        now = time.perf_counter()
        self.add(stage, now - self.mark)
        self.mark = now
        return now


class StageTimer:
    """Context manager that, when its block ends (even by an exception), charges `stage` with the frame's time
    since its previous lap: the block's work plus any wait for a core just before it."""

    __slots__ = ("timing", "stage")

    def __init__(self, timing: FrameTiming, stage: str):
        self.timing, self.stage = timing, stage

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.timing.lap(self.stage)
        return False


def percentiles(values, points=PERCENTILES) -> dict[str, float]:
    """p50/p95/p99 and max of `values` (NaN when empty), keyed 'p50', ..., 'max'."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {**{f"p{p}": float("nan") for p in points}, "max": float("nan"), "mean": float("nan")}
    out = {f"p{p}": float(np.percentile(arr, p)) for p in points}
    out["max"] = float(arr.max())
    out["mean"] = float(arr.mean())
    return out


@dataclass(frozen=True)
class FrameRecord:
    """What the profiler keeps of one delivered frame."""

    index: int
    faces: int
    failed: bool
    signal: bool
    timing: FrameTiming

    def to_dict(self) -> dict:
        """JSON-ready: stage times and latency in milliseconds."""
        t = self.timing
        return {"index": self.index, "faces": self.faces, "failed": self.failed, "signal": self.signal,
                "captured_at": t.captured_at, "latency_ms": t.latency * 1e3,
                **{f"{s}_ms": v * 1e3 for s, v in t.stages().items()}}


RECORD_FIELDS = ("index", "faces", "failed", "signal", "captured_at", "delivered_at", *STAGES)
_COLUMN = {name: i for i, name in enumerate(RECORD_FIELDS)}
CHUNK_FRAMES = 1024


class FrameLog:
    """Per-frame records as rows of float64 chunks: 104 bytes a frame and no Python objects per frame.

    Keeps the newest `capacity` frames (None: all). `reserve(n)` allocates and touches room for n
    frames up front, so a run of known length (the benchmark) adds nothing to memory as it goes.
    Iterating gives FrameRecord objects, built on demand.
    """

    def __init__(self, capacity: int | None = None):
        self.capacity = capacity
        self._chunks: list[np.ndarray] = []
        self._spare: list[np.ndarray] = []  # allocated, not yet (or no longer) holding records
        self._first = 0  # row of the oldest record in self._chunks[0]
        self._count = 0

    def reserve(self, frames: int) -> None:
        """Make room for `frames` more records now (bounded by the capacity)."""
        frames = min(frames, self.capacity) if self.capacity is not None else frames
        have = len(self._chunks) * CHUNK_FRAMES - self._first - self._count + len(self._spare) * CHUNK_FRAMES
        for _ in range(max(0, -(-(frames - have) // CHUNK_FRAMES))):
            self._spare.append(np.full((CHUNK_FRAMES, len(RECORD_FIELDS)), np.nan))  # full, not empty: pages touched

    def append(self, index: int, faces: int, failed: bool, signal: bool, timing: FrameTiming) -> None:
        """Add one delivered frame, dropping the oldest beyond the capacity."""
        row = self._first + self._count
        if row == len(self._chunks) * CHUNK_FRAMES:
            self._chunks.append(self._spare.pop() if self._spare
                                else np.empty((CHUNK_FRAMES, len(RECORD_FIELDS))))
        delivered = timing.delivered_at if timing.delivered_at is not None else np.nan
        self._chunks[row // CHUNK_FRAMES][row % CHUNK_FRAMES] = (
            index, faces, failed, signal, timing.captured_at, delivered, *(getattr(timing, st) for st in STAGES))
        self._count += 1
        if self.capacity is not None and self._count > self.capacity:
            self._first += 1
            self._count -= 1
            if self._first == CHUNK_FRAMES:  # the oldest chunk is all dropped: recycle it
                self._spare.append(self._chunks.pop(0))
                self._first = 0

    def __len__(self) -> int:
        return self._count

    def newest(self, frames: int) -> np.ndarray:
        """A copy of the newest `frames` records (fewer when there are fewer), oldest first."""
        rows, out = min(frames, self._count), []
        end = self._first + self._count
        for row in range(end - rows, end):
            out.append(self._chunks[row // CHUNK_FRAMES][row % CHUNK_FRAMES])
        return np.array(out) if out else np.zeros((0, len(RECORD_FIELDS)))

    def array(self) -> np.ndarray:
        """A copy of the records, oldest first: one row per frame, columns as in RECORD_FIELDS."""
        if not self._count:
            return np.zeros((0, len(RECORD_FIELDS)))
        return np.concatenate(self._chunks)[self._first:self._first + self._count]

    def __iter__(self):
        for row in self.array():
            yield record_from_row(row)


def record_from_row(row: np.ndarray) -> FrameRecord:
    """The FrameRecord of one FrameLog row."""
    delivered = float(row[_COLUMN["delivered_at"]])
    timing = FrameTiming(captured_at=float(row[_COLUMN["captured_at"]]),
                         delivered_at=None if np.isnan(delivered) else delivered,
                         **{st: float(row[_COLUMN[st]]) for st in STAGES})
    return FrameRecord(int(row[0]), int(row[1]), bool(row[2]), bool(row[3]), timing)


class Profiler:
    """Thread-safe collector of frame records and counters (in, out, dropped, failed).

    Keeps the last `max_records` frames in a FrameLog (None: all of them, for a --profile report),
    so a camera left running for hours does not grow without bound; the counters cover the whole run.
    """

    def __init__(self, max_records: int | None = 100_000, window_s: float = 1.0):
        self._lock = threading.Lock()
        self.window_s = window_s
        self.records = FrameLog(max_records)
        self.frames_in = self.frames_out = self.dropped = self.failed = 0
        self.started_at = time.perf_counter()
        self.stopped_at: float | None = None
        self._recent_in: deque[float] = deque()
        self._recent_out: deque[tuple[float, float]] = deque()  # (delivered_at, latency)
        self.info: dict = {}  # what ran: backend, source, sinks; goes into the report

    def frame_in(self) -> None:
        """Count one captured frame."""
        now = time.perf_counter()
        with self._lock:
            self.frames_in += 1
            self._recent_in.append(now)
            self._trim(now)  # the windows stay one second long even when nobody asks for the status line

    def frame_dropped(self, count: int = 1) -> None:
        """Count frames thrown away because a later one replaced them."""
        with self._lock:
            self.dropped += count

    def frame_out(self, index: int, timing: FrameTiming, faces: int = 0, failed: bool = False,
                  signal: bool = True) -> None:
        """Record one frame that reached the sinks."""
        with self._lock:
            self.frames_out += 1
            self.failed += int(failed)
            now = timing.delivered_at or time.perf_counter()
            self._recent_out.append((now, timing.latency))
            self._trim(now)
            self.records.append(index, faces, failed, signal, timing)

    def stop(self) -> None:
        """Mark the end of the run (for overall rates)."""
        self.stopped_at = time.perf_counter()

    def _trim(self, now: float) -> None:
        while self._recent_in and now - self._recent_in[0] > self.window_s:
            self._recent_in.popleft()
        while self._recent_out and now - self._recent_out[0][0] > self.window_s:
            self._recent_out.popleft()

    def live_figures(self, stage_frames: int = 30) -> dict:
        """Figures of the last window: fps in and out, dropped and failed so far, latency p50/p95 (ms), and each
        stage's median over the last `stage_frames` frames (ms), for the status line and the control page."""
        now = time.perf_counter()
        with self._lock:
            self._trim(now)
            fps_in = len(self._recent_in) / self.window_s
            fps_out = len(self._recent_out) / self.window_s
            lat = percentiles([l for _, l in self._recent_out])
            dropped, failed = self.dropped, self.failed
            recent = self.records.newest(stage_frames)
        stages = {st: float(np.median(recent[:, _COLUMN[st]]) * 1e3) if len(recent) else 0.0 for st in STAGES}
        return {"fps_in": fps_in, "fps_out": fps_out, "dropped": dropped, "failed": failed,
                "latency_p50_ms": lat["p50"] * 1e3, "latency_p95_ms": lat["p95"] * 1e3, "stages_ms": stages}

    def status_line(self) -> str:
        """One line: fps in and out over the last window, dropped and failed frames, latency p50/p95."""
        f = self.live_figures()
        return (f"in {f['fps_in']:5.1f} fps | out {f['fps_out']:5.1f} fps | dropped {f['dropped']} | failed "
                f"{f['failed']} | latency p50 {f['latency_p50_ms']:5.1f} ms p95 {f['latency_p95_ms']:5.1f} ms")

    def summary(self) -> dict:
        """Counts, overall rates and per-stage / end-to-end percentiles in milliseconds."""
        with self._lock:
            rows = self.records.array()
            counts = {"frames_in": self.frames_in, "frames_out": self.frames_out,
                      "dropped": self.dropped, "failed": self.failed}
        end = self.stopped_at or time.perf_counter()
        elapsed = max(end - self.started_at, 1e-9)
        col = lambda name: rows[:, _COLUMN[name]]  # noqa: E731
        live = rows[col("signal") > 0]
        at = lambda name: live[:, _COLUMN[name]]  # noqa: E731
        ms = lambda vals: {k: v * 1e3 for k, v in percentiles(vals).items()}  # noqa: E731
        stages = {st: ms(at(st)) for st in STAGES}
        latency = at("delivered_at") - at("captured_at")
        stages["end_to_end"] = ms(np.where(np.isnan(latency), 0.0, latency))  # as FrameTiming.latency: 0 if undelivered
        processing = sum(at(st) for st in PROCESSING_STAGES) if len(live) else np.zeros(0)
        stages["processing"] = ms(processing)
        core_mean = float(np.mean(at("landmarks") + at("infer"))) if len(live) else 0.0
        overhead = float(np.mean(processing)) / core_mean if core_mean > 0 else float("nan")
        counts["swapped"] = int(((col("faces") > 0) & (col("failed") == 0)).sum())
        return {**counts, "seconds": elapsed, "fps_in": counts["frames_in"] / elapsed,
                "fps_out": counts["frames_out"] / elapsed,
                "dropped_percent": 100.0 * counts["dropped"] / max(counts["frames_in"], 1),
                "overhead_ratio": overhead, "stages_ms": stages, **({"run": self.info} if self.info else {})}

    def table(self) -> str:
        """The latency table: p50, p95, p99 and max per stage and end to end, in milliseconds."""
        s = self.summary()
        rows = [f"{'stage':<14}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}   (ms)"]
        for name, v in s["stages_ms"].items():
            rows.append(f"{name:<14}" + "".join(f"{v[k]:9.1f}" for k in ("p50", "p95", "p99", "max")))
        rows.append(f"frames in {s['frames_in']}, out {s['frames_out']} ({s['swapped']} with a face swapped), "
                    f"dropped {s['dropped']} "
                    f"({s['dropped_percent']:.1f}%), failed {s['failed']}; {s['fps_out']:.1f} fps out "
                    f"over {s['seconds']:.1f} s")
        return "\n".join(rows)

    def write_json(self, path: str | os.PathLike, extra: dict | None = None) -> Path:
        """Write the summary, every frame record and `extra` top-level entries to `path` as JSON (atomically)."""
        path = Path(path)
        with self._lock:
            records = [r.to_dict() for r in self.records]
        report = _finite({"summary": self.summary(), **(extra or {}), "frames": records})
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(report, indent=1, default=_json_default, allow_nan=False))
        os.replace(tmp, path)
        return path


def _finite(value):
    """`value` with every NaN/inf float replaced by None, so the report is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)
