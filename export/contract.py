"""The model contract: what an exported swapcam model promises the live loop, stored in the ONNX file.

The contract is one JSON value under the ONNX `metadata_props` key `swapcam`. The live loop
reads it with `read_contract` and refuses a file whose contract is missing, from a newer
format, or incomplete, with one line that says what is wrong.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from faces.align import COVERAGES, TEMPLATE_ID
from faces.tensors import COLOR_ORDERS, LAYOUTS

METADATA_KEY = "swapcam"
FORMAT_VERSION = 1


class ContractError(ValueError):
    """A model file whose contract is missing or not understood; the message is one line for the user."""


@dataclass(frozen=True)
class ModelContract:
    """Everything the live loop needs to feed a model and read its answer.

    Input: float32 `layout` tensor named `input_name`, `resolution` square, channels in
    `color_order`, values in `value_range`. Outputs: `face_output` (same layout, colour and range
    as the input) and `mask_output` (one channel in [0, 1]). Crops must be aligned with faces/
    template `template_id` at `coverage`.
    """

    resolution: int
    coverage: str
    template_id: str
    identities: tuple[str, str]  # (source person, target person) of the exported path
    direction: str = "a2b"
    input_name: str = "face"
    face_output: str = "swapped_face"
    mask_output: str = "swapped_mask"
    layout: str = "NCHW"
    color_order: str = "RGB"
    value_range: tuple[float, float] = (0.0, 1.0)
    batch: str = "static"  # "static" (batch 1) or "dynamic"
    precision: str = "fp32"  # fp32 | fp16 | int8
    steps: int = 0
    preset: str = ""
    extra: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        """The contract as the JSON string stored in the model file."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelContract":
        """Parse and validate a stored contract, or raise ContractError."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"model contract is not valid JSON ({exc.msg})") from None
        except UnicodeDecodeError:  # the stored bytes, damaged
            raise ContractError("model contract is not valid UTF-8 text") from None
        if not isinstance(raw, dict):
            raise ContractError("model contract is not a JSON object")
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise ContractError(f"model contract format {version!r} is not understood (this swapcam reads {FORMAT_VERSION})")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ContractError(f"model contract has fields this swapcam does not understand: {', '.join(unknown)}")
        required = ("resolution", "coverage", "template_id", "identities")
        missing = [k for k in required if k not in raw]
        if missing:
            raise ContractError(f"model contract lacks {', '.join(missing)}")
        wrong = [k for k, value in raw.items() if not _json_type_fits(k, value)]
        if wrong:
            raise ContractError(f"model contract has values of the wrong type for {', '.join(sorted(wrong))}")
        raw["identities"] = tuple(raw["identities"])
        raw["value_range"] = tuple(raw.get("value_range", (0.0, 1.0)))
        contract = cls(**raw)
        contract.validate()
        return contract

    def validate(self) -> None:
        """Raise ContractError if any field holds a value the live loop cannot honour."""
        checks = [
            (isinstance(self.resolution, int) and 16 <= self.resolution <= 2048, f"resolution {self.resolution!r}"),
            (self.coverage in COVERAGES, f"coverage {self.coverage!r}"),
            (self.template_id == TEMPLATE_ID, f"alignment template {self.template_id!r} (this swapcam has {TEMPLATE_ID})"),
            (self.layout in LAYOUTS, f"layout {self.layout!r}"),
            (self.color_order in COLOR_ORDERS, f"colour order {self.color_order!r}"),
            (tuple(self.value_range) in ((0.0, 1.0), (-1.0, 1.0)), f"value range {self.value_range!r}"),
            (self.batch in ("static", "dynamic"), f"batch {self.batch!r}"),
            (self.precision in ("fp32", "fp16", "int8"), f"precision {self.precision!r}"),
            (len(self.identities) == 2, f"identities {self.identities!r}"),
        ]
        bad = [what for ok, what in checks if not ok]
        if bad:
            raise ContractError(f"model contract has unsupported {'; '.join(bad)}")


def _json_type_fits(key: str, value) -> bool:
    """Whether a stored contract field holds the JSON type it must (bools are not numbers here)."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    if key in ("resolution", "steps", "format_version"):
        return isinstance(value, int) and not isinstance(value, bool)
    if key == "identities":
        return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
    if key == "value_range":
        return isinstance(value, list) and len(value) == 2 and all(number(v) for v in value)
    if key == "extra":
        return isinstance(value, dict)
    return isinstance(value, str)


def write_contract(model, contract: ModelContract) -> None:
    """Store `contract` in an in-memory onnx.ModelProto's metadata_props (replacing any old one)."""
    contract.validate()
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, contract.to_json()


def contract_from_metadata(metadata: dict[str, str], source: str = "model") -> ModelContract:
    """The contract from a metadata mapping (onnxruntime's custom_metadata_map or onnx's props)."""
    if METADATA_KEY not in metadata:
        raise ContractError(f"{source} is not a swapcam model (no '{METADATA_KEY}' contract in its metadata)")
    return ModelContract.from_json(metadata[METADATA_KEY])


def external_data_references(model) -> list[str]:
    """Every external-data location a loaded onnx.ModelProto names (initializers, sparse ones, node attributes,
    subgraphs): a swapcam model holds all its weights, so any of these means a foreign or crafted file."""
    import onnx

    found = []

    def tensors(graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                    yield from tensors(sub)

    for tensor in tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            location = next((e.value for e in tensor.external_data if e.key == "location"), "?")
            found.append(location)
    return found


def read_model(path: str | Path) -> tuple[bytes, ModelContract]:
    """The bytes of an ONNX model file and its validated contract, read once (what is checked is what runs);
    a model that refers to external data is refused before any other file is opened."""
    path = Path(path)
    if not path.is_file():
        raise ContractError(f"no such model file: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContractError(f"cannot read {path} ({exc.strerror or exc})") from None
    return data, contract_of(data, str(path))


def read_contract(path: str | Path) -> ModelContract:
    """Read and validate the contract of an ONNX model file (see `read_model`)."""
    return read_model(path)[1]


def contract_of(data: bytes, source: str) -> ModelContract:
    """The validated contract of the ONNX model in `data` (ContractError: foreign file, external data, no contract)."""
    import onnx

    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... for foreign files
        raise ContractError(f"{source} is not an ONNX model ({type(exc).__name__})") from None
    path = source
    external = external_data_references(model)
    if external:
        raise ContractError(f"{path} refers to weights in other files ({external[0]}); a swapcam model holds all "
                            f"its weights, so it is refused")
    return contract_from_metadata({p.key: p.value for p in model.metadata_props}, source)
