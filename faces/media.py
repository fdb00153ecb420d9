"""Frames out of a still image or a video file, each with its index and timestamp."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from faces.image import FaceInputError, as_bgr8, read_image

FALLBACK_FPS = 30.0  # for videos whose container does not say


@dataclass(frozen=True)
class Frame:
    """One frame of a source: its index, its timestamp in milliseconds and the uint8 BGR image."""

    index: int
    timestamp_ms: int
    image: np.ndarray


class MediaSource:
    """An image file (one frame) or a video file (read once, in order).

    Opening checks that the first frame decodes, so an unreadable, truncated or foreign file
    raises FaceInputError (one line) here rather than yielding nothing later.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FaceInputError(f"no such file: {self.path}")
        self._capture = None
        if cv2.haveImageReader(str(self.path)):
            self._first = read_image(self.path)
            self.kind, self.fps, self.frame_count = "image", 0.0, 1
        else:
            capture = cv2.VideoCapture(str(self.path))
            ok, first = capture.read() if capture.isOpened() else (False, None)
            if not ok:
                capture.release()
                raise FaceInputError(f"cannot read {self.path}: not an image or a video that OpenCV can decode")
            self._capture, self._first = capture, as_bgr8(first)
            self.kind = "video"
            self.fps = capture.get(cv2.CAP_PROP_FPS) or FALLBACK_FPS
            self.frame_count = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 1)
        self.height, self.width = self._first.shape[:2]

    def frames(self, every: int = 1) -> Iterator[Frame]:
        """Yield frames 0, every, 2*every, ... (an image yields its one frame). Single pass."""
        if every < 1:
            raise ValueError(f"every must be at least 1, not {every}")
        if self._first is None:
            raise RuntimeError(f"{self.path} has already been read")
        first, self._first = self._first, None
        yield Frame(0, 0, first)
        if self._capture is None:
            return
        index = 0
        while True:
            for _ in range(every - 1):  # skipped frames are grabbed, not converted
                if not self._capture.grab():
                    return
                index += 1
            ok, image = self._capture.read()
            if not ok:
                return
            index += 1
            yield Frame(index, round(index * 1000.0 / self.fps), as_bgr8(image))

    def close(self) -> None:
        """Release the video file, if any."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
