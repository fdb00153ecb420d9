"""Shared fixtures: where the real test data lives (SWAPCAM_SHARED, default ../shared) and handy paths."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SWAPCAM_SHARED", ROOT.parent / "shared")).resolve()
DATA = SHARED / "data"
MODELS = SHARED / "models"
LANDMARKER_TASK = MODELS / "face_landmarker.task"


def pytest_configure(config):
    missing = [str(p) for p in (DATA, MODELS, LANDMARKER_TASK) if not p.exists()]
    if missing:
        raise pytest.UsageError(
            f"swapcam tests need the real data in {SHARED} (set SWAPCAM_SHARED); missing: {', '.join(missing)}")
    os.environ.setdefault("SWAPCAM_FACE_LANDMARKER", str(LANDMARKER_TASK))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return MODELS


@pytest.fixture(scope="session")
def landmarker_task() -> Path:
    return LANDMARKER_TASK


@dataclass(frozen=True)
class Photo:
    """A real photo: its file, its pixels (BGR uint8) and its face as mediapipe finds it."""

    path: Path
    image: np.ndarray
    face: object  # faces.Face


@pytest.fixture(scope="session")
def astronaut(data_dir) -> Photo:
    """The astronaut photo (public domain, 512x512, one face)."""
    from faces import create_landmarker, read_image

    path = data_dir / "images" / "astronaut" / "astronaut.png"
    image = read_image(path)
    with create_landmarker("mediapipe") as landmarker:
        (face,) = landmarker.detect(image)
    return Photo(path, image, face)


@pytest.fixture(scope="session")
def http_server(tmp_path_factory):
    """A local HTTP server (127.0.0.1, a free port) over a temp folder; yields (folder, base URL)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    root = tmp_path_factory.mktemp("served")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# Session fixtures that build real artefacts (facesets, a briefly trained checkpoint, exported
# models) live beside the code that makes them; each module is owned by its job's folder.
pytest_plugins = ["tests.fixtures_training", "tests.fixtures_export"]
