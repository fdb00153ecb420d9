"""Find and fetch the third-party model files the landmark backends need, verified by sha256."""
from __future__ import annotations

import importlib.util
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import platformdirs

from faces.fileio import sha256_of


class ModelFileError(RuntimeError):
    """A model file is missing or does not verify; the message says where to get it."""


@dataclass(frozen=True)
class ModelFile:
    """A downloadable model file: its name, official URL, sha256 and the env var that may point at it."""

    name: str
    url: str
    sha256: str
    env_var: str


FACE_LANDMARKER = ModelFile(
    name="face_landmarker.task",
    url="https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task",
    sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    env_var="SWAPCAM_FACE_LANDMARKER",
)


def cache_dir() -> Path:
    """The per-user cache folder for swapcam's downloaded model files, built engines and demo
    (~/.cache/swapcam on Linux, ~/Library/Caches/swapcam on macOS, %LOCALAPPDATA%\\swapcam\\Cache on Windows)."""
    return platformdirs.user_cache_path("swapcam", appauthor=False)


def where_to_get(model: ModelFile) -> str:
    """The hint every 'model file not found' message ends with."""
    return (f"run `python -m faces --download-model` or fetch {model.url} "
            f"and set {model.env_var} to its path")


def find_model(model: ModelFile, explicit: str | os.PathLike | None = None) -> Path:
    """Locate `model`: an explicit path, then its environment variable, then the user cache dir.

    Raises ModelFileError (one line, saying where to get the file) when none of them has it;
    an explicit path that does not exist is an error, not a reason to look elsewhere.
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ModelFileError(f"{model.name} not found at {path}; {where_to_get(model)}")
        return path
    candidates = []
    if os.environ.get(model.env_var):
        candidates.append(Path(os.environ[model.env_var]))
    candidates.append(cache_dir() / model.name)
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise ModelFileError(f"{model.name} not found (looked in {looked}); {where_to_get(model)}")


def download_model(model: ModelFile = FACE_LANDMARKER, dest_dir: str | os.PathLike | None = None,
                   url: str | None = None, timeout: float = 60.0,
                   progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Download `model` (from `url`, default its official URL) into `dest_dir` (default the user
    cache dir), verify its sha256, and return the kept file's path.

    The file is written to a temporary name and renamed into place only after it verifies, so a
    failed or tampered download never leaves a file that `find_model` would pick up. `progress`
    is called with (bytes so far, total bytes or None) after every chunk. Raises ModelFileError.
    """
    url = url or model.url
    dest_dir = Path(dest_dir) if dest_dir is not None else cache_dir()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{model.name}.", dir=dest_dir)
    except OSError as exc:
        raise ModelFileError(f"cannot write into {dest_dir}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            done = 0
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        got = sha256_of(tmp)
        if got != model.sha256:
            raise ModelFileError(f"downloaded {model.name} has sha256 {got}, expected {model.sha256}; not kept")
        final = dest_dir / model.name
        os.replace(tmp, final)
        return final
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors; a malformed URL is a ValueError
        raise ModelFileError(f"could not download {model.name} from {url}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def package_file(package: str, relative: str) -> Path | None:
    """Path of a data file shipped inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    return path if path.is_file() else None
