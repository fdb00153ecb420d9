"""Shared fixtures: where the real test data lives (SWAPCAM_SHARED, default ../shared) and handy paths."""
from __future__ import annotations

import os
from pathlib import Path

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


# Session fixtures that build real artefacts (facesets, a briefly trained checkpoint, exported
# models) live beside the code that makes them; each module is owned by its job's folder.
pytest_plugins = ["tests.fixtures_training", "tests.fixtures_export"]
