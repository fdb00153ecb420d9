"""Unit tests of live/'s pure parts on real faces: compositing, colour transfer, smoothing, queues, timing."""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from export.contract import ModelContract
from faces import TEMPLATE_ID, align_face, create_landmarker
from faces.color import lct, rct
from live.backends import live_cpu_threads
from live.inference import model_input, model_output
from live.composite import (CompositeSettings, blend_mask, composite_face, draw_label, label_box, paste_face,
                            prepare_face, seamless_paste)
from live.profiler import CHUNK_FRAMES, FrameLog, FrameTiming, Profiler, StageTimer
from live.rss import RssSampler
from live.queues import END, FrameQueue
from live.tracking import LandmarkSmoother, OneEuroFilter


@pytest.fixture(scope="module")
def aligned_astronaut(astronaut):
    """The astronaut photo, its face and that face aligned at 128 px whole_face."""
    return astronaut.image, astronaut.face, align_face(astronaut.image, astronaut.face.landmarks, 128, "whole_face")


def weighted_stats(img, region):
    w = region.reshape(-1) / region.sum()
    px = img.reshape(-1, 3).astype(np.float64)
    mean = w @ px
    return mean, np.sqrt(w @ (px - mean) ** 2), (px - mean).T @ ((px - mean) * w[:, None])


def test_rct_gives_the_face_the_targets_lab_statistics(aligned_astronaut):
    _, _, aligned = aligned_astronaut
    target = aligned.crop
    face = np.clip(target[..., ::-1] * 0.6 + 77, 0, 255).astype(np.uint8)  # channels swapped, washed out
    region = np.zeros(target.shape[:2], np.float32)
    region[30:100, 30:100] = 1
    out = rct(face, target, region)
    assert out.dtype == np.uint8 and out.shape == face.shape
    lab = lambda im: cv2.cvtColor(im.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)  # noqa: E731  float Lab units
    m_out, s_out, _ = weighted_stats(lab(out), region)
    m_tgt, s_tgt, _ = weighted_stats(lab(target), region)
    m_in, _, _ = weighted_stats(lab(face), region)
    assert np.abs(m_out - m_tgt).max() < 2.0 < np.abs(m_in - m_tgt).max()
    assert np.allclose(s_out, s_tgt, rtol=0.15, atol=1.0)


def test_lct_matches_the_targets_colour_covariance(aligned_astronaut):
    _, _, aligned = aligned_astronaut
    target = aligned.crop
    mix = np.array([[0.5, 0.3, 0.1], [0.1, 0.6, 0.2], [0.2, 0.1, 0.4]], np.float32)
    face = np.clip(target @ mix.T + 51, 0, 255).astype(np.uint8)
    region = np.ones(target.shape[:2], np.float32)
    out = lct(face, target, region)
    assert out.dtype == np.uint8
    m_out, _, c_out = weighted_stats(out, region)
    m_tgt, _, c_tgt = weighted_stats(target, region)
    assert np.abs(m_out - m_tgt).max() < 2.5
    assert np.abs(c_out - c_tgt).max() < 0.1 * np.abs(c_tgt).max()


@pytest.mark.parametrize("seamless", [False, True])
def test_composite_touches_only_the_face_box(aligned_astronaut, seamless):
    image, _, aligned = aligned_astronaut
    swapped = np.full((128, 128, 3), (0.2, 0.9, 0.2), np.float32)  # a green, striped face: impossible to miss
    swapped[::8] = (0.9, 0.1, 0.9)  # stripes keep gradients, which is what Poisson blending carries over
    model_mask = np.ones((128, 128), np.float32)
    out = image.copy()
    box = composite_face(out, aligned, swapped, model_mask, CompositeSettings(color="none", seamless=seamless))
    x0, y0, x1, y1 = box
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], image[outside])
    diff = np.abs(out[y0:y1, x0:x1].astype(int) - image[y0:y1, x0:x1]).sum(-1)
    assert (diff > 30).mean() > 0.2  # a good part of the box is now the swapped face
    if not seamless:
        x, y = np.round(aligned.inverse @ (64, 68, 1)).astype(int)  # the middle of a green stripe
        assert np.abs(out[y, x].astype(int) - (51, 230, 51)).max() <= 8  # the swapped colour, fully pasted


