"""Quality benchmark: the whole recipe on the shared clips, from raw video to swap-quality figures, in up to three runs.

    python -m evaluation.quality_bench --minutes M --json OUT [--preset fast] [--init PRETRAINED_RUN]
                                       [--pool POOL_DIR [--anyface-init]] [--no-scratch] [--train-args "..."]
                                       [--out DIR]

Runs, each trained M minutes (the people are those of evaluation/split.py):
  scratch     the pair from random weights: A = pc-avs 00104 (its first 80% of frames), B = pc-avs 00098
  pretrained  the same pair started from --init (a run that never saw either person)
  anyface     A = the pool --pool (at least 10 people), B = 00098, from random weights (from --init with
              --anyface-init); evaluated on each unseen person, whom no pool holds
Each run: extract, train (python -m training.train in its own process, as a user runs it; --train-args
are added to its command line), export the A->B path, evaluate (python -m evaluation: the pairs on A's
held-out last 20%, with A->A reconstruction; the any-face model on every unseen clip). It prints one
table with a column per run (per unseen person for anyface) and writes the figures, with every path,
to --json. Everything it makes goes into --out (default: OUT's name + '-files' beside the JSON), which
must lie outside the swapcam source tree.
"""
from __future__ import annotations

import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from evaluation.evaluate import USER_ERRORS, EvaluationRequest, run_evaluation
from evaluation.identity import FACESET_FACES, FaceEmbedder
from evaluation.split import CLIP_A, CLIP_B, REPO, UNSEEN, clip_path, default_data_dir, faceset_name, \
    kept_out_sources, use_shared_landmarker
from export.onnx_export import export_checkpoint
from export.source import ExportError
from faces import MediaSource
from faces.cli import OneLineParser, fail, positive_float, positive_int
from faces.fileio import atomic_write_bytes
from training.checkpoint import load_checkpoint
from training.config import TrainConfig
from training.data import find_facesets
from training.extract import extract
from training.faceset import Faceset, FacesetWriter
from training.model import PRESETS

FORMAT = "swapcam-quality-bench-2"
PROG = "python -m evaluation.quality_bench"
POOL_PEOPLE = 10        # an any-face pool holds at least this many facesets
UNSEEN_FRAMES = 150     # frames of each unseen clip evaluated (at most)
EXTRACT_SIZE = 256      # the crop size of every faceset the bench extracts (training.extract's default)
TABLE = (("training steps", "steps"), ("closer to B", "closer_to_b"), ("distance to B, median", "dist_b_median"),
         ("sharpness swapped / source", "sharpness_ratio"), ("sharpness ceiling / source", "sharpness_ceiling_ratio"),
         ("sharpness swapped / ceiling", "sharpness_vs_ceiling"), ("sharpness swapped / B's own", "sharpness_vs_target"),
         ("model's face / B's faces, crop", "sharpness_model_vs_b_crops"),
         ("landmark error / IOD", "landmark_error_mean"),
         ("mouth-open correlation", "mouth_open_correlation"), ("eye-open correlation", "eye_open_correlation"),
         ("jitter output / source", "jitter_ratio"), ("mask coverage, median", "mask_coverage_median"),
         ("frames with a whole mask", "mask_whole"), ("A->A held-out PSNR", "a2a_psnr"),
         ("targets met", "targets"))


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
    if any(out.glob("*/run/checkpoint.pt")):
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


def check_never_saw(facesets: list[Faceset], what: str) -> None:
    """BenchError unless none of `facesets` holds a face of the bench pair or an unseen person."""
    found = kept_out_sources({entry["source"] for f in facesets for entry in f.entries})
    if found:
        raise BenchError(f"{what} holds faces of a person the bench keeps out of training ({found[0]})")


def init_facesets(run: Path) -> list[Faceset]:
    """The facesets a run trained on (BenchError when they are gone: what it saw cannot be checked)."""
    config = load_checkpoint(run)["config"]
    folders = sorted(set(config.get("facesets_a", [])) | set(config.get("facesets_b", [])))
    missing = [f for f in folders if not (Path(f) / "faceset.json").is_file()]
    if missing:
        raise BenchError(f"--init {run} trained on {missing[0]}, which is not here: what it saw cannot be checked")
    return find_facesets(folders)


