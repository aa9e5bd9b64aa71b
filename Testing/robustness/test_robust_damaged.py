"""One rule for damaged members of a series: an error naming the file, unless --skip-damaged,
which interpolates over them and says which. Also: FIFOs are skipped, unreadable sub-folders
are said, a DICOMDIR works as an input and its missing entries are damage."""

from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from medseg.errors import DicomDecodeError
from medseg.io import discover, load
from robust_corpus import (cut, first_line_error, jpeg2000_series, phantom_series, pixel_data_offset, real_slices,
                           run_cli, set_tags)


def _damage_zero_byte(files):
    files[2].write_bytes(b"")
    return files[2]


def _damage_header_cut(files):
    return cut(files[2], pixel_data_offset(files[2]) - 40)  # the header stops before the pixel data


def _damage_pixels_cut(files):
    return cut(files[2], pixel_data_offset(files[2]) + 100)


def _damage_no_pixel_data(files):
    return set_tags(files[2], PixelData=None)


def _damage_garbage(files):
    data = bytearray(files[2].read_bytes())
    data[200:400] = os.urandom(200)  # DICM marker kept, the header after it scrambled
    files[2].write_bytes(bytes(data))
    return files[2]


DAMAGE = {"zero-byte": _damage_zero_byte, "header cut": _damage_header_cut, "pixel data cut": _damage_pixels_cut,
          "no pixel data": _damage_no_pixel_data, "scrambled header": _damage_garbage}


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_damaged_member_is_an_error_unless_skipped(how, tmp_path):
    files = phantom_series(tmp_path / "s", n=6)
    victim = DAMAGE[how](files)
    with pytest.raises(DicomDecodeError, match=victim.name) as err:
        load(tmp_path / "s")
    assert "--skip-damaged" in str(err.value)
    image, meta = load(tmp_path / "s", skip_damaged=True)
    assert image.GetSize() == (32, 32, 6)  # the gap is interpolated: same grid as the whole series
    assert [d["file"] for d in meta["damaged"]] == [str(victim)]
    assert any("damaged slice(s) left out and interpolated" in w and victim.name in w for w in meta["warnings"])
    arr = sitk.GetArrayFromImage(image)
    assert np.array_equal(arr[2], arr[1])  # neighbours are identical, so is the interpolated slice


def test_damaged_member_through_the_cli(tmp_path):
    files = phantom_series(tmp_path / "s", n=6)
    _damage_header_cut(files)
    out = tmp_path / "o.nrrd"
    line = first_line_error(run_cli("convert", tmp_path / "s", "-o", out))
    assert files[2].name in line and "--skip-damaged" in line and not out.exists()
    res = run_cli("convert", tmp_path / "s", "-o", out, "--skip-damaged")
    assert res.returncode == 0, res.stderr
    assert "damaged slice(s) left out and interpolated" in res.stderr and files[2].name in res.stderr
    assert sitk.ReadImage(str(out)).GetSize() == (32, 32, 6)


def test_real_jpeg2000_slice_cut_mid_stream(tmp_path):
    files = real_slices("ct-abdomen-20", 5, tmp_path / "abd")
    cut(files[2], 0.6)
    with pytest.raises(DicomDecodeError, match=files[2].name):
        load(tmp_path / "abd")
    image, meta = load(tmp_path / "abd", skip_damaged=True)
    assert image.GetSize() == (512, 512, 5)
    assert meta["damaged"][0]["file"] == str(files[2])
    real_slices("ct-abdomen-20", 5, tmp_path / "whole")
    whole, _ = load(tmp_path / "whole")
    a, b = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(whole)
    assert np.array_equal(a[[0, 1, 3, 4]], b[[0, 1, 3, 4]])  # the other slices are untouched
    expected = (b[1].astype(float) + b[3]) / 2  # the cut slice is the mean of its neighbours
    assert np.abs(a[2] - expected).max() <= 1


def test_phantom_jpeg2000_stream_cut(tmp_path):
    files = jpeg2000_series(tmp_path / "j", n=5)
    cut(files[1], 0.7)
    with pytest.raises(DicomDecodeError, match=files[1].name):
        load(tmp_path / "j")
    _, meta = load(tmp_path / "j", skip_damaged=True)
    assert meta["damaged"][0]["reason"]


def test_unreadable_slice(tmp_path):
    files = phantom_series(tmp_path / "s", n=5)
    os.chmod(files[3], 0)
    try:
        if os.access(files[3], os.R_OK):  # root reads anything: a dangling link is unreadable for everyone
            files[3].unlink()
            files[3].symlink_to(tmp_path / "gone.dcm")
        with pytest.raises(DicomDecodeError, match=files[3].name):
            load(tmp_path / "s")
        _, meta = load(tmp_path / "s", skip_damaged=True)
        assert meta["damaged"][0]["file"] == str(files[3])
    finally:
        if files[3].exists():
            os.chmod(files[3], 0o644)


def test_all_slices_damaged_is_one_error(tmp_path):
    files = phantom_series(tmp_path / "s", n=3)
    for f in files:
        _damage_no_pixel_data([None, None, f])
    with pytest.raises(DicomDecodeError, match="no usable DICOM slice.*no pixel data"):
        load(tmp_path / "s", skip_damaged=True)


