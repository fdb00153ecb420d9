"""Running one training over several processes: `torchrun --nproc_per_node N -m training.train ...`.

Without torchrun (no WORLD_SIZE in the environment) everything here is a no-op for one process,
so the same command trains on one process or many.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import psutil
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Cluster:
    """This process's place in the job: global rank, rank on this machine, and process counts."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints, previews and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity where the OS has one, else all of them)."""
    try:
        return len(psutil.Process().cpu_affinity()) or 1
    except (AttributeError, psutil.Error, OSError):  # macOS has no CPU affinity
        return psutil.cpu_count() or 1


def join_cluster(use_cuda: bool) -> Cluster:
    """Join the torchrun process group (NCCL on GPUs, gloo on CPUs) when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cluster = Cluster(rank=int(os.environ.get("RANK", "0")), local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                      world_size=world, local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if cluster.distributed and not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(cluster.local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return cluster


def leave_cluster(cluster: Cluster) -> None:
    """Tear the process group down (no-op for one process)."""
    if cluster.distributed and dist.is_initialized():
        dist.destroy_process_group()


def anyone(flag: bool, cluster: Cluster, device: torch.device) -> bool:
    """True on every process if `flag` is true on any (a stop request must stop all of them together)."""
    if not cluster.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def barrier(cluster: Cluster) -> None:
    """Wait for every process (no-op for one)."""
    if cluster.distributed:
        dist.barrier()
