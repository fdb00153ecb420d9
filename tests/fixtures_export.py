"""Session fixtures made by export/: ONNX models exported from the tiny trained checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest

from export.onnx_export import ExportResult, export_checkpoint


@pytest.fixture(scope="session")
def tiny_export(tiny_checkpoint, tmp_path_factory) -> ExportResult:
    """The float32, batch-1 A->B export of `tiny_checkpoint`, with its DFM twin, parity-checked."""
    output = tmp_path_factory.mktemp("export") / "tiny_a2b.onnx"
    return export_checkpoint(tiny_checkpoint, output, dfm=True)


@pytest.fixture(scope="session")
def exported_model(tiny_export) -> Path:
    """Path to a float32 ONNX file (NCHW RGB [0, 1], batch 1, contract inside) exported from tiny_checkpoint."""
    return tiny_export.output
