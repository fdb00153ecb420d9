"""The live controls and the control page: checked changes, model switching, the page's guards (token, Host,
Origin), and the page in a real headless browser (Debian's chromium, driven by Playwright) acting on a running
loop whose every frame reaches a file sink."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from export.contract import read_contract, write_contract
from live.controls import ControlError, LiveControls, check, saved_settings
from live.swapper import SwapSettings
from tests.cli_support import ROOT



@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium (installed by .ci/run)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    return path


def flat_model(like: Path, path: Path) -> Path:
    """A valid swapcam model (the contract of `like`) whose face is flat grey with a full mask: easy to spot."""
    contract = read_contract(like)
    r = contract.resolution
    x = helper.make_tensor_value_info("face", TensorProto.FLOAT, [1, 3, r, r])
    face = helper.make_tensor_value_info("swapped_face", TensorProto.FLOAT, [1, 3, r, r])
    mask = helper.make_tensor_value_info("swapped_mask", TensorProto.FLOAT, [1, 1, r, r])
    zero, half, one = (helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in (("z", 0.0), ("h", 0.5), ("o", 1.0)))
    nodes = [helper.make_node("Mul", ["face", "z"], ["zeros"]),
             helper.make_node("Add", ["zeros", "h"], ["swapped_face"]),
             helper.make_node("ReduceMean", ["zeros"], ["one_channel"], axes=[1], keepdims=1),
             helper.make_node("Add", ["one_channel", "o"], ["swapped_mask"])]
    graph = helper.make_graph(nodes, "flat", [x], [face, mask], initializer=[zero, half, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    write_contract(model, contract)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def models_dir(exported_model, tmp_path_factory) -> Path:
    """A models folder: the tiny exported model, the flat one, and a file that is not a model."""
    folder = tmp_path_factory.mktemp("models")
    shutil.copy(exported_model, folder / "tiny.onnx")
    flat_model(exported_model, folder / "flat.onnx")
    (folder / "broken.onnx").write_bytes(b"not a model at all")
    return folder


class FakeSwapper:
    """What LiveControls acts on: the settings and the backend in use."""

    def __init__(self):
        self.settings, self.backend = SwapSettings(), "tiny"

    def update(self, settings):
        self.settings = settings

    def use_backend(self, backend):
        self.backend = backend


def test_changes_are_checked_and_applied_and_saved(models_dir, tmp_path):
    from live.backends import create_backend

    swapper = FakeSwapper()
    store = tmp_path / "config" / "live.json"
    controls = LiveControls(swapper, lambda path: create_backend("cpu", path), models_dir, models_dir / "tiny.onnx",
                            store, log=lambda line: None)
    state = controls.change({"opacity": 0.25, "color": "lct", "mouth": True, "faces": "all"})
    assert state["controls"]["opacity"] == 0.25 and swapper.settings.composite.color == "lct"
    assert swapper.settings.faces == "all" and swapper.settings.composite.mouth is True
    assert json.loads(store.read_text())["opacity"] == 0.25 and "label" not in json.loads(store.read_text())
    assert saved_settings(store)["color"] == "lct"
    for bad, words in (({"opacity": 3}, "between 0 and 1"), ({"color": "sepia"}, "one of"), ({"label": False}, "unknown"),
                       ({"mouth": "yes"}, "takes bool"), ({"erode": True}, "takes int or float"), ([], "JSON object"),
                       ({}, "JSON object")):
        with pytest.raises(ControlError, match=words):
            controls.change(bad)
    assert swapper.settings.composite.opacity == 0.25, "a refused change changes nothing"
    assert check("smoothing_strength", 1) == 1.0


def test_models_are_named_only_inside_the_folder_and_a_bad_one_is_refused(models_dir, tmp_path):
    from live.backends import create_backend

    swapper = FakeSwapper()
    lines = []
    controls = LiveControls(swapper, lambda path: create_backend("cpu", path), models_dir, models_dir / "tiny.onnx",
                            None, log=lines.append)
    assert controls.models() == ["broken.onnx", "flat.onnx", "tiny.onnx"]
    (tmp_path / "outside.onnx").write_bytes((models_dir / "flat.onnx").read_bytes())
    for name in ("../outside.onnx", str(tmp_path / "outside.onnx"), "..", "flat", "nope.onnx", 7, "/etc/passwd"):
        with pytest.raises(ControlError, match="no model"):
            controls.switch_model(name)
    controls.switch_model("broken.onnx")
    controls.wait_for_model(30)
    assert swapper.backend == "tiny" and controls.model == "tiny.onnx"
    assert controls.model_status.startswith("refused broken.onnx: ") and "not an ONNX model" in controls.model_status
    controls.switch_model("flat.onnx")
    controls.wait_for_model(30)
    assert controls.model == "flat.onnx" and controls.model_status == "running"
    assert swapper.backend.contract.resolution == read_contract(models_dir / "flat.onnx").resolution


@pytest.fixture
def server(models_dir):
    from live.backends import create_backend
    from live.control_server import ControlServer, PreviewTap

    controls = LiveControls(FakeSwapper(), lambda path: create_backend("cpu", path), models_dir,
                            models_dir / "tiny.onnx", None, log=lambda line: None)
    figures = {"fps_in": 30.0, "fps_out": 30.0, "dropped": 0, "failed": 0, "latency_p50_ms": 10.0,
               "latency_p95_ms": 12.0, "stages_ms": {"landmarks": 8.0}}
    control = ControlServer(controls, lambda: figures, PreviewTap(), "127.0.0.1", free_port()).start()
    yield control
    control.stop()


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers: dict | None = None) -> int:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_page_needs_its_token_and_its_own_host_and_origin(server):
    base = f"http://127.0.0.1:{server.port}/"
    assert get(server.url) == 200
    assert get(base) == 403
    assert get(base + "?token=wrong") == 403
    assert get(server.url, {"Host": f"evil.example:{server.port}"}) == 403  # DNS rebinding
    assert get(server.url, {"Origin": "http://evil.example"}) == 403  # another site's script
    assert get(f"http://127.0.0.1:{server.port}/ws?token=wrong") == 403
    assert server.url.startswith("http://127.0.0.1:") and len(server.token) >= 20


def test_messages_get_a_state_or_an_error_and_bad_ones_change_nothing(server):
    import asyncio

    import aiohttp

    async def talk():
        async with aiohttp.ClientSession() as session:
            url = f"ws://127.0.0.1:{server.port}/ws?token={server.token}"
            async with session.ws_connect(url, origin=f"http://127.0.0.1:{server.port}") as ws:
                first = await ws.receive_json()
                replies = []
                for text in ("not json", "[1, 2]", '{"set": {"opacity": 7}}', '{"model": "../x.onnx"}',
                             '{"dance": true}', '{"set": {"opacity": 0.5}}'):
                    await ws.send_str(text)
                    while True:
                        message = await ws.receive()
                        if message.type == aiohttp.WSMsgType.TEXT and json.loads(message.data)["type"] != "figures":
                            replies.append(json.loads(message.data))
                            break
                return first, replies
        
    first, replies = asyncio.run(talk())
    assert first["type"] == "state" and first["controls"]["opacity"] == 1.0
    assert [r["type"] for r in replies] == ["error"] * 5 + ["state"]
    assert replies[-1]["controls"]["opacity"] == 0.5
    assert server.controls.swapper.settings.composite.opacity == 0.5


def face_texture(image: np.ndarray) -> float:
    """How much the middle of a d6 frame (her eyes, nose and mouth) varies: the mean per-channel spread."""
    return float(image[200:320, 180:300].reshape(-1, 3).astype(np.float32).std(axis=0).mean())


def test_the_page_in_a_real_browser_acts_on_the_running_loop(models_dir, data_dir, tmp_path, chromium):
    """Preview and readout change; the model switch and the opacity reach the file sink within a few frames of the
    page confirming them, and no frame is lost or failed meanwhile."""
    from playwright.sync_api import sync_playwright

    clip = data_dir / "videos" / "liveportrait" / "d6.mp4"
    frames = tmp_path / "frames"
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_live.py"), "--model", str(models_dir / "tiny.onnx"),
                             "--source", str(clip), "--no-pacing", "--sink", f"file:{frames}", "--control",
                             f"127.0.0.1:{port}", "--quiet", "--no-label"], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")})
    try:
        url = None
        while url is None:
            line = proc.stderr.readline()
            assert line, "run_live.py ended before printing the page's address"
            found = re.search(r"control page: (http://\S+)", line)
            url = found.group(1) if found else None
        written = lambda: len(list(frames.glob("*.png")))  # noqa: E731
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"])
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("document.getElementById('output').dataset.frames > 2", timeout=30_000)
            page.wait_for_function("document.getElementById('readout').textContent.includes('fps')")
            first = page.text_content("#readout")
            page.wait_for_function(f"document.getElementById('readout').textContent !== {json.dumps(first)}",
                                   timeout=10_000)
            before_switch = written()
            page.select_option("#model", "flat.onnx")
            page.wait_for_function("document.getElementById('model-line').textContent.startsWith('flat.onnx (running')",
                                   timeout=30_000)
            switched = written()
            deadline = time.monotonic() + 60
            while written() < switched + 10 and time.monotonic() < deadline:  # the new model's frames reach the sink
                time.sleep(0.05)  # before the opacity changes, on a machine where the switch stalled the loop
            page.evaluate("e => { e.value = '0'; e.dispatchEvent(new Event('input')); }", page.query_selector("#opacity"))
            page.wait_for_function("document.querySelector('output[for=opacity]').textContent === '0'")
            time.sleep(0.5)  # the state reply comes back within a frame or two
            faded = written()
            browser.close()
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    total = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT))
    names = sorted(frames.glob("*.png"))
    assert [int(p.stem) for p in names] == list(range(total)), "every frame reached the sink, none lost"
    assert "failed 0" in err
    source = cv2.VideoCapture(str(clip))
    flat_from = plain_from = None
    for index, name in enumerate(names):
        ok, reference = source.read()
        out = cv2.imread(str(name))
        if flat_from is None and face_texture(out) < 0.2 * face_texture(reference):
            flat_from = index
        if plain_from is None and flat_from is not None and np.abs(out.astype(int) - reference).max() <= 2:
            plain_from = index
    assert flat_from is not None and before_switch <= flat_from <= switched + 5, (before_switch, flat_from, switched)
    assert plain_from is not None and switched <= plain_from <= faded + 5, (switched, plain_from, faded)
