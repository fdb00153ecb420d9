"""`python -m faces`: list the faces in an image or video (box, score, 68 points), write an aligned
crop, or download the mediapipe model file.

Results go to stdout (text, or one JSON document with --json); progress and errors go to stderr.
Exit status: 0 done, 2 bad arguments, bad input or no face for --crop (one line on stderr), 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from faces.align import COVERAGES, align_face
from faces.cli import INTERRUPTED, OneLineParser, at_least, fail, progress_bar, quiet_opencv
from faces.image import FaceInputError
from faces.face import Face
from faces.landmarks import BACKENDS, create_landmarker
from faces.media import MediaSource
from faces.fileio import sha256_of
from faces.model_files import FACE_LANDMARKER, ModelFileError, cache_dir, download_model

PROG = "python -m faces"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of `python -m faces`."""
    p = OneLineParser(prog=PROG, description="List the faces in an image or video (box, score, 68 iBUG points), "
                      "write an aligned crop, or download the mediapipe model file. Results go to stdout, "
                      "progress and errors to stderr.")
    p.add_argument("source", nargs="?", metavar="IMAGE_OR_VIDEO", help="image or video file to look at")
    p.add_argument("--backend", default="auto", choices=["auto", *BACKENDS],
                   help="landmark backend (default auto: mediapipe if its model file is found, else dlib)")
    p.add_argument("--model", metavar="PATH", help=f"mediapipe {FACE_LANDMARKER.name} (default: "
                   f"${FACE_LANDMARKER.env_var}, then the user cache dir)")
    p.add_argument("--max-faces", type=at_least(1), default=1, metavar="N", help="most faces per frame (default 1)")
    p.add_argument("--every", type=at_least(1), default=1, metavar="N",
                   help="videos: look at every Nth frame (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--crop", metavar="OUT.png",
                   help="write the aligned crop of the largest face in the first frame that has one")
    p.add_argument("--coverage", default="whole_face", choices=list(COVERAGES),
                   help="how much of the head --crop shows (default whole_face)")
    p.add_argument("--size", type=at_least(16), default=256, metavar="PX",
                   help="side of the --crop image (default 256)")
    p.add_argument("--download-model", action="store_true",
                   help=f"download {FACE_LANDMARKER.name}, verify its sha256 and keep it")
    p.add_argument("--dest", metavar="DIR", help="where --download-model puts the file (default: the user cache dir)")
    p.add_argument("--url", default=FACE_LANDMARKER.url, help="--download-model from this mirror (default: the "
                   "official MediaPipe URL; the sha256 is checked either way)")
    return p


def face_record(face: Face) -> dict:
    """A face as plain JSON-ready values (pixels rounded to 0.01)."""
    return {"box": [round(v, 2) for v in face.box], "score": round(face.score, 4),
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks]}


def print_frame(label: str, faces: list[Face]) -> None:
    """Text output for one frame: a header line, then per face its box, score and the 68 points."""
    print(f"{label}: {len(faces)} face{'' if len(faces) == 1 else 's'}")
    for k, face in enumerate(faces):
        box = ", ".join(f"{v:.1f}" for v in face.box)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in face.landmarks)
        print(f"  face {k}: box ({box}) score {face.score:.3f}\n    points {points}")


def write_crop(path: Path, image, face: Face, size: int, coverage: str) -> None:
    """Align `face` out of `image` and write the crop to `path`."""
    crop = align_face(image, face.landmarks, size=size, coverage=coverage).crop
    if not cv2.imwrite(str(path), crop):
        raise OSError(f"could not write {path}")


def check_crop_path(path: Path) -> None:
    """Fail early, before any work, if a crop cannot be written to `path`."""
    if not cv2.haveImageWriter(str(path)):
        raise FaceInputError(f"cannot write an image called {path}: use a .png or .jpg name")
    if not path.parent.is_dir():
        raise FaceInputError(f"folder {path.parent} does not exist")


def download(args) -> None:
    """--download-model: fetch, verify and keep the mediapipe model file (unless a verified copy is there already)."""
    there = Path(args.dest or cache_dir()) / FACE_LANDMARKER.name
    if there.is_file() and sha256_of(there) == FACE_LANDMARKER.sha256:
        kept = there
    else:
        bars = []  # made on the first bytes, so a failure to connect prints only the error line

        def advance(done: int, total: int | None) -> None:
            if not bars:
                bars.append(progress_bar(desc=f"downloading {FACE_LANDMARKER.name}", total=total, unit="B",
                                         unit_scale=True))
            bars[0].update(done - bars[0].n)
        try:
            kept = download_model(FACE_LANDMARKER, args.dest, url=args.url, progress=advance)
        finally:
            for bar in bars:
                bar.close()
    print(f"{PROG}: kept {kept} (sha256 verified)", file=sys.stderr)
    if args.dest:  # the cache dir is searched anyway; anywhere else has to be pointed at
        print(f"{PROG}: set {FACE_LANDMARKER.env_var}={kept} or pass --model {kept}", file=sys.stderr)


def look(args) -> int:
    """Find the faces in the source, print them, write the crop; USER_ERROR if a crop was asked for but no face found."""
    crop_path = Path(args.crop) if args.crop else None
    if crop_path is not None:
        check_crop_path(crop_path)
    source = MediaSource(args.source)
    mode = "video" if source.kind == "video" else "image"
    landmarker = create_landmarker(args.backend, mode=mode, max_faces=args.max_faces, model_path=args.model)
    header = {"source": str(source.path), "kind": source.kind, "width": source.width,
              "height": source.height, "backend": landmarker.name}
    if not args.json:
        print(f"{source.path}: {source.kind} {source.width}x{source.height}, backend {landmarker.name}")
    frames, seen, with_faces, crop_written = [], 0, 0, False
    try:
        for frame in progress_bar(source.frames(args.every), PROG, total=-(-source.frame_count // args.every),
                                  unit="frame", disable=source.kind == "image"):
            if frame.image is None:
                print(f"{PROG}: skipping {frame.error}", file=sys.stderr)
                continue
            faces = landmarker.detect(frame.image, frame.timestamp_ms)
            seen += 1
            with_faces += bool(faces)
            if faces and crop_path is not None and not crop_written:
                write_crop(crop_path, frame.image, faces[0], args.size, args.coverage)
                crop_written = True
            if args.json:
                frames.append({"file": frame.origin, "frame": frame.number, "timestamp_ms": frame.timestamp_ms,
                               "faces": [face_record(f) for f in faces]})
            else:
                label = {"video": f"frame {frame.number}", "image": "image"}.get(source.kind, Path(frame.origin).name)
                print_frame(label, faces)
    finally:
        landmarker.close()
    if args.json:
        crop = str(crop_path) if crop_written else None
        print(json.dumps({**header, "frames_with_faces": with_faces, "crop": crop, "frames": frames}))
    else:
        print(f"{seen} frame{'' if seen == 1 else 's'} looked at, faces in {with_faces}")
        if crop_written:
            print(f"aligned crop ({args.coverage}, {args.size} px) written to {crop_path}")
    if crop_path is not None and not crop_written:
        return fail(PROG, f"no face found, so no crop written to {crop_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    quiet_opencv()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.source is None and not args.download_model:
        parser.error("give an image or video file (or --download-model)")
    try:
        if args.download_model:
            download(args)
        return look(args) if args.source is not None else 0
    except (FaceInputError, ModelFileError, ValueError, OSError) as exc:
        return fail(PROG, exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
