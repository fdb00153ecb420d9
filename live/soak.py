"""Soak test: the live loop on a looped clip, paced like a camera, for minutes or hours, watched for drift and leaks.

    python -m live.soak --model M.onnx --source CLIP --minutes 60 [--fps 30 --size 640x480] [--every 60] --json OUT

Every --every seconds it prints and records a row: fps in and out, frames dropped, latency p50/p95,
resident memory, open file descriptors and threads. At the end it compares the last ten minutes
with the first ten after the warm-up (the first row) - for a short run, its last third with its
first third - and checks for leaks: memory grown by more than LEAK_MIB after the warm-up, or
descriptors or threads growing. It exits 1 when a check fails, so CI can run a short soak.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import numpy as np
import psutil

from faces.cli import USER_ERROR, fail, parse_size
from live.bench import check_json_folder, paced_clip
from live.cli import USER_ERRORS, build_loop, build_parser as live_parser
from live.profiler import _COLUMN, Profiler, percentiles
from live.sinks import NullSink

PROG = "python -m live.soak"
LEAK_MIB = 5.0           # memory may grow this much after the warm-up, no more
DRIFT_WINDOW_S = 600.0   # ten minutes at each end of a long run


def process_figures() -> dict:
    """This process's resident memory (MiB), open file descriptors (handles on Windows) and threads."""
    process = psutil.Process()
    fds = process.num_fds() if hasattr(process, "num_fds") else process.num_handles()
    return {"rss_mib": process.memory_info().rss / 2**20, "fds": fds, "threads": process.num_threads()}


class Watch(threading.Thread):
    """Takes a row every `every` seconds from the profiler's counters and newest records, until stopped."""

    def __init__(self, profiler: Profiler, every: float, log):
        super().__init__(name="soak-watch", daemon=True)
        self.profiler, self.every, self.log = profiler, every, log
        self.rows: list[dict] = []
        self.done = threading.Event()

    def run(self) -> None:
        last = {"t": time.perf_counter(), "in": 0, "out": 0, "dropped": 0}
        start = last["t"]
        while not self.done.wait(self.every):
            now = time.perf_counter()
            p = self.profiler
            frames_in, frames_out, dropped = p.frames_in, p.frames_out, p.dropped
            span = now - last["t"]
            newest = p.records.newest(frames_out - last["out"])
            latency = newest[:, _COLUMN["delivered_at"]] - newest[:, _COLUMN["captured_at"]] if len(newest) else []
            lat = percentiles(list(latency))
            row = {"t_s": round(now - start, 1), "fps_in": (frames_in - last["in"]) / span,
                   "fps_out": (frames_out - last["out"]) / span, "dropped": dropped - last["dropped"],
                   "latency_p50_ms": lat["p50"] * 1e3, "latency_p95_ms": lat["p95"] * 1e3, **process_figures()}
            self.rows.append(row)
            self.log(f"{row['t_s']:7.0f} s  in {row['fps_in']:5.1f} fps  out {row['fps_out']:5.1f} fps  dropped "
                     f"{row['dropped']:3d}  latency p50 {row['latency_p50_ms']:5.1f} p95 {row['latency_p95_ms']:5.1f} ms  "
                     f"RSS {row['rss_mib']:6.1f} MiB  fds {row['fds']}  threads {row['threads']}")
            last = {"t": now, "in": frames_in, "out": frames_out, "dropped": dropped}


def verdict(rows: list[dict], every: float) -> dict:
    """Drift (the run's last stretch against its first after the warm-up) and the leak checks."""
    settled = rows[1:] or rows
    if len(settled) < 2:
        return {"checks": {"enough rows": False}, "passed": False}
    span = max(1, min(round(DRIFT_WINDOW_S / every), len(settled) // 3))
    first, last = settled[:span], settled[-span:]
    mean = lambda rows_, key: float(np.mean([r[key] for r in rows_]))  # noqa: E731
    drift = {key: {"first": mean(first, key), "last": mean(last, key)}
             for key in ("fps_in", "fps_out", "latency_p50_ms", "latency_p95_ms", "rss_mib", "fds", "threads")}
    p95 = drift["latency_p95_ms"]
    checks = {
        f"memory grew at most {LEAK_MIB:g} MiB after the warm-up": settled[-1]["rss_mib"] - settled[0]["rss_mib"] <= LEAK_MIB,
        "file descriptors flat": settled[-1]["fds"] <= settled[0]["fds"],
        "threads flat": settled[-1]["threads"] <= settled[0]["threads"],
        "output fps within 1% of input in every row": all(r["fps_out"] >= 0.99 * r["fps_in"] for r in settled),
        "p95 latency drift at most 10%": p95["last"] <= 1.10 * p95["first"],
    }
    return {"window_rows": span, "drift": drift, "rss_growth_mib": settled[-1]["rss_mib"] - settled[0]["rss_mib"],
            "checks": checks, "passed": all(checks.values())}


def build_parser() -> argparse.ArgumentParser:
    """Options of python -m live.soak."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.strip().splitlines()[0])
    p.add_argument("--model", required=True, help="exported swapcam model")
    p.add_argument("--source", required=True, help="video clip (looped, resized, paced)")
    p.add_argument("--minutes", type=float, required=True, help="how long to run")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second delivered (default 30)")
    p.add_argument("--size", type=parse_size, default=parse_size("640x480"), help="frame size WxH (default 640x480)")
    p.add_argument("--every", type=float, default=60.0, help="seconds between rows (default 60)")
    p.add_argument("--json", help="write every row, the drift and the checks here")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when every check passes, 1 when one fails, USER_ERROR for a user mistake."""
    args = build_parser().parse_args(argv)
    if not check_json_folder(PROG, args.json):
        return USER_ERROR
    if args.minutes * 60 < 3 * args.every:
        return fail(PROG, "--minutes must cover at least three rows (--every seconds each)")
    log = lambda line: print(line, flush=True)  # noqa: E731
    try:
        args.seconds = args.minutes * 60.0
        source, info = paced_clip(args)
        loop = build_loop(live_parser().parse_args(["--quiet"]), source, info, args.model, [NullSink()],
                          log=lambda line: print(line, file=sys.stderr))
    except USER_ERRORS as exc:
        return fail(PROG, exc)
    # the profiler keeps the newest 100,000 frames' records (104 bytes each: 10 MiB, reached after 55 minutes at
    # 30 fps): taken up front, so that what the memory check sees growing is a leak, not that bounded log filling
    loop.profiler.records.reserve(int(args.seconds * args.fps) + 1)
    watch = Watch(loop.profiler, args.every, log)
    watch.start()
    try:
        loop.run()
    finally:
        watch.done.set()
        watch.join()
        loop.swapper.close()
    result = verdict(watch.rows, args.every)
    for check, ok in result["checks"].items():
        print(f"{'ok  ' if ok else 'FAIL'} {check}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": watch.rows, **result, "model": args.model, "source": args.source,
                       "size": list(args.size), "fps": args.fps, "minutes": args.minutes}, f, indent=1)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
