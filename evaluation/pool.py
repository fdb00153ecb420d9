"""Build the pretraining pool of the shared data, split by person as evaluation/split.py says.

    python -m evaluation.pool --out POOL_DIR [--data DIR] [--size 256] [--workers N]
    python -m training.pretrain --facesets POOL_DIR --preset fast --out RUN --minutes 45

POOL_DIR gets one faceset per pool clip and per CelebA identity, and one each for UTKFace and
All-Age-Faces, extracted at --size px, whole_face. The bench pair and the unseen people are never
extracted into it; a CelebA identity whose mean dlib embedding lies within SAME_PERSON of a
kept-out person is moved out, to POOL_DIR.dropped/, and named in POOL_DIR/pool.json with the
person it matched; so is an input where no face was found. A rerun extracts only what is missing. --workers processes extract and screen side by side
(default: one per CPU core; one extraction or one scorer keeps about one core busy). The photos are research data: the pool
and every run trained on it stay on this machine (see ../shared/data/pretrain/README.md).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from evaluation.identity import FaceEmbedder, ScorerUnavailable, faceset_identity
from evaluation.split import KEPT_OUT, POOL_CLIPS, POOL_PHOTOS, SAME_PERSON, clip_path, default_data_dir, \
    faceset_name, use_shared_landmarker
from faces import FaceInputError, ModelFileError
from faces.cli import OneLineParser, fail, positive_int, progress_bar
from faces.fileio import atomic_write_bytes
from training.extract import extract
from training.faceset import Faceset, FacesetError

PROG = "python -m evaluation.pool"
REFERENCE_EVERY = 10  # kept-out clips are sampled every 10th frame for their reference embedding


def pool_inputs(data: Path) -> dict[str, Path]:
    """Faceset name -> clip or photo folder, for everything the split puts in the pool."""
    inputs = {faceset_name(clip): clip_path(data, clip) for clip in POOL_CLIPS}
    for folder in POOL_PHOTOS:
        root = data / folder
        if folder.endswith("celeba"):
            inputs.update({f"celeba_{d.name}": d for d in sorted(root.iterdir()) if d.is_dir()})
        else:
            inputs[root.name] = root
    missing = [str(p) for p in inputs.values() if not p.exists()]
    if missing:
        raise FaceInputError(f"the shared data lacks {missing[0]} (point --data at the shared data folder)")
    return inputs


def reference_identities(embedder: FaceEmbedder, data: Path, work: Path) -> dict[str, np.ndarray]:
    """The mean face embedding of every kept-out person (bench pair and unseen), from every 10th frame."""
    centres = {}
    for clip in progress_bar(KEPT_OUT, "kept-out people", unit="person", leave=False):
        folder = work / faceset_name(clip)
        extract(clip_path(data, clip), folder, size=256, every=REFERENCE_EVERY)
        centres[clip] = faceset_identity(embedder, folder).centre
    return centres


_worker_embedder: FaceEmbedder | None = None  # a screening worker's own scorer, loaded once per process


def _load_embedder() -> None:
    global _worker_embedder
    _worker_embedder = FaceEmbedder()


def _centre(folder: Path) -> np.ndarray:
    """The mean embedding of the faceset at `folder`, by this worker process's scorer."""
    return faceset_identity(_worker_embedder, folder).centre


def screen(embedder: FaceEmbedder, pool: Path, names: list[str], references: dict[str, np.ndarray],
           workers: int = 1) -> dict:
    """The CelebA identities among `names` that look like a kept-out person: name -> (person, distance).
    `workers` > 1 embeds the identities in that many processes, each with its own scorer."""
    celeba = [n for n in names if n.startswith("celeba_")]
    bar = progress_bar(total=len(celeba), desc="screening CelebA", unit="identity")
    centres = {}
    with bar:
        if workers <= 1:
            for name in celeba:
                centres[name] = faceset_identity(embedder, pool / name).centre
                bar.update()
        else:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_load_embedder) as executor:
                futures = {executor.submit(_centre, pool / name): name for name in celeba}
                for done in as_completed(futures):
                    centres[futures[done]] = done.result()
                    bar.update()
    dropped = {}
    for name in celeba:
        person, distance = min(((p, float(np.linalg.norm(centres[name] - c))) for p, c in references.items()),
                               key=lambda item: item[1])
        if distance < SAME_PERSON:
            dropped[name] = {"matches": person, "distance": round(distance, 3)}
    return dropped


