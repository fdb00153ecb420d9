"""python -m export.bench: onnxruntime CPU milliseconds per face for exported models (median, p95).

Either time given files (`--model A.onnx --model B.onnx`), or let it export an untrained network of
a preset in float32 and int8 first (`--preset fast --faceset DIR`; the faceset calibrates int8 and
supplies the timed faces). Speed does not depend on what the weights learned.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from export.contract import ContractError, read_contract
from export.parity import onnx_session
from export.source import ExportError, random_faces
from faces import TEMPLATE_ID
from faces.cli import OneLineParser, fail
from faces.tensors import crops_to_tensor, crops_to_uint8, fit_crop, tensor_to_crops

PROG = "python -m export.bench"


def time_model(path: Path, faces: np.ndarray, runs: int, warmup: int, threads: int) -> dict:
    """Latency of single-face runs of the model at `path`: median, p95, mean (ms) and faces per second."""
    session = onnx_session(path, threads)
    name = session.get_inputs()[0].name
    feeds = [{name: faces[i % len(faces)][None]} for i in range(max(runs, warmup))]
    for feed in feeds[:warmup]:
        session.run(None, feed)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        session.run(None, feeds[i])
        times[i] = time.perf_counter() - start
    ms = times * 1e3
    return {"model": str(path), "runs": runs, "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean()), "faces_per_s": float(1e3 / np.median(ms))}


def preset_models(preset: str, faceset_dir: str, folder: Path, log) -> list[Path]:
    """Export an untrained `preset` network in float32 and int8 (calibrated on `faceset_dir`) into `folder`."""
    import torch

    from export.onnx_export import export_checkpoint
    from training.checkpoint import FORMAT
    from training.model import PRESETS, SwapModel

    if preset not in PRESETS:
        raise ExportError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    torch.manual_seed(0)
    model = SwapModel(PRESETS[preset])
    checkpoint = {"format": FORMAT, "preset": preset, "model_config": model.config.to_dict(),
                  "model": model.state_dict(), "step": 0,
                  "config": {"identities": ["a", "b"], "coverage": _faceset_coverage(faceset_dir),
                             "template_id": TEMPLATE_ID, "facesets_a": [str(faceset_dir)]}}
    fp32 = export_checkpoint(checkpoint, folder / f"{preset}_fp32.onnx", log=log).output
    int8 = export_checkpoint(checkpoint, folder / f"{preset}_int8.onnx", int8_faceset=faceset_dir, log=log).output
    return [fp32, int8]


def _faceset_coverage(folder: str) -> str:
    from training.faceset import Faceset, FacesetError

    try:
        return Faceset.load(folder).coverage
    except FacesetError as exc:
        raise ExportError(str(exc)) from None


def bench_crops(resolution: int, faceset_dir: str | None, count: int = 32) -> np.ndarray:
    """uint8 BGR crops to time on: from `faceset_dir` when given, else smooth random images."""
    if not faceset_dir:
        faces = random_faces(count, resolution)
        return crops_to_uint8(tensor_to_crops(faces, faces[:, :1])[0])
    from training.faceset import Faceset, FacesetError, spread_indices

    try:
        faceset = Faceset.load(faceset_dir)
        return np.stack([fit_crop(faceset.read(i), resolution) for i in spread_indices(len(faceset), count)])
    except FacesetError as exc:
        raise ExportError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Time each model and print one line per model (and JSON with --json); USER_ERROR with one line on bad input."""
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="an exported .onnx file (repeatable)")
    parser.add_argument("--preset", help="export an untrained network of this preset (fp32 + int8) and time it")
    parser.add_argument("--faceset", help="faceset folder: faces to time on (and int8 calibration for --preset)")
    parser.add_argument("--runs", type=int, default=500, help="timed runs per model (default 500)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs first (default 20)")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (default 0: its choice)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        if args.runs < 1 or args.warmup < 0:
            raise ExportError("--runs must be at least 1 and --warmup at least 0")
        if args.preset and not args.faceset:
            raise ExportError("--preset needs --faceset (int8 is calibrated on real faces)")
        if not args.model and not args.preset:
            raise ExportError("give --model FILE (repeatable) or --preset NAME --faceset DIR")
        with tempfile.TemporaryDirectory(prefix="swapcam-bench-") as tmp:
            models = [Path(m) for m in args.model]
            if args.preset:
                models += preset_models(args.preset, args.faceset, Path(tmp), log)
            results = []
            for path in models:
                contract = read_contract(path)
                crops = bench_crops(contract.resolution, args.faceset)
                faces = crops_to_tensor(crops, contract.layout, contract.color_order, contract.value_range)
                log(f"timing {path.name}: {args.runs} runs after {args.warmup} warm-up runs")
                result = {**time_model(path, faces, args.runs, args.warmup, args.threads),
                          "precision": contract.precision, "resolution": contract.resolution,
                          "preset": contract.preset}
                results.append(result)
    except (ExportError, ContractError) as exc:
        return fail(PROG, exc)
    base = results[0]["median_ms"]
    for r in results:
        print(f"{Path(r['model']).name}: {r['precision']} {r['resolution']} px: median {r['median_ms']:.2f} ms, "
              f"p95 {r['p95_ms']:.2f} ms per face ({r['faces_per_s']:.0f} faces/s, x{base / r['median_ms']:.2f} "
              f"vs {Path(results[0]['model']).name})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
