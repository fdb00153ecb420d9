"""Run a swapcam TensorRT engine: deserialize it, allocate its buffers on the GPU, run float32 faces.

`TensorRTEngine(path)` checks the engine's sidecar (`NAME.engine.json`, written by
export.tensorrt_build) against the installed TensorRT, reads the model contract from it, and
runs numpy batches through the engine with `run`. Device buffers are PyTorch CUDA tensors, so it
needs a CUDA build of PyTorch and no other CUDA binding. It imports without TensorRT.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from export.contract import ContractError, ModelContract, contract_from_metadata
from export.source import ExportError
from export.tensorrt_build import ENGINE_FORMAT, TensorRTUnavailable, import_tensorrt


class EngineError(ExportError):
    """An engine file that cannot be used here; the message is one line for the user."""


def read_sidecar(engine_path: Path) -> dict:
    """The sidecar of `engine_path` (build facts and contract), checked for format, or EngineError."""
    sidecar = engine_path.with_name(engine_path.name + ".json")
    if not sidecar.is_file():
        raise EngineError(f"{engine_path} has no sidecar {sidecar.name}; rebuild it with python -m export --tensorrt")
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineError(f"{sidecar} is unreadable ({type(exc).__name__})") from None
    if not isinstance(info, dict) or info.get("format") != ENGINE_FORMAT:
        raise EngineError(f"{sidecar} is not a {ENGINE_FORMAT} sidecar")
    return info


class TensorRTEngine:
    """A deserialized engine with its execution context, CUDA stream and device buffers."""

    def __init__(self, engine_path: str | Path, device: int = 0, trt=None):
        self.path = Path(engine_path)
        if not self.path.is_file():
            raise EngineError(f"no such engine file: {self.path}")
        info = read_sidecar(self.path)
        try:
            self.contract: ModelContract = contract_from_metadata({"swapcam": info.get("contract", "")}, str(self.path))
        except ContractError as exc:
            raise EngineError(str(exc)) from None
        trt = trt or import_tensorrt()
        if str(info.get("tensorrt_version")) != str(trt.__version__):
            raise EngineError(f"{self.path} was built with TensorRT {info.get('tensorrt_version')} for "
                              f"{info.get('gpu')}; this is TensorRT {trt.__version__}: rebuild it here")
        import torch

        if not torch.cuda.is_available():
            raise TensorRTUnavailable("running a TensorRT engine needs a CUDA GPU and a CUDA build of PyTorch")
        self._torch, self._trt = torch, trt
        self.device = torch.device("cuda", device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise EngineError(f"TensorRT {trt.__version__} cannot load {self.path} (built for {info.get('gpu')}?)")
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        self.input_name = next(n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_names = [n for n in names if n != self.input_name]
        self._stream = torch.cuda.Stream(self.device)
        self._shape: tuple[int, ...] | None = None
        self._buffers: dict = {}

    def _allocate(self, shape: tuple[int, ...]) -> None:
        """Size the device buffers for an input batch of `shape` and bind them to the context."""
        torch, trt = self._torch, self._trt
        self._context.set_input_shape(self.input_name, shape)
        self._buffers = {}
        for name in [self.input_name, *self.output_names]:
            dims = tuple(self._context.get_tensor_shape(name))
            dtype = torch.from_numpy(np.empty(0, trt.nptype(self._engine.get_tensor_dtype(name)))).dtype
            self._buffers[name] = torch.empty(dims, dtype=dtype, device=self.device)
            self._context.set_tensor_address(name, self._buffers[name].data_ptr())
        self._shape = shape

    def run(self, faces: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs by name for a float32 batch laid out as the contract says (e.g. (N, 3, R, R) RGB [0, 1])."""
        faces = np.ascontiguousarray(faces, dtype=np.float32)
        if faces.shape != self._shape:
            self._allocate(faces.shape)
        with self._torch.cuda.stream(self._stream):
            self._buffers[self.input_name].copy_(self._torch.from_numpy(faces), non_blocking=True)
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise EngineError(f"TensorRT failed to run {self.path}")
            out = {name: self._buffers[name].float().cpu() for name in self.output_names}
        self._stream.synchronize()
        return {name: t.numpy() for name, t in out.items()}

    def close(self) -> None:
        """Free the context, engine and buffers."""
        self._buffers, self._context, self._engine = {}, None, None
