"""Extract: media to a faceset. Finds the face in each frame, aligns it, writes the crop and its landmarks.

    python -m training.extract --input clip.mp4 --output facesets/alice [--size 256] [--coverage whole_face]
                               [--every N] [--min-face PX] [--min-sharpness S] [--all-faces]

Skips frames with no face, faces smaller than --min-face and blurred faces, and reports how many
were kept and skipped for each reason. A rerun into the same folder skips the faces already there.
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from faces import COVERAGES, FaceInputError, align_face, create_landmarker, hull_mask, read_image
from faces.model_files import ModelFileError
from training.cli import OneLineParser, non_negative_int, positive_int
from training.faceset import FacesetError, FacesetWriter
from training.progress import Progress

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # ffmpeg's own warnings would bury our one-line errors

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
SHARPNESS_SIZE = 128  # sharpness is measured on the crop resized to this, so it does not depend on --size
FLUSH_EVERY = 25      # faces between index rewrites: an interrupted run keeps all but the last few


class MediaError(ValueError):
    """Input media that cannot be read; the message is one line for the user."""


@dataclass
class ExtractReport:
    """What an extraction did: frames seen, faces kept, and skips counted by reason."""

    frames: int = 0
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        """One line: kept and skipped counts."""
        skips = ", ".join(f"{why} {n}" for why, n in sorted(self.skipped.items())) or "none"
        return f"kept {self.kept} faces from {self.frames} frames; skipped: {skips}"


@dataclass(frozen=True)
class Frame:
    """One input frame: where it came from, its number in that source, its pixels (None if unreadable)."""

    source: str
    number: int
    image: np.ndarray | None
    timestamp_ms: int


def video_frames(path: Path, every: int) -> tuple[int, Iterator[Frame]]:
    """Frame count and an iterator over every `every`-th frame of a video; raises MediaError if unreadable."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise MediaError(f"cannot open {path} as a video (unreadable or corrupt file)")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0

    def frames() -> Iterator[Frame]:
        n = 0
        try:
            while True:
                if n % every:
                    if not cap.grab():
                        break
                else:
                    ok, image = cap.read()
                    if not ok:
                        break
                    yield Frame(str(path), n, image, int(round(n * 1000.0 / fps)))
                n += 1
        finally:
            cap.release()
        if total > 0 and n < total - max(2, total // 50):  # containers may round their frame count a little
            raise MediaError(f"{path}: the video breaks off at frame {n} of {total} (truncated or corrupt file)")

    return max(total, 0), frames()


def image_frames(path: Path, every: int) -> tuple[int, Iterator[Frame]]:
    """Count and iterator over every `every`-th image of a folder (sorted by name)."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[::every]
    if not files:
        raise MediaError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")

    def frames() -> Iterator[Frame]:
        for i, file in enumerate(files):
            try:
                image = read_image(file)
            except FaceInputError:
                image = None
            yield Frame(str(file), 0, image, i * 1000)

    return len(files), frames()


def single_image(path: Path, every: int) -> tuple[int, Iterator[Frame]]:
    """One image file as a one-frame source."""
    try:
        image = read_image(path)
    except FaceInputError as exc:
        raise MediaError(str(exc)) from None
    return 1, iter([Frame(str(path), 0, image, 0)])


SOURCES: dict[str, Callable[[Path, int], tuple[int, Iterator[Frame]]]] = {
    "video": video_frames, "images": image_frames, "image": single_image,
}


def source_kind(path: Path) -> str:
    """Which SOURCES reader fits `path`: 'images' for a folder, 'image' for a picture, else 'video'."""
    if path.is_dir():
        return "images"
    if not path.is_file():
        raise MediaError(f"no such file or folder: {path}")
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"


def sharpness(crop: np.ndarray, landmarks: np.ndarray, coverage: str) -> float:
    """Variance of the Laplacian inside the face hull, on the crop resized to SHARPNESS_SIZE px."""
    scale = SHARPNESS_SIZE / crop.shape[0]
    gray = cv2.cvtColor(cv2.resize(crop, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2GRAY)
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    inside = hull_mask(landmarks * scale, SHARPNESS_SIZE, coverage, erode=4) > 0.5
    return float(lap[inside].var()) if inside.any() else 0.0


def extract(input_path: str | Path, output: str | Path, size: int = 256, coverage: str = "whole_face",
            every: int = 1, min_face: int = 40, min_sharpness: float = 10.0, all_faces: bool = False,
            backend: str = "auto", progress: Progress | None = None) -> ExtractReport:
    """Detect, align and save the faces of a video, image folder or image into the faceset at `output`.

    Raises MediaError for unreadable input (faces written before the error stay indexed) and
    FacesetError when `output` holds a faceset of another size or coverage.
    """
    input_path = Path(input_path).expanduser().resolve()
    kind = source_kind(input_path)
    total, frames = SOURCES[kind](input_path, every)
    writer = FacesetWriter(output, size, coverage)
    report = ExtractReport()
    landmarker = create_landmarker(backend, mode="video" if kind == "video" else "image",
                                   max_faces=4 if all_faces else 2)  # two: of a pair, the larger wins
    flushed = 0
    try:
        for frame in frames:
            report.frames += 1
            _extract_frame(frame, writer, landmarker, report, size, coverage, min_face, min_sharpness, all_faces)
            if report.kept - flushed >= FLUSH_EVERY:
                writer.flush()
                flushed = report.kept
            if progress:
                progress.update(f"frame {report.frames}/{max(total // every, report.frames)}, kept {report.kept}")
    finally:
        landmarker.close()
        writer.flush()
    return report


def _extract_frame(frame: Frame, writer: FacesetWriter, landmarker, report: ExtractReport, size: int,
                   coverage: str, min_face: int, min_sharpness: float, all_faces: bool) -> None:
    if frame.image is None:
        report.skipped["unreadable"] += 1
        return
    if writer.has(frame.source, frame.number):
        report.skipped["already extracted"] += 1
        return
    faces = landmarker.detect(frame.image, frame.timestamp_ms)
    if not faces:
        report.skipped["no face"] += 1
        return
    for k, face in enumerate(faces if all_faces else faces[:1]):
        lo, hi = face.landmarks.min(0), face.landmarks.max(0)
        if max(hi - lo) < min_face:
            report.skipped["too small"] += 1
            continue
        aligned = align_face(frame.image, face.landmarks, size, coverage)
        if sharpness(aligned.crop, aligned.landmarks, coverage) < min_sharpness:
            report.skipped["blurred"] += 1
            continue
        writer.add(aligned.crop, frame.source, frame.number, aligned.landmarks, aligned.matrix, face=k)
        report.kept += 1


def build_parser() -> OneLineParser:
    """Command-line options of `python -m training.extract`."""
    p = OneLineParser(prog="python -m training.extract", description=__doc__.split("\n")[0])
    p.add_argument("--input", required=True, metavar="VIDEO|DIR|IMAGE", help="a video file, a folder of images, or one image")
    p.add_argument("--output", required=True, metavar="DIR", help="faceset folder to create or add to")
    p.add_argument("--size", type=positive_int, default=256, metavar="PX", help="crop size in pixels (default 256; training resizes)")
    p.add_argument("--coverage", default="whole_face", choices=sorted(COVERAGES),
                   help="how much of the head a crop shows (default whole_face)")
    p.add_argument("--every", type=positive_int, default=1, metavar="N", help="use every N-th frame (default 1: all)")
    p.add_argument("--min-face", type=non_negative_int, default=40, metavar="PX", help="skip faces whose landmarks span fewer pixels (default 40)")
    p.add_argument("--min-sharpness", type=float, default=10.0, metavar="S",
                   help="skip faces blurrier than this (variance of the Laplacian at 128 px; default 10, 0 keeps all)")
    p.add_argument("--all-faces", action="store_true", help="keep every face in a frame, not only the largest")
    p.add_argument("--backend", default="auto", choices=["auto", "mediapipe", "dlib"], help="landmark backend")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the extract command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.size < 16:
        print("error: --size must be at least 16 pixels", file=sys.stderr)
        return 2
    progress = Progress(f"extract {Path(args.input).name}")
    try:
        report = extract(args.input, args.output, args.size, args.coverage, args.every, args.min_face,
                         args.min_sharpness, args.all_faces, args.backend, progress)
    except (MediaError, FacesetError, ModelFileError) as exc:
        progress.fail(str(exc))
        return 1
    progress.done(report.summary())
    print(f"faceset: {Path(args.output).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
