"""U-Net data: slice <-> model grid mapping, augmentation, sampling, dataset building, loss schedule."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import SimpleITK as sitk  # noqa: E402

from medseg.errors import InputError, ParameterError  # noqa: E402
from medseg.unet.augment import AugmentConfig, augment  # noqa: E402
from medseg.unet.data import SliceGrid  # noqa: E402
from medseg.pipeline.dataset import build_dataset  # noqa: E402
from medseg.unet.dataset import read_dataset, split_by_patient  # noqa: E402
from medseg.unet.losses import LossConfig, combined_loss, dice_iou, overlap_counts  # noqa: E402
from medseg.unet.slices import SliceSet  # noqa: E402
from unet_helpers import tiny_data  # noqa: E402,F401


def test_slice_grid_identity_and_roundtrip():
    x = torch.rand(2, 1, 20, 30)
    same = SliceGrid.make((20, 30), (1.0, 1.0), (20, 30), None)
    assert torch.allclose(same.to_model(x), x, atol=1e-6)
    # Resample 1 mm -> 0.5 mm and pad to an odd size, so that every input pixel lands on a model
    # pixel (centres aligned): the round trip then gives the input back.
    grid = SliceGrid.make((20, 30), (1.0, 1.0), (63, 63), 0.5)
    p = torch.softmax(torch.rand(1, 3, 20, 30), 1)
    up = grid.to_model(p)
    back = grid.from_model(up)
    assert torch.allclose(back, p, atol=1e-5)
    # Outside the input is fill on the way in; outside the model grid is background on the way out.
    assert float(grid.to_model(x, fill=-5.0)[0, 0, 0, 0]) == -5.0
    small = SliceGrid.make((40, 40), (1.0, 1.0), (8, 8), None)
    b = small.from_model(torch.softmax(torch.rand(1, 3, 8, 8), 1))
    assert torch.allclose(b[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_augment_is_seeded_and_identical_on_image_and_mask():
    yy, xx = np.mgrid[:64, :64]
    mask = (((yy - 30) ** 2 + (xx - 20) ** 2) < 150).astype(np.uint8)
    image = mask.astype(np.float32)
    cfg = AugmentConfig(gain=0, offset=0, noise=0, flip_lr=0.5, flip_ud=0.5)
    a = augment(image, mask, np.random.default_rng(3), cfg)
    b = augment(image, mask, np.random.default_rng(3), cfg)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    for seed in range(10):
        img2, m2 = augment(image, mask, np.random.default_rng(seed), cfg)
        assert m2.dtype == np.uint8 and set(np.unique(m2)) <= {0, 1}
        # Same geometry: the linearly resampled image thresholded at 0.5 matches the nearest mask.
        assert np.mean((img2 > 0.5) != (m2 > 0)) < 0.02
    c = augment(image, mask, np.random.default_rng(4), cfg)
    assert not np.array_equal(a[1], c[1])


def test_augment_flip_swaps_mirror_classes():
    mask = np.zeros((8, 8), np.uint8)
    mask[:, :3] = 1  # the patient's right is at low column index (LPS)
    mask[:, 5:] = 2
    cfg = AugmentConfig(shift=0, rotate_deg=0, zoom=0, flip_lr=1.0, gain=0, offset=0, noise=0)
    _, flipped = augment(mask.astype(np.float32), mask, np.random.default_rng(0), cfg, mirror_pairs=[[1, 2]])
    assert np.array_equal(flipped, mask)  # flipped left-right and the names swapped back: same map
    _, plain = augment(mask.astype(np.float32), mask, np.random.default_rng(0), cfg)
    assert np.array_equal(plain, mask[:, ::-1])


def test_dataset_and_sampling(tiny_data):
    info = read_dataset(tiny_data)
    assert [c["name"] for c in info["classes"]] == ["background", "lung-right", "lung-left"]
    assert info["preprocessing"]["size"] == [48, 48] and info["input_range"]["modality"] == ["CT"]
    patients = {f["id"]: f["patient"] for f in info["files"]}
    assert not {patients[i] for i in info["split"]["train"]} & {patients[i] for i in info["split"]["val"]}
    img = np.load(tiny_data / info["files"][0]["image"], mmap_mode="r")
    assert img.dtype == np.float16 and img.shape == (8, 48, 48) and 0 <= float(img.min()) <= float(img.max()) <= 1
    s = SliceSet(info, "train", neg_fraction=0.5, augmentation=AugmentConfig(), seed=1)
    n_pos = len(s.positives)
    assert len(s) == n_pos + min(len(s.negatives), n_pos)
    x, y = s[0]
    assert x.shape == (1, 48, 48) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(s[1][0], s[1][0])  # same epoch and index: same augmentation
    everything = SliceSet(info, "val", neg_fraction=None)
    assert len(everything) == sum(f["slices"] for f in info["files"] if f["id"] in info["split"]["val"])


def test_dataset_with_label_files_and_classes(tiny_data, tmp_path):
    studies = [tiny_data.parent / f"s{i}" for i in range(2)]
    labels = [s / "labels.nrrd" for s in studies]
    info = build_dataset([s / "dicom" for s in studies], tmp_path / "d", labels=labels, classes=["bone"],
                         spacing_mm=4.0, size=(96, 96))
    assert [c["name"] for c in info["classes"]] == ["background", "bone"] and info["head"] == "sigmoid"
    mask = np.load(tmp_path / "d" / info["files"][0]["mask"])
    assert mask.shape[1:] == (96, 96) and set(np.unique(mask)) == {0, 1}
    with pytest.raises(ParameterError):
        build_dataset(studies, tmp_path / "e", labels=labels[:1])
    with pytest.raises(InputError, match="no label file"):
        build_dataset([studies[0] / "dicom"], tmp_path / "f")
    with pytest.raises(InputError, match="not a training folder"):
        read_dataset(tmp_path)
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["format"] == "medseg-dataset/1"


def test_split_by_patient():
    train, val = split_by_patient(["a", "a", "b", "c", "d", "e"], 0.2, seed=0)
    assert len(val) == 1 and not train & val and train | val == set("abcde")
    assert split_by_patient(["a"], 0.5, 0) == ({"a"}, set())


def test_loss_schedule_and_counts():
    cfg = LossConfig()
    assert cfg.weights(0) == (0.8, pytest.approx(0.2)) and cfg.weights(49)[0] == 0.8 and cfg.weights(50) == (0.5, 0.5)
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, 2:6, 2:6] = 1
    perfect = torch.full((1, 2, 8, 8), -10.0)
    perfect[:, 0][target == 0] = 10
    perfect[:, 1][target == 1] = 10
    loss, parts = combined_loss(perfect, target, "softmax", cfg, 0)
    assert float(loss) < 0.01 and parts["w_dice"] == 0.8
    bad, _ = combined_loss(-perfect, target, "softmax", cfg, 0)
    assert float(bad) > 0.5
    sig, _ = combined_loss(perfect[:, 1:] - perfect[:, :1], target, "sigmoid", cfg, 60)
    assert float(sig) < 0.01
    counts = overlap_counts(target, target, 2)
    assert dice_iou(counts) == ([1.0], [1.0])


def test_dataset_records_source_origin_and_review_drops(tiny_data, tmp_path, cli):
    studies = [tiny_data.parent / f"s{i}" for i in range(2)]
    manifest = {"format": "medseg-review-manifest/1", "series": {
        "s1": {"source": "real", "origin": "reviewed",
               "tasks": {"lungs": {"drop": {"2": "labels leak into the chest wall"}, "edited": {"5": "redrawn"}}}}}}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    info = build_dataset(studies, tmp_path / "d", task="lungs", spacing_mm=None, size=(48, 48), manifest=path)
    plain, reviewed = info["files"]
    assert (plain["series"], plain["source"], plain["origin"]) == ("s0", "phantom", "truth")
    assert plain["slice_z"] == list(range(8)) and set(plain["slice_origin"]) == {"truth"}
    assert (reviewed["series"], reviewed["source"], reviewed["origin"]) == ("s1", "real", "reviewed")
    assert reviewed["slices"] == 7 and 2 not in reviewed["slice_z"]
    assert reviewed["dropped"] == [{"z": 2, "reason": "labels leak into the chest wall"}]
    assert reviewed["slice_origin"][reviewed["slice_z"].index(5)] == "edited"
    assert np.load(tmp_path / "d" / reviewed["image"]).shape[0] == 7
    c = info["composition"]
    assert (c["slices"], c["real"], c["phantom"], c["dropped"]) == (15, 7, 8, 1)
    assert c["by_origin"] == {"truth": 8, "reviewed": 6, "edited": 1}
    # the command line says the same, and auto-labels are classical
    r = cli("dataset", studies[0] / "dicom", "-o", tmp_path / "e", "--task", "lungs", "--auto", "lungs",
            "--spacing", "none", "--size", "48")
    assert r.returncode == 0, r.stderr
    assert "0 phantom; label origin: classical 8" in r.stdout
    e = json.loads((tmp_path / "e" / "dataset.json").read_text())["files"][0]
    assert (e["series"], e["source"], e["origin"]) == ("s0", "real", "classical")
    path.write_text("{}")
    with pytest.raises(InputError, match="not a review manifest"):
        build_dataset(studies, tmp_path / "f", task="lungs", manifest=path)


def test_augment_field_of_view_crop_and_blur():
    rng = np.random.default_rng(0)
    image = rng.random((64, 64)).astype(np.float32) * 0.8 + 0.2
    mask = np.ones((64, 64), np.uint8)
    cfg = AugmentConfig(shift=0, rotate_deg=0, zoom=0, flip_lr=0, gain=0, offset=0, noise=0, fov_crop=1.0, blur=0)
    img, m = augment(image, mask, np.random.default_rng(1), cfg)
    assert m[0, 0] == 0 and m[32, 32] == 1 and 0.2 < m.mean() < 0.98  # a disc is kept, the corners are cut
    assert np.all(img[m == 0] == image.min())  # what is cut off is air
    blurred, _ = augment(image, mask, np.random.default_rng(1), AugmentConfig(
        shift=0, rotate_deg=0, zoom=0, flip_lr=0, gain=0, offset=0, noise=0, blur=2.0))
    assert blurred.std() < image.std()
