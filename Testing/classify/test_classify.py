"""The 3D CNN volume classifier: network shapes, ROC/AUC, data, determinism, checkpoints, AUC on phantoms, CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from medseg.classify.data import VolumeSet, discover, group_of, rotate_axial, split  # noqa: E402
from medseg.classify.metrics import auc, roc_curve  # noqa: E402
from medseg.classify.model import Architecture, build, count_parameters  # noqa: E402
from medseg.classify.train import ClassifyConfig, train  # noqa: E402
from medseg.errors import InputError, ParameterError  # noqa: E402
from medseg.pipeline.classify_data import write_classify_data  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
#: Small enough for seconds per epoch on one core: 16 x 32 x 32 input, 8..64 filters.
TINY = {"size": [16, 32, 32], "channels": [8, 16, 32, 64], "dense": 64, "batch_size": 4, "lr": 1e-3,
        "augment": False, "device": "cpu", "seed": 0}


def _data(root: Path, phantoms: int) -> Path:
    """Pairs of 16 x 64 x 64 chest phantoms without and with 1-2 free solid or part-solid lesions of 25-50 mm."""
    write_classify_data(root, phantoms=phantoms, phantom_shape=(16, 64, 64), diameters_mm=(25, 50),
                        kinds=("solid", "part-solid"), attached_fraction=0.0, seed=0)
    return root


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return _data(tmp_path_factory.mktemp("cls-data"), 8)


def test_the_seeds_network_shapes_and_parameters():
    net = build(Architecture())
    # the seed's Keras summary: 1,352,897 parameters = these 1,351,873 + 1,024 batch-norm running statistics
    assert count_parameters(net) == 1_351_873
    net.eval()
    assert net(torch.zeros(2, 1, 16, 32, 32)).shape == (2,)
    tiny = build({"channels": [4, 4, 8, 8], "dense": 16, "dropout": 0.3, "in_channels": 1})
    assert tiny(torch.zeros(3, 1, 16, 32, 48)).shape == (3,)
    with pytest.raises(ParameterError):
        Architecture(dropout=1.5)
    with pytest.raises(ParameterError, match="multiple of 16"):
        train(REPO, REPO / "never", ClassifyConfig(size=[10, 32, 32]))


def test_roc_and_auc_by_hand():
    fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)  # ties count half
    assert np.isnan(auc([1, 1], [0.2, 0.3]))


def test_data_folders_groups_split_and_rotation(tiny_data, tmp_path):
    cases = discover(tiny_data)
    assert [c.label for c in cases].count(0) == 8 and [c.label for c in cases].count(1) == 8
    assert group_of(Path("phantom003__abnormal.nrrd")) == "phantom003" and group_of(Path("case.nii.gz")) == "case"
    train_idx, val_idx = split(cases, 0.25, seed=0)
    assert not {cases[i].group for i in train_idx} & {cases[i].group for i in val_idx}  # a pair never splits
    assert {cases[i].label for i in val_idx} == {0, 1} and len(val_idx) == 4
    assert split(cases, 0.25, seed=0) == (train_idx, val_idx)
    with pytest.raises(InputError, match="normal"):
        discover(tmp_path)
    volume = torch.zeros(1, 2, 9, 9)
    volume[0, :, 4, 6:] = 1.0  # a bar pointing to +x
    turned = rotate_axial(volume, 90.0)
    along_rows = max(float(turned[0, 0, 6:, 4].mean()), float(turned[0, 0, :3, 4].mean()))
    assert turned.shape == volume.shape and along_rows > 0.9 and float(turned[0, 0, 4, 6:].mean()) < 0.1
    s = VolumeSet(torch.zeros(5, 1, 2, 8, 8), [0, 1, 0, 1, 0], augment=True, seed=3)
    angles = [s.angle(i) for i in range(5)]
    assert all(5 <= abs(a) <= 20 for a in angles) and angles == [s.angle(i) for i in range(5)]
    s.set_epoch(1)
    assert angles != [s.angle(i) for i in range(5)]


def test_training_is_deterministic_and_checkpoints_load_with_weights_only(tiny_data, tmp_path):
    cfg = ClassifyConfig.from_dict({**TINY, "epochs": 2, "augment": True})
    a = train(tiny_data, tmp_path / "a", cfg)
    b = train(tiny_data, tmp_path / "b", cfg)
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]
    assert [r["val_auc"] for r in a["history"]] == [r["val_auc"] for r in b["history"]]
    wa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    wb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ck = torch.load(tmp_path / "a" / "checkpoint_last.pt", weights_only=True)
    assert ck["epoch"] == 1 and len(ck["history"]) == 2
    for name in ("model.json", "metrics.csv", "loss.png", "auc.png", "lr.png", "roc.png", "validation.csv"):
        assert (tmp_path / "a" / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "a" / "metrics.csv")))
    assert {"train_loss", "val_loss", "val_auc", "val_accuracy", "lr"} <= set(rows[0])
    from medseg.classify.card import load_model, read_card

    card = read_card(tmp_path / "a")
    assert card["format"] == "medseg-classifier/1" and card["preprocessing"]["size"] == [16, 32, 32]
    assert card["training"]["parameters"] == count_parameters(build(card["architecture"]))
    net, _ = load_model(tmp_path / "a")
    assert all(torch.equal(net.state_dict()[k], wa[k]) for k in wa)

    # resume: 1 epoch, then 1 more from the checkpoint, equals 2 straight
    one = ClassifyConfig.from_dict({**TINY, "epochs": 1, "augment": True})
    train(tiny_data, tmp_path / "c", one)
    resumed = train(tiny_data, tmp_path / "c", cfg, resume=True)
    assert [r["train_loss"] for r in resumed["history"]] == [r["train_loss"] for r in a["history"]]


def test_validation_auc_on_generated_phantoms(tmp_path):
    data = _data(tmp_path / "data", 60)
    result = train(data, tmp_path / "model", ClassifyConfig.from_dict({**TINY, "epochs": 10}))
    assert result["best"]["val_auc"] >= 0.95, result["history"]
    from medseg.classify.predict import classify
    from medseg.io import read_volume

    sick = classify(read_volume(sorted((data / "abnormal").glob("*.nrrd"))[0]), tmp_path / "model", device="cpu")
    assert sick.probabilities["normal"] + sick.probabilities["abnormal"] == pytest.approx(1.0)


def test_cli_train_and_classify(tiny_data, tmp_path, cli):
    out = tmp_path / "m"
    res = cli("classify-train", "--data", tiny_data, "--out", out, "--size", "16,32,32", "--channels", "8,8,16,16",
              "--dense", "16", "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--synthetic")
    assert res.returncode == 0, res.stderr
    assert "best validation AUC" in res.stdout and (out / "roc.png").is_file()
    volume = sorted((tiny_data / "normal").glob("*.nrrd"))[0]
    res = cli("classify", volume, "--model", out, "--json")
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    assert set(found["probabilities"]) == {"normal", "abnormal"} and found["label"] in ("normal", "abnormal")
    res = cli("classify", volume, "--model", tmp_path)
    assert res.returncode == 2 and "model" in res.stderr


def test_torchrun_two_cpu_processes(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "medseg",
           "classify-train", "--data", str(tiny_data), "--out", str(out), "--size", "16,32,32",
           "--channels", "8,8,16,16", "--dense", "16", "--epochs", "2", "--batch-size", "2", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MEDSEG_PROGRESS="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("best validation AUC") == 1  # only rank 0 reports
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert len(rows) == 2 and int(rows[0]["samples"]) == 12  # both ranks together saw the 12 training volumes
    assert len(list(csv.DictReader(open(out / "validation.csv")))) == 4  # the ranks' validation shares gathered
