"""Bounded queues between the loop's threads: drop-oldest for live sources, blocking when no frame may be lost."""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable

END = object()  # returned by get() once the queue is closed and drained


class FrameQueue:
    """A bounded FIFO. When full, `put` drops the oldest item (live) or waits for room (lossless).

    `close()` marks the end of the stream: consumers drain what is left and then get `END`.
    `on_drop(n)` is called for every dropped item, so the loop can count them.
    """

    def __init__(self, maxsize: int = 1, lossless: bool = False, on_drop: Callable[[int], None] | None = None):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize, self.lossless, self.on_drop = maxsize, lossless, on_drop
        self._items: deque = deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item, timeout: float | None = None) -> bool:
        """Add `item`; False if the queue is closed (or, lossless, still full after `timeout`)."""
        with self._cond:
            if self.lossless:
                if not self._cond.wait_for(lambda: self._closed or len(self._items) < self.maxsize, timeout):
                    return False
            if self._closed:
                return False
            while len(self._items) >= self.maxsize:
                self._items.popleft()
                if self.on_drop:
                    self.on_drop(1)
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None):
        """The oldest item; END once closed and empty; None if nothing came within `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return END

    def close(self) -> None:
        """End the stream: no more puts; getters receive END after the remaining items."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
