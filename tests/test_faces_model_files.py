"""Where the mediapipe model file is looked for, what happens when it is missing, and the verified download
(against files served from 127.0.0.1 by the http_server fixture)."""
from __future__ import annotations

import hashlib

import pytest

from faces import FACE_LANDMARKER, ModelFileError, create_landmarker, download_model, find_model
from faces.model_files import ModelFile

ENV = FACE_LANDMARKER.env_var


@pytest.fixture
def no_model(monkeypatch, tmp_path):
    """An environment where the model file is nowhere: no env var, an empty per-user cache dir."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_resolution_order_explicit_then_env_then_cache(no_model, monkeypatch):
    cached = no_model / "cache" / "swapcam" / FACE_LANDMARKER.name
    env_file, explicit = no_model / "env.task", no_model / "explicit.task"
    for path in (cached, env_file, explicit):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    monkeypatch.setenv(ENV, str(env_file))
    assert find_model(FACE_LANDMARKER, explicit) == explicit
    assert find_model(FACE_LANDMARKER) == env_file
    env_file.unlink()
    assert find_model(FACE_LANDMARKER) == cached, "a stale env var falls through to the cache"
    monkeypatch.delenv(ENV)
    assert find_model(FACE_LANDMARKER) == cached


def test_nothing_found_is_one_line_saying_where_to_get_it(no_model):
    with pytest.raises(ModelFileError) as info:
        find_model(FACE_LANDMARKER)
    message = str(info.value)
    assert "\n" not in message
    for hint in ("python -m faces --download-model", FACE_LANDMARKER.url, ENV, str(no_model / "cache" / "swapcam")):
        assert hint in message


def test_a_missing_explicit_path_is_an_error_not_a_fallback(no_model, landmarker_task, monkeypatch):
    monkeypatch.setenv(ENV, str(landmarker_task))
    with pytest.raises(ModelFileError, match="not found at") as info:
        find_model(FACE_LANDMARKER, no_model / "typo.task")
    assert "\n" not in str(info.value)
    with pytest.raises(ModelFileError):
        create_landmarker("auto", model_path=no_model / "typo.task")


def test_auto_falls_back_to_dlib_only_when_the_model_is_absent(no_model, landmarker_task, monkeypatch):
    with create_landmarker("auto") as lm:
        assert lm.name == "dlib"
    with pytest.raises(ModelFileError) as info:
        create_landmarker("mediapipe")
    assert "\n" not in str(info.value)
    monkeypatch.setenv(ENV, str(landmarker_task))
    with create_landmarker("auto") as lm:
        assert lm.name == "mediapipe"


def test_a_corrupt_model_file_is_one_clear_error(no_model, landmarker_task):
    broken = no_model / "broken.task"
    broken.write_bytes(landmarker_task.read_bytes()[:10000])
    with pytest.raises(ModelFileError, match="not a usable") as info:
        create_landmarker("mediapipe", model_path=broken)
    assert "\n" not in str(info.value)


def served_model(root, name: str, content: bytes, sha256: str | None = None) -> ModelFile:
    (root / name).write_bytes(content)
    return ModelFile(name=name, url="", sha256=sha256 or hashlib.sha256(content).hexdigest(), env_var="UNUSED")


def test_download_keeps_a_verified_file(http_server, tmp_path):
    root, base = http_server
    content = bytes(range(256)) * 5000
    model = served_model(root, "good.bin", content)
    seen = []
    kept = download_model(model, tmp_path / "dest", url=f"{base}/good.bin", progress=lambda n, t: seen.append((n, t)))
    assert kept == tmp_path / "dest" / "good.bin"
    assert kept.read_bytes() == content
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["good.bin"], "no temp file left behind"
    assert seen[-1] == (len(content), len(content))


def test_download_with_the_wrong_hash_is_refused_and_leaves_nothing(http_server, tmp_path):
    root, base = http_server
    model = served_model(root, "tampered.bin", b"not what was promised", sha256="0" * 64)
    dest = tmp_path / "dest"
    with pytest.raises(ModelFileError, match="sha256") as info:
        download_model(model, dest, url=f"{base}/tampered.bin")
    assert "\n" not in str(info.value)
    assert list(dest.iterdir()) == []


def test_download_of_a_missing_url_leaves_nothing(http_server, tmp_path):
    _, base = http_server
    dest = tmp_path / "dest"
    model = ModelFile(name="absent.bin", url="", sha256="0" * 64, env_var="UNUSED")
    with pytest.raises(ModelFileError, match="404"):
        download_model(model, dest, url=f"{base}/absent.bin")
    with pytest.raises(ModelFileError, match="could not download"):
        download_model(model, dest, url="not a url")
    assert list(dest.iterdir()) == []


def test_download_defaults_to_the_user_cache_where_find_model_looks(no_model, http_server, landmarker_task):
    root, base = http_server
    (root / FACE_LANDMARKER.name).write_bytes(landmarker_task.read_bytes())
    kept = download_model(FACE_LANDMARKER, url=f"{base}/{FACE_LANDMARKER.name}")
    assert kept == no_model / "cache" / "swapcam" / FACE_LANDMARKER.name
    assert find_model(FACE_LANDMARKER) == kept
