"""The model contract is refused, in one line, when it is missing, from a newer format, or not understood."""
from __future__ import annotations

import json

import onnx
import pytest

from export.contract import FORMAT_VERSION, METADATA_KEY, ContractError, ModelContract, read_contract, write_contract
from faces import TEMPLATE_ID


def tiny_onnx() -> onnx.ModelProto:
    """A real (one Identity node) ONNX model, enough to carry metadata."""
    x = onnx.helper.make_tensor_value_info("face", onnx.TensorProto.FLOAT, [1, 3, 16, 16])
    y = onnx.helper.make_tensor_value_info("swapped_face", onnx.TensorProto.FLOAT, [1, 3, 16, 16])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["face"], ["swapped_face"])], "g", [x], [y])
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])


def contract() -> ModelContract:
    return ModelContract(resolution=64, coverage="whole_face", template_id=TEMPLATE_ID, identities=("a", "b"),
                         steps=100, preset="fast")


def save_with_metadata(path, value: str | None):
    model = tiny_onnx()
    if value is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, value
    onnx.save(model, str(path))
    return path


def assert_one_line(exc: pytest.ExceptionInfo, *words: str):
    message = str(exc.value)
    assert "\n" not in message and message.strip() == message
    for word in words:
        assert word in message, message


def test_round_trip(tmp_path):
    model = tiny_onnx()
    write_contract(model, contract())
    onnx.save(model, str(tmp_path / "m.onnx"))
    assert read_contract(tmp_path / "m.onnx") == contract()


def test_missing_contract(tmp_path):
    with pytest.raises(ContractError) as exc:
        read_contract(save_with_metadata(tmp_path / "m.onnx", None))
    assert_one_line(exc, "not a swapcam model", "m.onnx")


def test_newer_format_version(tmp_path):
    raw = json.loads(contract().to_json())
    raw["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ContractError) as exc:
        read_contract(save_with_metadata(tmp_path / "m.onnx", json.dumps(raw)))
    assert_one_line(exc, f"format {FORMAT_VERSION + 1}", f"reads {FORMAT_VERSION}")


def test_unknown_field(tmp_path):
    raw = json.loads(contract().to_json())
    raw["gamma"] = 2.2
    with pytest.raises(ContractError) as exc:
        read_contract(save_with_metadata(tmp_path / "m.onnx", json.dumps(raw)))
    assert_one_line(exc, "does not understand", "gamma")


def test_unsupported_value_and_bad_json(tmp_path):
    raw = json.loads(contract().to_json())
    raw["layout"] = "CHWN"
    with pytest.raises(ContractError) as exc:
        read_contract(save_with_metadata(tmp_path / "a.onnx", json.dumps(raw)))
    assert_one_line(exc, "layout 'CHWN'")
    with pytest.raises(ContractError) as exc:
        read_contract(save_with_metadata(tmp_path / "b.onnx", "{not json"))
    assert_one_line(exc, "not valid JSON")


def test_not_an_onnx_file(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(ContractError) as exc:
        read_contract(tmp_path / "m.onnx")
    assert_one_line(exc, "not an ONNX model")
