"""`medseg clean`, `lungs` and `autolabel` from the command line, on real data and phantoms."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from medseg.io import read_label_image
from medseg.labels import AUTO_LABELS
from medseg.phantom import write_phantom_study


def _counts(path):
    labels, names = read_label_image(path)
    values, counts = np.unique(sitk.GetArrayViewFromImage(labels), return_counts=True)
    return {int(v): int(n) for v, n in zip(values, counts) if v}, names


def test_lungs_split_on_real_chest_matches_published_counts(chest_dicom, tmp_path, cli):
    out = tmp_path / "lungs.seg.nrrd"
    res = cli("lungs", chest_dicom, "-o", out, "--split", "--roi", tmp_path / "roi.nrrd")
    assert res.returncode == 0, res.stderr
    counts, names = _counts(out)
    assert names == {1: "lung-right", 2: "lung-left"}
    assert abs(counts[1] - 64752) <= 0.03 * 64752
    assert abs(counts[2] - 36536) <= 0.03 * 36536
    roi = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "roi.nrrd")))
    assert roi.sum() > counts[1] + counts[2]


def test_clean_writes_volume_and_masks(tmp_path, cli):
    study = write_phantom_study(tmp_path / "head", seed=2, kind="head", headrest="touching")
    res = cli("clean", study["dicom"], "-o", tmp_path / "clean.nrrd", "--body-mask", tmp_path / "body.seg.nrrd",
              "--object-mask", tmp_path / "objects.nrrd")
    assert res.returncode == 0, res.stderr
    truth = study["phantom"]
    objects = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "objects.nrrd"))) > 0
    table = truth.labels == 2
    dice = 2 * (objects & table).sum() / (objects.sum() + table.sum())
    assert dice >= 0.95
    cleaned = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "clean.nrrd")))
    assert (cleaned[objects] == -1024).all()
    _, names = read_label_image(tmp_path / "body.seg.nrrd")
    assert names == {1: "body"}


def test_autolabel_writes_the_label_table(tmp_path, cli):
    study = write_phantom_study(tmp_path / "chest", seed=1)
    out = tmp_path / "auto.seg.nrrd"
    res = cli("autolabel", study["dicom"], "-o", out)
    assert res.returncode == 0, res.stderr
    counts, names = _counts(out)
    assert set(names.values()) == {lab.name for lab in AUTO_LABELS}
    truth = study["phantom"].labels
    for value in (3, 4):
        assert abs(counts[value] - (truth == value).sum()) <= 0.05 * (truth == value).sum()


def test_non_ct_input_needs_force(tmp_path, cli):
    study = write_phantom_study(tmp_path / "mr", seed=0, kind="cardiac-mr")
    res = cli("lungs", study["dicom"], "-o", tmp_path / "l.nrrd")
    assert res.returncode == 2 and "--force" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "l.nrrd").exists()
