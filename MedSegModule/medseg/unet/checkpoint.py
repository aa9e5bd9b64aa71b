"""Training checkpoints: everything needed to resume exactly, shared by the U-Net and the volume classifier.

A checkpoint holds the weights, the optimiser, scheduler and AMP scaler states, torch's RNG state
and the caller's bookkeeping (epoch, history, best metrics, seconds, ...). It is written atomically
and read with ``torch.load(weights_only=True)``: only tensors and plain containers, no code.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InputError
from ..io.atomic import write_bytes


def save_checkpoint(path: Path, net, optimizer, scheduler, scaler, **state) -> Path:
    """Write ``path``: the four states, the RNG and ``state`` (epoch, history, ...); returns ``path``."""
    from .card import state_bytes

    write_bytes(path, state_bytes({"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                                   "rng": torch.get_rng_state(), **state}))
    return path


def load_checkpoint(path: Path, net, optimizer, scheduler, scaler) -> dict:
    """Restore the four states and the RNG from ``path``; returns the rest (the caller's ``state``).

    :class:`InputError` when there is nothing to resume from.
    """
    if not Path(path).is_file():
        raise InputError(f"{path}: nothing to resume from")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(ck.pop("model"))
    optimizer.load_state_dict(ck.pop("optimizer"))
    scheduler.load_state_dict(ck.pop("scheduler"))
    scaler.load_state_dict(ck.pop("scaler"))
    torch.set_rng_state(ck.pop("rng"))
    return ck
