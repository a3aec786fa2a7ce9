"""torch.distributed plumbing for `torchrun`: who am I, which device, and summing counts across ranks.

Everything else in the trainer stays ignorant of distribution except through these helpers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from nmt.devices import resolve_device


@dataclass(frozen=True)
class Process:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_process(device_name: str) -> tuple[Process, torch.device]:
    """Join the process group when started by torchrun (WORLD_SIZE > 1), else run alone.

    gloo on CPU, NCCL on GPUs; multi-node runs need nothing more than torchrun's own
    ``--nnodes`` and ``--rdzv-endpoint``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Process(), resolve_device(device_name)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Process(rank, world_size, local_rank), device


def sum_across(value: float, process: Process, device: torch.device) -> float:
    """The sum of ``value`` over all ranks (itself when running alone)."""
    if not process.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item())


def barrier(process: Process) -> None:
    if process.distributed:
        dist.barrier()


def shutdown(process: Process) -> None:
    """Leave the process group once every rank is done with it.

    The barrier keeps a fast rank from tearing down its gloo connections while another still
    waits on a collective; destroying a group under live communication can abort the process
    ("terminate called without an active exception").
    """
    if process.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
