"""Phantom study → DICOM → our loader: geometry, values and label alignment."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.io import load, read_label_image
from medseg.io.grid import same_grid
from medseg.labels import AIR_HU, LUNG_RIGHT
from medseg.phantom import write_phantom_study


@pytest.mark.parametrize("names,numbers", [(False, "ascending"), (True, "random"), (True, "reversed")])
def test_phantom_round_trip_sorts_by_position(tmp_path, names, numbers):
    study = write_phantom_study(tmp_path / "study", seed=3, shuffle_names=names, instance_numbers=numbers)
    phantom = study["phantom"]
    image, meta = load(study["dicom"])
    assert meta["is_hu"] and meta["modality"] == "CT"
    assert np.array_equal(sitk.GetArrayViewFromImage(image), phantom.hu)
    assert np.allclose(image.GetOrigin(), phantom.origin, atol=1e-4)
    assert np.allclose(image.GetSpacing(), phantom.spacing_xyz, atol=1e-4)
    labels, _ = read_label_image(study["labels"])
    assert same_grid(labels, image)
    # The labels sit on the anatomy they name: right-lung voxels read lung HU in the converted volume.
    hu = sitk.GetArrayViewFromImage(image)
    lung = sitk.GetArrayViewFromImage(labels) == LUNG_RIGHT.value
    assert -900 < float(hu[lung].mean()) < -750


def test_padding_value_becomes_air(tmp_path):
    study = write_phantom_study(tmp_path / "fov", seed=1, fov_diameter_mm=300.0)
    phantom = study["phantom"]
    assert phantom.padding_mask is not None and phantom.padding_mask.any()
    image, _ = load(study["dicom"])
    hu = sitk.GetArrayViewFromImage(image)
    assert (hu[phantom.padding_mask] == AIR_HU).all()
    assert hu.min() >= AIR_HU


def test_single_file_input(tmp_path):
    study = write_phantom_study(tmp_path / "one", seed=0, shape=(4, 32, 32))
    image, meta = load(study["files"][2])
    assert image.GetSize() == (32, 32, 1)
    assert meta["slices"] == 1


def test_demo_command(tmp_path, cli):
    res = cli("demo", "-o", tmp_path / "demo")
    assert res.returncode == 0, res.stderr
    for study in ("chest", "head"):
        for suffix in ("-hu.nrrd", "-truth.seg.nrrd", "-truth.png"):
            assert (tmp_path / "demo" / study / f"{study}{suffix}").stat().st_size > 0
    assert "[chest] info: CT series, 32 slices" in res.stdout and "[head]" in res.stdout
    # The demo scores its own auto-labels against the phantoms' truth; every label must be good.
    import re

    scores = [float(v) for v in re.findall(r" (\d\.\d{3})", "".join(
        line for line in res.stdout.splitlines(keepends=True) if "vs ground truth" in line))]
    assert len(scores) == 9 and min(scores) >= 0.95, res.stdout
    for study in ("chest", "head"):
        assert (tmp_path / "demo" / study / "run" / "report.html").exists()


def test_load_reports_progress_and_can_be_cancelled(tmp_path):
    import threading

    from medseg.errors import Cancelled

    study = write_phantom_study(tmp_path / "p", seed=0, shape=(8, 32, 32))
    seen = []
    load(study["dicom"], progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("decoding" in m for _, m in seen)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        load(study["dicom"], cancel=stop)
