"""From per-frame measurements to the evaluation summary: one flat dict of figures, the quality targets
they are held to, and the table printed on stdout.

Shares are over the frames where the source shows a face (where a swap should have happened):
a frame whose swap failed, or whose output has no detectable face, counts against the model.
Distances, errors and sharpness are over the frames where both faces were measured.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np

from evaluation.metrics import angle_difference, correlation, jitter


@dataclass
class FrameResult:
    """What was measured on one frame; None where a face was missing or a measure does not apply."""

    frame: int
    time_s: float
    swapped: bool
    source_landmarks: np.ndarray | None = None
    output_landmarks: np.ndarray | None = None
    dist_a: float | None = None               # swapped output to A's mean embedding
    dist_b: float | None = None               # swapped output to B's mean embedding
    source_dist_a: float | None = None        # source face to A's mean embedding (the reference)
    source_dist_b: float | None = None
    gallery_top1: str | None = None           # nearest identity of the output among A, B and the gallery
    landmark_error: float | None = None
    mouth_open: tuple[float, float] | None = None  # (source, output)
    eye_open: tuple[float, float] | None = None
    pose_source: tuple[float, float, float] | None = None  # (yaw, pitch, roll) degrees
    pose_output: tuple[float, float, float] | None = None
    sharpness_source: float | None = None
    sharpness_output: float | None = None
    sharpness_ceiling: float | None = None     # the aligned crop itself pasted back: a perfect model's sharpness
    sharpness_model: float | None = None       # the model's face in its own crop, before colour match and paste
    sharpness_crop: float | None = None        # the aligned crop the model was given, the same way
    mask_coverage: float | None = None         # share of the landmark hull the model's mask covers

    def to_json(self) -> dict:
        """Plain-JSON form: numbers rounded, landmarks as lists of [x, y]."""
        out = {}
        for key, value in self.__dict__.items():
            if isinstance(value, np.ndarray):
                value = np.round(value.astype(np.float64), 2).tolist()
            elif isinstance(value, float):
                value = round(value, 5)
            elif isinstance(value, tuple):
                value = [round(float(v), 5) for v in value]
            out[key] = value
        return out


@dataclass(frozen=True)
class Target:
    """A quality goal: summary figure `key` compared with `threshold` by `op` (one of OPS)."""

    key: str
    op: str
    threshold: float
    what: str


OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, "<": operator.lt,
                                                  ">": operator.gt}

COLLAPSED = 0.5   # a mask covering less of the hull than this has collapsed (the live loop stops trusting it)
FULL_MASK = 0.9   # a mask covering at least this much of the hull is whole

# The goals for a model trained 30 CPU-minutes with the fast preset: a pair (A's own held-out frames), and an
# any-face model (a pool of people as A) on a person it never saw.
TARGETS = {
    "pair": (
        Target("closer_to_b", ">=", 0.99, "swapped frames closer to B than to A"),
        Target("dist_b_median", "<=", 0.45, "median identity distance to B (dlib: same person below 0.6)"),
        Target("sharpness_vs_ceiling", ">=", 0.50, "sharpness of swapped face / ceiling (median)"),
        Target("landmark_error_mean", "<=", 0.04, "inner-face landmark error / inter-ocular distance"),
        Target("mouth_open_correlation", ">=", 0.90, "mouth-open correlation, source vs output"),
        Target("jitter_ratio", "<=", 1.50, "landmark jitter of output / source"),
    ),
    "anyface": (
        Target("closer_to_b", ">=", 0.90, "swapped frames closer to B than to the source person"),
        Target("dist_b_median", "<=", 0.60, "median identity distance to B (dlib: same person below 0.6)"),
        Target("mask_whole", ">=", 0.99, f"frames whose model mask covers at least {FULL_MASK:g} of the face hull"),
    ),
}


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarize(results: list[FrameResult], identity_b: str) -> dict:
    """The summary figures of an evaluation run (see the module docstring for which frames each uses)."""
    faced = [r for r in results if r.source_landmarks is not None]
    measured = [r for r in faced if r.swapped and r.output_landmarks is not None]
    share = (lambda hits: hits / len(faced)) if faced else (lambda hits: None)
    s = {"frames": len(results), "frames_with_face": len(faced), "frames_swapped": sum(r.swapped for r in faced),
         "output_faces_found": share(len(measured))}

    s["closer_to_b"] = share(sum(r.dist_b is not None and r.dist_b < r.dist_a for r in measured))
    s["dist_b_median"] = _median(r.dist_b for r in measured)
    s["dist_a_median"] = _median(r.dist_a for r in measured)
    s["dist_b_mean"] = _mean(r.dist_b for r in measured)
    s["dist_a_mean"] = _mean(r.dist_a for r in measured)
    s["source_dist_a_median"] = _median(r.source_dist_a for r in faced)
    s["source_dist_b_median"] = _median(r.source_dist_b for r in faced)
    if any(r.gallery_top1 is not None for r in measured):
        s["gallery_top1_b"] = share(sum(r.gallery_top1 == identity_b for r in measured))

    s["landmark_error_mean"] = _mean(r.landmark_error for r in measured)
    s["landmark_error_median"] = _median(r.landmark_error for r in measured)
    s["mouth_open_correlation"] = correlation([r.mouth_open[0] for r in measured], [r.mouth_open[1] for r in measured])
    s["eye_open_correlation"] = correlation([r.eye_open[0] for r in measured], [r.eye_open[1] for r in measured])
    for k, angle in enumerate(("yaw", "pitch", "roll")):
        s[f"{angle}_error_mean"] = _mean(angle_difference(r.pose_source[k], r.pose_output[k]) for r in measured
                                         if not math.isnan(r.pose_source[k] + r.pose_output[k]))

    s["jitter_source"] = jitter([r.source_landmarks for r in results])
    s["jitter_output"] = jitter([r.output_landmarks if r.swapped else None for r in results])
    s["jitter_ratio"] = (s["jitter_output"] / s["jitter_source"]
                         if s["jitter_output"] is not None and s["jitter_source"] else None)

    sharp = [r for r in measured if r.sharpness_source and r.sharpness_ceiling]
    s["sharpness_source_median"] = _median(r.sharpness_source for r in sharp)
    s["sharpness_output_median"] = _median(r.sharpness_output for r in sharp)
    s["sharpness_ceiling_median"] = _median(r.sharpness_ceiling for r in sharp)
    s["sharpness_ratio"] = _median(r.sharpness_output / r.sharpness_source for r in sharp)
    s["sharpness_ceiling_ratio"] = _median(r.sharpness_ceiling / r.sharpness_source for r in sharp)
    s["sharpness_vs_ceiling"] = _median(r.sharpness_output / r.sharpness_ceiling for r in sharp)
    crops = [r for r in measured if r.sharpness_model is not None and r.sharpness_crop]
    s["sharpness_model_median"] = _median(r.sharpness_model for r in crops)
    s["sharpness_crop_median"] = _median(r.sharpness_crop for r in crops)
    s["sharpness_model_vs_crop"] = _median(r.sharpness_model / r.sharpness_crop for r in crops)

    covered = [r.mask_coverage for r in faced if r.mask_coverage is not None]
    s["mask_coverage_median"] = _median(covered)
    s["mask_coverage_min"] = min(covered) if covered else None
    s["mask_whole"] = share(sum(c >= FULL_MASK for c in covered)) if covered else None
    s["mask_collapsed_frames"] = sum(c < COLLAPSED for c in covered)
    return s


def collapsed_frames(results: list[FrameResult]) -> list[int]:
    """The frames whose model mask collapsed (covers less than COLLAPSED of the face hull)."""
    return [r.frame for r in results if r.mask_coverage is not None and r.mask_coverage < COLLAPSED]


def check_targets(summary: dict, kind: str = "pair") -> list[dict]:
    """Each target of `kind` ('pair' or 'anyface') with the summary's value and whether it is met (missing: not met)."""
    checks = []
    for t in TARGETS[kind]:
        value = summary.get(t.key)
        met = value is not None and OPS[t.op](value, t.threshold)
        checks.append({"key": t.key, "what": t.what, "value": value, "target": f"{t.op} {t.threshold:g}", "met": met})
    return checks


