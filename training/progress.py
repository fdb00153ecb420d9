"""A progress line on stderr: rewritten in place on a terminal, a plain line now and then in a log."""
from __future__ import annotations

import sys
import time


class Progress:
    """Prints `label: text` at most every `interval` s (every `log_interval` s when stderr is not a terminal)."""

    def __init__(self, label: str, interval: float = 0.5, log_interval: float = 10.0, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label = label
        self.interval = interval if self.tty else log_interval
        self._last = 0.0
        self._shown = False

    def update(self, text: str, force: bool = False) -> None:
        """Show `text` if the last update is old enough (or `force`)."""
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        line = f"{self.label}: {text}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._shown = True

    def fail(self, message: str) -> None:
        """End any progress line and print `error: message` on its own line."""
        if self.tty and self._shown:
            self.stream.write("\n")
        self.stream.write(f"error: {message}\n")
        self.stream.flush()

    def done(self, text: str) -> None:
        """Show the final `text` and end the line."""
        self.update(text, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
