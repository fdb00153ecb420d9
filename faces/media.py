"""The one media reader: frames out of a video file, an image file or a folder of images, in order.

Extraction, the live loop's file sources and `python -m faces` all read media through
`MediaSource`. Opening checks what can be checked up front (a video's first frame decodes, an
image reads, a folder holds images), so a wrong path or a foreign file raises FaceInputError (one
line) before any work. A video that breaks off well before the frame count its container states
raises FaceInputError when the reading reaches the break; an unreadable image in a folder is
handed over as a frame without pixels (`image` None, `error` says why), so callers can count it
and go on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from faces.image import FaceInputError, as_bgr8, read_image

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own lines would bury our one-line errors

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
FALLBACK_FPS = 30.0  # for videos whose container does not say


@dataclass(frozen=True)
class Frame:
    """One frame: the file it came from, its frame number in that file (0 for an image), its time, its pixels.

    `image` is uint8 BGR, or None for an image file that could not be read (`error` says why).
    """

    origin: str
    number: int
    timestamp_ms: int
    image: np.ndarray | None
    error: str = ""


def media_kind(path: Path) -> str:
    """'images' for a folder, 'image' for a file OpenCV reads as a picture, else 'video'."""
    if path.is_dir():
        return "images"
    if not path.is_file():
        raise FaceInputError(f"no such file or folder: {path}")
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES or cv2.haveImageReader(str(path)) else "video"


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class MediaSource:
    """A video file, an image file or a folder of images (`kind`: 'video', 'image', 'images').

    `fps` is the video's own rate (0 for stills), `frame_count` the number of frames or images,
    `width` and `height` those of the first frame (of the first readable image for a folder).
    `frames()` reads the media once, in order; call it again for another pass.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.kind = media_kind(self.path)
        self.fps, self.width, self.height = 0.0, 0, 0
        if self.kind == "video":
            capture = self._open_video()
            try:
                ok, first = capture.read()
                if not ok or first is None:
                    raise FaceInputError(f"cannot read {self.path}: not an image or a video that OpenCV can decode")
                self.fps = capture.get(cv2.CAP_PROP_FPS) or FALLBACK_FPS
                self.frame_count = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 1)
                self.height, self.width = first.shape[:2]
            finally:
                capture.release()
        elif self.kind == "image":
            self.height, self.width = read_image(self.path).shape[:2]
            self.frame_count = 1
        else:
            self._images = list_images(self.path)
            if not self._images:
                raise FaceInputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder {self.path}")
            self.frame_count = len(self._images)
            for image in self._images:
                try:
                    self.height, self.width = read_image(image).shape[:2]
                    break
                except FaceInputError:
                    continue

    def _open_video(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise FaceInputError(f"cannot read {self.path}: not an image or a video that OpenCV can decode")
        return capture

    def frames(self, every: int = 1) -> Iterator[Frame]:
        """Frames 0, every, 2 * every, ... (images of a folder likewise; an image file yields its one frame)."""
        if every < 1:
            raise ValueError(f"every must be at least 1, not {every}")
        if self.kind == "video":
            yield from self._video_frames(every)
        elif self.kind == "image":
            yield Frame(str(self.path), 0, 0, read_image(self.path))
        else:
            for n, path in enumerate(self._images[::every]):
                try:
                    image, error = read_image(path), ""
                except FaceInputError as exc:
                    image, error = None, str(exc)
                yield Frame(str(path), 0, round(n * every * 1000.0 / FALLBACK_FPS), image, error)

    def _video_frames(self, every: int) -> Iterator[Frame]:
        capture = self._open_video()
        number = 0
        try:
            while True:
                if number % every:
                    if not capture.grab():  # skipped frames are grabbed, not decoded
                        break
                else:
                    ok, image = capture.read()
                    if not ok or image is None:
                        break
                    yield Frame(str(self.path), number, round(number * 1000.0 / self.fps), as_bgr8(image))
                number += 1
        finally:
            capture.release()
        total = self.frame_count
        if total > 1 and number < total - max(2, total // 50):  # containers may round their count a little
            raise FaceInputError(f"{self.path}: the video breaks off at frame {number} of {total} "
                                 f"(truncated or corrupt file)")

    def close(self) -> None:
        """Nothing stays open between passes; kept so a MediaSource can be used in a with-block."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
