"""The live loop end to end on the real clips with a model exported from a short CPU training."""
from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.util import encode_fourcc

from faces import as_bgr8, create_landmarker, read_image
from live.backends import OnnxBackend
from live.cli import main
from live.composite import label_box
from live.loop import LiveLoop
from live.profiler import STAGES, Profiler
from live.sinks import SINKS
from live.sources import CameraSource
from live.swapper import FaceSwapper, SwapSettings
from tests.live_support import CheckSink, RecordingCamera, UnpluggedCamera, clip_frames, count_frames

CLIPS = [("pc-avs/00104.mp4", 298, (224, 224)), ("liveportrait/s18.mp4", 282, (1280, 720))]
PSNR_EARLY = 35.0  # dB, whole frame: an early-run swap against the sequential one (measured 38.3-56.6 dB)


@pytest.fixture
def check_sink(monkeypatch):
    """Registers `--sink check` for one test; returns a function that installs the CheckSink to use."""
    holder = {}

    def install(sink: CheckSink) -> CheckSink:
        holder["sink"] = sink
        return sink

    monkeypatch.setitem(SINKS, "check", lambda arg, options: holder["sink"])
    return install


@pytest.fixture
def virtual_camera(monkeypatch):
    """A pyvirtualcam test backend named 'swapcam-test'; the cameras it opened are in RecordingCamera.opened."""
    monkeypatch.setitem(pyvirtualcam.camera.BACKENDS, "swapcam-test", RecordingCamera)
    monkeypatch.setattr(RecordingCamera, "opened", [])
    monkeypatch.setattr(RecordingCamera, "refuse", None)
    return RecordingCamera


@pytest.mark.parametrize("clip,frames,size", CLIPS, ids=["00104", "s18-720p"])
def test_clip_runs_to_a_file_with_every_frame_and_only_faces_changed(clip, frames, size, exported_model, data_dir,
                                                                     tmp_path, check_sink):
    path = data_dir / "videos" / clip
    sink = check_sink(CheckSink(reference=clip_frames(path)))
    out = tmp_path / "out.mp4"
    profile = ["--profile", str(tmp_path / "profile.json"), "--profile-plot", str(tmp_path / "profile.png")]
    assert main(["--model", str(exported_model), "--source", str(path), "--sink", f"file:{out}", "--sink", "check",
                 "--no-pacing", "--no-label", "--quiet", *(profile if frames == 298 else [])]) == 0
    assert count_frames(out) == (frames, size)
    assert not list(tmp_path.glob(".*partial*"))
    recs = sink.records
    assert [r["index"] for r in recs] == list(range(frames)) and sink.closed
    assert all(r["shape"] == (size[1], size[0], 3) and r["dtype"] == np.uint8 for r in recs)
    assert max(r["outside_max"] for r in recs) == 0  # outside the face boxes: the input, bit for bit
    swapped = [r for r in recs if r["boxes"]]
    assert len(swapped) >= 0.95 * frames and not any(r["failed"] for r in recs)
    assert min(r["inside_mean"] for r in swapped) > 1.0  # inside them: changed
    if frames == 298:
        check_profile(tmp_path / "profile.json", tmp_path / "profile.png", frames)


def check_profile(report_path, plot_path, frames):
    """The --profile JSON holds every frame's stage times adding up to its latency exactly (a wait for a core
    between stages is charged to the next stage, not lost); the plot is an image."""
    report = json.loads(report_path.read_text())
    assert len(report["frames"]) == frames
    for rec in report["frames"]:
        stages = [rec[f"{s}_ms"] for s in STAGES]
        assert min(stages) >= 0 and rec["latency_ms"] > 0
        assert abs(rec["latency_ms"] - sum(stages)) < 1e-6
    table = report["summary"]["stages_ms"]
    for name in (*STAGES, "end_to_end"):
        assert table[name]["p50"] <= table[name]["p95"] <= table[name]["p99"] <= table[name]["max"]
    assert report["summary"]["frames_out"] == frames and report["summary"]["dropped"] == 0
    plot = cv2.imread(str(plot_path))
    assert plot is not None and plot.shape[0] > 400 and plot.shape[1] > 800


