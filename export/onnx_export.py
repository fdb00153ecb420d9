"""The whole export: checkpoint -> simplified ONNX swap path with its contract, checked before it lands.

`export_checkpoint` traces the chosen path (encoder + the target decoder), simplifies and checks
the graph, stores it in the chosen precision with the model contract inside, runs it on
onnxruntime against PyTorch on real faces, and only then moves it onto the output path.
Optionally it also writes the DFM profile (`NAME.dfm`) and a TensorRT engine (`NAME.engine`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from export.contract import ModelContract, write_contract
from export.dfm import export_dfm
from export.graph import OPSET, simplify, staging_path, trace
from export.parity import ParityReport, torch_outputs, write_verified
from export.precision import convert
from export.source import (ExportError, SwapSource, check_direction, faceset_faces, load_source, open_faceset,
                           random_faces)
from export.tensorrt_build import EngineFiles, TensorRTUnavailable, build_engine
from training.faceset import spread_indices

PARITY_FACES = 8
CALIBRATION_FACES = 64


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how closely each file matched the PyTorch network."""

    output: Path
    contract: ModelContract
    parity: ParityReport
    size_bytes: int
    dfm: Path | None = None
    dfm_parity: ParityReport | None = None
    engine: EngineFiles | None = None
    notes: list[str] = field(default_factory=list)  # one line each, e.g. why no engine was built


def export_checkpoint(checkpoint: str | Path | dict, output: str | Path, direction: str = "a2b", fp16: bool = False,
                      int8_faceset: str | Path | None = None, dfm: bool = False, tensorrt: bool = False,
                      dynamic_batch: bool = False, workspace_mib: int = 1024, log=None) -> ExportResult:
    """Export a checkpoint's `direction` swap path to the ONNX file `output`, verified; ExportError if not."""
    log = log or (lambda line: None)
    check_direction(direction)
    if fp16 and int8_faceset is not None:
        raise ExportError("choose fp16 or int8, not both")
    output = check_output(Path(output))
    source = load_source(checkpoint)
    precision = "fp16" if fp16 else "int8" if int8_faceset is not None else "fp32"
    log(f"checkpoint: {source.preset or 'custom'} model, {source.resolution} px {source.coverage} crops, "
        f"{source.steps} steps, {' -> '.join(source.path_identities(direction))}")

    calibration = None
    if int8_faceset is not None:
        calibration, inputs, origin = int8_faces(int8_faceset, source)
        log(f"int8: calibrating on {len(calibration)} faces, checking on {len(inputs)} others from {origin}")
    else:
        inputs, origin = parity_inputs(source, direction)
    contract = source.contract(direction, precision, "dynamic" if dynamic_batch else "static", opset=OPSET)
    names = [contract.face_output, contract.mask_output]
    swap = source.model.path(direction).eval()

    log(f"tracing the {direction} path (opset {OPSET}, {'dynamic' if dynamic_batch else 'static'} batch) and simplifying")
    fp32 = simplify(trace(swap, torch.from_numpy(inputs[:1]), contract.input_name, names, dynamic_batch))
    log(f"converting to {precision}" if precision != "fp32" else "graph checked")
    model = convert(fp32, precision, calibration)
    write_contract(model, contract)
    reference = torch_outputs(swap, inputs)
    parity = write_verified(model, output, inputs, reference, names, precision, origin,
                            one_at_a_time=not dynamic_batch)
    log(parity.summary())
    result = ExportResult(output=output, contract=contract, parity=parity, size_bytes=output.stat().st_size)

    written = [output]
    try:
        if dfm:
            written.append(output.with_suffix(".dfm"))
            report = export_dfm(source, direction, contract, written[-1], inputs, origin, dynamic_batch)
            log(f"DFM {written[-1].name}: {report.summary()}")
            result = replace(result, dfm=written[-1], dfm_parity=report)
        if tensorrt:
            written += [EngineFiles.beside(output).engine, EngineFiles.beside(output).sidecar]
            result = replace(result, engine=build_engine(fp32, output, contract, workspace_mib, log=log))
    except TensorRTUnavailable as exc:
        result.notes.append(str(exc))
    except BaseException:
        for path in written:  # a failed step leaves none of this export's files behind
            path.unlink(missing_ok=True)
        raise
    return result


def check_output(output: Path) -> Path:
    """`output` made absolute if a .onnx file can be written there, else ExportError."""
    output = output.expanduser().absolute()
    if output.suffix.lower() != ".onnx":
        raise ExportError(f"the output must be a .onnx file, not {output.name}")
    if output.is_dir():
        raise ExportError(f"the output {output} is a folder")
    if not output.parent.is_dir():
        raise ExportError(f"the output folder {output.parent} does not exist")
    probe = staging_path(output)
    try:
        probe.open("wb").close()
        probe.unlink()
    except OSError as exc:
        raise ExportError(f"cannot write to {output.parent} ({exc.strerror or type(exc).__name__})") from None
    return output


def parity_inputs(source: SwapSource, direction: str, count: int = PARITY_FACES) -> tuple[np.ndarray, str]:
    """Faces to check the export on: the source person's faceset from the checkpoint if present, else random."""
    folder = source.source_faceset(direction)
    if folder and Path(folder).is_dir():
        faceset = open_faceset(folder, source)
        return faceset_faces(faceset, spread_indices(len(faceset), count), source.resolution), str(faceset.root)
    where = f"the checkpoint's faceset {folder} is not here" if folder else "the checkpoint names no faceset"
    return random_faces(count, source.resolution), f"random images ({where})"


def int8_faces(folder: str | Path, source: SwapSource) -> tuple[np.ndarray, np.ndarray, str]:
    """(calibration faces, held-out check faces, origin) from the faceset in `folder`."""
    faceset = open_faceset(folder, source)
    check = spread_indices(len(faceset), PARITY_FACES)
    calibrate = spread_indices(len(faceset), CALIBRATION_FACES, exclude=set(check)) or check
    return (faceset_faces(faceset, calibrate, source.resolution), faceset_faces(faceset, check, source.resolution),
            str(faceset.root))
