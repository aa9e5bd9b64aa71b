"""Distributed training helpers: the same training code runs alone or under ``torchrun``.

``torchrun --nproc_per_node=N scripts/train_unet.py ...`` sets RANK / WORLD_SIZE / LOCAL_RANK;
:func:`setup` then joins the process group (NCCL on GPU, gloo on CPU) and each process trains
on its DistributedSampler share. Only rank 0 writes files. Without those variables it is a
single process and nothing here touches torch.distributed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ParameterError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only this process writes checkpoints, logs, plots and the model card."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1 and dist.is_available() and dist.is_initialized()


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` (CUDA, else Apple's MPS, else CPU), ``cpu``, ``cuda``/``cuda:N`` or ``mps``."""
    name = (name or "auto").lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError("--device cuda asked, but torch sees no CUDA GPU; use --device cpu or auto")
        return torch.device(name)
    if name == "mps":
        if not has_mps:
            raise ParameterError("--device mps asked, but torch sees no Apple GPU (MPS); use --device cpu or auto")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise ParameterError(f"unknown device {name!r}; use auto, cpu, cuda or mps")


def setup(device: str = "auto") -> Dist:
    """Join the torchrun process group when launched by torchrun; returns this process's :class:`Dist`."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device)
    if world > 1:
        if dev.type == "cuda":
            torch.cuda.set_device(local)
            dev = torch.device("cuda", local)
        else:
            # N processes share the CPU cores: one thread pool each would oversubscribe them.
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, local, dev)


def all_sum(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """Sum of ``t`` over all processes (``t`` itself when single)."""
    if not d.active:
        return t
    work = t.to(d.device if d.device.type == "cuda" else "cpu").clone()
    dist.all_reduce(work, op=dist.ReduceOp.SUM)
    return work.to(t.device)


def all_gather_lists(values: list, d: Dist) -> list:
    """The concatenation, in rank order, of every process's list (``values`` itself when single)."""
    if not d.active:
        return list(values)
    gathered: list = [None] * d.world
    dist.all_gather_object(gathered, list(values))
    return [v for part in gathered for v in part]


def barrier(d: Dist) -> None:
    if d.active:
        dist.barrier()


def cleanup(d: Dist) -> None:
    if d.active:
        dist.destroy_process_group()
