"""Memory and work bombs are refused before anything is allocated, with the limit and the
environment variable that raises it in the message (medseg.limits)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import LimitError, MedSegError
from medseg.io import load
from medseg.limits import check_allocation, check_work, limit
from robust_corpus import first_line_error, jpeg2000_series, phantom_series, run_cli, set_tags

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: The command under test may use this much address space; the bombs below ask for 100 GB or more.
CHILD_AS = 3 * 2 ** 30


def _run_bounded(*argv):
    """The CLI in a child whose address space is capped: a bomb not refused up front is a MemoryError
    (exit 2 "out of memory") or a kill, and the RSS the child reached is returned too."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_AS, CHILD_AS))

    env = dict(os.environ, MEDSEG_PROGRESS="0", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "medseg", *map(str, argv)], stdout=out, stderr=err,
                                env=env, preexec_fn=cap)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss * 1024


def test_limits_are_stated_and_configurable(monkeypatch):
    with pytest.raises(LimitError, match=r"over the limit of 2.147e\+09 elements; .*MEDSEG_MAX_VOXELS"):
        check_allocation("a test array", (65535, 65535, 6), np.float32)
    with pytest.raises(LimitError, match=r"over the limit of 16 GiB; .*MEDSEG_MAX_BYTES"):
        check_allocation("a test array", (2 ** 31 - 1,), np.complex128)
    monkeypatch.setenv("MEDSEG_MAX_BYTES", "1M")
    assert limit("bytes") == 2 ** 20
    with pytest.raises(LimitError, match="1 MiB"):
        check_allocation("a test array", (512, 513), np.float32)
    monkeypatch.setenv("MEDSEG_MAX_VOXELS", "1000")
    with pytest.raises(LimitError, match="MEDSEG_MAX_VOXELS"):
        check_allocation("a test array", (10, 10, 11), np.uint8)
    monkeypatch.setenv("MEDSEG_MAX_WORK", "1e6")
    with pytest.raises(LimitError, match="MEDSEG_MAX_WORK"):
        check_work("smoothing", 1000, 10000)
    monkeypatch.setenv("MEDSEG_MAX_BYTES", "lots")
    with pytest.raises(LimitError, match="not a positive size"):
        limit("bytes")
    with pytest.raises(LimitError):
        check_allocation("nan shape", (float("nan"), 3), np.float32)


def test_rows_columns_65535_uncompressed(tmp_path):
    files = phantom_series(tmp_path / "s", n=6)
    for f in files:
        set_tags(f, Rows=65535, Columns=65535)
    with pytest.raises(MedSegError, match="truncated"):  # the file cannot hold 8 GB: nothing allocated
        load(tmp_path / "s")


def test_rows_columns_65535_compressed(tmp_path):
    files = jpeg2000_series(tmp_path / "s", n=6)
    for f in files:
        set_tags(f, Rows=65535, Columns=65535)
    with pytest.raises(LimitError, match="decoded DICOM volume.*MEDSEG_MAX_(VOXELS|BYTES)"):
        load(tmp_path / "s")
    code, _out, err, _rss = _run_bounded("convert", tmp_path / "s", "-o", tmp_path / "o.nrrd")
    assert code == 2 and "MEDSEG_MAX_" in err and "out of memory" not in err, err


def test_position_1e300_does_not_grow_info(tmp_path):
    files = phantom_series(tmp_path / "s", n=6)
    set_tags(files[3], ImagePositionPatient=["0", "0", "1e300"])
    code, out, err, rss = _run_bounded("info", tmp_path / "s")
    assert code == 0, err
    assert "damaged" in out and rss < CHILD_AS


def test_one_slice_far_away_on_a_real_sized_grid(tmp_path):
    files = phantom_series(tmp_path / "s", n=6, size=512)
    set_tags(files[4], ImagePositionPatient=["0", "0", "1000008"])  # ~52 GB if the grid grew to reach it
    code, _out, err, _rss = _run_bounded("convert", tmp_path / "s", "-o", tmp_path / "o.nrrd")
    assert code == 2 and files[4].name in err and "--skip-damaged" in err, err


def test_regular_grid_is_checked_before_it_is_filled(tmp_path, monkeypatch):
    positions = [[0, 0, z] for z in (0.0, 1.0, 2.0, 3.0, 40.0)]  # a 37 mm gap: 38 slices to interpolate
    from medseg.phantom.dicom_writer import write_ct_series
    from robust_corpus import phantom_hu

    write_ct_series(phantom_hu(5, 64), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), tmp_path / "s", positions=positions)
    monkeypatch.setenv("MEDSEG_MAX_VOXELS", str(64 * 64 * 20))
    with pytest.raises(LimitError, match="regular grid"):
        load(tmp_path / "s")
    image, _ = load(tmp_path / "s", resample=False)  # without resampling only the 5 slices are made
    assert image.GetSize() == (64, 64, 5)


def test_nrrd_header_size_bomb(tmp_path):
    bomb = tmp_path / "bomb.nrrd"
    bomb.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 100000 100000 100000\nencoding: raw\n\n" + b"\0" * 64)
    for argv in (("convert", bomb, "-o", tmp_path / "o.nrrd"), ("info", bomb), ("mesh", bomb, "-o", tmp_path / "m")):
        line = first_line_error(run_cli(*argv))
        assert "MEDSEG_MAX" in line or "truncated" in line, line


def test_radiomics_bin_width_1e_7(tmp_path):
    pytest.importorskip("radiomics")
    phantom_series(tmp_path / "s", n=6)
    labels = np.zeros((6, 32, 32), np.uint8)
    labels[1:5, 8:24, 8:24] = 1
    lab = sitk.GetImageFromArray(labels)
    lab.SetSpacing((1.0, 1.0, 2.0))
    sitk.WriteImage(lab, str(tmp_path / "l.nrrd"))
    params = tmp_path / "p.yaml"
    params.write_text("setting:\n  binWidth: 0.0000001\nfeatureClass:\n  glcm:\n")
    code, _out, err, rss = _run_bounded("radiomics", tmp_path / "s", tmp_path / "l.nrrd", "-o", tmp_path / "r.csv",
                                        "--params", params)
    assert code == 2 and "radiomics" in err and "binWidth" in err and "MEDSEG_MAX" in err, err
    assert not (tmp_path / "r.csv").exists()


def test_mesh_smoothing_work_is_bounded(tmp_path):
    from medseg.measure.mesh import label_surfaces

    arr = np.zeros((10, 20, 20), np.uint8)
    arr[2:8, 5:15, 5:15] = 1
    with pytest.raises(LimitError, match="Taubin smoothing.*MEDSEG_MAX_WORK"):
        label_surfaces(sitk.GetImageFromArray(arr), smooth_iterations=100_000_000)
    assert label_surfaces(sitk.GetImageFromArray(arr), smooth_iterations=50)  # a normal request still runs