def test_frames_without_a_face_pass_through(exported_model, data_dir, tmp_path, check_sink):
    folder = tmp_path / "noface"
    folder.mkdir()
    blank = np.full((240, 320, 3), 90, np.uint8)
    dogs = read_image(data_dir / "images" / "dlib-faces" / "dogs.jpg")
    cv2.imwrite(str(folder / "a_blank.png"), blank)
    cv2.imwrite(str(folder / "b_dogs.png"), dogs)
    args = ["--model", str(exported_model), "--source", str(folder), "--sink", "check", "--quiet"]

    sink = check_sink(CheckSink(reference=[blank, dogs]))
    assert main(args + ["--no-label"]) == 0
    assert [(r["faces"], r["failed"], r["changed_box"]) for r in sink.records] == [(0, False, None)] * 2

    sink = check_sink(CheckSink(reference=[blank, dogs]))
    assert main(args) == 0  # the label on: only its corner changes
    for rec, ref in zip(sink.records, (blank, dogs)):
        x0, y0, x1, y1 = rec["changed_box"]
        lx0, ly0, lx1, ly1 = label_box(ref.shape)
        assert lx0 <= x0 and ly0 <= y0 and x1 <= lx1 and y1 <= ly1 and rec["faces"] == 0


def test_images_of_any_depth_channels_and_size(exported_model, astronaut, tmp_path, check_sink):
    photo = astronaut.image
    folder = tmp_path / "mixed"
    folder.mkdir()
    images = {
        "1_gray.png": cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY),
        "2_rgba.png": cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA),
        "3_deep.png": photo.astype(np.uint16) * 257,
        "4_odd.png": cv2.resize(photo, (333, 301)),
        "5_tiny.png": photo[:5, :7],
    }
    for name, image in images.items():
        cv2.imwrite(str(folder / name), image)
    refs = [as_bgr8(cv2.imread(str(folder / n), cv2.IMREAD_UNCHANGED)) for n in sorted(images)]
    sink = check_sink(CheckSink(reference=refs))
    assert main(["--model", str(exported_model), "--source", str(folder), "--sink", "check", "--no-label",
                 "--quiet"]) == 0
    recs = sink.records
    assert [r["shape"] for r in recs] == [ref.shape for ref in refs]
    assert all(r["outside_max"] == 0 and not r["failed"] for r in recs)
    assert [bool(r["boxes"]) for r in recs] == [True, True, True, True, False]


def test_virtual_camera_gets_every_frame_in_bgr(exported_model, data_dir, virtual_camera, check_sink):
    path = data_dir / "videos" / "pc-avs" / "00104.mp4"
    sink = check_sink(CheckSink())
    assert main(["--model", str(exported_model), "--source", str(path), "--sink", "vcam", "--sink", "check",
                 "--vcam-backend", "swapcam-test", "--no-pacing", "--no-label", "--quiet"]) == 0
    (cam,) = virtual_camera.opened
    assert (cam.width, cam.height, cam.fps) == (224, 224, 25.0) and cam.closed
    assert cam.fourcc == encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)
    assert len(cam.frames) == 298
    for sent, ref, rec in zip(cam.frames, clip_frames(path), sink.records):
        assert sent.dtype == np.uint8 and sent.shape == (224 * 224 * 3,)
        image = sent.reshape(224, 224, 3)
        outside = np.ones((224, 224), bool)
        for x0, y0, x1, y1 in rec["boxes"]:
            outside[y0:y1, x0:x1] = False
        assert np.array_equal(image[outside], ref[outside])  # channel order too: BGR in, BGR out


def test_virtual_camera_in_rgb_swaps_channels(exported_model, data_dir, virtual_camera):
    dogs = data_dir / "images" / "dlib-faces" / "dogs.jpg"
    assert main(["--model", str(exported_model), "--source", str(dogs), "--sink", "vcam", "--vcam-backend",
                 "swapcam-test", "--vcam-format", "RGB", "--no-label", "--quiet"]) == 0
    (cam,) = virtual_camera.opened
    bgr = read_image(dogs)
    assert cam.fourcc == encode_fourcc(pyvirtualcam.PixelFormat.RGB.value)
    assert np.array_equal(cam.frames[0].reshape(bgr.shape), bgr[..., ::-1])


