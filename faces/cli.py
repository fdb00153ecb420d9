"""Pieces the faces command lines share: one-line argument errors, checked numbers, progress lines."""
from __future__ import annotations

import argparse
import os
import sys
import time

import cv2

PROGRESS_EVERY_S = 2.0


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit 2), not a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def at_least(minimum: int):
    """argparse type: an int no smaller than `minimum`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is not at least {minimum}")
        return value
    return parse


def parse_size(text: str) -> tuple[int, int]:
    """argparse type: 'WxH' such as '640x480' -> (640, 480), each side at least 16 pixels."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, not {text!r}") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size {text} is too small")
    return w, h


def quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's own log lines off the user's terminal; our errors say it in one line."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when FFmpeg is first used
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class Progress:
    """Progress lines on stderr, at most one every PROGRESS_EVERY_S seconds."""

    def __init__(self, prog: str, label: str):
        self.prog, self.label = prog, label
        self.start = self.last = time.monotonic()

    def update(self, done: int, total: int | None, unit: str) -> None:
        """Report `done` of `total` units if enough time has passed since the last line."""
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        share = f" of {total} ({100.0 * done / total:.0f}%)" if total else ""
        print(f"{self.prog}: {self.label}: {done}{share} {unit}, {now - self.start:.0f} s", file=sys.stderr, flush=True)