@pytest.mark.parametrize("collapsed", ["hull", "pass"])
def test_a_collapsed_model_mask_is_never_blended_half_transparent(aligned_astronaut, collapsed):
    """A mask over a fifth of the face hull: 'hull' pastes the face with the hull (opaque inside), 'pass' pastes
    nothing; either way the coverage is reported, and a whole mask is used as it is."""
    from faces import hull_mask
    image, _, aligned = aligned_astronaut
    hull = hull_mask(aligned.landmarks, 128, "whole_face")
    swapped = np.full((128, 128, 3), (0.2, 0.9, 0.2), np.float32)
    ghost = np.full((128, 128), 0.2, np.float32)  # what a model that does not know the face gives: a faint mask
    settings = CompositeSettings(color="none", collapsed=collapsed)
    prepared = prepare_face(aligned, swapped, ghost, settings, image.shape)
    assert prepared.coverage == pytest.approx(0.2, abs=0.01)
    out = image.copy()
    box = paste_face(out, prepared, settings)
    if collapsed == "pass":
        assert box is None and np.array_equal(out, image)
    else:
        x, y = np.round(aligned.inverse @ (64, 64, 1)).astype(int)
        assert np.abs(out[y, x].astype(int) - (51, 230, 51)).max() <= 8  # opaque: the hull, not the faint mask
    whole = prepare_face(aligned, swapped, np.ones((128, 128), np.float32), settings, image.shape)
    assert whole.coverage == pytest.approx(1.0) and whole.box is not None
    np.testing.assert_allclose(whole.mask, blend_mask(np.ones((128, 128), np.float32), hull, settings))


def test_mask_modes_erode_and_feather(aligned_astronaut):
    _, _, aligned = aligned_astronaut
    from faces import hull_mask
    hull = hull_mask(aligned.landmarks, 128, "whole_face")
    model = np.zeros((128, 128), np.float32)
    model[:, :64] = 1  # left half only
    sharp = dict(erode=0, feather=0)
    both = blend_mask(model, hull, CompositeSettings(mask="both", **sharp))
    assert np.array_equal(both, np.minimum(model, hull))
    assert np.array_equal(blend_mask(model, hull, CompositeSettings(mask="model", **sharp)), model)
    soft = blend_mask(model, hull, CompositeSettings(mask="hull", erode=5, feather=10))
    assert soft.sum() < hull.sum()                          # eroded
    assert ((soft > 0.05) & (soft < 0.95)).sum() > ((hull > 0.05) & (hull < 0.95)).sum()  # feathered edge


def test_label_is_drawn_inside_its_box_only():
    frame = np.full((480, 640, 3), 128, np.uint8)
    out = draw_label(frame.copy())
    x0, y0, x1, y1 = label_box(frame.shape)
    changed = np.any(out != frame, axis=-1)
    assert changed[y0:y1, x0:x1].mean() > 0.5
    changed[y0:y1, x0:x1] = False
    assert not changed.any()
    assert 0 < (x1 - x0) < 640 // 2 and 0 < (y1 - y0) < 480 // 8  # small


def test_seamless_paste_ignores_an_empty_mask(aligned_astronaut):
    image, _, aligned = aligned_astronaut
    out = seamless_paste(image, np.zeros((128, 128, 3), np.float32), np.zeros((128, 128), np.float32), aligned.inverse)
    assert np.array_equal(out, image)


@pytest.mark.parametrize("layout,order,lo", [("NCHW", "RGB", 0.0), ("NHWC", "BGR", -1.0)])
def test_model_io_follows_the_contract(aligned_astronaut, layout, order, lo):
    _, _, aligned = aligned_astronaut
    contract = ModelContract(resolution=128, coverage="whole_face", template_id=TEMPLATE_ID, identities=("a", "b"),
                             layout=layout, color_order=order, value_range=(lo, 1.0))
    crops = np.stack([aligned.crop, aligned.crop[::-1]])
    x = model_input(crops, contract)
    assert x.shape == ((2, 3, 128, 128) if layout == "NCHW" else (2, 128, 128, 3)) and x.dtype == np.float32
    assert x.min() >= lo - 1e-6 and x.max() <= 1.0 + 1e-6
    red = x[0, 0] if layout == "NCHW" else x[0, ..., 2]  # RGB first channel / BGR last channel is red
    assert np.allclose((red - lo) / (1 - lo), crops[0, ..., 2] / 255.0, atol=1e-6)
    mask = np.ones((2, 1, 128, 128) if layout == "NCHW" else (2, 128, 128, 1), np.float32)
    face, m = model_output(x, mask, contract)
    assert face.shape == (2, 128, 128, 3) and m.shape == (2, 128, 128)
    assert np.abs(face * 255 - crops).max() < 0.01