def test_virtual_camera_refusing_the_size_is_one_line(exported_model, data_dir, virtual_camera, capsys):
    virtual_camera.refuse = "device /dev/video7 is set to 1280x720 BGR, cannot take 224x224"
    rc = main(["--model", str(exported_model), "--source", str(data_dir / "videos" / "pc-avs" / "00104.mp4"),
               "--sink", "vcam", "--vcam-backend", "swapcam-test", "--no-pacing", "--quiet"])
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert rc == 2 and len(err) == 1
    assert "virtual camera" in err[0] and "224x224" in err[0] and "1280x720" in err[0]


def test_a_camera_that_is_unplugged_comes_back(exported_model, data_dir):
    camera = UnpluggedCamera(data_dir / "videos" / "pc-avs" / "00104.mp4", fail_after=15, dead_opens=3)
    lines = []
    source = CameraSource(0, opener=camera.open, log=lines.append)
    info = source.open()
    backend = OnnxBackend(exported_model, "CPUExecutionProvider")
    swapper = FaceSwapper(backend, create_landmarker("mediapipe", mode="video"), SwapSettings(label=False))

    def stop_when_back(sink, frame):
        kinds = [r["signal"] for r in sink.records]
        if False in kinds and kinds[kinds.index(False):].count(True) >= 15:
            loop.stop()

    sink = CheckSink(on_frame=stop_when_back)
    loop = LiveLoop(source, info, swapper, [sink], Profiler(), status=False, backoff=(0.02, 0.1), log=lines.append)
    timer = threading.Timer(30, loop.stop)  # a safety net: the test fails below rather than hang
    timer.start()
    try:
        profiler = loop.run()
    finally:
        timer.cancel()
        swapper.close()
    kinds = [r["signal"] for r in sink.records]
    first_gap = kinds.index(False)
    assert first_gap >= 10 and all(kinds[:first_gap])                # live frames, then the cable comes out:
    back = kinds.index(True, first_gap)
    assert back - first_gap >= 3 and not any(kinds[first_gap:back])   # "no signal" frames while it reconnects,
    assert kinds[back:].count(True) >= 15 and all(kinds[back:])       # then live frames again
    assert camera.opens == 1 + 3 + 1 and loop.capture.reconnects == 1
    assert any("reconnecting" in line for line in lines) and any("is back" in line for line in lines)
    assert all(r["shape"] == (224, 224, 3) for r in sink.records)
    assert profiler.frames_out == len(sink.records) and sink.closed
    assert sum(r["faces"] for r in sink.records if r["signal"]) >= 25


class FailingModel:
    """The real onnxruntime backend, fed a wrong tensor on every third call so that onnxruntime itself fails.

    Calls may come from two threads (the swap stage and, with overlap, the early model thread): counted under a lock."""

    def __init__(self, backend: OnnxBackend):
        self.backend, self.contract, self.name, self.calls = backend, backend.contract, backend.name, 0
        self.lock = threading.Lock()

    def run(self, crops):
        with self.lock:
            self.calls += 1
            fail = self.calls % 3 == 0
        if fail:
            self.backend.session.run(None, {self.contract.input_name: crops.astype(np.float64)})
        return self.backend.run(crops)


