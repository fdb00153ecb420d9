"""Bad input to the export gives one clear line, a non-zero exit, and no file left behind."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from export import parity
from export.__main__ import main
from export.onnx_export import export_checkpoint
from export.parity import Limit, ParityError
from export.source import ExportError
from tests.cli_support import ROOT, assert_one_line_error, assert_process_error

PROG = "python -m export"


def one_line_error(capsys, argv) -> str:
    return assert_one_line_error(main(argv), capsys.readouterr().err, PROG, alone=False)


def test_missing_checkpoint_in_a_real_process(tmp_path):
    out = tmp_path / "m.onnx"
    proc = subprocess.run([sys.executable, "-m", "export", "--checkpoint", str(tmp_path / "nope"), "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert_process_error(proc, PROG, f"no checkpoint at {tmp_path / 'nope' / 'checkpoint.pt'}")
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_option():
    proc = subprocess.run([sys.executable, "-m", "export", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    for option in ("--checkpoint", "--output", "--direction", "--fp16", "--int8", "--dfm", "--tensorrt",
                   "--dynamic-batch"):
        assert option in proc.stdout


def test_corrupt_checkpoint(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 not really a zip" * 50)
    line = one_line_error(capsys, ["--checkpoint", str(tmp_path), "--output", str(tmp_path / "m.onnx")])
    assert "corrupt or not a swapcam checkpoint" in line
    assert not (tmp_path / "m.onnx").exists()


def test_foreign_checkpoint(tmp_path, capsys):
    torch.save({"state_dict": {"w": torch.zeros(3)}, "epoch": 3}, tmp_path / "resnet.pt")
    line = one_line_error(capsys, ["--checkpoint", str(tmp_path / "resnet.pt"), "--output", str(tmp_path / "m.onnx")])
    assert "is not a swapcam-checkpoint-2 file" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet.pt"]


def test_unknown_direction(tiny_checkpoint, tmp_path, capsys):
    line = one_line_error(capsys, ["--checkpoint", str(tiny_checkpoint), "--output", str(tmp_path / "m.onnx"),
                                   "--direction", "a2c"])
    assert line == "python -m export: error: unknown direction 'a2c'; choose a2b or b2a"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, message", [
    ("missing/m.onnx", "does not exist"),
    ("folder.onnx", "is a folder"),
    ("m.txt", "must be a .onnx file"),
    ("/proc/swapcam-test.onnx", "cannot write to /proc"),
])
def test_unwritable_output(tiny_checkpoint, tmp_path, capsys, where, message):
    (tmp_path / "folder.onnx").mkdir()
    line = one_line_error(capsys, ["--checkpoint", str(tiny_checkpoint), "--output", str(tmp_path / where)])
    assert message in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.onnx"]


def test_faceset_that_does_not_match_the_model(tiny_checkpoint, faceset_a, tmp_path, capsys):
    other = tmp_path / "head_faces"
    other.mkdir()
    index = json.loads((faceset_a / "faceset.json").read_text())
    index["coverage"] = "head"  # crops cut wider than the model was trained on
    (other / "faceset.json").write_text(json.dumps(index))
    out = tmp_path / "out"
    out.mkdir()
    line = one_line_error(capsys, ["--checkpoint", str(tiny_checkpoint), "--output", str(out / "m.onnx"),
                                   "--int8", str(other)])
    assert "holds head crops; the model was trained on whole_face crops" in line
    line = one_line_error(capsys, ["--checkpoint", str(tiny_checkpoint), "--output", str(out / "m.onnx"),
                                   "--int8", str(tmp_path / "no-faceset")])
    assert "no faceset folder" in line
    assert list(out.iterdir()) == []


def test_fp16_and_int8_together_are_refused(tiny_checkpoint, faceset_a, tmp_path):
    with pytest.raises(ExportError, match="fp16 or int8, not both"):
        export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", fp16=True, int8_faceset=faceset_a)


def test_failed_parity_check_leaves_nothing_and_exits_non_zero(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    # A limit no half-precision export can meet: the real fp16 graph then fails its real check.
    monkeypatch.setitem(parity.LIMITS, "fp16", Limit("max_abs", 1e-9))
    with pytest.raises(ParityError, match="fp16 parity FAILED"):
        export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", fp16=True)
    assert list(tmp_path.iterdir()) == []
    line = one_line_error(capsys, ["--checkpoint", str(tiny_checkpoint), "--output", str(tmp_path / "m.onnx"),
                                   "--fp16", "--dfm"])
    assert "fp16 parity FAILED (max |diff| <= 1e-09)" in line
    assert list(tmp_path.iterdir()) == []


def test_failed_dfm_check_removes_the_onnx_written_before_it(tiny_checkpoint, tmp_path, monkeypatch):
    import export.dfm

    real = export.dfm.dfm_reference
    # a reference whose colours stay RGB: the DFM, rightly BGR, must now fail its check
    monkeypatch.setattr(export.dfm, "dfm_reference",
                        lambda *args: [np.ascontiguousarray(out[..., ::-1]) for out in real(*args)])
    with pytest.raises(ParityError, match="fp32 parity FAILED"):
        export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", dfm=True)
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_with_a_foreign_alignment_template(tiny_checkpoint, tmp_path):
    from training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(tiny_checkpoint)
    ckpt["config"] = {**ckpt["config"], "template_id": "dfl-landmarks-2d"}
    with pytest.raises(ExportError, match="alignment template 'dfl-landmarks-2d'"):
        export_checkpoint(ckpt, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_no_temp_files_linger_next_to_the_output(tiny_export):
    folder = tiny_export.output.parent
    assert sorted(p.name for p in folder.iterdir()) == sorted([tiny_export.output.name, tiny_export.dfm.name])
