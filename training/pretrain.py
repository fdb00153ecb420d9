"""Pretrain the shared encoder and the decoders on a pool of many people, to start pairs from.

    python -m training.pretrain --facesets DIR [DIR ...] --preset fast --out RUN [--minutes M | --steps N] [--resume]
    torchrun --nproc_per_node N -m training.pretrain ...   (DistributedDataParallel; same options)
    python -m training.train --faceset-a A --faceset-b B --init RUN ...   (a pair, from the pretrained run)

Each DIR is a faceset or a folder of facesets (training.extract --each makes one per clip or photo
folder). Every step draws both halves of the batch from the pool, uniformly (a clip weighs as much
as POOL_CLIP_FACES photos), with the random warp, flips and colour jitter of pair training, and
trains the encoder and one decoder on all of it; the run saves that decoder as both decoder A and
decoder B. A pair started with --init keeps the encoder (it already codes any face's pose,
expression and light) and decoder A (it already draws any face, so a pool as A starts trained), and
draws decoder B anew (--init-fresh decoder_b, the default): a decoder that can draw anyone keeps
drawing whoever comes in, since B's faces alone never teach it otherwise. Resumable, Ctrl-C safe and
torchrun-ready like training.train.
"""
import sys

from training.train import run_main


def main(argv: list[str] | None = None) -> int:
    """Run the pretrain command; returns the process exit code."""
    return run_main("python -m training.pretrain", __doc__.split("\n")[0], argv, pretrain=True)


if __name__ == "__main__":
    sys.exit(main())
