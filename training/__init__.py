"""Training: media to facesets, facesets to a trained two-decoder model.

    extract.py     python -m training.extract: video / images -> aligned facesets (faceset.py is the format)
    train.py       python -m training.train: the command; config.py holds every setting of a run
    trainer.py     the loop: steps, checkpoints (checkpoint.py), previews and logs (monitor.py), DDP (distributed.py)
    model.py       the network and its presets (python -m training.model prints their sizes)
    data.py        facesets in memory, held-out split, batches; augment.py the random warp and jitter
    losses.py      DSSIM + L1 inside the mask, mask loss, PSNR / SSIM
    bench.py       python -m training.bench: training faces/s per preset
"""