ROWS = (  # (summary key, label) in the order of the table
    ("frames", "frames read"),
    ("frames_with_face", "frames with a face"),
    ("output_faces_found", "share of them with a face found in the output"),
    ("closer_to_b", "swapped frames closer to B than to A"),
    ("dist_b_median", "identity distance to B, median"),
    ("dist_a_median", "identity distance to A, median"),
    ("source_dist_a_median", "source face to A, median (reference)"),
    ("source_dist_b_median", "source face to B, median (reference)"),
    ("gallery_top1_b", "top-1 retrieval of B in the gallery"),
    ("landmark_error_mean", "inner-face landmark error / IOD, mean"),
    ("mouth_open_correlation", "mouth-open correlation"),
    ("eye_open_correlation", "eye-open correlation"),
    ("yaw_error_mean", "head yaw difference, degrees"),
    ("pitch_error_mean", "head pitch difference, degrees"),
    ("roll_error_mean", "head roll difference, degrees"),
    ("jitter_source", "landmark jitter of the source / IOD"),
    ("jitter_output", "landmark jitter of the output / IOD"),
    ("jitter_ratio", "jitter output / source"),
    ("sharpness_source_median", "sharpness of the source face (var. of Laplacian)"),
    ("sharpness_output_median", "sharpness of the swapped face"),
    ("sharpness_ratio", "sharpness swapped / source, median"),
    ("sharpness_ceiling_ratio", "sharpness ceiling / source, median (a perfect model)"),
    ("sharpness_vs_ceiling", "sharpness swapped / ceiling, median"),
    ("sharpness_target_median", "sharpness of B's own faces through the ceiling"),
    ("sharpness_vs_target", "sharpness swapped / B's own, median"),
    ("sharpness_model_median", "sharpness of the model's face in its crop, before the paste"),
    ("sharpness_model_vs_crop", "model's face / the crop it was given, median"),
    ("sharpness_b_crops_median", "sharpness of B's faceset faces at the model's resolution"),
    ("sharpness_model_vs_b_crops", "model's face / B's faces, both in the model's crop"),
    ("mask_coverage_median", "model mask coverage of the face hull, median"),
    ("mask_coverage_min", "model mask coverage of the face hull, lowest"),
    ("mask_whole", f"frames with mask coverage >= {FULL_MASK:g}"),
    ("mask_collapsed_frames", f"frames with mask coverage < {COLLAPSED:g} (collapsed)"),
    ("a2a_psnr", "A->A held-out PSNR, dB"),
    ("a2a_ssim", "A->A held-out SSIM"),
    ("b2b_psnr", "B->B held-out PSNR, dB"),
    ("b2b_ssim", "B->B held-out SSIM"),
)


def _format(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3f}"


def summary_table(summary: dict, kind: str = "pair") -> str:
    """The summary as a text table: measure, value, target (of `kind`) and whether it is met."""
    targets = {c["key"]: c for c in check_targets(summary, kind)}
    width = max(len(label) for _, label in ROWS)
    lines = [f"{'measure':<{width}}  {'value':>8}  {'target':<8}  met", "-" * (width + 26)]
    for key, label in ROWS:
        if key not in summary:
            continue
        check = targets.get(key)
        target, met = (check["target"], "yes" if check["met"] else "NO") if check else ("", "")
        lines.append(f"{label:<{width}}  {_format(summary[key]):>8}  {target:<8}  {met}".rstrip())
    return "\n".join(lines)
