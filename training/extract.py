"""Extract: media to facesets. Finds the face in each frame, aligns it, writes the crop and its landmarks.

    python -m training.extract --input clip.mp4 --output facesets/alice [--size 256] [--coverage whole_face]
                               [--every N] [--min-face PX] [--min-sharpness S] [--all-faces]
    python -m training.extract --input clips/ --output facesets/ --each     (one faceset per clip or sub-folder)

Skips frames with no face, faces smaller than --min-face and blurred faces, and reports how many
were kept and skipped for each reason. A rerun into the same folder skips the faces already there.
With --each, every video in the input folder and every sub-folder of images becomes its own
faceset in the output folder, named after it; images lying directly in the input folder make one
faceset named after the folder.
"""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from faces import COVERAGES, FaceInputError, MediaSource, align_face, create_landmarker, hull_mask
from faces.cli import OneLineParser, fail, non_negative_int, positive_int, progress_bar
from faces.media import IMAGE_SUFFIXES, Frame, list_images
from faces.model_files import ModelFileError
from training.faceset import FacesetError, FacesetWriter

SHARPNESS_SIZE = 128  # sharpness is measured on the crop resized to this, so it does not depend on --size
FLUSH_EVERY = 25      # faces between index rewrites: an interrupted run keeps all but the last few


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
            backend: str = "auto", progress: bool = False) -> ExtractReport:
    """Detect, align and save the faces of a video, image folder or image into the faceset at `output`.

    Raises FaceInputError for unreadable input (faces written before the error stay indexed) and
    FacesetError when `output` holds a faceset of another size or coverage. `progress` shows a bar.
    """
    source = MediaSource(Path(input_path).expanduser().resolve())
    writer = FacesetWriter(output, size, coverage)
    report = ExtractReport()
    landmarker = _Landmarker(lambda: create_landmarker(backend, mode="video" if source.kind == "video" else "image",
                                                       max_faces=4 if all_faces else 2))  # two: of a pair, the larger wins
    if not writer.entries:
        landmarker.load()  # a new faceset: a missing landmarker model fails now, before any frame is read
    frames = source.frames(every)
    if progress:
        frames = progress_bar(frames, f"extract {source.path.name}", total=-(-source.frame_count // every),
                              unit="frame")
    flushed = 0
    try:
        for frame in frames:
            report.frames += 1
            _extract_frame(frame, writer, landmarker, report, size, coverage, min_face, min_sharpness, all_faces)
            if report.kept - flushed >= FLUSH_EVERY:
                writer.flush()
                flushed = report.kept
    finally:
        landmarker.close()
        writer.flush()
    return report


class _Landmarker:
    """The landmarker, made at its first use: a rerun over an extracted faceset decodes its frames but loads no model."""

    def __init__(self, make):
        self._make, self._landmarker = make, None

    def load(self):
        if self._landmarker is None:
            self._landmarker = self._make()
        return self._landmarker

    def detect(self, image, timestamp_ms):
        return self.load().detect(image, timestamp_ms)

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()


def each_input(folder: Path) -> dict[str, Path]:
    """What `--each` makes facesets of: faceset name -> video file or image folder, for the entries of `folder`.

    Every video file and every sub-folder holding images is one entry, named after it; images lying
    directly in `folder` are one more, named after `folder`.
    """
    if not folder.is_dir():
        raise FaceInputError(f"--each needs a folder of clips or image folders, not {folder}")
    inputs = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and list_images(entry):
            inputs[entry.name] = entry
        elif entry.is_file() and entry.suffix.lower() not in IMAGE_SUFFIXES and not entry.name.startswith("."):
            inputs[entry.stem] = entry
    if list_images(folder):
        inputs[folder.name] = folder
    if not inputs:
        raise FaceInputError(f"{folder} holds no videos, image folders or images")
    return inputs


def extract_each(input_dir: str | Path, output_dir: str | Path, progress: bool = False,
                 **options) -> dict[str, ExtractReport]:
    """One faceset per clip or image folder of `input_dir` (see `each_input`), in `output_dir`/NAME.

    A clip that cannot be read is reported (its report has `skipped['unreadable file']`) and the
    others go on; options are `extract`'s.
    """
    inputs = each_input(Path(input_dir).expanduser().resolve())
    reports = {}
    items = progress_bar(inputs.items(), "extract --each", total=len(inputs), unit="input") if progress \
        else inputs.items()
    for name, path in items:
        try:
            reports[name] = extract(path, Path(output_dir) / name, **options)
        except FaceInputError as exc:
            reports[name] = ExtractReport(skipped=Counter({"unreadable file": 1}))
            print(f"extract: skipping {path.name}: {exc}", file=sys.stderr)
    return reports


def _extract_frame(frame: Frame, writer: FacesetWriter, landmarker, report: ExtractReport, size: int,
                   coverage: str, min_face: int, min_sharpness: float, all_faces: bool) -> None:
    if frame.image is None:
        report.skipped["unreadable"] += 1
        return
    if writer.has(frame.origin, frame.number):
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
        writer.add(aligned.crop, frame.origin, frame.number, aligned.landmarks, aligned.matrix, face=k)
        report.kept += 1


PROG = "python -m training.extract"


def build_parser() -> OneLineParser:
    """Command-line options of `python -m training.extract`."""
    p = OneLineParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--input", required=True, metavar="VIDEO|DIR|IMAGE", help="a video file, a folder of images, or one image")
    p.add_argument("--output", required=True, metavar="DIR", help="faceset folder to create or add to "
                                                                   "(with --each: the folder for the facesets)")
    p.add_argument("--each", action="store_true", help="one faceset per video or image sub-folder of --input")
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
        return fail(PROG, "--size must be at least 16 pixels")
    options = dict(size=args.size, coverage=args.coverage, every=args.every, min_face=args.min_face,
                   min_sharpness=args.min_sharpness, all_faces=args.all_faces, backend=args.backend)
    try:
        if args.each:
            reports = extract_each(args.input, args.output, progress=True, **options)
            for name, report in reports.items():
                print(f"{name}: {report.summary()}")
            kept = sum(r.kept for r in reports.values())
            print(f"{len(reports)} facesets, {kept} faces: {Path(args.output).resolve()}")
            return 0 if kept else fail(PROG, f"no faces found in {args.input}")
        report = extract(args.input, args.output, progress=True, **options)
    except (FaceInputError, FacesetError, ModelFileError) as exc:
        return fail(PROG, exc)
    print(report.summary())
    print(f"faceset: {Path(args.output).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
