"""`python run_live.py --demo`: the whole tool working on a fresh machine, with no model, camera, GPU or internet.

1. Build a small model, once (cached in the user cache dir, ~/.cache/swapcam/demo): two
   public-domain photos that ship inside the dependencies (scikit-image's astronaut, Eileen
   Collins; matplotlib's Grace Hopper) become facesets by extracting faces/ crops from jittered
   copies of each photo; the real trainer trains on them for a few minutes on the CPU; the real
   exporter writes the ONNX model.
2. Run it live: the webcam if one opens, else a moving clip of the astronaut photo; into the
   virtual camera if there is one, else a window if there is a display, else an MP4 file.
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

import cv2
import numpy as np

from export.contract import ContractError, read_contract
from faces import create_landmarker
from faces.landmarks import auto_choice
from faces.model_files import cache_dir
from live.cli import build_loop
from live.sinks import BackgroundSink, Sink, SinkError, VideoFileSink, VirtualCameraSink, WindowSink, has_display
from live.sources import CameraSource, PhotoMotionSource, Source, SourceError, SourceInfo

TRAIN_SECONDS_ENV = "SWAPCAM_DEMO_TRAIN_SECONDS"  # tests shorten the training with it
TRAIN_SECONDS = 180.0
MODEL_NAME = "demo-v1.onnx"
PHOTO_COPIES = 64
IDENTITIES = ("astronaut", "grace_hopper")
COVERAGE = "face"  # brows to chin: Grace Hopper's cap stays out of the swap


class DemoError(RuntimeError):
    """The demo could not build its model; the message is one line for the user."""


def demo_dir() -> Path:
    """Where the demo keeps its facesets, training run, model and output clip."""
    return cache_dir() / "demo"


def demo_photos() -> dict[str, np.ndarray]:
    """The two public-domain photos, as BGR images, keyed by identity."""
    from matplotlib import cbook
    from skimage import data

    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return {"astronaut": cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), "grace_hopper": hopper}


def jittered(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of `photo` as another shot might show it: turned, zoomed, shifted, mirrored, relit."""
    h, w = photo.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-12, 12), rng.uniform(0.85, 1.15))
    matrix[:, 2] += rng.uniform(-0.06, 0.06, 2) * (w, h)
    out = cv2.warpAffine(photo, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    gain, bias = rng.uniform(0.85, 1.15), rng.uniform(-15, 15)
    return np.clip(out.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


def make_faceset(name: str, photo: np.ndarray, folder: Path, resolution: int, log) -> Path:
    """A faceset of `name`'s face from PHOTO_COPIES jittered copies of one photo, extracted with faces/."""
    from training.extract import extract

    shots = folder / f"{name}-shots"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    rng = np.random.default_rng(len(name))  # the same copies on every machine
    for i in range(PHOTO_COPIES):
        cv2.imwrite(str(shots / f"{i:03d}.png"), jittered(photo, rng))
    faceset = folder / name
    shutil.rmtree(faceset, ignore_errors=True)
    report = extract(shots, faceset, size=resolution, coverage=COVERAGE, min_sharpness=0.0)
    log(f"demo: faceset {name}: {report.kept} faces from {PHOTO_COPIES} jittered copies of one photo")
    if report.kept < PHOTO_COPIES // 2:
        raise DemoError(f"only {report.kept} faces found in the {name} photo copies")
    return faceset


def build_demo_model(log) -> Path:
    """The demo's ONNX model: from the cache, or made now (facesets, a short CPU training, export)."""
    folder = demo_dir()
    model = folder / MODEL_NAME
    if model.is_file():
        try:
            read_contract(model)
            log(f"demo: using the model built earlier, {model}")
            return model
        except ContractError:
            model.unlink()
    from export.onnx_export import export_checkpoint
    from training.config import new_run_config
    from training.trainer import train

    seconds = float(os.environ.get(TRAIN_SECONDS_ENV, TRAIN_SECONDS))
    folder.mkdir(parents=True, exist_ok=True)
    photos = demo_photos()
    resolution = 64
    sets = [make_faceset(name, photos[name], folder, resolution, log) for name in IDENTITIES]
    run_dir = folder / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    log(f"demo: training a small model on the CPU for {seconds:g} s (once; cached in {folder})")
    cfg = new_run_config(sets[0], sets[1], preset="fast", width=0.5, resolution=resolution, names=IDENTITIES,
                         minutes=seconds / 60.0, batch_size=8, workers=0, device="cpu", save_every=10**6,
                         preview_every=10**6, log_every=50)
    result = train(cfg, run_dir)
    if result.interrupted:
        raise KeyboardInterrupt
    log(f"demo: trained {result.step} steps; exporting")
    export_checkpoint(run_dir, model)
    return model


def astronaut_centre(photo: np.ndarray) -> tuple[float, float]:
    """Where the moving clip of the astronaut photo turns and zooms: a little below her face, so she stays in view."""
    with create_landmarker("auto", mode="image") as marker:
        faces = marker.detect(photo)
    if not faces:
        return photo.shape[1] / 2, photo.shape[0] / 2
    x0, y0, x1, y1 = faces[0].box
    return (x0 + x1) / 2, (y0 + y1) / 2 + 0.4 * (y1 - y0)


def demo_source(seconds: float, log) -> tuple[Source, SourceInfo]:
    """The webcam if one opens, else a moving clip of the astronaut photo lasting `seconds`."""
    camera = CameraSource(0, 640, 480, 30, log=log)
    try:
        return camera, camera.open()
    except SourceError:
        photo = demo_photos()["astronaut"]
        log("demo: no webcam; the source is a moving clip of the astronaut photo")
        source = PhotoMotionSource(photo, astronaut_centre(photo), fps=25.0, seconds=seconds)
        return source, source.open()


def demo_sink(info: SourceInfo, log) -> Sink:
    """The virtual camera if there is one, else a window if there is a display, else an MP4 file."""
    try:
        return BackgroundSink(VirtualCameraSink(info.fps, size=(info.width, info.height)))
    except SinkError as exc:
        log(f"demo: {exc}")
    if has_display():
        return WindowSink("swapcam demo (q to quit)")
    path = demo_dir() / "demo.mp4"
    log(f"demo: no display either; writing the swapped clip to {path}")
    return VideoFileSink(path, info.fps)


def run_demo(args):
    """Build (or reuse) the demo model and run it live for args.demo_seconds; returns the profiler."""
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    if args.landmarks == "auto":
        backend, why = auto_choice()
        log(f"demo: landmarks by {backend}, {why}")
    try:
        model = build_demo_model(log)
    except (DemoError, ValueError) as exc:  # facesets, training and export raise ValueError subclasses
        raise DemoError(f"demo model could not be built: {exc}") from None
    source, info = demo_source(args.demo_seconds, log)
    sink = demo_sink(info, log)
    loop = build_loop(args, source, info, model, [sink], log=log)
    timer = threading.Timer(args.demo_seconds, loop.stop)  # a webcam never ends by itself
    timer.start()
    try:
        profiler = loop.run()
    finally:
        timer.cancel()
        loop.swapper.close()
    if isinstance(sink, VideoFileSink):
        log(f"demo: the swapped clip is in {sink.path} ({sink.frames} frames)")
    return profiler
