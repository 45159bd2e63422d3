"""Spreading a list of inputs over the processes of a ``torchrun`` job: one deterministic shard per rank.

Under ``torchrun --nproc_per_node N`` (one node or several) every process sees ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``. :func:`join` starts the process group (gloo on CPU; NCCL on CUDA with one device per local rank)
and returns a :class:`Shard`; rank ``r`` of ``w`` takes items ``r, r + w, r + 2w, ...`` of the sorted input list
(:meth:`Shard.take`). Without torchrun the job is one process holding every item.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """This process's place in the job: ``rank`` of ``world`` (``local_rank`` on its node) and its device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that merges the ranks' results."""
        return self.rank == 0

    def take(self, items: Sequence[T]) -> list[T]:
        """Items ``rank::world`` of ``items`` (sort them first: every rank must see the same order)."""
        return list(items[self.rank::self.world])

    def barrier(self) -> None:
        """Wait until every rank gets here (no-op for one process)."""
        if self.world > 1 and dist.is_initialized():
            if dist.get_backend() == "nccl":
                dist.barrier(device_ids=[self.local_rank])
            else:
                dist.barrier()


def env_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment; ``(0, 1, 0)`` outside torchrun."""
    return (int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
            int(os.environ.get("LOCAL_RANK", "0")))


def join(device: str | None = None) -> Shard:
    """Join the torchrun job (starting its process group once) and return this process's :class:`Shard`.

    ``device``: ``"cpu"``, ``"cuda"`` or None (CUDA when available). On CUDA, local rank ``i`` uses ``cuda:i``.
    """
    rank, world, local = env_world()
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    dev = f"cuda:{local}" if use_cuda else "cpu"
    if use_cuda:
        torch.cuda.set_device(local)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Shard(rank, world, local, dev)


def leave() -> None:
    """End the process group if :func:`join` started one."""
    if dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["Shard", "env_world", "join", "leave"]
