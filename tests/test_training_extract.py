"""Extraction on the real clips: coverage of frames, the index, reruns and unreadable media."""
from __future__ import annotations

import cv2
import numpy as np

from training.faceset import Faceset


def test_extraction_keeps_at_least_95_percent_of_frames(faceset_a, faceset_b, data_dir):
    for faceset, clip in ((faceset_a, "00104"), (faceset_b, "00098")):
        frames = int(cv2.VideoCapture(str(data_dir / "videos" / "pc-avs" / f"{clip}.mp4")).get(cv2.CAP_PROP_FRAME_COUNT))
        fs = Faceset.load(faceset)
        assert len(fs) >= 0.95 * frames, f"{clip}: kept {len(fs)} of {frames} frames"
        assert (fs.size, fs.coverage) == (256, "whole_face")
        crop, marks = fs.read(0), fs.landmarks(0)
        assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8
        assert marks.shape == (68, 2) and (marks > 0).all() and (marks < 256).all()
