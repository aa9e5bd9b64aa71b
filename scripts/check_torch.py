"""Fail `make setup` loudly when torch is a CUDA build on a machine that has no NVIDIA driver.

Installing `torch` unpinned (or letting another package pull it) fetches several GB of CUDA
wheels; on CPU-only machines we expect the pinned CPU wheel. Set MEDSEG_ALLOW_CUDA_TORCH=1 to
accept a CUDA build anyway.
"""

import os
import shutil
import sys

import torch

cuda_build = torch.version.cuda is not None
has_gpu = shutil.which("nvidia-smi") is not None or os.path.exists("/proc/driver/nvidia/version")
print(f"torch {torch.__version__} ({'CUDA ' + torch.version.cuda if cuda_build else 'CPU'} build)")
if cuda_build and not has_gpu and os.environ.get("MEDSEG_ALLOW_CUDA_TORCH") != "1":
    sys.exit("setup: torch is a CUDA build but this machine has no NVIDIA GPU; expected the CPU wheel "
             "(pip install torch==2.13.0). Remove .venv and run `make setup` again, or set MEDSEG_ALLOW_CUDA_TORCH=1.")
