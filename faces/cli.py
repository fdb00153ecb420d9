"""What every swapcam command line shares: one-line errors with one exit code, checked numbers, progress bars.

Every command reports a user mistake (a bad option, a missing or foreign file, a model that
does not fit) as one line, `PROG: error: MESSAGE`, on stderr, and exits with USER_ERROR (2, the
code argparse uses for bad options). An interruption (Ctrl-C) exits with 130.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

import cv2
from tqdm import tqdm

USER_ERROR = 2
INTERRUPTED = 130


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit USER_ERROR), not a usage dump."""

    def error(self, message: str):
        self.exit(USER_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def fail(prog: str, message: object) -> int:
    """Print `PROG: error: MESSAGE` (the first line of it) on stderr and return USER_ERROR, the exit code."""
    text = str(message).strip().splitlines()
    print(f"{prog}: error: {text[0] if text else type(message).__name__}", file=sys.stderr, flush=True)
    return USER_ERROR


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


def report_full_disks() -> None:
    """Make a file that cannot grow (a full quota, a file-size limit) an error the command reports in one line,
    instead of SIGXFSZ ending the process (Unix)."""
    import signal
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's own log lines off the user's terminal; our errors say it in one line."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when FFmpeg is first used
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


positive_int = at_least(1)      # argparse type: a whole number of at least 1
non_negative_int = at_least(0)  # argparse type: a whole number of at least 0


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number greater than 0."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} is not greater than 0")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a number of at least 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is less than 0")
    return value


def share(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def progress_bar(iterable=None, desc: str = "", total: float | None = None, unit: str = "it", **options) -> tqdm:
    """A tqdm progress bar on stderr with rate and ETA: redrawn twice a second on a terminal, every 10 s in a log."""
    tty = sys.stderr.isatty()
    return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5 if tty else 10.0, maxinterval=10.0 if tty else 60.0, **options)


def setting(default, help: str, **argparse_options):
    """A dataclass field that is also a command-line option: its default, its help and argparse options (type,
    choices). A bool becomes a switch: --NAME when it defaults to False, --no-NAME when it defaults to True."""
    return dataclasses.field(default=default, metadata={"help": help, **argparse_options})


def switch_flag(settings_class, name: str) -> str:
    """The command-line switch of the bool `setting` `name`: --NAME when it defaults to False, --no-NAME when True."""
    default = {f.name: f.default for f in dataclasses.fields(settings_class)}[name]
    return f"--{'no-' if default else ''}{name.replace('_', '-')}"


def add_setting_options(parser: argparse.ArgumentParser, settings_class, names: tuple[str, ...]) -> None:
    """`--NAME` for each named `setting` field of the dataclass `settings_class`, its help ending in its default.

    The options default to None (a switch: to the field's default), so that only what was given overrides."""
    by_name = {f.name: f for f in dataclasses.fields(settings_class)}
    for name in names:
        f = by_name[name]
        options = dict(f.metadata)
        text = options.pop("help")
        flag = name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(switch_flag(settings_class, name), dest=name, help=text,
                                action="store_false" if f.default else "store_true", default=None)
            continue
        if "(default" not in text and f.default is not None:
            text += f" (default {f.default:g})" if isinstance(f.default, float) else f" (default {f.default})"
        parser.add_argument(f"--{flag}", dest=name, help=text.replace("%", "%%"), **options)


def given_settings(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    """The options of `add_setting_options` that were given, as keyword arguments for the dataclass."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
