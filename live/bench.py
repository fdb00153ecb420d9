"""Benchmark the whole live loop as a camera would drive it.

    python -m live.bench --model MODEL.onnx --source VIDEO --fps 30 --size 640x480 --seconds 20 [--backend B] --json OUT \
        [--control PORT] [--sink udp://127.0.0.1:5000]

A paced source (the clip resized to --size, delivered at --fps whether or not the loop keeps up,
looping) feeds the full pipeline into the null sink (and the --sink ones, whose own thread's time per
frame is printed). Prints output fps and % dropped frames,
capture-to-output latency p50/p95/p99, per-stage p50/p95, and the overhead ratio: mean work per
frame (landmarks + align + infer + composite + output) / mean (landmarks + infer). A ratio near 1
means the loop adds little around the two unavoidable costs. Then the process's resident memory
(sampled once a second: start, peak, end, and its trend after a warm-up) and the machine's load
average before and after, since other work on the machine skews every timing.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from faces.cli import USER_ERROR, add_setting_options, fail, parse_size, switch_flag
from faces.landmarks import BACKENDS as LANDMARK_BACKENDS
from live.backends import BACKENDS, live_cpu_threads
from live.cli import USER_ERRORS, build_loop, thread_count
from live.cli import build_parser as live_parser
from live.loop import LiveLoop
from live.profiler import STAGES, Profiler
from live.rss import RssSampler, load_average
from live.sinks import NullSink, SinkOptions, create_sink
from live.sources import SourceInfo, VideoFileSource
from live.swapper import SwapSettings

PROG = "python -m live.bench"


def add_clip_options(p: argparse.ArgumentParser, size: str = "640x480") -> None:
    """The options that say which clip is played and how: --source, --fps, --size, --seconds, --json."""
    p.add_argument("--source", required=True, help="video clip (looped, resized, paced)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second delivered (default 30)")
    p.add_argument("--size", type=parse_size, default=parse_size(size), help=f"frame size WxH (default {size})")
    p.add_argument("--seconds", type=float, default=20.0, help="how long to run (default 20)")
    p.add_argument("--json", help="write the summary, the memory figures and every frame's record here")


def build_parser() -> argparse.ArgumentParser:
    """Options of python -m live.bench."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.strip().splitlines()[0])
    p.add_argument("--model", required=True, help="exported swapcam model")
    add_clip_options(p)
    p.add_argument("--backend", default="auto", choices=sorted(BACKENDS), help="inference backend (default auto)")
    p.add_argument("--model-threads", type=thread_count, metavar="N",
                   help=f"CPU threads for the model (default here: {live_cpu_threads()}; 0: the runtime's default)")
    p.add_argument("--landmarks", default="auto", choices=["auto", *LANDMARK_BACKENDS], help="landmark backend")
    p.add_argument("--faces", default="largest", choices=["largest", "all"], help="faces to swap (default largest)")
    add_setting_options(p, SwapSettings, ("overlap",))
    p.add_argument("--control", metavar="[HOST:]PORT", help="serve the control page during the run (to measure the "
                                                            "loop with the page open)")
    p.add_argument("--sink", action="append", default=[], metavar="SINK",
                   help="a sink fed beside the null sink, repeatable (to measure its cost, e.g. udp://127.0.0.1:5000)")
    return p


def report(summary: dict) -> str:
    """The benchmark's printed result."""
    st = summary["stages_ms"]
    lines = [f"output {summary['fps_out']:.1f} fps (input {summary['fps_in']:.1f} fps), "
             f"dropped {summary['dropped_percent']:.1f}%, failed {summary['failed']}, "
             f"faces swapped in {summary['swapped']}/{summary['frames_out']} frames",
             "latency (capture to output) p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms".format(**st["end_to_end"]),
             "per stage p50 / p95 (ms): " + ", ".join(f"{s} {st[s]['p50']:.1f}/{st[s]['p95']:.1f}" for s in STAGES),
             f"overhead ratio {summary['overhead_ratio']:.2f} (mean work per frame / mean landmarks + inference)"]
    return "\n".join(lines)


def memory_line(memory: dict) -> str:
    """The printed RSS figures."""
    if not memory.get("available"):
        return "memory (RSS): not measurable on this OS"
    return (f"memory (RSS) start {memory['start_mib']:.1f} MiB, peak {memory['peak_mib']:.1f} MiB, "
            f"end {memory['end_mib']:.1f} MiB; during the run after {memory['warmup_s']:g} s of warm-up "
            f"{memory['growth_after_warmup_mib']:+.1f} MiB"
            + (f" ({memory['slope_mib_per_min']:+.2f} MiB/min)" if math.isfinite(memory["slope_mib_per_min"]) else ""))


