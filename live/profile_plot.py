"""Draw a profile: a histogram of capture-to-output latency and a per-frame stacked timeline of the stages."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from live.profiler import STAGES, FrameRecord


def plot_profile(records: list[FrameRecord], path: str | os.PathLike, title: str = "swapcam live loop") -> Path:
    """Write a PNG with the latency histogram (top) and the stacked stage times of every frame (bottom)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    frames = [r for r in records if r.signal]
    latency = np.array([r.timing.latency * 1e3 for r in frames])
    stages = np.array([[getattr(r.timing, s) * 1e3 for s in STAGES] for r in frames]).reshape(-1, len(STAGES))
    fig, (hist, timeline) = plt.subplots(2, 1, figsize=(11, 7), gridspec_kw={"height_ratios": [1, 1.4]})
    if len(latency):
        hist.hist(latency, bins=min(60, max(10, len(latency) // 5)), color="#4a7ab0")
        for q, style in ((50, "-"), (95, "--"), (99, ":")):
            v = np.percentile(latency, q)
            hist.axvline(v, color="black", linestyle=style, linewidth=1, label=f"p{q} {v:.1f} ms")
        hist.legend()
    hist.set_xlabel("capture-to-output latency (ms)")
    hist.set_ylabel("frames")
    hist.set_title(f"{title}: {len(frames)} frames")
    x = np.array([r.index for r in frames])
    timeline.stackplot(x, stages.T, labels=STAGES, step="post")
    timeline.set_xlabel("frame")
    timeline.set_ylabel("ms")
    timeline.legend(loc="upper left", ncol=4, fontsize="small")
    timeline.set_xlim(x.min() if len(x) else 0, x.max() if len(x) else 1)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    fig.savefig(tmp, dpi=100, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    os.replace(tmp, path)
    return path
