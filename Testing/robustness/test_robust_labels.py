"""Label files: non-integral or out-of-range values are refused clearly (never wrapped, never read
from freed memory); seg.nrrd headers are validated; mesh file names are capped and sanitised and
a command writes all its outputs or none."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import InputError
from medseg.io import read_label_image
from medseg.io.meshes import MAX_STEM, safe_name
from medseg.io.segnrrd import write_seg_nrrd
from medseg.labels import Label
from robust_corpus import first_line_error, no_temp_files, run_cli


def _labels(values: np.ndarray, path, dtype=None):
    image = sitk.GetImageFromArray(values if dtype is None else values.astype(dtype))
    image.SetSpacing((1.0, 1.0, 2.0))
    sitk.WriteImage(image, str(path))
    return path


def _blocks(shape=(8, 24, 24)) -> np.ndarray:
    arr = np.zeros(shape, dtype=np.float32)
    arr[2:6, 4:10, 4:10] = 1
    arr[2:6, 12:20, 12:20] = 2
    return arr


def test_float_labels_read_the_same_every_time(tmp_path):
    path = _labels(_blocks(), tmp_path / "f.nrrd")
    first = sitk.GetArrayFromImage(read_label_image(path)[0])
    for _ in range(8):  # a view of a freed image gives other values (or a crash) on some reads
        gc.collect()
        junk = [np.full((64, 64, 64), 7, np.float32) for _ in range(4)]  # reuse freed memory
        image, _names = read_label_image(path)
        assert np.array_equal(sitk.GetArrayFromImage(image), first)
        del junk
    assert sorted(np.unique(first)) == [0, 1, 2] and first.dtype == np.uint8


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_label_value_70000_is_refused_not_wrapped(dtype, tmp_path):
    arr = _blocks()
    arr[arr == 2] = 70000
    path = _labels(arr, tmp_path / "big.nrrd", dtype)
    with pytest.raises(InputError, match="70000.*outside the label range 0..65535"):
        read_label_image(path)
    for cmd in (("mesh", path, "-o", tmp_path / "m"), ("evaluate", path, path)):
        line = first_line_error(run_cli(*cmd))
        assert "70000" in line and "4464" not in line
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_non_integral_labels_are_refused(tmp_path):
    arr = _blocks()
    arr[3, 5, 5] = 1.5
    path = _labels(arr, tmp_path / "half.nrrd")
    with pytest.raises(InputError, match="not whole numbers.*1.5"):
        read_label_image(path)


def test_negative_labels_are_said_only_when_there_are_some(tmp_path):
    ok = _labels(_blocks(), tmp_path / "ok.nrrd")
    ct = _labels(np.full((8, 24, 24), 40, np.int16), tmp_path / "ct.nrrd")
    res = run_cli("stats", ct, ok, "-o", tmp_path / "s.csv")
    assert res.returncode == 0 and "negative" not in res.stderr, res.stderr
    neg = _blocks()
    neg[0, 0, 0] = -3
    bad = _labels(neg, tmp_path / "neg.nrrd")
    assert "-3" in first_line_error(run_cli("stats", ct, bad, "-o", tmp_path / "s2.csv"))
    assert not (tmp_path / "s2.csv").exists()


def _seg(tmp_path, name="seg.seg.nrrd", **fields):
    arr = _blocks().astype(np.uint8)
    image = sitk.GetImageFromArray(arr)
    path = write_seg_nrrd(image, tmp_path / name, segments=[Label(1, "liver", (200, 100, 50)),
                                                            Label(2, "spleen", (100, 200, 50))])
    if fields:
        text = path.read_bytes()
        head, _, body = text.partition(b"\n\n")
        lines = head.decode("latin-1").split("\n")
        for key, value in fields.items():
            lines = [ln for ln in lines if not ln.startswith(f"{key}:=")] + [f"{key}:={value}"]
        path.write_bytes("\n".join(lines).encode("latin-1") + b"\n\n" + body)
    return path


BAD_FIELDS = {
    "label value not a number": ({"Segment0_LabelValue": "notanumber"}, "Segment0_LabelValue"),
    "label value 0": ({"Segment0_LabelValue": "0"}, "Segment0_LabelValue"),
    "label value 1e9": ({"Segment1_LabelValue": "1000000000"}, "Segment1_LabelValue"),
    "layer not a number": ({"Segment0_Layer": "top"}, "Segment0_Layer"),
    "layer out of range": ({"Segment1_Layer": "4"}, "Segment1_Layer"),
    "colour not numbers": ({"Segment0_Color": "abc"}, "Segment0_Color"),
    "colour NaN": ({"Segment0_Color": "nan 0 0"}, "Segment0_Color"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_seg_nrrd_header_is_validated(case, tmp_path):
    fields, word = BAD_FIELDS[case]
    path = _seg(tmp_path, **fields)
    with pytest.raises(InputError, match=word):
        read_label_image(path)


def test_seg_nrrd_label_value_notanumber_in_every_command(tmp_path):
    path = _seg(tmp_path, **{"Segment0_LabelValue": "notanumber"})
    ct = _labels(np.full((8, 24, 24), 40, np.int16), tmp_path / "ct.nrrd")
    for cmd in (("stats", ct, path, "-o", tmp_path / "s.csv"), ("radiomics", ct, path, "-o", tmp_path / "r.csv"),
                ("mesh", path, "-o", tmp_path / "m"), ("evaluate", path, path)):
        assert "Segment0_LabelValue" in first_line_error(run_cli(*cmd))


def test_long_segment_names_make_short_distinct_file_names(tmp_path):
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    assert len(safe_name(long_a)) <= MAX_STEM and safe_name(long_a) != safe_name(long_b)
    assert safe_name("../../etc/passwd") == "etc_passwd" and safe_name("NUL") == "NUL_"
    arr = np.zeros((8, 24, 24), np.uint8)
    names = []
    for v in range(1, 7):
        arr[1:7, 2 + 3 * (v - 1):4 + 3 * (v - 1), 4:20] = v
        names.append(Label(v, long_a if v == 6 else f"organ {v}", (10 * v, 20, 30)))
    path = write_seg_nrrd(sitk.GetImageFromArray(arr), tmp_path / "l.seg.nrrd", segments=names)
    res = run_cli("mesh", path, "-o", tmp_path / "m")
    assert res.returncode == 0, res.stderr
    written = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert len(written) == 6 and all(len(n) < 120 for n in written)


def test_mesh_writes_all_files_or_none(tmp_path):
    arr = np.zeros((8, 24, 24), np.uint8)
    for v in range(1, 5):
        arr[1:7, 2 + 5 * (v - 1):5 + 5 * (v - 1), 4:20] = v
    path = write_seg_nrrd(sitk.GetImageFromArray(arr), tmp_path / "l.seg.nrrd")
    out = tmp_path / "m"
    out.mkdir()
    (out / "label-3.stl").mkdir()  # the third mesh cannot be written: a folder holds its name
    line = first_line_error(run_cli("mesh", path, "-o", out))
    assert "label-3.stl" in line
    assert sorted(p.name for p in out.iterdir()) == ["label-3.stl"] and not no_temp_files(out)
