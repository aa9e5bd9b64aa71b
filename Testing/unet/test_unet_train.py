"""U-Net training on a tiny phantom set: the loss falls, outputs are written, resume is exact."""

from __future__ import annotations

import csv
import threading

import pytest

torch = pytest.importorskip("torch")

from medseg.errors import Cancelled, InputError  # noqa: E402
from medseg.unet.card import read_card  # noqa: E402
from unet_helpers import TINY_TRAIN, tiny_data, train_tiny  # noqa: E402,F401


def test_training_lowers_the_loss_and_writes_outputs(tiny_data, tmp_path):
    out = tmp_path / "m"
    result = train_tiny(tiny_data, out, gif=True)
    h = result["history"]
    assert len(h) == 2 and h[1]["train_loss"] < h[0]["train_loss"]
    for name in ("model.pt", "model.json", "checkpoint_last.pt", "metrics.csv", "loss.png", "dice.png", "lr.png",
                 "montage/epoch_0001.png", "montage/epoch_0002.png", "montage.gif"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_loss", "val_dice", "val_iou", "lr", "dice_lung-right", "iou_lung-left"} <= set(rows[0])
    card = read_card(out)
    assert card["training"]["epochs"] == 2 and card["training"]["seconds"] > 0
    assert card["mirror_pairs"] == [[1, 2]] and card["input_range"]["modality"] == ["CT"]
    assert 0.0 <= card["metrics"]["val_dice"] <= 1.0 and set(card["metrics"]["per_class"]) == {"lung-right", "lung-left"}


def test_resume_gives_the_same_result(tiny_data, tmp_path):
    straight = train_tiny(tiny_data, tmp_path / "a", montage=False)
    stop = threading.Event()

    def after_first_epoch(fraction, message):
        if fraction >= 0.5:
            stop.set()  # like Ctrl-C after epoch 1: the next epoch's first check raises

    from medseg.unet.train import TrainConfig, train

    cfg = TrainConfig.from_dict({**TINY_TRAIN, "montage": False})
    with pytest.raises(Cancelled):
        train(tiny_data, tmp_path / "b", cfg, progress=after_first_epoch, cancel=stop)
    resumed = train(tiny_data, tmp_path / "b", cfg, resume=True)
    assert [r["train_loss"] for r in resumed["history"]] == [r["train_loss"] for r in straight["history"]]
    assert [r["val_dice"] for r in resumed["history"]] == [r["val_dice"] for r in straight["history"]]
    a = torch.load(tmp_path / "a" / "checkpoint_last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint_last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_without_checkpoint(tiny_data, tmp_path):
    from medseg.unet.train import TrainConfig, train

    with pytest.raises(InputError, match="nothing to resume"):
        train(tiny_data, tmp_path / "none", TrainConfig.from_dict(TINY_TRAIN), resume=True)


def test_early_stopping_and_sigmoid_head(tiny_data, tmp_path):
    """A binary (sigmoid) task with patience 1 stops once the validation Dice stops rising."""
    from medseg.pipeline.dataset import build_dataset

    studies = [tiny_data.parent / f"s{i}" for i in range(3)]
    data = build_dataset(studies, tmp_path / "d", classes=["table-headrest"], spacing_mm=None, size=(48, 48))
    assert data["head"] == "sigmoid"
    # lr 0 and no norm layers (whose running statistics would still move): nothing can improve.
    result = train_tiny(tmp_path / "d", tmp_path / "m", epochs=6, patience=1, lr=0.0, montage=False,
                        schedule="none", arch={"depth": 3, "base": 4, "norm": "none"})
    assert result["epochs"] == 2
    assert read_card(tmp_path / "m")["architecture"]["head"] == "sigmoid"