def test_one_euro_filter_smooths_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30.0
    still = 0.01 * rng.standard_normal((300, 2))
    f = OneEuroFilter(min_cutoff=1.0, beta=10.0)  # LandmarkSmoother's settings, in face sizes
    out = np.array([f(x, ti) for x, ti in zip(still, t)])
    assert np.diff(out[30:], axis=0).std() < 0.3 * np.diff(still[30:], axis=0).std()
    moving = np.stack([t * 3.0, np.zeros_like(t)], 1)  # three face sizes a second
    f = OneEuroFilter(min_cutoff=1.0, beta=10.0)
    out = np.array([f(x, ti) for x, ti in zip(moving, t)])
    assert np.abs(out[60:, 0] - moving[60:, 0]).max() < 0.03  # lag under 3% of a face


def test_landmark_smoother_resets_on_a_jump_and_a_new_face(aligned_astronaut):
    from dataclasses import replace
    _, face, _ = aligned_astronaut
    smoother = LandmarkSmoother()
    smoother([face], 0.0)
    nudged = replace(face, landmarks=face.landmarks + 2.0)
    small = smoother([nudged], 1 / 30)[0]
    assert 0 < np.abs(small.landmarks - face.landmarks).mean() < 2.0  # smoothed: moved less than the input
    far = replace(face, landmarks=face.landmarks + 300.0)
    jumped = smoother([far], 2 / 30)[0]
    assert np.allclose(jumped.landmarks, far.landmarks, atol=1e-3)  # a jump snaps
    assert smoother.resets == 2
    smoother([far, face], 3 / 30)
    assert smoother.resets == 3 and len(smoother.tracks) == 2  # a second face starts its own track


def test_smoothing_steadies_landmarks_on_a_still_head(data_dir):
    """On s18 (a nearly static head) smoothed landmarks shake less: their frame-to-frame acceleration halves."""
    cap = cv2.VideoCapture(str(data_dir / "videos" / "liveportrait" / "s18.mp4"))
    raw, smooth = [], []
    smoother = LandmarkSmoother()
    with create_landmarker("mediapipe", mode="video") as marker:
        for i in range(60):
            ok, frame = cap.read()
            faces = marker.detect(cv2.resize(frame, (640, 360)), timestamp_ms=i * 33)
            raw.append(faces[0].landmarks)
            smooth.append(smoother(faces[:1], i / 30.0)[0].landmarks)
    shake = lambda seq: np.abs(np.diff(np.array(seq)[10:], n=2, axis=0)).mean()  # noqa: E731
    assert shake(smooth) < 0.65 * shake(raw)  # measured 0.47 (mediapipe's tracking already smooths a little)


def test_queue_drops_oldest_when_live_and_blocks_when_lossless():
    dropped = []
    q = FrameQueue(2, lossless=False, on_drop=dropped.append)
    for i in range(5):
        assert q.put(i)
    assert [q.get(0), q.get(0)] == [3, 4] and sum(dropped) == 3
    q.close()
    assert q.get(0) is END and not q.put(9)

    q = FrameQueue(1, lossless=True)
    q.put("a")
    assert not q.put("b", timeout=0.05)  # full: waits instead of dropping
    got = []
    consumer = threading.Thread(target=lambda: [got.append(q.get(1)) for _ in range(3)])
    consumer.start()
    for item in "bc":
        assert q.put(item, timeout=1)
    consumer.join()
    assert got == ["a", "b", "c"]


def test_profiler_percentiles_status_and_report(tmp_path):
    p = Profiler()
    for i in range(100):
        t = FrameTiming(captured_at=time.perf_counter() - (i + 1) / 1000, landmarks=0.010, infer=0.005, composite=0.001)
        t.delivered_at = t.captured_at + (i + 1) / 1000
        p.frame_in()
        p.frame_out(i, t, faces=1)
    p.frame_dropped(3)
    s = p.summary()
    assert s["frames_out"] == 100 and s["dropped"] == 3
    assert s["stages_ms"]["end_to_end"]["p50"] == pytest.approx(50.5, abs=0.6)
    assert s["stages_ms"]["end_to_end"]["max"] == pytest.approx(100.0, abs=0.1)
    assert s["overhead_ratio"] == pytest.approx(16 / 15, rel=1e-6)
    assert "dropped 3" in p.status_line() and "p95" in p.status_line()
    assert "end_to_end" in p.table()
    import json
    report = json.loads(p.write_json(tmp_path / "profile.json").read_text())
    assert len(report["frames"]) == 100 and report["frames"][0]["landmarks_ms"] == pytest.approx(10.0)


