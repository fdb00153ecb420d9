"""The evaluation contact sheet: source and swapped faces side by side, faces only, one pair per sampled frame.

Both faces of a pair are cut from their frames with the same alignment (the source face's
landmarks, whole-face coverage), so the pair lines up pixel for pixel and shows only the face.
Each pair is captioned with its frame number and the output's identity distances to A and B.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faces import align_face
from faces.fileio import atomic_write_bytes

TILE = 128
PAIRS_PER_ROW = 4
CAPTION = 18  # pixels of caption strip under each pair
GAP = 6
BACKGROUND = (32, 32, 32)


@dataclass(frozen=True)
class SheetPair:
    """One frame's source and swapped faces (BGR uint8, TILE x TILE) and the caption under them."""

    source: np.ndarray
    output: np.ndarray
    caption: str


def face_pair(source_frame: np.ndarray, output_frame: np.ndarray, landmarks: np.ndarray, caption: str) -> SheetPair:
    """The source and output faces of one frame, both cut with the source face's alignment."""
    src = align_face(source_frame, landmarks, TILE, "whole_face").crop
    out = align_face(output_frame, landmarks, TILE, "whole_face").crop
    return SheetPair(src, out, caption)


def contact_sheet(pairs: list[SheetPair], title: str) -> np.ndarray:
    """BGR uint8 image: a title line, then the pairs in rows of PAIRS_PER_ROW (source left, swapped right)."""
    rows = max(1, -(-len(pairs) // PAIRS_PER_ROW))
    cols = min(max(len(pairs), 1), PAIRS_PER_ROW)
    cell_w, cell_h = 2 * TILE + GAP, TILE + CAPTION + GAP
    head = 24
    sheet = np.full((head + rows * cell_h + GAP, cols * cell_w + GAP, 3), BACKGROUND, np.uint8)
    cv2.putText(sheet, title, (GAP, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    for k, pair in enumerate(pairs):
        x, y = GAP + (k % PAIRS_PER_ROW) * cell_w, head + (k // PAIRS_PER_ROW) * cell_h
        sheet[y:y + TILE, x:x + TILE] = pair.source
        sheet[y:y + TILE, x + TILE:x + 2 * TILE] = pair.output
        cv2.putText(sheet, pair.caption, (x + 2, y + TILE + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (220, 220, 220), 1,
                    cv2.LINE_AA)
    return sheet


def write_sheet(path: str | Path, sheet: np.ndarray) -> Path:
    """Save the sheet as PNG atomically; returns the absolute path."""
    path = Path(path).expanduser().absolute()
    ok, data = cv2.imencode(".png", sheet)
    if not ok:
        raise ValueError(f"cannot encode the contact sheet for {path}")
    atomic_write_bytes(path, data.tobytes())
    return path
