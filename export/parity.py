"""Does the exported file compute what the PyTorch network computes? Run both, compare, judge.

Each precision has its limit: float32 and float16 on the largest absolute difference of any
output value, int8 on the PSNR of each output against the float32 network.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from export.graph import save, staging_path
from export.source import ExportError


@dataclass(frozen=True)
class Limit:
    """A pass mark: the largest absolute difference allowed ('max_abs') or the least PSNR in dB ('psnr')."""

    measure: str
    value: float

    def met(self, max_abs: float, psnr_db: float) -> bool:
        """Whether an output with this difference and PSNR is within the limit."""
        return max_abs <= self.value if self.measure == "max_abs" else psnr_db >= self.value

    def __str__(self) -> str:
        return f"max |diff| <= {self.value:g}" if self.measure == "max_abs" else f"PSNR >= {self.value:g} dB"


LIMITS = {"fp32": Limit("max_abs", 1e-4), "fp16": Limit("max_abs", 2e-2), "int8": Limit("psnr", 30.0)}


class ParityError(ExportError):
    """The exported file's outputs differ from the PyTorch network's by more than the precision's limit."""


@dataclass(frozen=True)
class ParityReport:
    """How far an exported file's outputs are from the reference, per output name."""

    precision: str
    faces: int
    origin: str  # where the inputs came from: a faceset folder, or 'random'
    max_abs: dict[str, float]
    psnr_db: dict[str, float]

    @property
    def limit(self) -> Limit:
        """The pass mark for this precision."""
        return LIMITS[self.precision]

    @property
    def passed(self) -> bool:
        """Whether every output is within the limit."""
        return all(self.limit.met(self.max_abs[k], self.psnr_db[k]) for k in self.max_abs)

    def summary(self) -> str:
        """One line: the numbers, the limit and the verdict."""
        parts = ", ".join(f"{k} max |diff| {self.max_abs[k]:.2e} / PSNR {self.psnr_db[k]:.1f} dB" for k in self.max_abs)
        verdict = "ok" if self.passed else "FAILED"
        return f"{self.precision} parity {verdict} ({self.limit}) on {self.faces} faces from {self.origin}: {parts}"


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio of `a` against `b` in dB (inf when equal)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(peak * peak / mse)


def torch_outputs(module: torch.nn.Module, inputs: np.ndarray) -> list[np.ndarray]:
    """The module's outputs (float32 numpy) for `inputs`, in eval mode and without gradients."""
    with torch.no_grad():
        out = module.eval()(torch.from_numpy(np.ascontiguousarray(inputs)))
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]


def onnx_session(model_path: str | Path, threads: int = 0):
    """A CPU onnxruntime session for `model_path` (`threads` 0 lets onnxruntime choose)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def onnx_outputs(model_path: str | Path, inputs: np.ndarray, one_at_a_time: bool = True) -> list[np.ndarray]:
    """The file's outputs for `inputs` on onnxruntime CPU; item by item when the batch is static."""
    try:
        session = onnx_session(model_path)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"onnxruntime cannot load {model_path}: {first}") from None
    name = session.get_inputs()[0].name
    batches = [inputs[i:i + 1] for i in range(len(inputs))] if one_at_a_time else [inputs]
    runs = [session.run(None, {name: np.ascontiguousarray(b)}) for b in batches]
    return [np.concatenate([run[k] for run in runs]) for k in range(len(runs[0]))]


def compare(outputs: list[np.ndarray], reference: list[np.ndarray], names: list[str], precision: str,
            origin: str) -> ParityReport:
    """Measure `outputs` against `reference` (same order as `names`) for a `precision` export."""
    if precision not in LIMITS:
        raise ExportError(f"no parity limit for precision {precision!r}")
    if [o.shape for o in outputs] != [r.shape for r in reference]:
        raise ParityError(f"exported outputs have shapes {[o.shape for o in outputs]}, "
                          f"the network's are {[r.shape for r in reference]}")
    max_abs = {n: float(np.abs(o.astype(np.float64) - r).max()) for n, o, r in zip(names, outputs, reference)}
    psnr_db = {n: psnr(o, r) for n, o, r in zip(names, outputs, reference)}
    return ParityReport(precision, len(reference[0]), origin, max_abs, psnr_db)


def require(report: ParityReport) -> ParityReport:
    """`report` itself if it passed, else ParityError with its summary."""
    if not report.passed:
        raise ParityError(report.summary())
    return report


def write_verified(model, path: Path, feed: np.ndarray, reference: list[np.ndarray], names: list[str],
                   precision: str, origin: str, one_at_a_time: bool = True) -> ParityReport:
    """Save `model` beside `path`, run it on `feed`, and move it onto `path` only if it matches `reference`.

    On any failure nothing is left at `path` by this call (a file already there stays as it was).
    """
    staged = staging_path(path)
    try:
        save(model, staged)
        report = require(compare(onnx_outputs(staged, feed, one_at_a_time), reference, names, precision, origin))
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
    return report