def test_a_looped_clip_source_restarts_and_stops_on_time(data_dir):
    from live.sources import VideoFileSource
    source = VideoFileSource(data_dir / "videos" / "pc-avs" / "620900105.mp4", pacing=False, size=(160, 120),
                             loop=True, seconds=6.0)  # 108 frames at 25 fps: 150 frames needs one restart
    info = source.open()
    frames = []
    while (got := source.read()) is not None:
        frames.append(got)
    source.close()
    assert (info.width, info.height, info.fps, info.live) == (160, 120, 25.0, False)
    assert len(frames) == 150 and all(f.shape == (120, 160, 3) for f, _ in frames)
    assert [t for _, t in frames] == [i / 25.0 for i in range(150)]
    assert np.array_equal(frames[108][0], frames[0][0])  # the clip started again


def test_stage_times_add_up_to_the_latency_even_with_waits_between_stages():
    t = FrameTiming(captured_at=time.perf_counter())
    time.sleep(0.002)
    t.lap("capture_wait")
    with StageTimer(t, "landmarks"):
        time.sleep(0.003)
    time.sleep(0.004)  # a thread waiting for a core between two stages: charged to the next one, not lost
    with pytest.raises(RuntimeError), StageTimer(t, "infer"):
        raise RuntimeError("a stage that fails is still charged")
    t.delivered_at = t.lap("output")
    assert t.capture_wait >= 0.002 and t.landmarks >= 0.003 and t.infer >= 0.004
    assert sum(t.stages().values()) == pytest.approx(t.latency, abs=1e-9)


def test_rss_sampler_reports_start_peak_end_and_growth():
    sampler = RssSampler()
    sampler.samples = [(float(t), v * 2**20) for t, v in enumerate([100, 120, 150, 150, 151, 150, 150])]  # MiB
    s = sampler.summary(warmup_s=2.0)
    assert (s["start_mib"], s["peak_mib"], s["end_mib"]) == (100, 151, 150)
    assert s["growth_after_warmup_mib"] == 0 and abs(s["slope_mib_per_min"]) < 10 and len(s["samples"]) == 7
    live = RssSampler(period_s=0.01).start()
    time.sleep(0.05)
    live.stop()
    figures = live.summary()
    assert figures["available"] and 10 < figures["start_mib"] <= figures["peak_mib"] and len(figures["samples"]) >= 3


def test_model_threads_leave_the_landmarker_a_core():
    assert [live_cpu_threads(n) for n in (1, 2, 4, 8, 16, 64)] == [1, 1, 1, 2, 4, 4]


def test_profiler_keeps_bounded_state_without_a_status_line():
    p = Profiler(max_records=50, window_s=0.005)
    for i in range(300):  # --quiet: nobody calls status_line(), the one-second windows must still be trimmed
        t = FrameTiming(captured_at=time.perf_counter())
        t.delivered_at = t.lap("output")
        p.frame_in()
        p.frame_out(i, t)
        if i % 100 == 0:
            time.sleep(0.01)
    assert len(p.records) == 50 and len(p._recent_in) < 200 and len(p._recent_out) < 200
    assert p.frames_in == p.frames_out == 300
    assert [r.index for r in p.records] == list(range(250, 300))


def test_frame_log_keeps_the_newest_records_across_chunks_and_gives_them_back_exactly():
    log = FrameLog(capacity=CHUNK_FRAMES + 100)
    timings = []
    for i in range(3 * CHUNK_FRAMES + 7):
        t = FrameTiming(captured_at=1000.0 + i, landmarks=i * 1e-4, infer=0.25, composite=i % 3 * 1e-3)
        t.delivered_at = t.captured_at + 0.02
        timings.append(t)
        log.append(i, i % 2, i % 5 == 0, i % 7 != 0, t)
    assert len(log) == CHUNK_FRAMES + 100 and len(log._chunks) <= 3  # old chunks recycled, not kept
    records = list(log)
    first = 3 * CHUNK_FRAMES + 7 - len(log)
    assert [r.index for r in records] == list(range(first, 3 * CHUNK_FRAMES + 7))
    r = records[-1]
    i = r.index
    assert (r.faces, r.failed, r.signal) == (i % 2, i % 5 == 0, i % 7 != 0)
    assert r.timing.stages() == timings[i].stages() and r.timing.latency == pytest.approx(0.02)


def test_frame_log_reserve_takes_the_memory_up_front():
    from live.rss import current_rss
    log = FrameLog()
    log.reserve(20 * CHUNK_FRAMES)  # about 2 MiB
    reserved = {id(c) for c in log._spare}
    before = current_rss()
    t = FrameTiming(captured_at=1.0, delivered_at=1.01)
    for i in range(20 * CHUNK_FRAMES):
        log.append(i, 1, False, True, t)
    assert len(log) == 20 * CHUNK_FRAMES and not log._spare
    assert {id(c) for c in log._chunks} == reserved  # no chunk allocated while frames came
    assert current_rss() - before < 0.5 * 2**20  # and filling the reserved rows committed no new pages
