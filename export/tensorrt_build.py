"""Build a serialized TensorRT engine (fp16) next to an exported ONNX file, with the TensorRT Python API.

Beside `NAME.onnx` it writes `NAME.engine`, the sidecar `NAME.engine.json` (TensorRT version, GPU,
precision, the model contract, the ONNX file's sha256) and, shared by every build in that folder,
`tensorrt-timing.cache`, which makes later builds on the same GPU and TensorRT much faster.

fp16 comes two ways, chosen by what the installed TensorRT offers: TensorRT 10 takes the float32
graph with BuilderFlag.FP16 and picks fp16 kernels itself; TensorRT 11 dropped that flag (strong
typing only), so it gets the float16 graph (float32 at the boundary) and follows its types.
The module imports without TensorRT; `import_tensorrt` says in one line when it is missing.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import onnx

from export.contract import ModelContract
from export.precision import as_fp16
from export.source import ExportError
from faces.fileio import atomic_write_bytes, sha256_of

ENGINE_FORMAT = "swapcam-engine-1"
TIMING_CACHE_NAME = "tensorrt-timing.cache"
MAX_DYNAMIC_BATCH = 8


class TensorRTUnavailable(ExportError):
    """No TensorRT or no CUDA GPU on this machine; the message is one line for the user."""


@dataclass(frozen=True)
class EngineFiles:
    """Where a build leaves its engine, its sidecar and the shared timing cache."""

    engine: Path
    sidecar: Path
    timing_cache: Path

    @classmethod
    def beside(cls, onnx_path: Path) -> "EngineFiles":
        """The engine files for the ONNX model at `onnx_path`."""
        engine = onnx_path.with_suffix(".engine")
        return cls(engine, engine.with_name(engine.name + ".json"), onnx_path.parent / TIMING_CACHE_NAME)


def import_tensorrt():
    """The `tensorrt` module, or TensorRTUnavailable with one line saying it is not installed."""
    try:
        import tensorrt
    except ImportError:
        raise TensorRTUnavailable("TensorRT is not installed (pip install tensorrt on a machine with an NVIDIA GPU); "
                                  "no engine was built, the ONNX file is kept") from None
    return tensorrt


def gpu_description() -> str:
    """The name of CUDA device 0 (via PyTorch, else nvidia-smi), or 'unknown GPU'."""
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            return f"{torch.cuda.get_device_name(0)} (compute capability {major}.{minor})"
    except Exception:  # a broken CUDA install must not stop the build that already succeeded
        pass
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader", "-i", "0"],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                name, _, cap = out.stdout.strip().partition(",")
                return f"{name.strip()} (compute capability {cap.strip()})"
        except (OSError, subprocess.SubprocessError):
            pass
    return "unknown GPU"


def build_engine(fp32_model: onnx.ModelProto, onnx_path: Path, contract: ModelContract, workspace_mib: int = 1024,
                 log=None, trt=None) -> EngineFiles:
    """Build and write the fp16 engine for the model exported at `onnx_path`; returns where it went."""
    trt = trt or import_tensorrt()
    log = log or (lambda line: None)
    files = EngineFiles.beside(Path(onnx_path))
    logger = trt.Logger(trt.Logger.WARNING)
    try:
        builder = trt.Builder(logger)
    except Exception as exc:  # TensorRT raises a bare TypeError/RuntimeError when CUDA cannot start
        raise TensorRTUnavailable(f"TensorRT {trt.__version__} found no usable CUDA GPU ({type(exc).__name__}); "
                                  "no engine was built, the ONNX file is kept") from None
    if builder is None:
        raise TensorRTUnavailable(f"TensorRT {trt.__version__} found no usable CUDA GPU; no engine was built, "
                                  "the ONNX file is kept")
    weakly_typed = hasattr(trt.BuilderFlag, "FP16")
    graph = fp32_model if weakly_typed else as_fp16(fp32_model)
    flags = 0 if weakly_typed else 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(graph.SerializeToString()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no reason given"
        raise ExportError(f"TensorRT cannot parse the exported graph: {errors.splitlines()[0]}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if weakly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    config.set_timing_cache(_timing_cache(config, files.timing_cache, log), False)
    if contract.batch == "dynamic":
        profile = builder.create_optimization_profile()
        one = _input_shape(contract, 1)
        profile.set_shape(contract.input_name, one, one, _input_shape(contract, MAX_DYNAMIC_BATCH))
        config.add_optimization_profile(profile)

    log(f"building the TensorRT {trt.__version__} engine (fp16, workspace {workspace_mib} MiB); "
        "this takes a minute or more the first time")
    started = time.monotonic()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ExportError("TensorRT could not build the engine (its log above says why)")
    atomic_write_bytes(files.engine, bytes(plan))
    atomic_write_bytes(files.timing_cache, bytes(config.get_timing_cache().serialize()))
    sidecar = {
        "format": ENGINE_FORMAT, "tensorrt_version": str(trt.__version__), "gpu": gpu_description(),
        "precision": "fp16", "typing": "weak (BuilderFlag.FP16)" if weakly_typed else "strong (float16 graph)",
        "workspace_mib": workspace_mib, "max_batch": MAX_DYNAMIC_BATCH if contract.batch == "dynamic" else 1,
        "onnx_file": Path(onnx_path).name, "onnx_sha256": sha256_of(onnx_path),
        "build_seconds": round(time.monotonic() - started, 1), "contract": contract.to_json(),
    }
    atomic_write_bytes(files.sidecar, (json.dumps(sidecar, indent=2) + "\n").encode("utf-8"))
    log(f"wrote {files.engine} ({files.engine.stat().st_size / 2**20:.1f} MiB) for {sidecar['gpu']}")
    return files


def _input_shape(contract: ModelContract, batch: int) -> tuple[int, int, int, int]:
    r = contract.resolution
    return (batch, 3, r, r) if contract.layout == "NCHW" else (batch, r, r, 3)


def _timing_cache(config, path: Path, log):
    """The timing cache saved at `path` (or a new one when it is absent or from another TensorRT/GPU)."""
    if path.is_file():
        try:
            cache = config.create_timing_cache(path.read_bytes())
            if cache is not None:
                log(f"reusing the timing cache {path}")
                return cache
        except Exception:  # a cache from another TensorRT version or GPU is rejected; start afresh
            pass
        log(f"the timing cache {path} does not fit this TensorRT/GPU; starting a new one")
    return config.create_timing_cache(b"")