@pytest.mark.parametrize("overlap", [False, True], ids=["sequential", "overlap"])
def test_a_frame_the_model_fails_on_goes_out_as_it_came_in(exported_model, data_dir, overlap):
    """Every failing model call fails exactly one frame, which goes out as captured (with overlap too: an early run
    that fails fails its frame, and the next frame runs the model again in the swap stage)."""
    path = data_dir / "videos" / "pc-avs" / "00104.mp4"
    from live.sources import VideoFileSource
    source = VideoFileSource(path, pacing=False, seconds=30 / 25)
    info = source.open()
    model = FailingModel(OnnxBackend(exported_model, "CPUExecutionProvider"))
    swapper = FaceSwapper(model, create_landmarker("mediapipe", mode="video"), SwapSettings(label=False,
                                                                                            overlap=overlap))
    sink = CheckSink(reference=clip_frames(path))
    lines = []
    profiler = LiveLoop(source, info, swapper, [sink], status=False, log=lines.append).run()
    swapper.close()
    failed = [r for r in sink.records if r["failed"]]
    assert len(sink.records) == 30 and len(failed) == model.calls // 3 == profiler.failed
    assert len(failed) >= 5 and (overlap or len(failed) == 10)
    assert all(r["inside_mean"] == 0 and r["outside_max"] == 0 and not r["boxes"] for r in failed)
    assert all(r["boxes"] for r in sink.records if not r["failed"])


def test_overlapped_model_runs_match_the_sequential_swap_and_a_face_that_jumped_is_run_again(exported_model,
                                                                                             data_dir):
    """With overlap, the model runs on each frame aligned with the previous frame's landmarks while the landmarks
    are found. On a real clip nearly every face keeps that early run and the swap stays what the sequential loop
    makes; when the picture jumps by a sixth of its width, that frame is aligned and run again, giving exactly the
    sequential result."""
    from itertools import islice

    from live.frame import Frame
    from live.profiler import FrameTiming

    frames = list(islice(clip_frames(data_dir / "videos" / "pc-avs" / "00104.mp4"), 40))
    jump = 30
    frames = frames[:jump] + [np.roll(f, f.shape[1] // 6, axis=1) for f in frames[jump:]]
    runs = {}
    for overlap in (False, True):
        swapper = FaceSwapper(OnnxBackend(exported_model, "CPUExecutionProvider"),
                              create_landmarker("mediapipe", mode="video"), SwapSettings(label=False, overlap=overlap))
        outputs, inferred = [], []
        for i, image in enumerate(frames):
            frame = Frame(image=image.copy(), index=i, media_time=i / 25, timing=FrameTiming(captured_at=0.0))
            swapper.locate(frame)
            swapper.swap(frame)
            assert not frame.failed and frame.boxes, (overlap, i, frame.error)
            outputs.append(frame.output)
            inferred.append([r is not None for r in frame.inferred])
        runs[overlap] = outputs, inferred, dict(swapper.overlap_counts)
        swapper.close()
    sequential, early = runs[False][0], runs[True][0]
    kept, counts = runs[True][1], runs[True][2]
    assert not any(any(k) for k in runs[False][1]) and runs[False][2] == {"early": 0, "again": 0}
    assert kept[0] == [False] and kept[jump] == [False]  # nothing to start from; the jump
    # the clip's own motion keeps its early runs (measured: all 29 frames before the jump, 34 of 39 in all)
    assert sum(k == [True] for k in kept[1:jump]) >= 0.9 * (jump - 1), kept
    assert counts == {"early": sum(k == [True] for k in kept), "again": len(frames) - 1 - sum(k == [True] for k in kept)}
    assert np.array_equal(early[jump], sequential[jump]) and np.array_equal(early[0], sequential[0])
    for i in range(len(frames)):
        if kept[i] == [True]:
            diff = (early[i].astype(np.float64) - sequential[i]) ** 2
            psnr = 10 * np.log10(255 ** 2 / max(diff.mean(), 1e-12))
            assert psnr >= PSNR_EARLY, (i, psnr)
            assert not np.array_equal(early[i], frames[i])  # swapped, not passed through


def test_all_faces_go_through_in_one_batch_when_the_model_allows(tiny_checkpoint, exported_model, data_dir, tmp_path):
    from export.onnx_export import export_checkpoint
    dynamic = export_checkpoint(tiny_checkpoint, tmp_path / "dynamic.onnx", dynamic_batch=True).output
    two = read_image(data_dir / "images" / "dlib-faces" / "2008_001009.jpg")  # a photo of two people
    outputs = {}
    for name, model, faces in (("batch", dynamic, "all"), ("single", exported_model, "all"),
                               ("largest", exported_model, "largest")):
        backend = OnnxBackend(model, "CPUExecutionProvider")
        calls = []
        run = backend.run
        backend.run = lambda crops: calls.append(len(crops)) or run(crops)
        swapper = FaceSwapper(backend, create_landmarker("mediapipe", mode="image", max_faces=4),
                              SwapSettings(faces=faces, label=False, smoothing=False))
        from live.frame import Frame
        from live.profiler import FrameTiming
        frame = Frame(image=two, index=0, media_time=0.0, timing=FrameTiming(captured_at=0.0))
        swapper.locate(frame)
        swapper.swap(frame)
        swapper.close()
        outputs[name] = (calls, frame)
    assert outputs["batch"][0] == [2] and outputs["single"][0] == [1, 1] and outputs["largest"][0] == [1]
    assert len(outputs["batch"][1].boxes) == 2 and len(outputs["largest"][1].boxes) == 1
    diff = np.abs(outputs["batch"][1].output.astype(int) - outputs["single"][1].output).max()
    assert diff <= 1  # one batch or one at a time: the same swap


class FakeEngine:
    """Stands in for export.tensorrt_engine.TensorRTEngine (TensorRT cannot exist here): same `contract` and
    `run(faces) -> {name: array}` interface, computed by onnxruntime on the same exported model."""

    def __init__(self, model):
        import onnxruntime as ort
        from export.contract import read_contract
        self.contract = read_contract(model)
        self.session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        self.batches = []

    def run(self, faces):
        self.batches.append(faces.shape)
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(None, {self.contract.input_name: faces})))


