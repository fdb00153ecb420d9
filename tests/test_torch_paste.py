"""The GPU paste of the torch backend (`live.torch_backend.torch_paste_back`), run here with PyTorch on the CPU:
the same blend as OpenCV's `faces.paste_back`, on a real face, tilted and cut by the frame's edge, and the swap
stage uses a backend's `paste` when it has one."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from faces import align_face, paste_back, paste_box
from live.composite import CompositeSettings, prepare_face
from live.frame import Frame
from live.profiler import FrameTiming
from live.swapper import FaceSwapper, SwapSettings
from live.torch_backend import TorchBackend, torch_paste_back
from faces import create_landmarker

CPU = torch.device("cpu")


def tilted(image: np.ndarray, landmarks: np.ndarray, degrees: float, shift: tuple[int, int] = (0, 0)):
    """The photo turned by `degrees` about its centre and moved by `shift`, with its landmarks moved alike."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    matrix[:, 2] += shift
    turned = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return turned, (np.c_[landmarks, np.ones(len(landmarks))] @ matrix.T).astype(np.float32)


@pytest.mark.parametrize("resolution, degrees, shift", [(128, 0, (0, 0)), (256, 17, (0, 0)), (256, -25, (-250, 300))])
def test_the_torch_paste_is_opencvs_paste_within_a_level(astronaut, resolution, degrees, shift):
    """A swapped face (the crop with noise and a green stripe) with the live mask (eroded, feathered) pasted both
    ways: at most one level apart anywhere, nothing written outside the box; the last case is cut by the edge."""
    image, marks = tilted(astronaut.image, astronaut.face.landmarks, degrees, shift)
    aligned = align_face(image, marks, resolution, "whole_face")
    rng = np.random.default_rng(resolution)
    face = np.clip(aligned.crop / 255.0 + rng.normal(0, 0.08, aligned.crop.shape), 0, 1).astype(np.float32)
    face[resolution // 2:resolution // 2 + 8] = (0.2, 0.9, 0.2)
    model_mask = np.clip(rng.uniform(0.6, 1.4, (resolution, resolution)), 0, 1).astype(np.float32)
    prepared = prepare_face(aligned, face, model_mask, CompositeSettings(color="none"), image.shape)
    assert prepared.box is not None
    if shift != (0, 0):
        assert prepared.box[0] == 0 or prepared.box[3] == image.shape[0], "the face reaches the frame's edge"
    expected = paste_back(image, prepared.face, prepared.mask, prepared.inverse, box=prepared.box)
    got = image.copy()
    torch_paste_back(got, prepared.face, prepared.mask, prepared.inverse, prepared.box, CPU)
    difference = np.abs(got.astype(int) - expected.astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.01
    x0, y0, x1, y1 = prepared.box
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(got[outside], image[outside])
    assert np.abs(got[y0:y1, x0:x1].astype(int) - image[y0:y1, x0:x1]).max() > 100  # the stripe went in


def test_a_float_crop_and_a_half_mask_blend_as_paste_back_does(astronaut):
    """A float crop on the 0-255 scale and a half-transparent mask: rounding and the blend weights agree."""
    image = astronaut.image
    aligned = align_face(image, astronaut.face.landmarks, 128, "whole_face")
    crop = np.full((128, 128, 3), (40.4, 200.6, 90.5), np.float32)
    mask = np.full((128, 128), 0.5, np.float32)
    box = paste_box(aligned.inverse, crop.shape, image.shape, mask)
    expected = paste_back(image, crop, mask, aligned.inverse, box=box)
    got = image.copy()
    torch_paste_back(got, crop, mask, aligned.inverse, box, CPU)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_the_swap_stage_pastes_through_the_backends_paste(tiny_checkpoint, astronaut):
    """A torch backend with a paste (on the GPU it has one; here the same code on the CPU) swaps a frame as the
    OpenCV paste does, within a level; the swap stage called it once per face."""
    backend = TorchBackend(tiny_checkpoint, device="cpu")
    assert backend.paste is None  # on the CPU, OpenCV's paste is the faster one
    landmarker = create_landmarker("mediapipe", mode="image")
    outputs, calls = [], []
    try:
        for paste in (None, lambda *args: (calls.append(args[4]), torch_paste_back(*args, CPU))):
            backend.paste = paste
            swapper = FaceSwapper(backend, landmarker, SwapSettings(label=False, overlap=False, smoothing=False))
            frame = Frame(image=astronaut.image.copy(), index=0, media_time=0.0, timing=FrameTiming(captured_at=0.0))
            swapper.locate(frame)
            swapper.swap(frame)
            assert not frame.failed and len(frame.boxes) == 1, frame.error
            outputs.append(frame.output)
    finally:
        landmarker.close()
    assert calls == frame.boxes
    assert np.abs(outputs[0].astype(int) - outputs[1].astype(int)).max() <= 1
    assert np.abs(outputs[1].astype(int) - astronaut.image).max() > 20  # it swapped something


def test_an_early_colour_match_is_used_only_with_the_transfer_it_was_made_with(tiny_checkpoint, astronaut):
    """The overlapped early run hands the swap stage its colour-matched face; the swap pastes that one when the
    colour transfer is still the one it was made with, and matches again when the setting changed meanwhile."""
    backend = TorchBackend(tiny_checkpoint, device="cpu")
    landmarker = create_landmarker("mediapipe", mode="image")
    try:
        swapper = FaceSwapper(backend, landmarker, SwapSettings(label=False, overlap=False, smoothing=False))
        results = {}
        for color in ("rct", "lct"):
            swapper.update(SwapSettings(label=False, overlap=False, smoothing=False,
                                        composite=CompositeSettings(color=color)))
            frame = Frame(image=astronaut.image.copy(), index=0, media_time=0.0, timing=FrameTiming(captured_at=0.0))
            swapper.locate(frame)
            size = frame.aligned[0].crop.shape[0]
            face, mask = backend.run(frame.aligned[0].crop[None])
            green = np.zeros((size, size, 3), np.uint8)
            green[:] = (40, 220, 40)
            frame.inferred = [(face[0], np.ones_like(mask[0]), ("rct", green))]  # as an early run made it
            swapper.swap(frame)
            assert not frame.failed, frame.error
            x, y = np.round(frame.aligned[0].inverse @ (size / 2, size / 2, 1)).astype(int)
            results[color] = frame.output[y, x].astype(int)
    finally:
        landmarker.close()
    assert np.abs(results["rct"] - (40, 220, 40)).max() <= 2  # the early match, pasted as it was
    assert np.abs(results["lct"] - (40, 220, 40)).max() > 40  # made again with the new transfer
