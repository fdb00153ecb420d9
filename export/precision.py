"""The precisions an export can be stored in: float32 as traced, float16 for GPUs, int8 for CPUs.

Every converter takes the simplified float32 graph and returns a graph with the same float32
inputs and outputs; only the weights and the arithmetic inside change.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx

from export.graph import check
from export.source import ExportError


def as_fp32(model: onnx.ModelProto, calibration: np.ndarray | None = None) -> onnx.ModelProto:
    """The float32 graph unchanged."""
    return model


def as_fp16(model: onnx.ModelProto, calibration: np.ndarray | None = None) -> onnx.ModelProto:
    """Weights and compute in float16, inputs and outputs kept float32 (Cast nodes at the boundary)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    half = OnnxModel(convert_float_to_float16(model, keep_io_types=True))
    half.topological_sort()  # the converter appends its boundary Cast nodes at the end of the node list
    check(half.model)
    return half.model


def as_int8(model: onnx.ModelProto, calibration: np.ndarray | None = None) -> onnx.ModelProto:
    """Static int8 quantization (QDQ, per-channel int8 weights, uint8 activations) calibrated on `calibration`."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration is None or len(calibration) == 0:
        raise ExportError("int8 quantization needs calibration faces (--int8 FACESET_DIR)")
    input_name = model.graph.input[0].name

    class Faces(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{input_name: calibration[i:i + 1]} for i in range(len(calibration))])

        def get_next(self):
            return next(self._batches, None)

    quant_logger = logging.getLogger()
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice on the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="swapcam-int8-") as tmp:
            plain, prepared, quantized = (Path(tmp) / n for n in ("fp32.onnx", "prep.onnx", "int8.onnx"))
            onnx.save(model, plain)
            quant_pre_process(str(plain), str(prepared), skip_symbolic_shape=True)
            quantize_static(str(prepared), str(quantized), Faces(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            result = onnx.load(str(quantized))
    finally:
        quant_logger.setLevel(level)
    check(result)
    return result


PRECISIONS = {"fp32": as_fp32, "fp16": as_fp16, "int8": as_int8}


def convert(model: onnx.ModelProto, precision: str, calibration: np.ndarray | None = None) -> onnx.ModelProto:
    """`model` stored in `precision` ('fp32', 'fp16' or 'int8')."""
    if precision not in PRECISIONS:
        raise ExportError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    return PRECISIONS[precision](model, calibration)
