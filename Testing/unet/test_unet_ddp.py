"""Distributed training: scripts/train_unet.py under torchrun, 2 CPU processes with gloo."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from medseg.unet.card import read_card  # noqa: E402
from unet_helpers import tiny_data  # noqa: E402,F401

REPO = Path(__file__).resolve().parents[2]


def test_torchrun_two_cpu_processes(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO / "scripts" / "train_unet.py"), "--data", str(tiny_data), "--out", str(out),
           "--epochs", "2", "--batch-size", "4", "--depth", "3", "--base", "4", "--lr", "0.01",
           "--device", "cpu", "--no-montage"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MEDSEG_PROGRESS="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("best validation Dice") == 1  # only rank 0 reports
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert len(rows) == 2 and float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    # Both ranks together saw the whole epoch (DistributedSampler pads to an even split).
    from medseg.unet.dataset import read_dataset
    from medseg.unet.slices import SliceSet

    n = len(SliceSet(read_dataset(tiny_data), "train", 0.25))
    assert int(rows[0]["samples"]) == n + n % 2
    assert read_card(out)["training"]["epochs"] == 2
    assert not list(out.glob(".*"))  # no leftover temporary files from a second writer
