"""The split of the shared data by person: every clip in exactly one place, the bench pair and the unseen people
never in a pool, and the pool builder's inputs and screening honour it."""
from __future__ import annotations

import os

import numpy as np

from evaluation.split import CLIP_A, CLIP_B, KEPT_OUT, POOL_CLIPS, UNSEEN, clip_path, faceset_name, kept_out_sources


def test_every_clip_of_the_shared_data_is_in_exactly_one_place(data_dir):
    clips = sorted(str(p.relative_to(data_dir / "videos").with_suffix("")) for p in (data_dir / "videos").rglob("*.mp4"))
    placed = [CLIP_A, CLIP_B, *UNSEEN, *POOL_CLIPS]
    assert sorted(placed) == clips and len(set(placed)) == len(placed)
    assert len(UNSEEN) >= 3 and all(clip_path(data_dir, c).is_file() for c in placed)


def test_kept_out_sources_are_found_by_their_file(data_dir):
    sources = {str(clip_path(data_dir, CLIP_A)), str(clip_path(data_dir, POOL_CLIPS[0])),
               f"/elsewhere/{UNSEEN[0]}.mp4", "/photos/celeba/1/1_014042.jpg"}
    assert kept_out_sources(sources) == sorted([str(clip_path(data_dir, CLIP_A)), f"/elsewhere/{UNSEEN[0]}.mp4"])
    assert faceset_name("pc-avs/00104") == "pcavs_00104" and faceset_name("video-retalking/1") == "videoretalking_1"


def test_pool_inputs_hold_no_kept_out_person(data_dir):
    from evaluation.pool import pool_inputs

    inputs = pool_inputs(data_dir)
    assert not kept_out_sources({str(p) for p in inputs.values()})
    assert {faceset_name(c) for c in POOL_CLIPS} < set(inputs)
    assert sum(name.startswith("celeba_") for name in inputs) == 2000 and {"utkface", "aaf"} < set(inputs)


def test_screening_drops_a_celeba_identity_that_is_a_kept_out_person(data_dir, tmp_path):
    """A 'CelebA identity' made of the bench A's own frames is dropped; a real CelebA identity is kept."""
    from evaluation.identity import FaceEmbedder, faceset_identity
    from evaluation.pool import screen
    from training.extract import extract

    pool = tmp_path / "pool"
    extract(clip_path(data_dir, CLIP_A), pool / "celeba_99999", every=60)
    extract(data_dir / "pretrain" / "celeba" / "1", pool / "celeba_1")
    embedder = FaceEmbedder()
    reference = tmp_path / "ref"
    extract(clip_path(data_dir, CLIP_A), reference, every=25)
    references = {CLIP_A: faceset_identity(embedder, reference).centre, UNSEEN[0]: np.full(128, 5.0, np.float32)}
    dropped = screen(embedder, pool, ["celeba_99999", "celeba_1"], references)
    assert list(dropped) == ["celeba_99999"] and dropped["celeba_99999"]["matches"] == CLIP_A
    assert screen(embedder, pool, ["celeba_99999", "celeba_1"], references, workers=2) == dropped
    assert set(KEPT_OUT) >= {CLIP_A, CLIP_B}


def test_pool_extraction_in_two_processes_writes_what_one_does(data_dir, tmp_path):
    """--workers 2 spreads the pool's inputs over two processes; every faceset comes out as one process makes it."""
    from evaluation.pool import extract_all
    from training.faceset import Faceset

    inputs = {name: data_dir / "pretrain" / "celeba" / name for name in ("1", "2", "3")}
    for workers in (1, 2):
        extract_all([(path, tmp_path / str(workers) / name, 128) for name, path in inputs.items()], workers)
    for name in inputs:
        one, two = Faceset.load(tmp_path / "1" / name), Faceset.load(tmp_path / "2" / name)
        assert len(one) == len(two) > 0
        assert [e["landmarks"] for e in one.entries] == [e["landmarks"] for e in two.entries]
        assert all(np.array_equal(one.read(i), two.read(i)) for i in range(len(one)))


def test_an_input_without_a_face_is_set_aside_not_pooled(data_dir, tmp_path):
    """A photo folder where no face is found (here: the astronaut's suit, below his face) is moved aside at once,
    not left as an empty faceset for the screening and the pretraining to fail on."""
    import cv2

    from evaluation.pool import set_aside_empty
    from training.extract import extract

    suit = tmp_path / "photos" / "suit"
    suit.mkdir(parents=True)
    photo = cv2.imread(str(data_dir / "images" / "astronaut" / "astronaut.png"))
    cv2.imwrite(str(suit / "suit.png"), photo[photo.shape[0] * 3 // 5:])
    pool, aside = tmp_path / "pool", tmp_path / "pool.dropped"
    extract(suit, pool / "celeba_suit", size=128)
    extract(data_dir / "pretrain" / "celeba" / "1", pool / "celeba_1", size=128)
    assert set_aside_empty(pool, ["celeba_suit", "celeba_1"], aside) == {"celeba_suit": {"no_faces": True}}
    assert sorted(p.name for p in pool.iterdir()) == ["celeba_1"] and (aside / "celeba_suit" / "faceset.json").is_file()


def test_the_bench_and_the_pool_find_faces_with_the_shared_landmarker(data_dir, monkeypatch, tmp_path):
    """With no landmarker model configured, the shared data's is taken, not the slower dlib fallback."""
    from evaluation.split import use_shared_landmarker
    from faces.landmarks import auto_choice

    monkeypatch.delenv("SWAPCAM_FACE_LANDMARKER", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no model in the user's cache either
    assert auto_choice()[0] == "dlib"
    use_shared_landmarker(data_dir)
    assert auto_choice()[0] == "mediapipe"
    assert os.environ["SWAPCAM_FACE_LANDMARKER"] == str(data_dir.parent / "models" / "face_landmarker.task")
    monkeypatch.setenv("SWAPCAM_FACE_LANDMARKER", "/elsewhere/face_landmarker.task")
    use_shared_landmarker(data_dir)  # a model the user chose stays chosen
    assert os.environ["SWAPCAM_FACE_LANDMARKER"] == "/elsewhere/face_landmarker.task"
