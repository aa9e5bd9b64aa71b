"""Where a network may run, as every command and the Slicer panel name it (no torch import here).

``auto`` picks CUDA, then Apple MPS, then the CPU; ``cuda:N`` one GPU
(:func:`medseg.unet.distributed.pick_device` turns a name into a torch device).
"""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda", "mps")

__all__ = ["DEVICES"]
