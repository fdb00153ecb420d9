"""From a torch module to a clean, checked ONNX graph: trace, simplify, validate, save atomically."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import onnx
import torch

from export.source import ExportError

OPSET = 17


def trace(module: torch.nn.Module, example: torch.Tensor, input_name: str, output_names: list[str],
          dynamic_batch: bool = False) -> onnx.ModelProto:
    """Export `module` called on `example` as an ONNX graph (opset 17, static shapes unless `dynamic_batch`)."""
    dynamic_axes = {name: {0: "batch"} for name in [input_name, *output_names]} if dynamic_batch else None
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of the torch.export one, which needs onnxscript;
        # for this plain conv network both give the same graph, and this one needs no extra package.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module.eval(), (example,), buffer, input_names=[input_name], output_names=output_names,
                          opset_version=OPSET, dynamic_axes=dynamic_axes, do_constant_folding=True, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold constants, infer shapes and drop dead nodes (onnxslim), then check the result again."""
    import onnxslim

    check(model)
    slim = onnxslim.slim(model)
    if slim is None:
        raise ExportError("onnxslim could not simplify the graph")
    slim = onnx.shape_inference.infer_shapes(slim, check_type=True, strict_mode=True)
    check(slim)
    return slim


def check(model: onnx.ModelProto) -> None:
    """Raise ExportError unless `model` passes onnx.checker (full check, with shape inference)."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"the exported graph fails onnx.checker: {first}") from None


def staging_path(final: Path) -> Path:
    """A temp path beside `final`, so that os.replace onto it is atomic."""
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def save(model: onnx.ModelProto, path: Path) -> None:
    """Write `model` to `path` (to be moved into place by the caller)."""
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
        f.flush()
        os.fsync(f.fileno())
