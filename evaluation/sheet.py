"""The evaluation contact sheet: source, swapped and ceiling faces side by side, faces only, one row entry per sampled frame.

All faces of an entry are cut from their frames with the same alignment (the source face's landmarks,
whole-face coverage), so they line up pixel for pixel and show only the face. The ceiling is the
aligned crop itself pasted back through the live compositing: the sharpest a model of this
resolution could look. Each entry is captioned with its frame number and the output's identity
distances to A and B.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faces import align_face
from faces.fileio import atomic_write_bytes

TILE = 192
ENTRIES_PER_ROW = 3
CAPTION = 18  # pixels of caption strip under each entry
GAP = 6
BACKGROUND = (32, 32, 32)


@dataclass(frozen=True)
class SheetEntry:
    """One frame's faces (BGR uint8, TILE x TILE each: source, swapped, ceiling) and the caption under them."""

    tiles: tuple[np.ndarray, ...]
    caption: str


def sheet_entry(source_frame: np.ndarray, output_frame: np.ndarray, ceiling_frame: np.ndarray, landmarks: np.ndarray,
                caption: str) -> SheetEntry:
    """The source, output and ceiling faces of one frame, all cut with the source face's alignment."""
    tiles = tuple(align_face(frame, landmarks, TILE, "whole_face").crop
                  for frame in (source_frame, output_frame, ceiling_frame))
    return SheetEntry(tiles, caption)


def contact_sheet(entries: list[SheetEntry], title: str) -> np.ndarray:
    """BGR uint8 image: a title line, then the entries in rows of ENTRIES_PER_ROW (source | swapped | ceiling)."""
    per_entry = len(entries[0].tiles) if entries else 3
    rows = max(1, -(-len(entries) // ENTRIES_PER_ROW))
    cols = min(max(len(entries), 1), ENTRIES_PER_ROW)
    cell_w, cell_h = per_entry * TILE + GAP, TILE + CAPTION + GAP
    head = 24
    sheet = np.full((head + rows * cell_h + GAP, cols * cell_w + GAP, 3), BACKGROUND, np.uint8)
    cv2.putText(sheet, title, (GAP, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    for k, entry in enumerate(entries):
        x, y = GAP + (k % ENTRIES_PER_ROW) * cell_w, head + (k // ENTRIES_PER_ROW) * cell_h
        for t, tile in enumerate(entry.tiles):
            sheet[y:y + TILE, x + t * TILE:x + (t + 1) * TILE] = tile
        cv2.putText(sheet, entry.caption, (x + 2, y + TILE + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (220, 220, 220), 1,
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
