"""python -m export: a trained checkpoint's swap path as a verified ONNX model (+ fp16 / int8 / DFM / TensorRT)."""
from __future__ import annotations

import argparse
import sys
import time

from export.contract import ContractError
from faces.cli import INTERRUPTED, OneLineParser, fail

PROG = "python -m export"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of python -m export."""
    parser = OneLineParser(
        prog=PROG,
        description="Export the A->B swap path (shared encoder + decoder B) of a swapcam checkpoint to ONNX, with the "
                    "model contract inside, and check it against PyTorch before it lands.")
    parser.add_argument("--checkpoint", required=True, help="training run folder or checkpoint.pt")
    parser.add_argument("--output", required=True, help="the .onnx file to write (its folder must exist)")
    parser.add_argument("--direction", default="a2b", help="a2b (encoder + decoder B, default) or b2a")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true", help="float16 weights and compute, float32 inputs/outputs (GPUs)")
    precision.add_argument("--int8", metavar="FACESET_DIR",
                           help="static int8 quantization calibrated on this faceset's crops (CPUs)")
    parser.add_argument("--dfm", action="store_true",
                        help="also write NAME.dfm, the DeepFaceLive / facefusion interface (NHWC, BGR)")
    parser.add_argument("--tensorrt", action="store_true",
                        help="also build NAME.engine (fp16) with TensorRT; needs TensorRT and an NVIDIA GPU")
    parser.add_argument("--workspace-mib", type=int, default=1024, help="TensorRT workspace limit in MiB (default 1024)")
    parser.add_argument("--dynamic-batch", action="store_true", help="a dynamic batch axis instead of batch 1")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the export; 0 on success, USER_ERROR with one line on stderr when it cannot be made or fails its checks."""
    args = parse_args(argv)
    started = time.monotonic()

    def log(line: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {line}", file=sys.stderr, flush=True)

    from export.onnx_export import export_checkpoint
    from export.source import ExportError

    try:
        result = export_checkpoint(args.checkpoint, args.output, direction=args.direction, fp16=args.fp16,
                                   int8_faceset=args.int8, dfm=args.dfm, tensorrt=args.tensorrt,
                                   dynamic_batch=args.dynamic_batch, workspace_mib=args.workspace_mib, log=log)
    except (ExportError, ContractError) as exc:
        return fail(PROG, exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        return INTERRUPTED
    for note in result.notes:
        print(f"{PROG}: {note}", file=sys.stderr)
    c = result.contract
    print(f"wrote {result.output} ({result.size_bytes / 2**20:.1f} MiB, {c.precision}, {c.resolution} px {c.coverage}, "
          f"{' -> '.join(c.identities)})")
    if result.dfm:
        print(f"wrote {result.dfm}")
    if result.engine:
        print(f"wrote {result.engine.engine} (+ {result.engine.sidecar.name}, timing cache {result.engine.timing_cache})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
