"""Evaluation: the code that drives the whole pipeline (faces, training, export and live together).

    evaluate.py       python -m evaluation: run a model over a clip through the live pipeline and measure the swap
    identity.py       who a face looks like: dlib face embeddings, identities from facesets
    metrics.py        expression, pose, jitter and sharpness measures (pure functions)
    summary.py        per-frame results to the summary, its targets and the printed table
    reconstruction.py A->A / B->B PSNR and SSIM of a training run on held-out faces
    sheet.py          the faces-only contact sheet
    quality_bench.py  python -m evaluation.quality_bench: extract, train, export and evaluate on the shared clips
    demo.py           run_live.py --demo: builds a small model from two public-domain photos, then runs it live
    gpu_bench.py      python -m evaluation.gpu_bench: the live loop on an NVIDIA GPU through PyTorch
"""
