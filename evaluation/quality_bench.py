"""Quality benchmark: the whole recipe on the shared pc-avs clips, from raw video to swap-quality figures.

    python -m evaluation.quality_bench --minutes M [--preset fast] --json OUT [--out DIR] [--data DIR]

1. extract A (videos/pc-avs/00104.mp4) and B (00098.mp4); the last 20% of A's frames are kept
   out of training (faceset pcavs_00104_heldout);
2. train for M minutes (CPU unless a GPU is there);
3. export the A->B path to ONNX;
4. evaluate it on A's held-out frames (python -m evaluation, with the checkpoint for
   A->A reconstruction on the held-out faces);
5. print the figures against the targets and write them, with every path, to --json.

Everything it makes (facesets, run, model, evaluation JSON, contact sheet) goes into --out
(default: OUT's name + '-files' beside the JSON), which must lie outside the swapcam source tree.
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import cv2

from evaluation.evaluate import USER_ERRORS, EvaluationRequest, run_evaluation
from evaluation.identity import FaceEmbedder
from evaluation.split import REPO, default_data_dir
from evaluation.summary import summary_table
from export.onnx_export import export_checkpoint
from export.source import ExportError
from faces.cli import OneLineParser, fail, positive_float, positive_int
from faces.fileio import atomic_write_bytes
from training.checkpoint import load_checkpoint
from training.extract import extract
from training.faceset import Faceset, FacesetWriter
from training.model import PRESETS

FORMAT = "swapcam-quality-bench-1"
CLIP_A, CLIP_B = "videos/pc-avs/00104.mp4", "videos/pc-avs/00098.mp4"
NAME_A, NAME_B = "pcavs_00104", "pcavs_00098"


class BenchError(ValueError):
    """A benchmark that cannot run as asked; the message is one line for the user."""


def check_out_dir(out: Path) -> Path:
    """`out` made absolute, refused when it lies inside the source tree (faces and swaps never go there)."""
    out = out.expanduser().resolve()
    if out == REPO or REPO in out.parents:
        raise BenchError(f"{out} is inside the swapcam source tree; face media must stay out of it: "
                         f"pass --out DIR elsewhere")
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} is a file, not a folder")
    if (out / "run" / "checkpoint.pt").exists():
        raise BenchError(f"{out} already holds a benchmark run; pass a new --out")
    return out


def split_faceset(full: Path, cut_frame: int, train_dir: Path, heldout_dir: Path) -> tuple[int, int]:
    """Copy the faces of frames before `cut_frame` into one faceset and the rest into another; returns the counts."""
    faceset = Faceset.load(full)
    writers = (FacesetWriter(train_dir, faceset.size, faceset.coverage),
               FacesetWriter(heldout_dir, faceset.size, faceset.coverage))
    for i, entry in enumerate(faceset.entries):
        writer = writers[entry["frame"] >= cut_frame]
        if not writer.has(entry["source"], entry["frame"], entry.get("face", 0)):
            writer.add(faceset.read(i), entry["source"], entry["frame"], faceset.landmarks(i), faceset.matrix(i),
                       entry.get("face", 0))
    for writer in writers:
        writer.flush()
    return len(writers[0].entries), len(writers[1].entries)


def frame_count(clip: Path) -> int:
    """Number of frames in a video file."""
    capture = cv2.VideoCapture(str(clip))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


def train_in_subprocess(faceset_a: Path, faceset_b: Path, run_dir: Path, preset: str, minutes: float,
                        batch_size: int | None, threads: int | None) -> dict:
    """Train with `python -m training.train` in its own process, as a user would; returns the loaded checkpoint."""
    command = [sys.executable, "-m", "training.train", "--faceset-a", str(faceset_a), "--faceset-b", str(faceset_b),
               "--preset", preset, "--out", str(run_dir), "--minutes", f"{minutes:g}"]
    command += ["--batch-size", str(batch_size)] if batch_size else []
    command += ["--threads", str(threads)] if threads else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    code = subprocess.run(command, cwd=REPO, env=env, stdout=sys.stderr).returncode  # stdout is for the figures
    if code != 0:
        raise BenchError(f"training stopped with exit code {code} (its messages are above)")
    return load_checkpoint(run_dir)


def run_bench(minutes: float, preset: str, out: Path, data: Path, heldout: float = 0.2,
              batch_size: int | None = None, threads: int | None = None, log=print) -> dict:
    """Extract, train, export and evaluate as the module docstring says; returns the benchmark report."""
    clip_a, clip_b = data / CLIP_A, data / CLIP_B
    for clip in (clip_a, clip_b):
        if not clip.is_file():
            raise BenchError(f"missing {clip} (point --data or SWAPCAM_SHARED at the shared data)")
    landmarker = data.parent / "models" / "face_landmarker.task"
    if landmarker.is_file():
        os.environ.setdefault("SWAPCAM_FACE_LANDMARKER", str(landmarker))
    FaceEmbedder()  # a missing scorer fails now, not after the training
    facesets = out / "facesets"
    timings, started = {}, time.monotonic()

    log(f"[1/4] extracting faces into {facesets}")
    total = frame_count(clip_a)
    cut = int(math.ceil((1.0 - heldout) * total))
    extract(clip_a, facesets / f"{NAME_A}_all", progress=True)
    a_train, a_heldout = facesets / NAME_A, facesets / f"{NAME_A}_heldout"
    n_train, n_heldout = split_faceset(facesets / f"{NAME_A}_all", cut, a_train, a_heldout)
    extract(clip_b, facesets / NAME_B, progress=True)
    n_b = len(Faceset.load(facesets / NAME_B))
    log(f"A: {n_train} faces for training (frames 0-{cut - 1}), {n_heldout} held out (frames {cut}-{total - 1}); "
        f"B: {n_b} faces")
    timings["extract_s"] = time.monotonic() - started

    log(f"[2/4] training the {preset} preset for {minutes:g} minutes")
    mark = time.monotonic()
    ckpt = train_in_subprocess(a_train, facesets / NAME_B, out / "run", preset, minutes, batch_size, threads)
    timings["train_s"] = time.monotonic() - mark

    log("[3/4] exporting the A->B path")
    mark = time.monotonic()
    exported = export_checkpoint(out / "run", out / "model.onnx", log=lambda line: log(f"  {line}"))
    timings["export_s"] = time.monotonic() - mark

    log(f"[4/4] evaluating on A's held-out frames {cut}-{total - 1}")
    mark = time.monotonic()
    request = EvaluationRequest(model=exported.output, source=clip_a, faceset_a=a_train, faceset_b=facesets / NAME_B,
                                json=out / "evaluation.json", sheet=out / "contact_sheet.png", start=cut,
                                checkpoint=out / "run", heldout_a=a_heldout)
    evaluation = run_evaluation(request)
    timings["evaluate_s"] = time.monotonic() - mark
    timings["total_s"] = time.monotonic() - started

    batch = ckpt["config"]["batch_size"]
    return {"format": FORMAT, "minutes": minutes, "preset": preset, "out": str(out), "data": str(data),
            "clips": {"a": str(clip_a), "b": str(clip_b)}, "heldout_frames": [cut, total - 1],
            "facesets": {"a_train": {"path": str(a_train), "faces": n_train},
                         "a_heldout": {"path": str(a_heldout), "faces": n_heldout},
                         "b": {"path": str(facesets / NAME_B), "faces": n_b}},
            "training": {"run": str(out / "run"), "steps": int(ckpt["step"]), "batch_size": batch,
                         "faces_per_second": int(ckpt["step"]) * 2 * batch / (minutes * 60.0),  # A and B faces
                         "threads": ckpt["config"]["threads"], "workers": ckpt["config"]["workers"]},
            "model": {"path": str(exported.output), "bytes": exported.size_bytes},
            "evaluation": str(request.json), "sheet": evaluation["sheet"],
            "summary": evaluation["summary"], "targets": evaluation["targets"],
            "all_targets_met": all(t["met"] for t in evaluation["targets"]),
            "timings": timings,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}}


def build_parser() -> OneLineParser:
    """Command-line options of `python -m evaluation.quality_bench`."""
    p = OneLineParser(prog="python -m evaluation.quality_bench", description=__doc__.split("\n")[0],
                      epilog="Needs the shared data (../shared or SWAPCAM_SHARED) and the offline extra.")
    p.add_argument("--minutes", type=positive_float, required=True, help="training time in minutes")
    p.add_argument("--preset", default="fast", choices=sorted(PRESETS), help="network preset (default fast)")
    p.add_argument("--json", required=True, help="write the figures and every output path here")
    p.add_argument("--out", help="folder for facesets, run, model, evaluation and contact sheet "
                                 "(default: beside --json, named after it + '-files'; never inside the repository)")
    p.add_argument("--data", help="the shared data folder (default: $SWAPCAM_SHARED/data or ../shared/data)")
    p.add_argument("--heldout", type=positive_float, default=0.2, help="share of A's last frames kept out (default 0.2)")
    p.add_argument("--batch-size", type=positive_int, help="faces per identity per step (default: the trainer's)")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads for training (default: all CPUs)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the quality benchmark; returns the process exit code."""
    args = build_parser().parse_args(argv)
    json_path = Path(args.json).expanduser().absolute()
    try:
        if not 0 < args.heldout < 1:
            raise BenchError("--heldout must be between 0 and 1")
        if not json_path.parent.is_dir():
            raise BenchError(f"the folder of --json ({json_path.parent}) does not exist")
        out = check_out_dir(Path(args.out) if args.out else json_path.with_name(json_path.stem + "-files"))
        data = Path(args.data).expanduser().resolve() if args.data else default_data_dir()
        report = run_bench(args.minutes, args.preset, out, data, args.heldout, args.batch_size, args.threads,
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    except (BenchError, ExportError, *USER_ERRORS) as exc:
        return fail("python -m evaluation.quality_bench", exc)
    atomic_write_bytes(json_path, json.dumps(report, indent=1).encode("utf-8"))
    t = report["training"]
    print(f"trained {t['steps']} steps in {args.minutes:g} min "
          f"({t['faces_per_second']:.1f} faces/s, batch {t['batch_size']}); evaluated "
          f"{report['summary']['frames']} held-out frames")
    print(summary_table(report["summary"]))
    met = sum(c["met"] for c in report["targets"])
    print(f"targets met: {met}/{len(report['targets'])}")
    print(f"json: {json_path}\nsheet: {report['sheet']}\nfiles: {report['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
