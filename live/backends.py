"""Inference backends, chosen by name: onnxruntime on the CPU, CUDA or TensorRT, a TensorRT engine, or PyTorch.

Every backend implements live.inference.InferenceBackend. A GPU backend that was asked for and
does not work raises BackendError at start: the loop never falls back to the CPU in silence.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from export.contract import ContractError, ModelContract, read_model
from faces.model_files import cache_dir
from live.inference import BackendError, InferenceBackend, check_io, model_input, model_output

ENGINE_SUFFIXES = {".engine", ".plan", ".trt"}


class OnnxBackend:
    """onnxruntime with one execution provider (CPU, CUDA or TensorRT), checked to be the one really running.

    `threads`: onnxruntime's intra-op threads on the CPU; 0 leaves its default (one per core, spinning
    while idle, which suits a model running alone but starves a landmarker running beside it).
    """

    def __init__(self, path: Path, provider: str, threads: int = 0):
        import onnxruntime as ort

        available = ort.get_available_providers()
        if provider not in available:
            raise BackendError(f"{provider} is not available in this onnxruntime (it has {', '.join(available)}); "
                               f"install onnxruntime-gpu with a matching CUDA, or use --backend cpu")
        model, self.contract = read_model(path)  # the bytes checked are the bytes that run
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:  # a set number never spins: idle model threads sleep and leave the landmarker its core
            options.intra_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [(provider, provider_options(provider, self.contract))]
        if provider != "CPUExecutionProvider":
            providers.append(("CPUExecutionProvider", {}))
        try:
            self.session = ort.InferenceSession(model, options, providers=providers)
        except Exception as exc:
            raise BackendError(f"onnxruntime cannot load {path} with {provider}: {str(exc).splitlines()[0]}") from None
        active = self.session.get_providers()[0]
        if active != provider:
            raise BackendError(f"{provider} was asked for but onnxruntime started {active}; "
                               f"check the GPU driver and CUDA/TensorRT libraries, or use --backend cpu")
        inputs = {i.name: tuple(i.shape) for i in self.session.get_inputs()}
        check_io(self.contract, inputs, {o.name: tuple(o.shape) for o in self.session.get_outputs()}, str(path))
        self._dtype = np.float16 if self.session.get_inputs()[0].type == "tensor(float16)" else np.float32
        self.name = f"onnxruntime {active}"
        try:  # fail now, not mid-call: a damaged graph can load and still not run
            self.run(np.zeros((1, self.contract.resolution, self.contract.resolution, 3), np.uint8))
        except Exception as exc:
            raise BackendError(f"onnxruntime cannot run {path} with {provider}: {str(exc).splitlines()[0]}") from None

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the model on a batch of BGR uint8 crops."""
        x = model_input(crops, self.contract, self._dtype)
        face, mask = self.session.run([self.contract.face_output, self.contract.mask_output],
                                      {self.contract.input_name: x})
        return model_output(face, mask, self.contract)


def provider_options(provider: str, contract: ModelContract) -> dict:
    """Execution-provider options: TensorRT keeps its built engines in the user cache dir."""
    if provider != "TensorrtExecutionProvider":
        return {}
    engines = cache_dir() / "trt-engines"
    engines.mkdir(parents=True, exist_ok=True)
    return {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(engines),
            "trt_fp16_enable": contract.precision == "fp16"}


class EngineRunner(Protocol):
    """The TensorRT engine runner of export/ (export.tensorrt_engine.TensorRTEngine): model tensors in, named outputs out."""

    contract: ModelContract

    def run(self, faces: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs by name for a float32 batch laid out as the contract says."""


class EngineBackend:
    """A serialized TensorRT engine, run through export/'s engine runner."""

    def __init__(self, runner: EngineRunner, description: str = "TensorRT engine"):
        self.runner, self.contract, self.name = runner, runner.contract, description
        self.contract.validate()

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the engine on a batch of BGR uint8 crops."""
        out = self.runner.run(model_input(crops, self.contract))
        return model_output(out[self.contract.face_output], out[self.contract.mask_output], self.contract)


def _load_engine_runner(path: Path) -> EngineRunner:
    from export.source import ExportError
    from export.tensorrt_engine import TensorRTEngine

    try:
        return TensorRTEngine(path)
    except ExportError as exc:  # TensorRT or CUDA missing, stale engine, no sidecar: one line each
        raise BackendError(str(exc)) from None


def _onnx(provider: str) -> Callable[[Path, int], InferenceBackend]:
    return lambda path, threads: OnnxBackend(path, provider, threads)


def _tensorrt(path: Path, threads: int) -> InferenceBackend:
    if path.suffix.lower() in ENGINE_SUFFIXES:
        return EngineBackend(_load_engine_runner(path), f"TensorRT engine {path.name}")
    return OnnxBackend(path, "TensorrtExecutionProvider", threads)


def _torch(path: Path, threads: int) -> InferenceBackend:
    from live.torch_backend import TorchBackend
    return TorchBackend(path, threads=threads)


def _auto(path: Path, threads: int) -> InferenceBackend:
    import onnxruntime as ort

    if path.suffix.lower() in ENGINE_SUFFIXES:
        return _tensorrt(path, threads)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        try:
            return OnnxBackend(path, "CUDAExecutionProvider", threads)
        except BackendError as exc:
            print(f"auto backend: CUDA does not work ({exc}); using the CPU", file=sys.stderr)
    return OnnxBackend(path, "CPUExecutionProvider", threads)


BACKENDS: dict[str, Callable[[Path, int], InferenceBackend]] = {
    "auto": _auto,
    "cpu": _onnx("CPUExecutionProvider"),
    "cuda": _onnx("CUDAExecutionProvider"),
    "tensorrt": _tensorrt,
    "torch": _torch,
}


def live_cpu_threads(cores: int | None = None) -> int:
    """CPU threads for the model in the live loop: the landmark stage needs cores too, so 1 on up to 4 cores,
    then a quarter of them (at most 4)."""
    cores = cores or os.cpu_count() or 1
    return 1 if cores <= 4 else min(cores // 4, 4)


def create_backend(name: str, model: str | Path, threads: int = 0) -> InferenceBackend:
    """The inference backend `name` for the model file `model`, with `threads` CPU threads (0: the runtime's
    default); ContractError/BackendError: one line."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    path = Path(model)
    if not path.exists():
        raise ContractError(f"no such model file: {path}")
    return BACKENDS[name](path, threads)
