"""Command line of run_live.py: arguments in, a running LiveLoop out, one line on stderr for any user mistake."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

from export.contract import ContractError
from faces import FaceInputError, ModelFileError, create_landmarker
from faces.cli import INTERRUPTED, add_setting_options, fail, given_settings, report_full_disks
from faces.landmarks import BACKENDS as LANDMARK_BACKENDS
from live.backends import BACKENDS, BackendError, create_backend, live_cpu_threads
from live.composite import CompositeSettings
from live.control_server import ControlServer, ControlServerError, PreviewTap, parse_address
from live.controls import LiveControls, apply, saved_settings, settings_path
from live.loop import LiveLoop
from live.profiler import Profiler
from live.sinks import SinkError, SinkOptions, WindowSink, create_sink, sink_names
from live.sources import Source, SourceError, SourceInfo, open_source
from live.swapper import FaceSwapper, SwapSettings

PROG = "run_live.py"
SWAP_OPTIONS = ("faces", "max_faces", "label", "smoothing", "overlap")
COMPOSITE_OPTIONS = ("color", "mask", "erode", "feather", "opacity", "sharpen", "mouth", "mouth_size", "seamless",
                     "min_coverage", "collapsed")
USER_ERRORS = (SourceError, SinkError, ContractError, BackendError, FaceInputError, ModelFileError, ControlServerError)


def thread_count(text: str) -> int:
    """argparse type: a whole number of threads, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number of threads (0 or more), not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """All of run_live.py's options."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Swap faces live: camera, video or images in; virtual camera, window, file or nothing out. "
                    "Prints a status line every second and a latency table at the end.")
    p.add_argument("--model", help="exported swapcam model (.onnx; a TensorRT .engine with --backend tensorrt; "
                                   "a training checkpoint with --backend torch)")
    p.add_argument("--source", default="0", help="camera index or /dev/video path, video file, image or folder "
                                                 "of images (default: camera 0)")
    p.add_argument("--sink", action="append", metavar="SINK",
                   help=f"where frames go, repeatable: {sink_names()}; "
                        "vcam:DEVICE picks a virtual camera device (default: vcam)")
    p.add_argument("--backend", default="auto", choices=sorted(BACKENDS), help="inference backend (default: auto)")
    p.add_argument("--model-threads", type=thread_count, metavar="N",
                   help=f"CPU threads for the model (default here: {live_cpu_threads()}; 0: the runtime's own default, "
                        "all cores, which starves the landmark stage running beside it)")
    p.add_argument("--width", type=int, help="camera width to ask for (video: resize to)")
    p.add_argument("--height", type=int, help="camera height to ask for (video: resize to)")
    p.add_argument("--fps", type=float, help="camera frame rate to ask for (video: pace at)")
    p.add_argument("--no-mjpg", action="store_true", help="do not ask the camera for MJPG")
    add_setting_options(p, SwapSettings, SWAP_OPTIONS)
    p.add_argument("--landmarks", default="auto", choices=["auto", *LANDMARK_BACKENDS], help="landmark backend")
    add_setting_options(p, CompositeSettings, COMPOSITE_OPTIONS)
    p.add_argument("--no-pacing", action="store_true",
                   help="read a video as fast as possible (offline conversion; every frame reaches the sinks)")
    p.add_argument("--vcam-format", default="BGR", choices=["BGR", "RGB"], help="pixel format sent to the virtual camera")
    p.add_argument("--vcam-backend", help="pyvirtualcam backend name (default: any that works)")
    p.add_argument("--quiet", action="store_true", help="no status line")
    p.add_argument("--profile", metavar="OUT.json", help="write every frame's stage times and a summary here")
    p.add_argument("--profile-plot", metavar="OUT.png", help="draw a latency histogram and a stage timeline here")
    p.add_argument("--control", metavar="[HOST:]PORT",
                   help="serve the control page while running (host 127.0.0.1 unless given; the URL with its token is "
                        "printed); its settings are kept for the next --control start, unless options override them")
    p.add_argument("--models-dir", metavar="DIR", help="the models the page and the window's n key may switch to "
                                                       "(default: the folder of --model)")
    p.add_argument("--demo", action="store_true",
                   help="no model or camera needed: train a small model on two public-domain photos "
                        "(cached), then run it live on the webcam or a moving photo")
    p.add_argument("--demo-seconds", type=float, default=20.0, help="how long the demo runs live (default: 20)")
    return p


def settings_from_args(args: argparse.Namespace, info: SourceInfo | None = None, saved: dict | None = None) -> SwapSettings:
    """The SwapSettings the options ask for, over `saved` controls of an earlier run (on stills, no smoothing and no
    overlap: one photo's landmarks say nothing of the next)."""
    settings = apply(SwapSettings(), saved or {})
    settings = replace(settings, **given_settings(args, SWAP_OPTIONS),
                       composite=replace(settings.composite, **given_settings(args, COMPOSITE_OPTIONS)))
    return replace(settings, smoothing=False, overlap=False) if info and info.stills else settings


def window_keys(controls: LiveControls) -> dict:
    """The preview window's keys: key -> (what it does, action)."""
    return {"s": ("swap on / off", lambda: controls.toggle("swap")),
            "m": ("keep the real mouth on / off", lambda: controls.toggle("mouth")),
            "n": ("next model in the models folder", controls.next_model),
            "c": ("next colour transfer", lambda: controls.cycle("color"))}


def build_loop(args: argparse.Namespace, source: Source, info: SourceInfo, model: str | Path,
               sinks: list | None = None, log=None) -> LiveLoop:
    """A LiveLoop for an opened source, the model and the options' backend, landmarks, settings and sinks."""
    log = log or (lambda line: print(line, file=sys.stderr))
    if sinks is None:
        options = SinkOptions(fps=info.fps, size=(info.width, info.height), vcam_backend=args.vcam_backend,
                              vcam_format=args.vcam_format, live=info.live)
        sinks = [create_sink(spec, options) for spec in (args.sink or ["vcam"])]
    threads = live_cpu_threads() if args.model_threads is None else args.model_threads
    load = lambda path: create_backend(args.backend, path, threads)  # noqa: E731
    backend = load(model)
    control = getattr(args, "control", None)
    store = settings_path() if control else None
    settings = settings_from_args(args, info, saved_settings(store))
    mode = "image" if info.stills else "video"
    make_landmarker = lambda faces: create_landmarker(args.landmarks, mode=mode, max_faces=faces)  # noqa: E731
    landmarker = make_landmarker(settings.landmark_faces)
    preview = PreviewTap() if control else None
    swapper = FaceSwapper(backend, landmarker, settings, make_landmarker, preview.tap if preview else None)
    models_dir = Path(getattr(args, "models_dir", None) or Path(model).parent)
    controls = LiveControls(swapper, load, models_dir, Path(model), store, log)
    for sink in sinks:
        if isinstance(sink, WindowSink):
            sink.keys, sink.log = window_keys(controls), log
    services = []
    if control:
        server = ControlServer(controls, lambda: profiler.live_figures(), preview, *parse_address(control))
        services.append(server)
        sinks = [*sinks, preview]
        log(f"control page: {server.url}")
    c = backend.contract
    log(f"model {Path(model).name}: {c.identities[0]} -> {c.identities[1]}, {c.resolution} px {c.coverage}, "
        f"batch {c.batch}; backend: {backend.name}; landmarks: {landmarker.name}")
    log(f"source: {info.description} {info.width}x{info.height} @ {info.fps:g} fps "
        f"({'live, newest frame only' if info.live else 'every frame'}); sinks: {', '.join(s.name for s in sinks)}")
    profiler = Profiler(max_records=None if getattr(args, "profile", None) or getattr(args, "profile_plot", None)
                        else 100_000)
    profiler.info = {"model": str(model), "backend": backend.name, "source": info.description,
                     "sinks": [s.name for s in sinks], "landmarks": landmarker.name}
    return LiveLoop(source, info, swapper, sinks, profiler, status=not args.quiet, log=log, services=services)


def run(args: argparse.Namespace) -> Profiler:
    """Open the source, build the loop, run it to the end; returns the profiler."""
    if not args.model:
        raise ContractError("--model is required (or try --demo)")
    source, info = open_source(args.source, pacing=not args.no_pacing, width=args.width, height=args.height,
                               fps=args.fps, mjpg=not args.no_mjpg)
    try:
        loop = build_loop(args, source, info, args.model)
    except BaseException:
        source.close()
        raise
    try:
        return loop.run()
    finally:
        loop.swapper.close()


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse profile outputs that could not be written, before anything runs."""
    for option, value in (("--profile", args.profile), ("--profile-plot", args.profile_plot)):
        if value and not Path(value).resolve().parent.is_dir():
            raise SinkError(f"cannot write {option} {value}: its folder does not exist")


def write_profile(args: argparse.Namespace, profiler: Profiler) -> None:
    """Write the --profile JSON and the --profile-plot PNG, if asked for."""
    if args.profile:
        print(f"profile: {profiler.write_json(args.profile)}", file=sys.stderr)
    if args.profile_plot:
        from live.profile_plot import plot_profile
        print(f"profile plot: {plot_profile(profiler.records, args.profile_plot)}", file=sys.stderr)


def main(argv: list[str] | None = None, demo: Callable[[argparse.Namespace], Profiler] | None = None,
         demo_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Entry point: 0 on success, USER_ERROR with one line on stderr for a user mistake.

    `demo` runs `--demo` (the demo builds a model with training and export, so it lives in the layer
    above live/ and run_live.py hands it in); `demo_errors` are its user errors.
    """
    args = build_parser().parse_args(argv)
    report_full_disks()
    try:
        check_outputs(args)
        if args.demo and demo is None:
            raise SourceError("--demo is run by run_live.py")
        profiler = demo(args) if args.demo else run(args)
    except (*USER_ERRORS, *demo_errors) as exc:
        return fail(PROG, exc)
    except KeyboardInterrupt:  # Ctrl-C before the loop started (the loop itself stops cleanly)
        print(f"{PROG}: interrupted", file=sys.stderr)
        return INTERRUPTED
    print(profiler.table(), file=sys.stderr)
    write_profile(args, profiler)
    return 0