def test_a_non_image_without_pixel_data_is_still_only_skipped(tmp_path):
    phantom_series(tmp_path / "s", n=4)
    ds = pydicom.dcmread(next((tmp_path / "s").iterdir()), stop_before_pixels=True)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.11.1"  # a presentation state: never had pixels
    for key in ("Rows", "Columns", "ImagePositionPatient"):
        delattr(ds, key)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.save_as(tmp_path / "s" / "PR.dcm")
    image, meta = load(tmp_path / "s")
    assert image.GetSize()[2] == 4 and "damaged" not in meta


def test_dicomdir_file_as_input_and_a_missing_entry(tmp_path):
    from medseg.phantom import write_phantom_study

    study = write_phantom_study(tmp_path / "p", seed=3, shape=(6, 32, 32), dicomdir=True)
    dicomdir = study["dicomdir"]
    image, meta = load(dicomdir)  # the DICOMDIR file itself, as the README promises
    assert image.GetSize()[2] == 6
    res = run_cli("info", dicomdir, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["series"][0]["slices"] == 6
    study["files"][3].unlink()  # the index lists it, the file is gone
    for source in (dicomdir, study["dicom"]):
        with pytest.raises(DicomDecodeError, match=f"{study['files'][3].name}: listed in DICOMDIR but missing"):
            load(source)
    _, meta = load(dicomdir, skip_damaged=True)
    assert "missing" in meta["damaged"][0]["reason"]


def test_fifo_in_the_folder_is_skipped_not_waited_for(tmp_path):
    phantom_series(tmp_path / "s", n=4)
    os.mkfifo(tmp_path / "s" / "pipe.dcm")
    result = {}

    def run():
        result["found"] = discover(tmp_path / "s")

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():  # unblock the reader so the test process can end
        with open(tmp_path / "s" / "pipe.dcm", "wb"):
            pass
        pytest.fail("discover() blocked on a FIFO")
    reasons = dict((p.name, r) for p, r in result["found"].skipped)
    assert "not a regular file" in reasons["pipe.dcm"]
    for cmd in (("info", tmp_path / "s"), ("convert", tmp_path / "s", "-o", tmp_path / "o.nrrd")):
        res = run_cli(*cmd)
        assert res.returncode == 0, res.stderr


def test_unreadable_sub_folder_is_said(tmp_path, monkeypatch):
    phantom_series(tmp_path / "s" / "a", n=4)
    phantom_series(tmp_path / "s" / "b", n=4, series_number=2)
    locked = tmp_path / "s" / "b"
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.abspath(path) == str(locked):  # what os.walk meets in a folder without read permission
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = discover(tmp_path / "s")
    notes = [r for p, r in found.skipped if p == locked]
    assert notes and "unreadable folder (Permission denied)" in notes[0]
    assert any("unreadable folder" in line for line in found.skipped_summary())


def test_unreadable_sub_folder_for_real(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder; the same path is tested with an unreadable os.scandir above")
    phantom_series(tmp_path / "s" / "a", n=4)
    phantom_series(tmp_path / "s" / "b", n=4, series_number=2)
    os.chmod(tmp_path / "s" / "b", 0)
    try:
        found = discover(tmp_path / "s")
        assert any("unreadable folder" in r for _, r in found.skipped)
    finally:
        os.chmod(tmp_path / "s" / "b", 0o755)


def test_info_lists_damaged_files_without_failing(tmp_path):
    files = phantom_series(tmp_path / "s", n=5)
    _damage_zero_byte(files)
    res = run_cli("info", tmp_path / "s", "--json")
    assert res.returncode == 0, res.stderr
    listing = json.loads(res.stdout)
    assert [d["file"] for d in listing["damaged"]] == [str(files[2])]
    text = run_cli("info", tmp_path / "s").stdout
    assert f"damaged: {files[2]}" in text and "--skip-damaged" in text


def test_info_of_a_volume_file(tmp_path):
    phantom_series(tmp_path / "s", n=4)
    assert run_cli("convert", tmp_path / "s", "-o", tmp_path / "ct.nrrd").returncode == 0
    res = run_cli("info", tmp_path / "ct.nrrd", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)["volume"]
    assert info["size"] == [32, 32, 4] and info["spacing"] == [1.0, 1.0, 2.0] and info["source"] == "volume"
    assert "32x32x4 voxels" in run_cli("info", tmp_path / "ct.nrrd").stdout


def test_damage_in_another_series_does_not_block_this_one(tmp_path):
    phantom_series(tmp_path / "s" / "a", n=4)
    other = phantom_series(tmp_path / "s" / "b", n=6, series_number=2)
    uid = str(pydicom.dcmread(tmp_path / "s" / "a" / "IM0000.dcm", stop_before_pixels=True).SeriesInstanceUID)
    set_tags(other[1], PixelData=None)  # damaged, and its header says which series it belongs to
    image, meta = load(tmp_path / "s", series=uid)
    assert image.GetSize()[2] == 4 and "damaged" not in meta
    with pytest.raises(DicomDecodeError, match=other[1].name):
        load(tmp_path / "s")  # the larger series, which holds it
    shutil.rmtree(tmp_path / "s" / "b")