def test_tensorrt_engine_backend_swaps_like_the_onnx_model(exported_model, astronaut):
    from live.backends import EngineBackend
    image = astronaut.image
    outputs = []
    engine = FakeEngine(exported_model)
    for backend in (EngineBackend(engine), OnnxBackend(exported_model, "CPUExecutionProvider")):
        swapper = FaceSwapper(backend, create_landmarker("mediapipe", mode="image"), SwapSettings(smoothing=False))
        from live.frame import Frame
        from live.profiler import FrameTiming
        frame = Frame(image=image, index=0, media_time=0.0, timing=FrameTiming(captured_at=0.0))
        swapper.locate(frame)
        swapper.swap(frame)
        swapper.close()
        outputs.append(frame)
    r = engine.contract.resolution
    assert engine.batches == [(1, 3, r, r)]  # NCHW float32, as the contract lays it out
    assert outputs[0].boxes and np.array_equal(outputs[0].output, outputs[1].output)


def test_tensorrt_engine_that_cannot_run_here_is_one_line(exported_model, tmp_path, capsys, data_dir):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not really an engine")
    assert main(["--model", str(engine), "--backend", "tensorrt", "--source",
                 str(data_dir / "images" / "dlib-faces" / "dogs.jpg"), "--sink", "null", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("run_live.py: error:") and "model.engine" in err[0]


@pytest.mark.parametrize("system,words", [("Windows", "OBS"), ("Darwin", "OBS"), ("Linux", "v4l2loopback")])
def test_no_virtual_camera_message_per_os(system, words, virtual_camera, monkeypatch):
    from live.sinks import SinkError, VirtualCameraSink
    virtual_camera.refuse = {"Linux": "No v4l2 loopback device found at /dev/video[0-99].",
                             "Windows": "OBS Virtual Camera is not installed in your system.",
                             "Darwin": "OBS Virtual Camera is not installed in your system."}[system]
    monkeypatch.setattr("platform.system", lambda: system)
    with pytest.raises(SinkError) as err:
        VirtualCameraSink(30.0, backend="swapcam-test", size=(640, 480))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_window_without_a_display_is_one_line(monkeypatch, capsys, exported_model, data_dir):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["--model", str(exported_model), "--source", str(data_dir / "images" / "dlib-faces" / "dogs.jpg"),
                 "--sink", "window"]) == 2
    assert "no display for a preview window" in capsys.readouterr().err