def _extract_one(job: tuple[Path, Path, int]) -> None:
    """One pool input into its faceset (a worker process's task)."""
    path, folder, size = job
    extract(path, folder, size=size, coverage="whole_face")


def extract_all(jobs: list[tuple[Path, Path, int]], workers: int) -> None:
    """Extract every (input, faceset, size) job, in `workers` processes side by side (1: in this one)."""
    bar = progress_bar(total=len(jobs), desc="extracting the pool", unit="input")
    with bar:
        if workers <= 1:
            for job in jobs:
                _extract_one(job)
                bar.update()
            return
        # spawn: a worker starts clean instead of inheriting this process's landmarker and scorer threads
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for done in as_completed([pool.submit(_extract_one, job) for job in jobs]):
                done.result()  # a worker's error (an unreadable input) stops the build here, as with one process
                bar.update()


def set_aside_empty(out: Path, names: list[str], aside: Path) -> dict:
    """Move the facesets among `names` in which no face was found to `aside`; returns name -> {"no_faces": True}."""
    empty = {}
    for name in names:
        if not len(Faceset.load(out / name, allow_empty=True)):
            aside.mkdir(exist_ok=True)
            shutil.rmtree(aside / name, ignore_errors=True)
            shutil.move(str(out / name), str(aside / name))
            empty[name] = {"no_faces": True}
    return empty


def build_pool(data: Path, out: Path, size: int = 256, workers: int = 1) -> dict:
    """Extract, screen and record the pool in `out`; returns what pool.json says."""
    embedder = FaceEmbedder()  # a missing scorer fails now, before any extraction
    inputs = pool_inputs(data)
    record_path = out / "pool.json"
    earlier = json.loads(record_path.read_text()) if record_path.is_file() else {}
    dropped = dict(earlier.get("dropped", {}))
    out.mkdir(parents=True, exist_ok=True)
    aside = out.with_name(out.name + ".dropped")
    extract_all([(path, out / name, size) for name, path in inputs.items() if name not in dropped], workers)
    dropped.update(set_aside_empty(out, [n for n in inputs if n not in dropped], aside))
    new = [n for n in inputs if n not in dropped and n not in earlier.get("screened", [])]
    if new:
        references = reference_identities(embedder, data, aside / ".reference")
        found = screen(embedder, out, new, references, workers)
        for name in found:
            aside.mkdir(exist_ok=True)
            shutil.rmtree(aside / name, ignore_errors=True)
            shutil.move(str(out / name), str(aside / name))
        dropped.update(found)
    kept = sorted(p.name for p in out.iterdir() if (p / "faceset.json").is_file())
    record = {"split": "evaluation/split.py", "kept_out": list(KEPT_OUT), "same_person": SAME_PERSON,
              "facesets": len(kept), "faces": sum(len(Faceset.load(out / n)) for n in kept),
              "screened": sorted(set(earlier.get("screened", [])) | set(new)), "dropped": dropped}
    atomic_write_bytes(record_path, json.dumps(record, indent=1).encode("utf-8"))
    return record


def main(argv: list[str] | None = None) -> int:
    """Build the pool; returns the process exit code."""
    p = OneLineParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, metavar="POOL_DIR", help="folder for the pool's facesets")
    p.add_argument("--data", help="the shared data folder (default: $SWAPCAM_SHARED/data or ../shared/data)")
    p.add_argument("--size", type=positive_int, default=256, metavar="PX", help="crop size (default 256)")
    p.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                   help="processes side by side (default: one per CPU core)")
    args = p.parse_args(argv)
    data = Path(args.data).expanduser().resolve() if args.data else default_data_dir()
    use_shared_landmarker(data)
    try:
        record = build_pool(data, Path(args.out).expanduser().resolve(), args.size, args.workers)
    except (FaceInputError, FacesetError, ModelFileError, ScorerUnavailable) as exc:
        return fail(PROG, exc)
    print(f"pool: {record['facesets']} facesets, {record['faces']} faces in {Path(args.out).resolve()}; "
          f"{sum('matches' in d for d in record['dropped'].values())} CelebA identities dropped as kept-out people, "
          f"{sum('no_faces' in d for d in record['dropped'].values())} inputs without a face")
    return 0


if __name__ == "__main__":
    sys.exit(main())
