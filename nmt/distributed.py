"""torch.distributed plumbing for `torchrun`: who am I, which device, the DDP wrapper, gradient
accumulation without syncing, and sharing values across ranks.

Everything else in the trainer stays ignorant of distribution except through these helpers; each
is a no-op (or the identity) in a single process.
"""

from __future__ import annotations

import contextlib
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

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


def wrap_model(model: nn.Module, process: Process, device: torch.device) -> nn.Module:
    """The module to run forward and backward through: DDP (which averages gradients over
    ranks in backward) when distributed, else ``model`` itself."""
    if not process.distributed:
        return model
    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def accumulating(model: nn.Module, process: Process, last: bool) -> AbstractContextManager:
    """Context for one backward pass of an accumulated update: gradients sync across ranks only
    on the ``last`` batch of the update (DDP's ``no_sync`` for the others)."""
    if last or not process.distributed:
        return contextlib.nullcontext()
    return model.no_sync()


def from_main(value: Any, process: Process) -> Any:
    """Rank 0's ``value`` on every rank (any picklable object)."""
    if not process.distributed:
        return value
    shared = [value]
    dist.broadcast_object_list(shared, src=0)
    return shared[0]


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
