"""A faceset on disk: a folder of aligned face crops plus one index file, `faceset.json`.

    faceset.json = {"format": "swapcam-faceset-1", "size": 256, "coverage": "whole_face",
                    "template_id": "swapcam-ibug68-v1",
                    "faces": [{"file": "00104_000000.png", "source": "/abs/clip.mp4", "frame": 0,
                               "landmarks": [[x, y] x 68],       # in crop pixels
                               "matrix": [[a, b, c], [d, e, f]]  # frame pixels -> crop pixels
                              }, ...]}

`Faceset.load` reads and checks one; `FacesetWriter` adds faces to a new or existing one and
rewrites the index atomically, so an interrupted extraction keeps every face it indexed.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from faces import COVERAGES, TEMPLATE_ID
from faces.fileio import atomic_write_bytes

FORMAT = "swapcam-faceset-1"
INDEX_NAME = "faceset.json"
ENTRY_KEYS = ("file", "source", "frame", "landmarks", "matrix")


class FacesetError(ValueError):
    """A faceset folder that is missing, empty or corrupt; the message is one line for the user."""


class Faceset:
    """An aligned faceset: `size`, `coverage`, `template_id`, `root` and one `entries` dict per face."""

    def __init__(self, root: Path, size: int, coverage: str, template_id: str, entries: list[dict]):
        self.root, self.size, self.coverage, self.template_id = root, size, coverage, template_id
        self.entries = entries

    @classmethod
    def load(cls, root: str | Path, allow_empty: bool = False) -> "Faceset":
        """Read and check the faceset in folder `root`, or raise FacesetError."""
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise FacesetError(f"no faceset folder at {root}")
        index = root / INDEX_NAME
        if not index.is_file():
            raise FacesetError(f"{root} is not a faceset (no {INDEX_NAME}; make one with python -m training.extract)")
        try:
            raw = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FacesetError(f"{index} is corrupt ({type(exc).__name__})") from None
        faceset = cls._from_index(root, raw)
        if not faceset.entries and not allow_empty:
            raise FacesetError(f"faceset {root} holds no faces")
        return faceset

    @classmethod
    def _from_index(cls, root: Path, raw) -> "Faceset":
        index = root / INDEX_NAME
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise FacesetError(f"{index} is not a {FORMAT} index (format {found!r})")
        size, coverage, faces = raw.get("size"), raw.get("coverage"), raw.get("faces")
        if not isinstance(size, int) or size < 16:
            raise FacesetError(f"{index} has an invalid crop size {size!r}")
        if not isinstance(coverage, str) or coverage not in COVERAGES:
            raise FacesetError(f"{index} has an unknown coverage {coverage!r}")
        if not isinstance(faces, list):
            raise FacesetError(f"{index} has no list of faces")
        for i, entry in enumerate(faces):
            _check_entry(index, i, entry)
        return cls(root, size, coverage, str(raw.get("template_id", "")), faces)

    def __len__(self) -> int:
        return len(self.entries)

    def read(self, i: int) -> np.ndarray:
        """Face `i` as a uint8 BGR crop of size x size pixels."""
        path = self.root / self.entries[i]["file"]
        crop = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if crop is None:
            raise FacesetError(f"cannot read face image {path}")
        if crop.shape[:2] != (self.size, self.size):
            raise FacesetError(f"{path} is {crop.shape[1]}x{crop.shape[0]}, the faceset says {self.size}x{self.size}")
        return crop

    def landmarks(self, i: int) -> np.ndarray:
        """The 68 landmarks of face `i` in crop pixels, float32 (68, 2)."""
        return np.asarray(self.entries[i]["landmarks"], np.float32)

    def matrix(self, i: int) -> np.ndarray:
        """The 2x3 alignment of face `i` (frame pixels -> crop pixels), float64."""
        return np.asarray(self.entries[i]["matrix"], np.float64)

    def describe(self) -> str:
        """One line for logs: where, how many faces, crop size and coverage."""
        return f"{self.root} ({len(self)} faces, {self.size} px, {self.coverage})"


def _check_entry(index: Path, i: int, entry) -> None:
    if not isinstance(entry, dict) or any(k not in entry for k in ENTRY_KEYS):
        raise FacesetError(f"{index}: face {i} lacks one of {', '.join(ENTRY_KEYS)}")
    try:
        ok = (np.asarray(entry["landmarks"], np.float64).shape == (68, 2)
              and np.asarray(entry["matrix"], np.float64).shape == (2, 3))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise FacesetError(f"{index}: face {i} has malformed landmarks or matrix")


class FacesetWriter:
    """Adds aligned faces to the faceset in `root`, creating it or continuing an existing one."""

    def __init__(self, root: str | Path, size: int, coverage: str):
        self.root = Path(root).expanduser().resolve()
        if self.root.exists() and not self.root.is_dir():
            raise FacesetError(f"{self.root} exists and is not a folder")
        if (self.root / INDEX_NAME).exists():
            existing = Faceset.load(self.root, allow_empty=True)
            if (existing.size, existing.coverage) != (size, coverage):
                raise FacesetError(f"{self.root} already holds {existing.size} px {existing.coverage} faces, "
                                   f"not {size} px {coverage}; choose another --output")
            self.entries = existing.entries
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            self.entries = []
        self.size, self.coverage = size, coverage
        self._done = {(e["source"], e["frame"], e.get("face", 0)) for e in self.entries}
        self._files = {e["file"] for e in self.entries}

    def has(self, source: str, frame: int, face: int = 0) -> bool:
        """Whether this face of this frame of this source is already in the faceset."""
        return (source, frame, face) in self._done

    def add(self, crop: np.ndarray, source: str, frame: int, landmarks: np.ndarray, matrix: np.ndarray,
            face: int = 0) -> str:
        """Write one aligned crop as PNG and index it (call `flush` to save the index); returns its file name."""
        name = self._file_name(source, frame, face)
        ok, data = cv2.imencode(".png", crop, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise FacesetError(f"cannot encode face {name}")
        data.tofile(str(self.root / name))
        entry = {"file": name, "source": source, "frame": int(frame),
                 "landmarks": np.round(np.asarray(landmarks, np.float64), 3).tolist(),
                 "matrix": np.asarray(matrix, np.float64).tolist()}
        if face:
            entry["face"] = int(face)
        self.entries.append(entry)
        self._done.add((source, frame, face))
        self._files.add(name)
        return name

    def _file_name(self, source: str, frame: int, face: int) -> str:
        stem = Path(source).stem or "face"
        base = f"{stem}_{frame:06d}" + (f"_{face}" if face else "")
        name, n = f"{base}.png", 1
        while name in self._files:
            name, n = f"{base}-{n}.png", n + 1
        return name

    def flush(self) -> None:
        """Rewrite faceset.json atomically (temp file, fsync, rename)."""
        index = {"format": FORMAT, "size": self.size, "coverage": self.coverage, "template_id": TEMPLATE_ID,
                 "faces": self.entries}
        atomic_write_bytes(self.root / INDEX_NAME, json.dumps(index, separators=(",", ":")).encode("utf-8"))


def spread_indices(total: int, count: int, exclude: set[int] | frozenset = frozenset()) -> list[int]:
    """Up to `count` indices in range(total), evenly spread and not in `exclude` (to pick faces across a faceset)."""
    pool = [i for i in range(total) if i not in exclude]
    if len(pool) <= count:
        return pool
    picks = np.linspace(0, len(pool) - 1, count).round().astype(int)
    return [pool[i] for i in dict.fromkeys(picks.tolist())]
