"""`python -m training.bench` runs end to end and reports every figure (speeds are not judged here)."""
from __future__ import annotations

import json

from training.bench import main


def test_bench_prints_and_saves_every_figure_for_fast(faceset_a, faceset_b, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--presets", "fast", "--steps", "1", "--faceset-a", str(faceset_a),
                 "--faceset-b", str(faceset_b), "--json", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].split()[:3] == ["preset", "res", "params"] and lines[2].startswith("fast      128")
    (fast,) = json.loads(out.read_text())
    assert 0.3 < fast["gmac_a2b"] <= 0.6 and fast["batch_per_identity"] == 16
    for key in ("augment_faces_per_s", "step_faces_per_s", "train_faces_per_s"):
        assert fast[key] > 0
