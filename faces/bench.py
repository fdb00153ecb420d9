"""`python -m faces.bench`: milliseconds per frame of each landmark backend in VIDEO mode.

The clip is scaled to cover each frame size and centre-cropped (faces keep their shape), looped
if it is shorter than --frames. Only `detect()` is timed, after a few untimed warm-up frames;
decoding and resizing are not. Prints one line per backend and size: median and p95 ms per frame,
and the share of frames with a face (a timing of a backend that found nothing is worthless).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from faces.cli import INTERRUPTED, OneLineParser, at_least, fail, parse_size, quiet_opencv
from faces.image import FaceInputError
from faces.landmarks import BACKENDS, create_landmarker
from faces.media import MediaSource
from faces.model_files import ModelFileError

PROG = "python -m faces.bench"
WARMUP_FRAMES = 5


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale `image` to cover width x height, then centre-crop to exactly that size."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    resized = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x0, y0 = (sw - width) // 2, (sh - height) // 2
    return resized[y0:y0 + height, x0:x0 + width]


def looped_frames(path: Path, count: int) -> Iterator[np.ndarray]:
    """`count` frames of the video at `path`, starting over at its end as often as needed."""
    produced = 0
    while produced < count:
        with MediaSource(path) as source:
            for frame in source.frames():
                yield frame.image
                produced += 1
                if produced == count:
                    return


def measure(path: Path, backend: str, size: tuple[int, int], frames: int, model_path: str | None) -> dict:
    """Time `frames` VIDEO-mode detections of `backend` on the clip at `size`; returns the figures."""
    times, found = [], 0
    landmarker = create_landmarker(backend, mode="video", max_faces=1, model_path=model_path)
    try:
        for i, image in enumerate(looped_frames(path, frames + WARMUP_FRAMES)):
            image = cover(image, *size)
            start = time.perf_counter()
            faces = landmarker.detect(image, timestamp_ms=i * 33)
            elapsed = time.perf_counter() - start
            if i >= WARMUP_FRAMES:
                times.append(elapsed * 1000.0)
                found += bool(faces)
    finally:
        landmarker.close()
    return {"backend": backend, "size": f"{size[0]}x{size[1]}", "frames": len(times),
            "median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)),
            "found": found / len(times)}


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of `python -m faces.bench`."""
    p = OneLineParser(prog=PROG, description="Milliseconds per frame of each landmark backend in VIDEO mode, "
                      "median and p95, at each frame size (the clip scaled to cover it and centre-cropped).")
    p.add_argument("--source", required=True, metavar="VIDEO", help="clip to run on")
    p.add_argument("--frames", type=at_least(1), default=200, metavar="N", help="timed frames per run (default 200)")
    p.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS),
                   help="backends to time (default: all)")
    p.add_argument("--sizes", nargs="+", type=parse_size, default=[(640, 480), (1280, 720)], metavar="WxH",
                   help="frame sizes (default: 640x480 1280x720)")
    p.add_argument("--model", metavar="PATH", help="mediapipe face_landmarker.task (default: as `python -m faces`)")
    p.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table; returns the exit status."""
    quiet_opencv()
    args = build_parser().parse_args(argv)
    try:
        with MediaSource(args.source) as source:
            if source.kind != "video":
                raise FaceInputError(f"{source.path} is an image; the benchmark needs a video")
        print(f"{PROG}: {args.source}, {args.frames} frames per run, {os.cpu_count()} CPUs "
              f"({platform.processor() or platform.machine()}), OpenCV threads {cv2.getNumThreads()}")
        print(f"{'backend':<10} {'size':>9} {'median ms':>10} {'p95 ms':>8} {'faces':>7}")
        results = []
        for backend in args.backends:
            for size in args.sizes:
                print(f"{PROG}: timing {backend} at {size[0]}x{size[1]}...", file=sys.stderr, flush=True)
                r = measure(Path(args.source), backend, size, args.frames, args.model)
                results.append(r)
                print(f"{r['backend']:<10} {r['size']:>9} {r['median_ms']:>10.1f} {r['p95_ms']:>8.1f} "
                      f"{100 * r['found']:>6.1f}%", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"source": args.source, "results": results}, indent=1) + "\n")
    except (FaceInputError, ModelFileError, ValueError, OSError) as exc:
        return fail(PROG, exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