def train_in_subprocess(side_a: list[Path], side_b: Path, run_dir: Path, preset: str, minutes: float,
                        init: Path | None, extra: list[str]) -> dict:
    """Train with `python -m training.train` in its own process, as a user would; returns the loaded checkpoint."""
    command = [sys.executable, "-m", "training.train", "--faceset-a", *map(str, side_a), "--faceset-b", str(side_b),
               "--preset", preset, "--out", str(run_dir), "--minutes", f"{minutes:g}",
               *(["--init", str(init)] if init else []), *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    code = subprocess.run(command, cwd=REPO, env=env, stdout=sys.stderr).returncode  # stdout is for the figures
    if code != 0:
        raise BenchError(f"training stopped with exit code {code} (its messages are above)")
    return load_checkpoint(run_dir)


class Bench:
    """The facesets every run shares, made once, and one method per kind of run."""

    def __init__(self, minutes: float, preset: str, out: Path, data: Path, heldout: float, extra: list[str],
                 frames: int | None, faceset_faces: int, log):
        self.minutes, self.preset, self.out, self.data, self.extra, self.log = minutes, preset, out, data, extra, log
        self.frames, self.faceset_faces = frames, faceset_faces
        self.embedder = FaceEmbedder()  # one for every evaluation: B's identity is made once
        self.facesets = out / "facesets"
        clip_a = clip_path(data, CLIP_A)
        total = MediaSource(clip_a).frame_count
        self.cut, self.total = int(math.ceil((1.0 - heldout) * total)), total
        name_a = faceset_name(CLIP_A)
        self.a_train, self.a_heldout = self.facesets / name_a, self.facesets / f"{name_a}_heldout"
        self.b = self.facesets / faceset_name(CLIP_B)
        log(f"extracting the bench pair into {self.facesets}")
        extract(clip_a, self.facesets / f"{name_a}_all", progress=True)
        counts = split_faceset(self.facesets / f"{name_a}_all", self.cut, self.a_train, self.a_heldout)
        extract(clip_path(data, CLIP_B), self.b, progress=True)
        self.counts = {"a_train": counts[0], "a_heldout": counts[1], "b": len(Faceset.load(self.b))}
        log(f"A: {counts[0]} faces for training (frames 0-{self.cut - 1}), {counts[1]} held out "
            f"(frames {self.cut}-{total - 1}); B: {self.counts['b']} faces")

    def train_and_export(self, name: str, side_a: list[Path], init: Path | None) -> tuple[dict, Path, dict]:
        """Train run `name` for the bench's minutes and export it: (checkpoint, model path, timings)."""
        folder = self.out / name
        folder.mkdir(parents=True, exist_ok=True)
        self.log(f"[{name}] training the {self.preset} preset for {self.minutes:g} minutes"
                 + (f" from {init}" if init else " from random weights"))
        mark = time.monotonic()
        ckpt = train_in_subprocess(side_a, self.b, folder / "run", self.preset, self.minutes, init, self.extra)
        timings = {"train_s": time.monotonic() - mark}
        mark = time.monotonic()
        model = export_checkpoint(folder / "run", folder / "model.onnx", log=lambda line: self.log(f"  {line}")).output
        timings["export_s"] = time.monotonic() - mark
        return ckpt, model, timings

    def pair(self, name: str, init: Path | None) -> dict:
        """A pair run (scratch or pretrained), evaluated on A's held-out frames."""
        ckpt, model, timings = self.train_and_export(name, [self.a_train], init)
        self.log(f"[{name}] evaluating on A's held-out frames {self.cut}-{self.total - 1}")
        mark = time.monotonic()
        folder = self.out / name
        request = EvaluationRequest(model=model, source=clip_path(self.data, CLIP_A), faceset_a=self.a_train,
                                    faceset_b=self.b, json=folder / "evaluation.json",
                                    sheet=folder / "contact_sheet.png", start=self.cut, checkpoint=folder / "run",
                                    heldout_a=self.a_heldout, frames=self.frames, faceset_faces=self.faceset_faces)
        evaluation = run_evaluation(request, embedder=self.embedder)
        timings["evaluate_s"] = time.monotonic() - mark
        return {**run_facts(ckpt, model, init, self.minutes, timings),
                "evaluations": {"a": {"json": str(request.json), "sheet": evaluation["sheet"],
                                      "summary": evaluation["summary"], "targets": evaluation["targets"]}}}

    def anyface(self, pool: list[Path], init: Path | None) -> dict:
        """The any-face run: A = the pool; evaluated on every unseen person, each against their own faceset."""
        ckpt, model, timings = self.train_and_export("anyface", pool, init)
        mark = time.monotonic()
        evaluations = {}
        for clip in UNSEEN:
            name = faceset_name(clip)
            self.log(f"[anyface] evaluating on {clip}, a person the run never saw")
            own = self.facesets / "unseen" / name
            # their identity: --faceset-faces faces spread over the clip; twice as many extracted, every 2nd frame at most
            frames = MediaSource(clip_path(self.data, clip)).frame_count
            extract(clip_path(self.data, clip), own, every=max(2, frames // (2 * self.faceset_faces)))
            request = EvaluationRequest(model=model, source=clip_path(self.data, clip), faceset_a=own, faceset_b=self.b,
                                        json=self.out / "anyface" / f"evaluation_{name}.json",
                                        sheet=self.out / "anyface" / f"contact_sheet_{name}.png",
                                        frames=self.frames or UNSEEN_FRAMES, faceset_faces=self.faceset_faces,
                                        targets="anyface")
            evaluation = run_evaluation(request, embedder=self.embedder)
            evaluations[name] = {"json": str(request.json), "sheet": evaluation["sheet"],
                                 "summary": evaluation["summary"], "targets": evaluation["targets"]}
        timings["evaluate_s"] = time.monotonic() - mark
        passing = [n for n, e in evaluations.items() if all(t["met"] for t in e["targets"])]
        return {**run_facts(ckpt, model, init, self.minutes, timings), "evaluations": evaluations,
                "pool": {"facesets": len(pool)}, "people_meeting_all_targets": passing}


def run_facts(ckpt: dict, model: Path, init: Path | None, minutes: float, timings: dict) -> dict:
    """What the report says of a run's training and model."""
    batch_a, batch = TrainConfig.from_dict(ckpt["config"]).batch_sizes
    steps = int(ckpt["step"])
    return {"run": str(model.parent / "run"), "init": str(init) if init else None, "steps": steps,
            "batch_size": batch, "batch_a": batch_a, "faces_per_second": steps * (batch_a + batch) / (minutes * 60.0),
            "model": str(model),
            "timings": timings}


def comparison_table(runs: dict) -> str:
    """One column per evaluation (per run, per unseen person for anyface), one row per key figure."""
    columns = []
    for name, run in runs.items():
        for who, evaluation in run["evaluations"].items():
            title = name if who == "a" else f"{name}:{who.split('_', 1)[1]}"
            met = sum(t["met"] for t in evaluation["targets"])
            figures = {**evaluation["summary"], "steps": run["steps"], "targets": f"{met}/{len(evaluation['targets'])}"}
            columns.append((title, figures))
    width = max(len(label) for label, _ in TABLE)
    lines = [f"{'':<{width}}  " + "  ".join(f"{title:>14}" for title, _ in columns)]
    for label, key in TABLE:
        cells = []
        for _, figures in columns:
            value = figures.get(key)
            cells.append("n/a" if value is None else value if isinstance(value, str) else
                         f"{value:d}" if isinstance(value, int) else f"{value:.3f}")
        lines.append(f"{label:<{width}}  " + "  ".join(f"{cell:>14}" for cell in cells))
    return "\n".join(lines)


def run_bench(minutes: float, preset: str, out: Path, data: Path, init: Path | None = None, pool: Path | None = None,
              scratch: bool = True, heldout: float = 0.2, extra: list[str] | None = None,
              frames: int | None = None, faceset_faces: int = FACESET_FACES, log=print,
              anyface_init: bool = False) -> dict:
    """The runs the options ask for, as the module docstring says; returns the benchmark report."""
    for clip in (CLIP_A, CLIP_B, *(UNSEEN if pool else ())):
        if not clip_path(data, clip).is_file():
            raise BenchError(f"missing {clip_path(data, clip)} (point --data or SWAPCAM_SHARED at the shared data)")
    if init is not None:
        check_never_saw(init_facesets(init), f"--init {init}")
    pool_facesets = find_facesets([pool]) if pool else []
    if pool is not None:
        if len(pool_facesets) < POOL_PEOPLE:
            raise BenchError(f"--pool {pool} holds {len(pool_facesets)} facesets; an any-face model needs at least "
                             f"{POOL_PEOPLE} people")
        check_never_saw(pool_facesets, f"--pool {pool}")
        if (pool_facesets[0].size, pool_facesets[0].coverage) != (EXTRACT_SIZE, "whole_face"):
            raise BenchError(f"--pool {pool} holds {pool_facesets[0].size} px {pool_facesets[0].coverage} crops; the "
                             f"bench's facesets are {EXTRACT_SIZE} px whole_face (python -m evaluation.pool makes those)")
    if not (scratch or init or pool):
        raise BenchError("nothing to run: --no-scratch needs --init or --pool")
    if anyface_init and not (init and pool):
        raise BenchError("--anyface-init starts the any-face run from --init: it needs both --init and --pool")
    use_shared_landmarker(data)
    FaceEmbedder()  # a missing scorer fails now, not after the training
    started = time.monotonic()
    bench = Bench(minutes, preset, out, data, heldout, extra or [], frames, faceset_faces, log)
    runs = {}
    if scratch:
        runs["scratch"] = bench.pair("scratch", None)
    if init is not None:
        runs["pretrained"] = bench.pair("pretrained", init)
    if pool is not None:
        runs["anyface"] = bench.anyface([f.root for f in pool_facesets], init if anyface_init else None)
    return {"format": FORMAT, "minutes": minutes, "preset": preset, "train_args": extra or [], "out": str(out),
            "data": str(data), "clips": {"a": CLIP_A, "b": CLIP_B, "unseen": list(UNSEEN)},
            "heldout_frames": [bench.cut, bench.total - 1], "facesets": bench.counts, "runs": runs,
            "total_s": time.monotonic() - started,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}}


def build_parser() -> OneLineParser:
    """Command-line options of `python -m evaluation.quality_bench`."""
    p = OneLineParser(prog=PROG, description=__doc__.split("\n")[0],
                      epilog="Needs the shared data (../shared or SWAPCAM_SHARED) and the offline extra.")
    p.add_argument("--minutes", type=positive_float, required=True, help="training time of each run, in minutes")
    p.add_argument("--preset", default="fast", choices=sorted(PRESETS), help="network preset (default fast)")
    p.add_argument("--json", required=True, help="write the figures and every output path here")
    p.add_argument("--init", metavar="RUN", help="a pretrained run (python -m training.pretrain): adds the pair "
                                                 "started from it")
    p.add_argument("--pool", metavar="POOL_DIR", help="a folder of facesets of at least 10 people (python -m "
                                                      "evaluation.pool): adds the any-face run, from random weights")
    p.add_argument("--anyface-init", action="store_true",
                   help="start the any-face run from --init too (at 30 CPU-minutes it turned fewer unseen people "
                        "into B than the run from random weights)")
    p.add_argument("--no-scratch", action="store_true", help="skip the pair trained from random weights")
    p.add_argument("--train-args", default="", metavar="ARGS",
                   help="more options for python -m training.train, e.g. \"--lr-schedule cosine\"")
    p.add_argument("--out", help="folder for facesets, runs, models, evaluations and contact sheets "
                                 "(default: beside --json, named after it + '-files'; never inside the repository)")
    p.add_argument("--data", help="the shared data folder (default: $SWAPCAM_SHARED/data or ../shared/data)")
    p.add_argument("--heldout", type=positive_float, default=0.2, help="share of A's last frames kept out (default 0.2)")
    p.add_argument("--frames", type=positive_int, metavar="N",
                   help=f"frames evaluated per clip (default: all of A's held-out frames, {UNSEEN_FRAMES} of each "
                        f"unseen person's clip)")
    p.add_argument("--faceset-faces", type=positive_int, default=FACESET_FACES, metavar="N",
                   help=f"faces per faceset in its mean embedding (default {FACESET_FACES})")
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
        report = run_bench(args.minutes, args.preset, out, data,
                           Path(args.init).expanduser().resolve() if args.init else None,
                           Path(args.pool).expanduser().resolve() if args.pool else None, not args.no_scratch,
                           args.heldout, shlex.split(args.train_args), args.frames, args.faceset_faces,
                           log=lambda line: print(line, file=sys.stderr, flush=True), anyface_init=args.anyface_init)
    except (BenchError, ExportError, *USER_ERRORS) as exc:
        return fail(PROG, exc)
    atomic_write_bytes(json_path, json.dumps(report, indent=1).encode("utf-8"))
    for name, run in report["runs"].items():
        print(f"{name}: {run['steps']} steps in {args.minutes:g} min ({run['faces_per_second']:.1f} faces/s, "
              f"batch {run['batch_a']} A + {run['batch_size']} B)"
              + (f", from {run['init']}" if run["init"] else ""))
    print(comparison_table(report["runs"]))
    if "anyface" in report["runs"]:
        passing = report["runs"]["anyface"]["people_meeting_all_targets"]
        print(f"any-face: {len(passing)} of {len(UNSEEN)} unseen people meet every any-face target")
    print(f"json: {json_path}\nfiles: {report['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
