"""What every inference backend is: the interface the swap stage calls, its error, and the tensor conversion.

A backend turns a batch of aligned BGR uint8 crops into swapped faces (BGR float32 in [0, 1])
and masks (float32 in [0, 1]); the model contract says how the model wants its tensors (layout,
colour order, value range), and `model_input` / `model_output` convert with faces.tensors.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from export.contract import ContractError, ModelContract
from faces.tensors import crops_to_tensor, tensor_to_crops


class BackendError(RuntimeError):
    """An inference backend that cannot run here; the message is one line for the user."""


class InferenceBackend(Protocol):
    """What the swap stage calls."""

    name: str               # what actually runs, for the log ("onnxruntime CPUExecutionProvider")
    contract: ModelContract

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, R, R, 3) BGR uint8 crops -> (faces (N, R, R, 3) BGR float32 [0, 1], masks (N, R, R) float32)."""


def model_input(crops: np.ndarray, contract: ModelContract, dtype=np.float32) -> np.ndarray:
    """BGR uint8 crops (N, R, R, 3) as the tensor the contract asks for (layout, colour, range, dtype)."""
    return crops_to_tensor(crops, contract.layout, contract.color_order, contract.value_range, dtype)


def model_output(face: np.ndarray, mask: np.ndarray, contract: ModelContract) -> tuple[np.ndarray, np.ndarray]:
    """The model's face and mask tensors as BGR float32 (N, R, R, 3) in [0, 1] and float32 (N, R, R)."""
    return tensor_to_crops(face, mask, contract.layout, contract.color_order, contract.value_range)


def check_io(contract: ModelContract, inputs: dict[str, tuple], outputs: dict[str, tuple], source: str) -> None:
    """Raise ContractError unless the model's input/output names and input shape match its contract."""
    if contract.input_name not in inputs:
        raise ContractError(f"{source}: input {contract.input_name!r} of its contract is not in the model "
                            f"(it has {', '.join(inputs)})")
    missing = [n for n in (contract.face_output, contract.mask_output) if n not in outputs]
    if missing:
        raise ContractError(f"{source}: outputs {', '.join(missing)} of its contract are not in the model")
    shape = inputs[contract.input_name]
    r = contract.resolution
    want = (r, r, 3) if contract.layout == "NHWC" else (3, r, r)
    if len(shape) != 4 or any(isinstance(d, int) and d != w for d, w in zip(shape[1:], want)):
        raise ContractError(f"{source}: input shape {list(shape)} does not match its contract "
                            f"({contract.layout}, {r} px)")
