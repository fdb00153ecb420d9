"""Export of the tiny trained checkpoint: graph shape, contract, and parity of every variant on real faces."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from export.contract import read_contract
from export.onnx_export import export_checkpoint
from export.parity import psnr
from export.source import faceset_faces, load_source, open_faceset
from training.faceset import spread_indices
from faces import TEMPLATE_ID
from training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def source(tiny_checkpoint):
    return load_source(tiny_checkpoint)


@pytest.fixture(scope="module")
def faces_a(source, faceset_a):
    """Ten real aligned faces of person A at the model's resolution, NCHW RGB [0, 1]."""
    faceset = open_faceset(faceset_a, source)
    return faceset_faces(faceset, spread_indices(len(faceset), 10), source.resolution)


def run_onnx(path, faces, one_at_a_time=True):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    batches = [faces[i:i + 1] for i in range(len(faces))] if one_at_a_time else [faces]
    runs = [session.run(None, {name: b}) for b in batches]
    return [np.concatenate([r[k] for r in runs]) for k in range(len(runs[0]))]


def run_torch(source, faces, identity):
    with torch.no_grad():
        return [t.numpy() for t in source.model.eval()(torch.from_numpy(faces), identity)]


def test_fp32_export_is_a_checked_static_opset17_graph_of_the_a2b_path(tiny_export, source):
    model = onnx.load(str(tiny_export.output))
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    r = source.resolution
    (inp,) = model.graph.input
    assert inp.name == "face" and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 3, r, r]
    outs = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    assert outs == {"swapped_face": [1, 3, r, r], "swapped_mask": [1, 1, r, r]}
    # simplified: every initializer and every node output is used; no Constant or Identity nodes survive
    consumed = {i for n in model.graph.node for i in n.input} | set(outs)
    assert all(o in consumed for n in model.graph.node for o in n.output)
    assert all(init.name in consumed for init in model.graph.initializer)
    assert not {n.op_type for n in model.graph.node} & {"Constant", "Identity", "Shape", "Gather"}


