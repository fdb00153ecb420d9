"""The stream sink read back on loopback by a real client (PyAV), and the mouth mask on a real open mouth."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from faces import align_face, create_landmarker
from faces.masks import mouth_mask
from live.composite import CompositeSettings, composite_face
from live.frame import Frame
from live.profiler import FrameTiming


def test_the_udp_stream_arrives_at_the_right_size_and_its_latency_is_measured(data_dir):
    import av

    from live.sinks import SinkOptions, create_sink
    from tests.live_support import clip_frames, free_udp_port

    port = free_udp_port()
    received, ready = [], threading.Event()

    def receive():
        container = av.open(f"udp://127.0.0.1:{port}?timeout=8000000&overrun_nonfatal=1", format="mpegts",
                            options={"fflags": "nobuffer", "probesize": "32768", "analyzeduration": "0"})
        ready.set()
        for frame in container.decode(video=0):
            received.append((frame.pts, time.perf_counter(), frame.width, frame.height))
            if len(received) >= 40:
                break
        container.close()

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    sink = create_sink(f"udp://127.0.0.1:{port}", SinkOptions(fps=25.0, size=(224, 224)))
    for i, image in enumerate(clip_frames(data_dir / "videos" / "pc-avs" / "00104.mp4")):
        sink.write(Frame(image=image, index=i, media_time=i / 25, timing=FrameTiming(time.perf_counter())))
        time.sleep(0.04)
        if i == 120:
            break
    sink.close()
    receiver.join(20)
    assert len(received) >= 40 and {(w, h) for _, _, w, h in received} == {(224, 224)}
    latency = [arrived - sink.sent_at[pts] for pts, arrived, _, _ in received if pts in sink.sent_at]
    assert latency and 0 < float(np.median(latency)) < 0.5  # encode + send + decode, on loopback
    print(f"udp stream latency on loopback: median {np.median(latency) * 1e3:.1f} ms over {len(latency)} frames")


def test_a_bad_stream_address_is_one_line():
    from live.sinks import SinkError, SinkOptions, create_sink

    with pytest.raises(SinkError, match="udp://HOST:PORT"):
        create_sink("udp:nowhere", SinkOptions(size=(64, 64)))


@pytest.mark.parametrize("clip, frame_number", [("d3", 335), ("d6", 495)])  # wide-open mouths
def test_the_mouth_mask_keeps_the_real_open_mouth(data_dir, clip, frame_number):
    import cv2

    capture = cv2.VideoCapture(str(data_dir / "videos" / "liveportrait" / f"{clip}.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frame_number)
    ok, image = capture.read()
    capture.release()
    with create_landmarker("mediapipe") as marker:
        (face,) = marker.detect(image)
    aligned = align_face(image, face.landmarks, 128, "whole_face")
    inner = mouth_mask(aligned.landmarks, 128)
    assert inner.sum() > 150, "the mouth is wide open in this frame"
    swapped = np.full((128, 128, 3), (0.1, 0.8, 0.1), np.float32)  # a face that is green everywhere
    mask = np.ones((128, 128), np.float32)
    # the mouth's inside, away from its edge by more than the feather and the bicubic paste's reach
    inside = cv2.erode((inner > 0.99).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    points = np.argwhere(inside)[:, ::-1].astype(np.float64)
    frame_points = np.round(points @ aligned.inverse[:, :2].T + aligned.inverse[:, 2]).astype(int)
    for mouth, expect_source in ((True, True), (False, False)):
        out = image.copy()
        composite_face(out, aligned, swapped, mask, CompositeSettings(color="none", mouth=mouth))
        diff = np.abs(out[frame_points[:, 1], frame_points[:, 0]].astype(int) -
                      image[frame_points[:, 1], frame_points[:, 0]]).max(axis=1)
        if expect_source:
            assert np.median(diff) <= 3, "with the mouth mask the inner mouth is the camera's"
        else:
            assert np.median(diff) > 60, "without it the mouth is the swapped face's"
