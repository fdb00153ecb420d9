"""Benchmark the whole live loop as a camera would drive it.

    python -m live.bench --model MODEL.onnx --source VIDEO --fps 30 --size 640x480 --seconds 20 [--backend B] --json OUT

A paced source (the clip resized to --size, delivered at --fps whether or not the loop keeps up,
looping) feeds the full pipeline into the null sink. Prints output fps and % dropped frames,
capture-to-output latency p50/p95/p99, per-stage p50/p95, and the overhead ratio: mean work per
frame (landmarks + align + infer + composite + output) / mean (landmarks + infer). A ratio near 1
means the loop adds little around the two unavoidable costs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from live.backends import BACKENDS
from live.cli import USER_ERRORS, build_loop, build_parser as live_parser
from live.profiler import STAGES, Profiler
from live.sinks import NullSink
from live.sources import VideoFileSource


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, not {text!r}") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size {text} is too small")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    """Options of python -m live.bench."""
    p = argparse.ArgumentParser(prog="python -m live.bench", description=__doc__.strip().splitlines()[0])
    p.add_argument("--model", required=True, help="exported swapcam model")
    p.add_argument("--source", required=True, help="video clip (looped, resized, paced)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second delivered (default 30)")
    p.add_argument("--size", type=parse_size, default=(640, 480), help="frame size WxH (default 640x480)")
    p.add_argument("--seconds", type=float, default=20.0, help="how long to run (default 20)")
    p.add_argument("--backend", default="auto", choices=sorted(BACKENDS), help="inference backend (default auto)")
    p.add_argument("--faces", default="largest", choices=["largest", "all"], help="faces to swap (default largest)")
    p.add_argument("--json", help="write the summary and every frame's record here")
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


def run_bench(args: argparse.Namespace) -> Profiler:
    """Run the loop on the paced, looped clip into the null sink; returns the profiler."""
    source = VideoFileSource(args.source, pacing=True, fps=args.fps, size=args.size, loop=True, seconds=args.seconds)
    info = source.open()
    live_args = live_parser().parse_args(["--backend", args.backend, "--faces", args.faces, "--quiet",
                                          *(["--profile", args.json] if args.json else [])])
    loop = build_loop(live_args, source, info, args.model, [NullSink()])
    loop.profiler.info.update(bench={"fps": args.fps, "size": list(args.size), "seconds": args.seconds})
    try:
        return loop.run()
    finally:
        loop.swapper.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 with one line on stderr for a user mistake."""
    args = build_parser().parse_args(argv)
    if args.json and not Path(args.json).resolve().parent.is_dir():
        print(f"live.bench: error: folder of --json {args.json} does not exist", file=sys.stderr)
        return 2
    try:
        profiler = run_bench(args)
    except USER_ERRORS as exc:
        print(f"live.bench: error: {exc}", file=sys.stderr)
        return 2
    summary = profiler.summary()
    print(report(summary))
    if args.json:
        profiler.write_json(args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