def test_contract_describes_the_training(tiny_export, tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    contract = read_contract(tiny_export.output)
    assert contract == tiny_export.contract
    assert contract.identities == tuple(ckpt["config"]["identities"])  # (A, B): A's face in, B's face out
    assert (contract.resolution, contract.coverage, contract.template_id) == (64, "whole_face", TEMPLATE_ID)
    assert (contract.direction, contract.precision, contract.batch, contract.layout, contract.color_order) == \
        ("a2b", "fp32", "static", "NCHW", "RGB")
    assert contract.steps == ckpt["step"] > 0 and contract.preset == ckpt["preset"]
    meta = ort.InferenceSession(str(tiny_export.output), providers=["CPUExecutionProvider"]).get_modelmeta()
    assert "swapcam" in meta.custom_metadata_map  # what the live loop reads through onnxruntime


def test_fp32_parity_on_real_faces_from_the_checkpoint_faceset(tiny_export, source, faces_a, faceset_a):
    assert tiny_export.parity.origin == str(faceset_a.resolve())
    assert tiny_export.parity.faces == 8 and tiny_export.parity.passed
    face, mask = run_onnx(tiny_export.output, faces_a)
    ref_face, ref_mask = run_torch(source, faces_a, "b")
    assert np.abs(face - ref_face).max() <= 1e-4 and np.abs(mask - ref_mask).max() <= 1e-4
    # the export is decoder B's answer, not decoder A's: the two differ on A's faces
    assert np.abs(face - run_torch(source, faces_a, "a")[0]).max() > 1e-2


def test_fp16_is_half_the_size_and_within_2e_2(tiny_checkpoint, tiny_export, source, faces_a, tmp_path):
    result = export_checkpoint(tiny_checkpoint, tmp_path / "half.onnx", fp16=True)
    ratio = result.size_bytes / tiny_export.size_bytes
    assert 0.45 < ratio < 0.55, ratio
    model = onnx.load(str(result.output))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 at the boundary
    assert {i.data_type for i in model.graph.initializer if len(i.dims) > 1} == {onnx.TensorProto.FLOAT16}
    assert read_contract(result.output).precision == "fp16"
    face, mask = run_onnx(result.output, faces_a)
    ref_face, ref_mask = run_torch(source, faces_a, "b")
    assert np.abs(face - ref_face).max() <= 2e-2 and np.abs(mask - ref_mask).max() <= 2e-2
    assert result.parity.max_abs["swapped_face"] > 0  # it really computes in half precision


def test_int8_is_quantized_and_keeps_30db_psnr(tiny_checkpoint, source, faceset_a, tmp_path):
    result = export_checkpoint(tiny_checkpoint, tmp_path / "int8.onnx", int8_faceset=faceset_a)
    ops = {n.op_type for n in onnx.load(str(result.output)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert read_contract(result.output).precision == "int8"
    # checked on faces held out of calibration, measured here again independently
    faceset = open_faceset(faceset_a, source)
    held_out = faceset_faces(faceset, spread_indices(len(faceset), 8), source.resolution)
    face, mask = run_onnx(result.output, held_out)
    ref_face, ref_mask = run_torch(source, held_out, "b")
    assert psnr(face, ref_face) >= 30.0 and psnr(mask, ref_mask) >= 30.0
    assert result.parity.psnr_db["swapped_face"] < 100  # not silently float32


def test_dynamic_batch_gives_the_batch1_answer_per_item(tiny_checkpoint, tiny_export, faces_a, tmp_path):
    result = export_checkpoint(tiny_checkpoint, tmp_path / "dyn.onnx", dynamic_batch=True)
    model = onnx.load(str(result.output))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert read_contract(result.output).batch == "dynamic"
    batched = run_onnx(result.output, faces_a, one_at_a_time=False)
    single = run_onnx(tiny_export.output, faces_a)
    for b, s in zip(batched, single):
        assert b.shape == s.shape == (len(faces_a), *s.shape[1:])
        assert np.abs(b - s).max() <= 1e-5


def test_b2a_exports_the_reverse_path(tiny_checkpoint, source, faceset_b, tmp_path):
    result = export_checkpoint(tiny_checkpoint, tmp_path / "b2a.onnx", direction="b2a")
    contract = read_contract(result.output)
    assert contract.direction == "b2a" and contract.identities == source.identities[::-1]
    assert result.parity.origin == str(faceset_b.resolve())  # B's faces are what a b2a model is fed
    faceset = open_faceset(faceset_b, source)
    faces_b = faceset_faces(faceset, spread_indices(len(faceset), 3), source.resolution)
    face, _ = run_onnx(result.output, faces_b)
    assert np.abs(face - run_torch(source, faces_b, "a")[0]).max() <= 1e-4


def test_dfm_takes_bgr_nhwc_and_matches_the_plain_export(tiny_export, source, faces_a):
    dfm = tiny_export.dfm
    assert dfm.suffix == ".dfm" and dfm.is_file() and tiny_export.dfm_parity.passed
    session = ort.InferenceSession(str(dfm), providers=["CPUExecutionProvider"])
    r = source.resolution
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("in_face:0", [1, r, r, 3])]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [
        ("out_face_mask:0", [1, r, r, 1]), ("out_celeb_face:0", [1, r, r, 3]), ("out_celeb_face_mask:0", [1, r, r, 1])]
    plain_face, plain_mask = run_onnx(tiny_export.output, faces_a)
    bgr_nhwc = np.ascontiguousarray(faces_a.transpose(0, 2, 3, 1)[..., ::-1])
    outs = [session.run(None, {"in_face:0": bgr_nhwc[i:i + 1]}) for i in range(len(faces_a))]
    src_mask, celeb, celeb_mask = (np.concatenate([o[k] for o in outs]) for k in range(3))
    assert np.abs(celeb[..., ::-1].transpose(0, 3, 1, 2) - plain_face).max() <= 1e-4  # BGR NHWC -> RGB NCHW
    assert np.abs(celeb_mask.transpose(0, 3, 1, 2) - plain_mask).max() <= 1e-4
    # out_face_mask is the input person's mask: decoder A's, which differs from decoder B's
    ref_mask_a = run_torch(source, faces_a, "a")[1]
    assert np.abs(src_mask.transpose(0, 3, 1, 2) - ref_mask_a).max() <= 1e-4
    assert np.abs(ref_mask_a - plain_mask).max() > 1e-3


def test_dfm_metadata_says_how_to_align_in_deepfacelive(tiny_export):
    contract = read_contract(tiny_export.dfm)
    assert (contract.layout, contract.color_order, contract.input_name) == ("NHWC", "BGR", "in_face:0")
    assert contract.coverage == "whole_face" and contract.extra["interface"] == "dfm"
    assert contract.extra["deepfacelive_aligner"] == {"align_mode": "from_points", "face_coverage": 1.9,
                                                      "x_offset": -0.01, "y_offset": 0.06}
    assert "face coverage 1.9" in onnx.load(str(tiny_export.dfm)).doc_string
