"""Shared pieces of the U-Net tests: a tiny phantom training folder and a tiny trained model.

Slices are 48 x 48 (chest phantoms at their own ~7 mm pixels, no resampling) and the network
has 3 levels of 4..16 channels, so a 2-epoch run takes a few seconds on one CPU core.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_ARCH = {"depth": 3, "base": 4}
TINY_TRAIN = {"epochs": 2, "batch_size": 4, "lr": 1e-2, "arch": TINY_ARCH, "seed": 0, "device": "cpu"}


def make_tiny_dataset(root: Path, n: int = 3, shape=(8, 48, 48)) -> Path:
    """``n`` chest phantoms (one patient each) -> ``root/ds`` (task lungs, 48 x 48, no resampling)."""
    from medseg.phantom import write_phantom_study
    from medseg.pipeline.dataset import build_dataset

    studies = []
    for i in range(n):
        write_phantom_study(root / f"s{i}", seed=i, kind="chest", shape=shape, patient_id=f"P{i}")
        studies.append(root / f"s{i}")
    build_dataset(studies, root / "ds", task="lungs", spacing_mm=None, size=shape[1:], val_fraction=0.34, seed=0)
    return root / "ds"


def train_tiny(data: Path, out: Path, **overrides) -> dict:
    from medseg.unet.train import TrainConfig, train

    cfg = TrainConfig.from_dict({**TINY_TRAIN, **overrides})
    return train(data, out, cfg)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return make_tiny_dataset(tmp_path_factory.mktemp("unet-data"))


@pytest.fixture(scope="session")
def tiny_model(tiny_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unet-model") / "model"
    train_tiny(tiny_data, out, montage=False)
    return out
