"""The TensorRT route up to the calls into TensorRT, with a stand-in `tensorrt` module; and its absence.

No GPU here: `FakeTensorRT` mimics the documented Python API surface the build uses (Logger,
Builder, NetworkDefinitionCreationFlag, OnnxParser, BuilderFlag.FP16, MemoryPoolType.WORKSPACE,
create_timing_cache / get_timing_cache, optimization profiles, build_serialized_network,
__version__). Its parser really parses the ONNX bytes it is given, so the tests see which graph
TensorRT would get. The real build and the engine runner's `run` need an NVIDIA GPU.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import types
from pathlib import Path

import onnx
import pytest
import torch

from export.__main__ import main
from export.onnx_export import export_checkpoint
from export.source import ExportError
from export.tensorrt_build import TIMING_CACHE_NAME, TensorRTUnavailable, build_engine
from export.tensorrt_engine import EngineError, TensorRTEngine

ROOT = Path(__file__).resolve().parents[1]


class FakeTensorRT(types.ModuleType):
    """A `tensorrt` module stand-in: TensorRT 10 (weak typing, BuilderFlag.FP16) or 11 (strong typing only)."""

    def __init__(self, version="10.9.0.34", weak_typing=True, gpu=True, parse_ok=True):
        super().__init__("tensorrt")
        self.__version__ = version
        self.log = {"flags": [], "pool": {}, "cache_in": [], "profiles": []}
        fake = self

        class Logger:
            WARNING = 2

            def __init__(self, severity):
                self.severity = severity

        class Flags:
            STRONGLY_TYPED = 1

        class BuilderFlag:
            pass

        if weak_typing:
            BuilderFlag.FP16 = 0

        class MemoryPoolType:
            WORKSPACE = 0

        class TimingCache:
            def __init__(self, data):
                self.data = bytes(data)

            def serialize(self):
                return self.data + b"|timings"

        class Config:
            def __init__(self):
                self.flags, self.cache = set(), None

            def set_memory_pool_limit(self, pool, size):
                fake.log["pool"][pool] = size

            def set_flag(self, flag):
                self.flags.add(flag)
                fake.log["flags"].append(flag)

            def create_timing_cache(self, data):
                fake.log["cache_in"].append(bytes(data))
                return TimingCache(data)

            def set_timing_cache(self, cache, ignore_mismatch):
                self.cache = cache

            def get_timing_cache(self):
                return self.cache

            def add_optimization_profile(self, profile):
                fake.log["profiles"].append(profile.shapes)

        class Profile:
            def __init__(self):
                self.shapes = {}

            def set_shape(self, name, low, opt, high):
                self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

        class Network:
            def __init__(self, flags):
                self.flags, self.model = flags, None

        class OnnxParser:
            def __init__(self, network, logger):
                self.network, self.num_errors = network, 0

            def parse(self, data):
                self.network.model = onnx.load_from_string(bytes(data))
                onnx.checker.check_model(self.network.model)
                if not parse_ok:
                    self.num_errors = 1
                return parse_ok

            def get_error(self, i):
                return "In node 3 (Conv): unsupported padding"

        class Builder:
            def __init__(self, logger):
                if not gpu:
                    raise TypeError("pybind11::init(): factory function returned nullptr")

            def create_network(self, flags):
                fake.network = Network(flags)
                return fake.network

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                return b"PLAN" + hashlib.sha256(network.model.SerializeToString()).digest()

        self.Logger, self.Builder, self.OnnxParser = Logger, Builder, OnnxParser
        self.NetworkDefinitionCreationFlag, self.BuilderFlag, self.MemoryPoolType = Flags, BuilderFlag, MemoryPoolType


def initializer_types(model: onnx.ModelProto) -> set[int]:
    return {i.data_type for i in model.graph.initializer if len(i.dims) > 1}


def test_tensorrt_10_builds_fp16_from_the_float32_graph(tiny_checkpoint, tmp_path, monkeypatch):
    fake = FakeTensorRT()
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    result = export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", tensorrt=True)
    files = result.engine
    assert files.engine == tmp_path / "m.engine" and files.timing_cache == tmp_path / TIMING_CACHE_NAME
    parsed = fake.network.model
    assert files.engine.read_bytes() == b"PLAN" + hashlib.sha256(parsed.SerializeToString()).digest()
    assert initializer_types(parsed) == {onnx.TensorProto.FLOAT}  # TensorRT 10 picks fp16 kernels itself
    assert fake.network.flags == 0 and fake.log["flags"] == [fake.BuilderFlag.FP16]
    assert fake.log["pool"] == {fake.MemoryPoolType.WORKSPACE: 1024 << 20}
    assert fake.log["cache_in"] == [b""] and files.timing_cache.read_bytes() == b"|timings"
    sidecar = json.loads(files.sidecar.read_text())
    assert sidecar["format"] == "swapcam-engine-1" and sidecar["tensorrt_version"] == "10.9.0.34"
    assert sidecar["precision"] == "fp16" and sidecar["max_batch"] == 1 and sidecar["gpu"]
    assert sidecar["onnx_sha256"] == hashlib.sha256(result.output.read_bytes()).hexdigest()
    assert sidecar["contract"] == result.contract.to_json()
    # a second build in the same folder starts from the saved timing cache
    build_engine(onnx.load(str(result.output)), result.output, result.contract, workspace_mib=256, trt=fake)
    assert fake.log["cache_in"][-1] == b"|timings" and fake.log["pool"][0] == 256 << 20
    assert files.timing_cache.read_bytes() == b"|timings|timings"


def test_tensorrt_11_gets_the_float16_graph_strongly_typed(tiny_checkpoint, tmp_path, monkeypatch):
    fake = FakeTensorRT(version="11.3.0.1", weak_typing=False)
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    result = export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", tensorrt=True, dynamic_batch=True)
    parsed = fake.network.model
    assert fake.network.flags == 1 << fake.NetworkDefinitionCreationFlag.STRONGLY_TYPED and fake.log["flags"] == []
    assert initializer_types(parsed) == {onnx.TensorProto.FLOAT16}
    assert parsed.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    r = result.contract.resolution
    assert fake.log["profiles"] == [{"face": ((1, 3, r, r), (1, 3, r, r), (8, 3, r, r))}]
    assert json.loads(result.engine.sidecar.read_text())["max_batch"] == 8


def test_no_gpu_gives_one_line_and_keeps_the_onnx(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT(gpu=False))
    result = export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", tensorrt=True)
    assert result.engine is None and result.output.is_file()
    assert result.notes == ["TensorRT 10.9.0.34 found no usable CUDA GPU (TypeError); no engine was built, "
                            "the ONNX file is kept"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_parse_failure_fails_the_export_and_removes_its_files(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT(parse_ok=False))
    with pytest.raises(ExportError, match="TensorRT cannot parse the exported graph: In node 3"):
        export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", tensorrt=True, dfm=True)
    assert list(tmp_path.iterdir()) == []


def test_without_tensorrt_the_cli_prints_one_line_and_keeps_the_onnx(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # what `import tensorrt` meets where it is not installed
    assert main(["--checkpoint", str(tiny_checkpoint), "--output", str(tmp_path / "m.onnx"), "--tensorrt"]) == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if line.startswith("python -m export: ")]
    assert notes == ["python -m export: TensorRT is not installed (pip install tensorrt on a machine with an NVIDIA GPU); "
                     "no engine was built, the ONNX file is kept"]
    assert captured.out.startswith(f"wrote {tmp_path / 'm.onnx'} (")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_modules_import_without_tensorrt():
    code = ("import sys; sys.modules['tensorrt'] = None; "
            "import export.tensorrt_engine, export.tensorrt_build, export.onnx_export, export.bench; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


@pytest.fixture()
def fake_engine(tiny_checkpoint, tmp_path, monkeypatch):
    """An engine file + sidecar built through the fake TensorRT 10."""
    fake = FakeTensorRT()
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    return export_checkpoint(tiny_checkpoint, tmp_path / "m.onnx", tensorrt=True).engine.engine, fake


def test_engine_runner_refuses_what_it_cannot_run(fake_engine, monkeypatch):
    engine, fake = fake_engine
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(TensorRTUnavailable, match="TensorRT is not installed"):
        TensorRTEngine(engine)
    with pytest.raises(EngineError, match="built with TensorRT 10.9.0.34 .* this is TensorRT 10.10.0"):
        TensorRTEngine(engine, trt=FakeTensorRT(version="10.10.0"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without a CUDA GPU
    with pytest.raises(TensorRTUnavailable, match="needs a CUDA GPU"):
        TensorRTEngine(engine, trt=fake)
    engine.with_name(engine.name + ".json").unlink()
    with pytest.raises(EngineError, match="has no sidecar m.engine.json"):
        TensorRTEngine(engine, trt=fake)
    with pytest.raises(EngineError, match="no such engine file"):
        TensorRTEngine(engine.with_name("other.engine"), trt=fake)
