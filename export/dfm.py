"""The DFM profile: the same swap network behind the interface of DeepFaceLab's .dfm files.

DeepFaceLive and facefusion load a .dfm as plain ONNX and unpack its outputs by position:

    in_face:0              float32 (N, R, R, 3)  NHWC, BGR in [0, 1]
    out_face_mask:0        float32 (N, R, R, 1)  mask of the input person (our source decoder's mask)
    out_celeb_face:0       float32 (N, R, R, 3)  the swapped face, BGR in [0, 1] (target decoder)
    out_celeb_face_mask:0  float32 (N, R, R, 1)  mask of the swapped face (target decoder)

DeepFaceLab's AMP models take a second input, `morph_value:0`, that mixes two latent codes; its
DF models, which have our shape (one shared encoder, one decoder per person), have no such
input, so neither has ours. DeepFaceLive reads H and W from the input shape, so they are static.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from export.contract import ModelContract, write_contract
from export.graph import simplify, trace
from export.parity import ParityReport, write_verified
from export.source import DIRECTIONS, SwapSource

INPUT = "in_face:0"
OUTPUTS = ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"]

# DeepFaceLive's Face Aligner settings that cut the same square as each of our coverages.
# Derivation: DeepFaceLive fits brows, nose, eye corners and mouth corners to its mean face in a
# unit square, cuts a square of side `face_coverage` units centred at the unit square's centre
# moved by (x_offset, y_offset - 0.08) units. A least-squares similarity fit of faces/'s template
# (same points) onto that mean face has scale 0.941 and puts our template origin at (0.490,
# 0.475), so a crop of side S template units centred at (cx, cy) is face_coverage 0.941 S,
# x_offset 0.490 + 0.941 cx - 0.5 and y_offset 0.475 + 0.941 cy - 0.42 (rounded to the steps of
# DeepFaceLive's controls: 0.1 and 0.01). The fit's RMS residual is 0.018 units, about 2 % of a
# face width, so the cut matches to within a few pixels at 224 px.
DEEPFACELIVE_ALIGNER = {
    "face": {"face_coverage": 1.5, "x_offset": -0.01, "y_offset": 0.17},
    "whole_face": {"face_coverage": 1.9, "x_offset": -0.01, "y_offset": 0.06},
    "head": {"face_coverage": 2.6, "x_offset": -0.01, "y_offset": -0.04},
}


class DFMInterface(nn.Module):
    """Encoder + target decoder (+ the source decoder's mask), NHWC BGR in and out."""

    def __init__(self, model: nn.Module, direction: str):
        super().__init__()
        self.encoder = model.encoder
        swap_to_b = DIRECTIONS[direction][0] == 0
        self.target = model.decoder_b if swap_to_b else model.decoder_a
        self.source = model.decoder_a if swap_to_b else model.decoder_b

    def forward(self, in_face):
        x = torch.flip(in_face.permute(0, 3, 1, 2), dims=(1,))  # NHWC BGR -> NCHW RGB
        code = self.encoder(x)
        face, mask = self.target(code)
        _, source_mask = self.source(code)
        celeb = torch.flip(face, dims=(1,)).permute(0, 2, 3, 1)
        return source_mask.permute(0, 2, 3, 1), celeb, mask.permute(0, 2, 3, 1)


def to_dfm_layout(nchw_rgb: np.ndarray) -> np.ndarray:
    """(N, C, H, W) RGB (or one-channel) array as (N, H, W, C) BGR, contiguous."""
    return np.ascontiguousarray(nchw_rgb[:, ::-1].transpose(0, 2, 3, 1))


def from_dfm_layout(nhwc_bgr: np.ndarray) -> np.ndarray:
    """(N, H, W, C) BGR (or one-channel) array as (N, C, H, W) RGB, contiguous."""
    return np.ascontiguousarray(nhwc_bgr.transpose(0, 3, 1, 2)[:, ::-1])


def dfm_reference(source: SwapSource, direction: str, inputs: np.ndarray) -> list[np.ndarray]:
    """The DFM outputs expected for NCHW RGB `inputs`, computed by the plain network and converted in numpy."""
    source_id, target_id = ("a", "b") if DIRECTIONS[direction][0] == 0 else ("b", "a")
    model = source.model.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(inputs))
        _, source_mask = model(x, source_id)
        face, mask = model(x, target_id)
    return [to_dfm_layout(t.numpy()) for t in (source_mask, face, mask)]


def dfm_contract(contract: ModelContract) -> ModelContract:
    """The swapcam contract of the DFM variant: NHWC BGR, DFM tensor names, DeepFaceLive's aligner settings."""
    settings = DEEPFACELIVE_ALIGNER[contract.coverage]
    extra = {**contract.extra, "interface": "dfm", "source_face_mask_output": OUTPUTS[0],
             "deepfacelive_aligner": {"align_mode": "from_points", **settings}}
    return replace(contract, input_name=INPUT, face_output=OUTPUTS[1], mask_output=OUTPUTS[2], layout="NHWC",
                   color_order="BGR", precision="fp32", extra=extra)


def export_dfm(source: SwapSource, direction: str, contract: ModelContract, path: Path, inputs: np.ndarray,
               origin: str, dynamic_batch: bool = False) -> ParityReport:
    """Write the float32 DFM of `source`'s `direction` path to `path`, checked against the plain network."""
    module = DFMInterface(source.model, direction).eval()
    feed = to_dfm_layout(inputs)
    model = simplify(trace(module, torch.from_numpy(feed[:1]), INPUT, OUTPUTS, dynamic_batch))
    dfm = dfm_contract(contract)
    write_contract(model, dfm)
    settings = dfm.extra["deepfacelive_aligner"]
    model.doc_string = (f"swapcam {direction} swap ({' -> '.join(dfm.identities)}), trained on {dfm.coverage} crops. "
                        f"DeepFaceLive Face Aligner: mode From points, face coverage {settings['face_coverage']}, "
                        f"x offset {settings['x_offset']}, y offset {settings['y_offset']}.")
    reference = dfm_reference(source, direction, inputs)
    return write_verified(model, path, feed, reference, OUTPUTS, "fp32", origin, one_at_a_time=not dynamic_batch)
