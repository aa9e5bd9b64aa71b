"""`medseg stats` and `medseg radiomics` on the real abdomen with its reference labels."""

from __future__ import annotations

import csv
import json

import numpy as np
import SimpleITK as sitk


def test_stats_command_on_real_abdomen(abdomen_dicom, abdomen_reference, tmp_path, cli):
    out = tmp_path / "stats.csv"
    res = cli("stats", abdomen_dicom, abdomen_reference, "-o", out)
    assert res.returncode == 0, res.stderr
    rows = {r["segment"]: r for r in csv.DictReader(out.open())}
    names = json.loads((abdomen_reference.parent / "reference-labels.json").read_text())
    assert set(rows) == set(names.values())
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(abdomen_reference)))
    liver = rows["liver"]
    assert int(liver["voxel_count"]) == int((ref == 5).sum())
    voxel_ml = 0.9765625 * 0.9765625 * 2.0 / 1000
    assert np.isclose(float(liver["volume_ml"]), (ref == 5).sum() * voxel_ml, rtol=1e-6)
    assert 40 < float(liver["mean"]) < 200  # contrast-enhanced liver, HU


def test_radiomics_command_liver_and_spleen(abdomen_dicom, abdomen_reference, tmp_path, cli):
    out = tmp_path / "rad.json"
    res = cli("radiomics", abdomen_dicom, abdomen_reference, "-o", out, "--labels", "liver,spleen",
              "--params", "ct-baseline")
    assert res.returncode == 0, res.stderr
    rows = json.loads(out.read_text())
    assert [r["segment"] for r in rows] == ["liver", "spleen"]
    assert rows[0]["original_shape_VoxelVolume"] > rows[1]["original_shape_VoxelVolume"] > 100_000


def test_radiomics_unknown_preset_is_a_user_error(abdomen_dicom, abdomen_reference, tmp_path, cli):
    res = cli("radiomics", abdomen_dicom, abdomen_reference, "-o", tmp_path / "r.csv", "--params", "nope")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_stats_on_a_phantom_study_takes_names_from_its_labels_json(tmp_path, cli):
    from medseg.phantom import write_phantom_study

    study = write_phantom_study(tmp_path / "chest", seed=0, shape=(8, 64, 64))
    out = tmp_path / "stats.csv"
    res = cli("stats", study["dicom"], study["labels"], "-o", out)
    assert res.returncode == 0, res.stderr
    rows = {r["segment"]: r for r in csv.DictReader(out.open())}
    truth = study["phantom"].labels
    assert int(rows["lung-right"]["voxel_count"]) == int((truth == 3).sum())
