"""Radiomics export: parity with direct pyradiomics calls, the process pool, segment selection,
geometry checks, diagnostics, CSV/JSON output and the missing-pyradiomics message.

The phantom is a small CT-like volume (32 x 48 x 48, anisotropic spacing): a body cylinder at soft
tissue HU holding two spheres of different HU, plus Gaussian noise; labels 1 = body,
2 = a table slab, 3 and 4 = the spheres.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import threading

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.measure.radiomics import features as rad
from medseg.errors import Cancelled, DependencyError, GeometryError, InputError, OutputError, ParameterError
from medseg.io import read_label_image
from medseg.io.tables import write_rows

pytest.importorskip("radiomics", reason="pyradiomics is installed by `make setup`")
# pykwalify (pyradiomics' parameter validation) loads its schema extension with the deprecated load_module().
pytestmark = pytest.mark.filterwarnings("ignore:the load_module\\(\\) method is deprecated:DeprecationWarning")
from radiomics.featureextractor import RadiomicsFeatureExtractor  # noqa: E402

AUTO_NAMES = {1: "body", 2: "table-headrest", 3: "lung-right", 4: "lung-left"}
# Fast parameters for tests about plumbing rather than values.
FIRSTORDER = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None}, "setting": {"binWidth": 25}}


def make_phantom(seed: int = 0, n: int = 48, nz: int = 32, spacing=(0.8, 0.8, 1.5), origin=(-20.0, -30.0, 10.0)):
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:nz, :n, :n]
    sz = spacing[2] / spacing[0]
    body = (x - n / 2) ** 2 + (y - n / 2) ** 2 < (0.42 * n) ** 2
    table = (y >= n - 4) & (y < n - 2)
    s1 = (x - 16) ** 2 + (y - 17) ** 2 + ((z - 14) * sz) ** 2 < 9 ** 2
    s2 = (x - 32) ** 2 + (y - 29) ** 2 + ((z - 18) * sz) ** 2 < 7 ** 2
    arr = np.full(z.shape, -1000.0)
    arr[table] = 300
    arr[body] = 20
    arr[s1] = 60
    arr[s2] = 180
    arr += rng.normal(0, 25, arr.shape)
    image = sitk.GetImageFromArray(np.round(arr).astype(np.int16))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    lab = np.zeros(arr.shape, np.uint8)
    lab[body] = 1
    lab[table & ~body] = 2
    lab[s1] = 3
    lab[s2] = 4
    labels = sitk.GetImageFromArray(lab)
    labels.CopyInformation(image)
    return image, labels


@pytest.fixture(scope="module")
def phantom():
    return make_phantom()


def features_only(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("case", "segment", "label_value")}


def direct(image, labels, params, value) -> dict:
    """Features from a plain pyradiomics call, diagnostics dropped."""
    result = RadiomicsFeatureExtractor(params).execute(image, labels, label=value)
    return {k: v for k, v in result.items() if not k.startswith("diagnostics_")}


def assert_parity(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs), "same features in the same order"
    for key, expected in theirs.items():
        got = ours[key]
        assert isinstance(got, (int, float)), (key, type(got))
        expected = float(expected)
        if math.isnan(expected):
            assert math.isnan(got), key
        else:
            assert got == pytest.approx(expected, rel=1e-6, abs=1e-12), key


def same_rows(a: list[dict], b: list[dict]) -> bool:
    """Row lists equal value for value (NaN equals NaN)."""
    return json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)


# ------------------------------------------------------------------------------------------- presets


def test_presets_are_listed_and_valid():
    presets = rad.list_presets()
    assert {"ct-default", "ct-wavelet-log", "ct-baseline"} <= set(presets)
    for name in presets:
        rad.validate_params(name)
    default = rad.load_params("ct-default")
    assert default["setting"]["binWidth"] == 25
    assert default["setting"]["resampledPixelSpacing"] == [1, 1, 1]
    assert default["setting"]["interpolator"] == "sitkBSpline"
    assert default["setting"]["label"] == 1
    assert default["imageType"] == {"Original": {}}
    assert set(default["featureClass"]) == {"shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}
    wavelet = rad.load_params("ct-wavelet-log.yaml")
    assert set(wavelet["imageType"]) == {"Original", "Wavelet", "LoG"}
    assert wavelet["imageType"]["LoG"]["sigma"] == [1.0, 2.0, 3.0]
    baseline = rad.load_params("ct-baseline")
    assert "resampledPixelSpacing" not in baseline["setting"] and baseline["imageType"] == {"Original": {}}
    assert rad.load_params(None) == default


def test_params_from_file_and_errors(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("setting:\n  binWidth: 10\nfeatureClass:\n  firstorder:\n")
    assert rad.load_params(path) == {"setting": {"binWidth": 10}, "featureClass": {"firstorder": None}}
    assert rad.load_params(str(path))["setting"]["binWidth"] == 10
    with pytest.raises(ParameterError, match="not a preset"):
        rad.load_params("no-such-preset")
    with pytest.raises(ParameterError, match="no such file"):
        rad.load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting: [unclosed\n")
    with pytest.raises(ParameterError, match="not valid YAML"):
        rad.load_params(bad)
    with pytest.raises(ParameterError, match="unknown pyradiomics parameter sections"):
        rad.load_params({"settings": {"binWidth": 25}})
    # pyradiomics' own schema check, as a ParameterError.
    with pytest.raises(ParameterError, match="invalid pyradiomics parameters"):
        rad.validate_params({"setting": {"binWidth": "wide"}})


# -------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("preset", ["ct-baseline", "ct-default"])
def test_phantom_parity_with_direct_pyradiomics(phantom, preset):
    image, labels = phantom
    params = rad.load_params(preset)
    rows = rad.extract(image, labels, AUTO_NAMES, params)
    assert [(r["segment"], r["label_value"]) for r in rows] == [("lung-right", 3), ("lung-left", 4)]
    for row in rows:
        ours = features_only(row)
        assert not any(k.startswith("diagnostics_") for k in ours)
        assert len(ours) >= 100  # shape, firstorder, glcm, glrlm, glszm, gldm, ngtdm
        assert_parity(ours, direct(image, labels, params, row["label_value"]))


def test_jobs_2_gives_identical_rows(phantom):
    image, labels = phantom
    one = rad.extract(image, labels, AUTO_NAMES, "ct-default", jobs=1)
    two = rad.extract(image, labels, AUTO_NAMES, "ct-default", jobs=2)
    assert same_rows(one, two)


def test_values_are_plain_python(phantom):
    image, labels = phantom
    rows = rad.extract(image, labels, None, FIRSTORDER, label_values=[3], diagnostics=True)
    for key, value in rows[0].items():
        assert value is None or type(value) in (int, float, str, bool), (key, type(value))


# ------------------------------------------------------------------------------ segment selection


def test_default_leaves_out_body_and_table_for_auto_labels(phantom):
    image, labels = phantom
    rows = rad.extract(image, labels, AUTO_NAMES, FIRSTORDER)
    assert [r["label_value"] for r in rows] == [3, 4]
    # Without the auto-label names nothing is presumed: every label, unnamed.
    rows = rad.extract(image, labels, None, FIRSTORDER)
    assert [(r["segment"], r["label_value"]) for r in rows] == [("label-1", 1), ("label-2", 2), ("label-3", 3), ("label-4", 4)]
    # Other names on values 1 and 2 (spleen is 1 in TotalSegmentator's table) are kept.
    assert rad.default_label_values([1, 2, 5], {1: "spleen", 2: "kidney_right", 5: "liver"}) == [1, 2, 5]
    assert rad.default_label_values([1, 2, 5], {1: "body", 2: "table-headrest", 5: "airway"}) == [5]


def test_labels_override(phantom):
    image, labels = phantom
    rows = rad.extract(image, labels, AUTO_NAMES, FIRSTORDER, label_values=[4, 1])
    assert [(r["segment"], r["label_value"]) for r in rows] == [("lung-left", 4), ("body", 1)]
    rows = rad.extract(image, labels, AUTO_NAMES, FIRSTORDER, label_values=["lung-right", "2"])
    assert [r["label_value"] for r in rows] == [3, 2]
    with pytest.raises(ParameterError, match="label 9"):
        rad.extract(image, labels, AUTO_NAMES, FIRSTORDER, label_values=[9])
    with pytest.raises(ParameterError, match="unknown segment 'heart'"):
        rad.extract(image, labels, AUTO_NAMES, FIRSTORDER, label_values=["heart"])


def test_only_body_and_table_is_a_clear_error(phantom):
    image, _ = phantom
    lab = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
    lab[5:10, 5:10, 5:10] = 1
    labels = sitk.GetImageFromArray(lab)
    labels.CopyInformation(image)
    with pytest.raises(ParameterError, match="--labels"):
        rad.extract(image, labels, AUTO_NAMES, FIRSTORDER)


def test_single_voxel_segment_names_the_segment(phantom):
    image, _ = phantom
    lab = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
    lab[10, 10, 10] = 7
    labels = sitk.GetImageFromArray(lab)
    labels.CopyInformation(image)
    with pytest.raises(InputError, match="segment tiny \\(label 7\\)"):
        rad.extract(image, labels, {7: "tiny"}, FIRSTORDER)


# -------------------------------------------------------------------------------------------- geometry


def test_geometry_mismatch_is_explained_or_resampled(phantom):
    image, labels = phantom
    shifted = sitk.Image(labels)
    shifted.SetOrigin((-19.2, -30.0, 10.0))  # one voxel along x
    with pytest.raises(GeometryError) as err:
        rad.extract(image, shifted, AUTO_NAMES, FIRSTORDER)
    message = str(err.value)
    assert "--resample-labels" in message
    assert "labels: size [48, 48, 32]" in message and "image: size [48, 48, 32]" in message
    assert "origin [-19.2, -30.0, 10.0]" in message and "origin [-20.0, -30.0, 10.0]" in message
    rows = rad.extract(image, shifted, AUTO_NAMES, FIRSTORDER, resample_labels=True)
    assert [r["label_value"] for r in rows] == [3, 4]


def test_flipped_labels_are_put_on_the_image_grid(phantom):
    image, labels = phantom
    flipped = sitk.Flip(labels, [True, False, False])  # same voxel centres, x axis reversed
    assert flipped.GetDirection() != labels.GetDirection()
    assert same_rows(rad.extract(image, flipped, AUTO_NAMES, FIRSTORDER),
                     rad.extract(image, labels, AUTO_NAMES, FIRSTORDER))


# ------------------------------------------------------------------------------------------ diagnostics


def test_diagnostics_only_when_asked(phantom):
    image, labels = phantom
    plain = rad.extract(image, labels, AUTO_NAMES, FIRSTORDER, label_values=[3])[0]
    diag = rad.extract(image, labels, AUTO_NAMES, FIRSTORDER, label_values=[3], diagnostics=True)[0]
    assert not any(k.startswith("diagnostics_") for k in plain)
    diag_keys = [k for k in diag if k.startswith("diagnostics_")]
    assert "diagnostics_Versions_PyRadiomics" in diag_keys and "diagnostics_Mask-original_VoxelNum" in diag_keys
    assert json.loads(diag["diagnostics_Image-original_Spacing"]) == pytest.approx([0.8, 0.8, 1.5])
    assert {k: v for k, v in diag.items() if not k.startswith("diagnostics_")} == plain


# ------------------------------------------------------------------------------------------------ output


def test_write_csv_and_json(phantom, tmp_path):
    image, labels = phantom
    rows = rad.extract(image, labels, AUTO_NAMES, FIRSTORDER, diagnostics=True)
    out_csv = write_rows(rows, tmp_path / "features.csv")
    with open(out_csv, newline="") as f:
        read = list(csv.DictReader(f))
    header = list(read[0])
    assert header[:3] == ["segment", "label_value", "diagnostics_Versions_PyRadiomics"]
    assert header == list(rows[0])
    assert [r["segment"] for r in read] == ["lung-right", "lung-left"]
    key = "original_firstorder_Mean"
    assert [float(r[key]) for r in read] == [r[key] for r in rows]  # floats round-trip exactly

    out_json = write_rows(rows, tmp_path / "features.json")
    data = json.loads(out_json.read_text())
    assert isinstance(data, list) and data[1]["segment"] == "lung-left" and data[1][key] == rows[1][key]

    # NaN becomes null in strict JSON; missing keys in ragged rows are empty CSV cells.
    ragged = [{"segment": "a", "x": float("nan")}, {"segment": "b", "y": 1}]
    assert json.loads(write_rows(ragged, tmp_path / "r.json").read_text()) == [{"segment": "a", "x": None}, {"segment": "b", "y": 1}]
    text = write_rows(ragged, tmp_path / "r.csv").read_text().splitlines()
    assert text == ["segment,x,y", "a,nan,", "b,,1"]
    with pytest.raises(ParameterError, match=".csv or .json"):
        write_rows(rows, tmp_path / "features.xlsx")
    with pytest.raises(OutputError):
        write_rows(rows, out_csv, inputs=[out_csv])
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"


# ---------------------------------------------------------------------------------------- batch, pool


def test_extract_cases_with_pool(phantom, tmp_path):
    image, labels = phantom
    image2, labels2 = make_phantom(seed=1)
    paths = []
    for i, (im, lab) in enumerate([(image, labels), (image2, labels2)]):
        sitk.WriteImage(im, str(tmp_path / f"ct{i}.nrrd"))
        sitk.WriteImage(lab, str(tmp_path / f"labels{i}.nrrd"))
        (tmp_path / f"labels{i}.json").write_text(json.dumps({str(k): v for k, v in AUTO_NAMES.items()}))
        paths.append((f"case{i}", tmp_path / f"ct{i}.nrrd", tmp_path / f"labels{i}.nrrd"))
    seen = []
    rows = rad.extract_cases(paths, params=FIRSTORDER, jobs=2, progress=lambda f, m: seen.append(f))
    assert [(r["case"], r["segment"]) for r in rows] == [
        ("case0", "lung-right"), ("case0", "lung-left"), ("case1", "lung-right"), ("case1", "lung-left")]
    assert list(rows[0])[:3] == ["case", "segment", "label_value"]
    single = rad.extract(image2, labels2, AUTO_NAMES, FIRSTORDER)
    assert same_rows([features_only(r) for r in rows[2:]], [features_only(r) for r in single])
    assert seen[-1] == 1.0 and seen == sorted(seen)

    # A bad case: raises by default; with a failures list it is reported and the others go on.
    shifted = sitk.Image(labels)
    shifted.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(shifted, str(tmp_path / "shifted.nrrd"))
    bad = [paths[0], ("bad", tmp_path / "ct1.nrrd", tmp_path / "shifted.nrrd")]
    with pytest.raises(GeometryError):
        rad.extract_cases(bad, params=FIRSTORDER, jobs=1)
    failures: list = []
    rows = rad.extract_cases(bad, params=FIRSTORDER, jobs=2, failures=failures)
    assert {r["case"] for r in rows} == {"case0"}
    assert len(failures) == 1 and failures[0][0] == "bad" and "--resample-labels" in failures[0][1]
    # Requested labels a case lacks are skipped for that case.
    rows = rad.extract_cases(paths[:1], params=FIRSTORDER, label_values=[4, 99])
    assert [r["label_value"] for r in rows] == [4]


def test_cancel_and_progress(phantom):
    image, labels = phantom
    seen = []
    rad.extract(image, labels, AUTO_NAMES, FIRSTORDER, progress=lambda f, m: seen.append((f, m)))
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0
    assert any("lung-left" in m for _, m in seen)
    cancel = threading.Event()
    cancel.set()
    for jobs in (1, 2):
        with pytest.raises(Cancelled):
            rad.extract(image, labels, AUTO_NAMES, FIRSTORDER, jobs=jobs, cancel=cancel)


# ------------------------------------------------------------------------------------- missing pyradiomics


def test_missing_pyradiomics_says_how_to_install(phantom, monkeypatch):
    image, labels = phantom
    monkeypatch.setitem(sys.modules, "radiomics", None)
    monkeypatch.setitem(sys.modules, "radiomics.featureextractor", None)
    with pytest.raises(DependencyError) as err:
        rad.extract(image, labels, AUTO_NAMES, "ct-baseline")
    message = str(err.value)
    assert "pip install numpy versioneer" in message
    assert "pip install --no-build-isolation pyradiomics==3.0.1" in message
    assert "SlicerRadiomics" in message
    assert "\n" not in message


def test_medseglib_imports_without_pyradiomics():
    code = ("import sys; sys.modules['radiomics'] = None\n"
            "import medseg.measure.radiomics.features as r, medseg.measure.stats\n"
            "assert r.load_params('ct-default')['setting']['binWidth'] == 25\n"
            "from medseg.errors import DependencyError\n"
            "try:\n    r.validate_params('ct-default')\nexcept DependencyError as e:\n    print('OK', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OK pyradiomics is not installed")


# ------------------------------------------------------------------------------------------ real data


@pytest.mark.realdata
def test_abdomen_liver_spleen_parity(abdomen_dicom, abdomen_reference):
    """ct-abdomen-20 with its reference labels: liver (5) and spleen (1), ct-baseline, every
    original feature class; our pooled values equal direct pyradiomics calls (rtol 1e-6)."""
    from medseg import io

    image, _meta = io.load(abdomen_dicom)
    labels, names = read_label_image(abdomen_reference)
    assert names[5] == "liver" and names[1] == "spleen"
    # Spleen is label 1 here; only the auto-label table's body is left out by default.
    assert 1 in rad.default_label_values(rad.present_label_values(labels), names)
    params = rad.load_params("ct-baseline")
    rows = rad.extract(image, labels, names, params, label_values=[5, 1], jobs=2)
    assert [(r["segment"], r["label_value"]) for r in rows] == [("liver", 5), ("spleen", 1)]
    for row in rows:
        assert_parity(features_only(row), direct(image, labels, params, row["label_value"]))
    liver = rows[0]
    # Sanity: liver is soft tissue (mean HU 50-150) and about 0.7 l in these 20 slices.
    assert 50 < liver["original_firstorder_Mean"] < 150
    assert 600_000 < liver["original_shape_VoxelVolume"] < 800_000