def machine_line(info: dict) -> str:
    """Cores and load around the run, printed with the results."""
    load = [f"{v:.2f}" if v is not None else "?" for v in (info["load_before"], info["load_after"])]
    return f"machine: {info['cores']} CPU cores, load average {load[0]} before, {load[1]} after"


def paced_clip(args: argparse.Namespace) -> tuple[VideoFileSource, SourceInfo]:
    """The clip of --source, resized to --size, delivered at --fps for --seconds (looping), opened."""
    source = VideoFileSource(args.source, pacing=True, fps=args.fps, size=args.size, loop=True, seconds=args.seconds)
    return source, source.open()


def measure(loop: LiveLoop, args: argparse.Namespace) -> tuple[Profiler, dict]:
    """Run `loop` to the end while sampling RSS; returns the profiler and the memory figures, closes the swapper."""
    bench = {"fps": args.fps, "size": list(args.size), "seconds": args.seconds, "cores": os.cpu_count(),
             "load_before": load_average()}
    loop.profiler.info.update(bench=bench)
    loop.profiler.records.reserve(int(args.seconds * args.fps) + 1)  # the records' memory taken now, not as it runs
    memory = RssSampler()
    try:
        memory.start()
        profiler = loop.run()
        if loop.swapper.settings.overlap:
            profiler.info["overlap"] = dict(loop.swapper.overlap_counts)
    finally:
        memory.stop()
        loop.swapper.close()
        bench["load_after"] = load_average()
    return profiler, memory.summary(warmup_s=max(5.0, args.seconds / 3))  # allocators and caches settle first


def sink_lines(sinks: list) -> list[str]:
    """What the sinks of --sink did: frames written and dropped, and their own thread's time per frame."""
    lines = []
    for sink in sinks:
        work = getattr(sink, "work_ms", None)
        line = f"sink {sink.name}: {getattr(sink, 'frames', '?')} frames sent, {getattr(sink, 'dropped', 0)} dropped"
        if work:
            p50, p95 = np.percentile(work, [50, 95])
            line += f", its thread's work per frame p50 {p50:.1f} ms, p95 {p95:.1f} ms"
        lines.append(line)
    return lines


def overlap_lines(run: dict) -> list[str]:
    """How many faces kept the model run started before their landmarks were found (with the overlap on)."""
    counts = run.get("overlap")
    if not counts:
        return []
    total = counts["early"] + counts["again"]
    return [f"overlap: {counts['early']} of {total} faces kept their early model run, {counts['again']} were run "
            f"again (moved too far, or new)"]


def print_results(profiler: Profiler, memory: dict, json_path: str | None, sinks: list = ()) -> None:
    """Print the results (and write the JSON report when asked)."""
    summary = profiler.summary()
    sinks_done = sink_lines(sinks)
    print("\n".join([report(summary), *overlap_lines(summary["run"]), *sinks_done, memory_line(memory),
                     machine_line(summary["run"]["bench"])]))
    if json_path:
        profiler.write_json(json_path, extra={"memory": memory, "sinks": sinks_done})
        print(f"wrote {json_path}")


def check_json_folder(prog: str, json_path: str | None) -> bool:
    """False, with one line on stderr, when --json names a file in a folder that does not exist."""
    if json_path and not Path(json_path).resolve().parent.is_dir():
        fail(prog, f"folder of --json {json_path} does not exist")
        return False
    return True


def run_bench(args: argparse.Namespace) -> tuple[Profiler, dict, list]:
    """Run the loop on the paced, looped clip into the null sink and the --sink ones; returns the profiler, the RSS
    figures and the --sink sinks (closed)."""
    source, info = paced_clip(args)
    sink_options = SinkOptions(fps=info.fps, size=(info.width, info.height), live=info.live)
    extra = [create_sink(spec, sink_options) for spec in args.sink]
    options = ["--backend", args.backend, "--faces", args.faces, "--landmarks", args.landmarks, "--quiet",
               *(["--model-threads", str(args.model_threads)] if args.model_threads is not None else []),
               *([switch_flag(SwapSettings, "overlap")] if args.overlap is not None else []),
               *(["--control", args.control] if args.control else []),
               *(["--profile", args.json] if args.json else [])]
    loop = build_loop(live_parser().parse_args(options), source, info, args.model, [NullSink(), *extra])
    return (*measure(loop, args), extra)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 with one line on stderr for a user mistake."""
    args = build_parser().parse_args(argv)
    if not check_json_folder(PROG, args.json):
        return USER_ERROR
    try:
        profiler, memory, sinks = run_bench(args)
    except USER_ERRORS as exc:
        return fail(PROG, exc)
    print_results(profiler, memory, args.json, sinks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
