"""The local control page: an aiohttp server, in its own thread, beside the running loop.

    run_live.py ... --control [HOST:]PORT        (default host 127.0.0.1; the start-up line prints the URL)

The page (control_page.html) shows the output and, on request, the camera at a few frames a second,
a readout of the loop's figures every second, and the controls of live/controls.py. It talks over
one WebSocket: JSON text messages both ways, and preview pictures as binary messages (one byte, 0 for
the output and 1 for the camera, then a JPEG).

It is a remote control for someone's camera, so: it binds to 127.0.0.1 unless told otherwise; every
request and the WebSocket must carry the random token of the printed URL; a Host header that is not
this server's (DNS rebinding) and an Origin that is not the page's own (another site's script) are
refused; models are named only as file names in the models folder; a malformed or out-of-range
message gets an error reply and changes nothing.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from aiohttp import WSMsgType, web

from live.controls import ControlError, LiveControls
from live.frame import Frame

PAGE = Path(__file__).with_name("control_page.html")
PREVIEW_FPS = 5.0
PREVIEW_WIDTH = 480
JPEG_QUALITY = 80
OUTPUT, CAMERA = 0, 1


class ControlServerError(RuntimeError):
    """The control page cannot start (port taken, bad address); the message is one line for the user."""


def parse_address(text: str) -> tuple[str, int]:
    """'[HOST:]PORT' -> (host, port); the host defaults to 127.0.0.1."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ControlServerError(f"--control takes [HOST:]PORT with a port from 1 to 65535, not {text!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PreviewTap:
    """The pictures the page shows: the newest output frame (a sink that keeps a reference, nothing more) and,
    when the page asks, a copy of the camera frame taken before the swap pastes into it, at most PREVIEW_FPS a
    second (`tap` is the swapper's hook)."""

    name = "control preview"

    def __init__(self, fps: float = PREVIEW_FPS):
        self.period = 1.0 / fps
        self.camera_wanted = False
        self._output: np.ndarray | None = None
        self._camera: np.ndarray | None = None
        self._last_copy = 0.0

    def tap(self, frame: Frame) -> None:
        """Before the swap: copy the camera picture if the page wants it and it is time for another."""
        now = time.perf_counter()
        if self.camera_wanted and frame.signal and now - self._last_copy >= self.period:
            self._camera, self._last_copy = frame.image.copy(), now

    def write(self, frame: Frame) -> None:
        """Keep the newest output frame (no copy: the loop does not touch a frame after its sinks)."""
        self._output = frame.output

    def close(self) -> None:
        """Nothing to release."""

    def take(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(newest output, newest camera picture); each is handed out once."""
        output, camera = self._output, self._camera
        self._output = self._camera = None
        return output, camera


def jpeg(image: np.ndarray, width: int = PREVIEW_WIDTH) -> bytes:
    """`image` scaled down to `width` and encoded as JPEG."""
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return data.tobytes() if ok else b""


class ControlServer:
    """Serves the control page for `controls` while the loop runs; `start()` returns once it listens."""

    def __init__(self, controls: LiveControls, figures: Callable[[], dict], preview: PreviewTap, host: str = "127.0.0.1",
                 port: int = 8765, token: str | None = None):
        self.controls, self.figures, self.preview = controls, figures, preview
        self.host, self.port = host, port
        self.token = token or secrets.token_urlsafe(18)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The page's address, token included."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    def allowed_host(self, value: str | None) -> bool:
        """Whether a Host header names this server (not another name that resolves here: DNS rebinding)."""
        if not value:
            return False
        if is_loopback(self.host):
            names = {f"127.0.0.1:{self.port}", f"localhost:{self.port}", f"[::1]:{self.port}"}
            host = f"[{self.host}]" if ":" in self.host else self.host
            return value in names | {f"{host}:{self.port}"}
        if self.host in ("0.0.0.0", "::"):
            return value.rsplit(":", 1)[-1] == str(self.port)
        return value == f"{self.host}:{self.port}"

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if not self.allowed_host(request.headers.get("Host")):
            return web.Response(status=403, text="refused: unknown Host\n")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{request.headers['Host']}":
            return web.Response(status=403, text="refused: foreign Origin\n")
        if not secrets.compare_digest(request.query.get("token", ""), self.token):
            return web.Response(status=403, text="refused: missing or wrong token\n")
        return await handler(request)

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text(encoding="utf-8"), content_type="text/html",
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        await ws.send_json({"type": "state", **self.controls.state()})
        pusher = asyncio.ensure_future(self._push(ws))
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                await ws.send_json(self._answer(message.data))
        finally:
            pusher.cancel()
        return ws

    def _answer(self, text: str) -> dict:
        """The reply to one message from the page: the new state, or an error (and nothing changed)."""
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            return {"type": "error", "message": "not JSON"}
        if not isinstance(message, dict) or len(message) != 1:
            return {"type": "error", "message": "a message is one of {\"set\": {...}}, {\"model\": NAME}, "
                                                "{\"camera\": true|false}"}
        (kind, value), = message.items()
        try:
            if kind == "set":
                return {"type": "state", **self.controls.change(value)}
            if kind == "model":
                return {"type": "state", **self.controls.switch_model(value)}
            if kind == "camera" and isinstance(value, bool):
                self.preview.camera_wanted = value
                return {"type": "state", **self.controls.state()}
            raise ControlError(f"unknown message {kind!r}")
        except ControlError as exc:
            return {"type": "error", "message": str(exc)}

    async def _push(self, ws: web.WebSocketResponse) -> None:
        """Preview pictures at PREVIEW_FPS and the figures (with the model's status) once a second."""
        loop = asyncio.get_running_loop()
        next_figures = 0.0
        while not ws.closed:
            output, camera = self.preview.take()
            for kind, image in ((OUTPUT, output), (CAMERA, camera)):
                if image is not None:
                    data = await loop.run_in_executor(None, jpeg, image)
                    await ws.send_bytes(bytes([kind]) + data)
            if time.monotonic() >= next_figures:
                next_figures = time.monotonic() + 1.0
                await ws.send_json({"type": "figures", **self.figures(), "model": self.controls.model,
                                    "model_status": self.controls.model_status})
            await asyncio.sleep(self.preview.period)

    def start(self) -> "ControlServer":
        """Start serving in a background thread; ControlServerError (one line) if it cannot listen."""
        self._thread = threading.Thread(target=self._serve, name="control-page", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise ControlServerError(f"the control page cannot listen on {self.host}:{self.port} "
                                     f"({getattr(self._error, 'strerror', None) or self._error})")
        return self

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/ws", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        try:
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, self.host, self.port).start())
        except (OSError, ValueError) as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
