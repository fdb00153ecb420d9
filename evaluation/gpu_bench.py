"""Benchmark the live loop on an NVIDIA GPU: the `quality` preset through PyTorch in fp16, replayed as a CUDA graph.

    python -m evaluation.gpu_bench --source ../shared/data/videos/liveportrait/s18.mp4 --size 1280x720 --seconds 20
                             [--checkpoint RUN_DIR] [--json OUT]

The network is an untrained `quality` network (speed does not depend on the weights) unless
--checkpoint names a trained run. The script installs and downloads nothing. It prints the model
alone (ms per face: the graph replay timed with CUDA events, and the whole backend call with its
copies to and from the GPU), then the full live loop on the paced clip into the null sink: output
fps, dropped frames, latency p50/p95/p99, per-stage p50/p95, the overhead ratio and memory. On the GPU the
faces are pasted back there too (`--cpu-paste`: with OpenCV on the CPU, as before).
Without CUDA it refuses in one line; `--device cpu` runs the same code on the CPU in fp32 without
graphs, to try the script (slow with `quality`).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from faces import TEMPLATE_ID, create_landmarker
from faces.cli import USER_ERROR, at_least, fail
from faces.landmarks import BACKENDS as LANDMARK_BACKENDS
from live.bench import add_clip_options, check_json_folder, measure, paced_clip, print_results
from live.cli import USER_ERRORS
from live.loop import LiveLoop
from live.profiler import Profiler, percentiles
from live.sinks import NullSink
from live.swapper import FaceSwapper, SwapSettings
from live.torch_backend import TorchBackend
from training.checkpoint import FORMAT
from training.model import PRESETS, SwapModel

PROG = "python -m evaluation.gpu_bench"


def build_parser() -> argparse.ArgumentParser:
    """Options of python -m evaluation.gpu_bench."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.strip().splitlines()[0])
    add_clip_options(p, size="1280x720")
    p.add_argument("--preset", default="quality", choices=sorted(PRESETS),
                   help="network preset when no --checkpoint is given (default quality)")
    p.add_argument("--checkpoint", help="a trained run folder or checkpoint.pt instead of an untrained network")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                   help="cuda (default), or cpu to try the script without a GPU (fp32, no graphs)")
    p.add_argument("--no-fp16", action="store_true", help="run the network in fp32")
    p.add_argument("--no-graphs", action="store_true", help="run the network eagerly instead of as a CUDA graph")
    p.add_argument("--cpu-paste", action="store_true",
                   help="paste the faces back with OpenCV on the CPU instead of on the GPU (to compare)")
    p.add_argument("--model-runs", type=at_least(1), default=200,
                   help="calls timed for the model-alone figures (default 200)")
    p.add_argument("--landmarks", default="auto", choices=["auto", *LANDMARK_BACKENDS], help="landmark backend")
    return p


def cuda_refusal() -> str | None:
    """Why this machine cannot run the GPU benchmark (one line), or None when PyTorch sees a CUDA GPU."""
    if torch.cuda.is_available():
        return None
    build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
    return (f"no CUDA GPU here: PyTorch {torch.__version__} ({build}) sees none; run this on an NVIDIA GPU "
            f"machine, or add --device cpu to try the script on the CPU")


def untrained_checkpoint(preset: str) -> dict:
    """A checkpoint dict holding a freshly initialised network of `preset` (whole-face coverage)."""
    torch.manual_seed(0)
    model = SwapModel(PRESETS[preset])
    return {"format": FORMAT, "preset": preset, "model_config": model.config.to_dict(), "model": model.state_dict(),
            "step": 0, "config": {"identities": ["a", "b"], "coverage": "whole_face", "template_id": TEMPLATE_ID}}


def time_model(backend: TorchBackend, runs: int) -> dict:
    """Milliseconds per single-face call (p50/p95/mean): the whole backend call, and on CUDA the network alone."""
    r = backend.contract.resolution
    crop = np.random.default_rng(0).integers(0, 256, (1, r, r, 3), dtype=np.uint8)
    for _ in range(10):
        backend.run(crop)
    calls = []
    for _ in range(runs):
        start = time.perf_counter()
        backend.run(crop)
        calls.append(time.perf_counter() - start)
    result = {"call_ms": {k: v * 1e3 for k, v in percentiles(calls).items()}}
    if backend.device.type == "cuda":
        x = torch.zeros((1, 3, r, r), device=backend.device, dtype=backend.dtype)
        gpu = []
        for _ in range(runs):
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            backend.forward(x)
            end.record()
            end.synchronize()
            gpu.append(begin.elapsed_time(end))
        result["network_ms"] = percentiles(gpu)
    return result


def model_line(backend: TorchBackend, timing: dict) -> str:
    """The printed model-alone figures."""
    call = timing["call_ms"]
    line = (f"model alone ({backend.name}, {backend.contract.resolution} px): backend call p50 {call['p50']:.2f} ms, "
            f"p95 {call['p95']:.2f} ms per face")
    if "network_ms" in timing:
        net = timing["network_ms"]
        line += f"; network on the GPU p50 {net['p50']:.2f} ms, p95 {net['p95']:.2f} ms"
    return line


def run(args: argparse.Namespace) -> tuple[Profiler, dict, str]:
    """Build the torch backend, time it alone, then run the live loop on the paced clip."""
    on_gpu = args.device == "cuda"
    checkpoint = args.checkpoint or untrained_checkpoint(args.preset)
    backend = TorchBackend(checkpoint, device=args.device, half=on_gpu and not args.no_fp16,
                           graphs=on_gpu and not args.no_graphs, gpu_paste=not args.cpu_paste)
    timing = time_model(backend, args.model_runs)
    source, info = paced_clip(args)
    landmarker = create_landmarker(args.landmarks, mode="video")
    swapper = FaceSwapper(backend, landmarker, SwapSettings())
    profiler = Profiler(max_records=None)
    profiler.info = {"backend": backend.name, "source": info.description, "sinks": ["null"],
                     "landmarks": landmarker.name, "model_alone": timing}
    print(f"backend: {backend.name}; landmarks: {landmarker.name}; source: {info.description} "
          f"{info.width}x{info.height} @ {info.fps:g} fps for {args.seconds:g} s", file=sys.stderr)
    loop = LiveLoop(source, info, swapper, [NullSink()], profiler, status=False)
    profiler, memory = measure(loop, args)
    return profiler, memory, model_line(backend, timing)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 with one line on stderr without CUDA or for a user mistake."""
    args = build_parser().parse_args(argv)
    if not check_json_folder(PROG, args.json):
        return USER_ERROR
    refusal = cuda_refusal() if args.device == "cuda" else None
    if refusal:
        return fail(PROG, refusal)
    try:
        profiler, memory, model = run(args)
    except USER_ERRORS as exc:
        return fail(PROG, exc)
    print(model)
    print_results(profiler, memory, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
