"""torch.distributed plumbing for `torchrun`: who am I, which device, and summing counts across ranks.

Everything else in the trainer stays ignorant of distribution except through these helpers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from nmt.errors import NMTError


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


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks this process's GPU when CUDA is available, else the CPU."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise NMTError("training.device is 'cuda' but torch sees no CUDA device")
    return torch.device("cuda", local_rank)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` picks bf16 where the hardware runs it natively (CUDA with bf16; CPUs with
    AVX512-BF16 or AMX, where bf16 matrix products are about twice as fast), else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if _cpu_flags() & {"avx512_bf16", "amx_bf16"} else "fp32"


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


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
    if process.distributed and dist.is_initialized():
        dist.destroy_process_group()
