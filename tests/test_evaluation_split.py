"""The split of the shared data by person: every clip in exactly one place, the bench pair and the unseen people
never in a pool, and the pool builder's inputs and screening honour it."""
from __future__ import annotations

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
    assert set(KEPT_OUT) >= {CLIP_A, CLIP_B}
