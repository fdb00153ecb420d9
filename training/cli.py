"""Small command-line helpers shared by the training commands (the parser and int checks are faces.cli's)."""
from __future__ import annotations

import argparse

from faces.cli import OneLineParser, at_least

__all__ = ["OneLineParser", "positive_int", "non_negative_int", "positive_float"]

positive_int = at_least(1)      # argparse type: an integer of at least 1
non_negative_int = at_least(0)  # argparse type: an integer of at least 0


def positive_float(text: str) -> float:
    """argparse type: a number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} is not greater than 0")
    return value
