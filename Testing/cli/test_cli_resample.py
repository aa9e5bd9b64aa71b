"""`medseg info`/`convert` on a stack with a missing slice: resampled by default, kept with --no-resample."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from medseg.phantom.dicom_writer import write_ct_series


def _gappy_series(tmp_path):
    hu = np.full((6, 16, 16), -1000, dtype=np.int16)
    hu[:, 4:12, 4:12] = 40
    z = np.array([0.0, 2.0, 4.0, 8.0, 10.0, 12.0])  # slice at 6 mm missing
    positions = np.stack([np.zeros(6), np.zeros(6), z], axis=1)
    folder = tmp_path / "gap"
    write_ct_series(hu, (2.0, 1.0, 1.0), (0.0, 0.0, 0.0), folder, positions=positions)
    return folder


def test_info_says_it_will_resample(tmp_path, cli):
    res = cli("info", _gappy_series(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "resamples it to 16x16x7" in res.stdout
    assert "warning" in res.stdout


def test_convert_resamples_by_default_and_keeps_slices_when_asked(tmp_path, cli):
    folder = _gappy_series(tmp_path)
    res = cli("convert", folder, "-o", tmp_path / "a.nrrd")
    assert res.returncode == 0, res.stderr
    assert sitk.ReadImage(str(tmp_path / "a.nrrd")).GetSize() == (16, 16, 7)
    res = cli("convert", folder, "-o", tmp_path / "b.nrrd", "--no-resample")
    assert res.returncode == 0, res.stderr
    assert sitk.ReadImage(str(tmp_path / "b.nrrd")).GetSize() == (16, 16, 6)
    assert "uneven" in res.stderr
