"""`run_study`'s opt-in steps on a small chest phantom: radiomics only where it means something, U-Net models
as their own segments; and the fast paths of statistics, meshes and decoding against plain references."""

from __future__ import annotations

import csv
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.phantom import make_phantom, write_phantom_study


@pytest.fixture(scope="module")
def chest(tmp_path_factory):
    return write_phantom_study(tmp_path_factory.mktemp("chest"), seed=0, shape=(16, 96, 96))


def test_radiomics_is_off_by_default_and_writes_no_csv(chest, tmp_path):
    from medseg.pipeline.study import run_study

    result = run_study(chest["dicom"], tmp_path / "out", meshes=False, dicom_seg=False)
    assert not (tmp_path / "out" / "radiomics.csv").exists()
    assert result.radiomics_rows == [] and "radiomics" not in result.outputs
    assert (tmp_path / "out" / "stats.csv").exists()


def test_radiomics_only_for_sensible_segments(chest, tmp_path):
    pytest.importorskip("radiomics")
    from medseg.pipeline.study import run_study

    result = run_study(chest["dicom"], tmp_path / "out", radiomics_preset="ct-baseline", meshes=False,
                       dicom_seg=False, jobs=1)
    with (tmp_path / "out" / "radiomics.csv").open() as f:
        segments = [r["segment"] for r in csv.DictReader(f)]
    present = {r["segment"] for r in result.stats_rows if r["voxel_count"]}
    assert {"body", "bone"} <= present  # they exist, and are left out
    assert set(segments) == present - {"body", "table-headrest", "bone"}
    assert {"lung-right", "lung-left"} <= set(segments)
    assert result.radiomics_segments == segments


def test_radiomics_labels_chooses_the_segments_a_skipped_one_too(chest, tmp_path):
    pytest.importorskip("radiomics")
    from medseg.pipeline.study import run_study

    result = run_study(chest["dicom"], tmp_path / "out", radiomics_preset="ct-baseline", radiomics_labels=["bone"],
                       meshes=False, dicom_seg=False)
    segments = [r["segment"] for r in result.radiomics_rows]
    assert segments == ["bone"]


def test_values_chosen_for_radiomics():
    from medseg.pipeline.study_measures import radiomics_values

    rows = [{"label_value": v, "segment": n, "voxel_count": c}
            for v, n, c in ((1, "body", 10), (2, "table-headrest", 5), (3, "lung-right", 7), (4, "lung-left", 0),
                            (6, "bone", 9), (9, "tumour", 3))]
    assert radiomics_values(rows, None) == [3, 9]  # empty lung-left left out too
    assert radiomics_values(rows, ["Bone", 2]) == [2, 6]  # named: exactly those, skipped ones too


def test_model_adds_its_segments(chest, tmp_path):
    pytest.importorskip("torch")
    from medseg.io import read_label_image
    from medseg.pipeline.study import run_study

    result = run_study(chest["dicom"], tmp_path / "out", models=["lungs"], device="cpu", meshes=False,
                       dicom_seg=False)
    seg = tmp_path / "out" / "model-lungs.seg.nrrd"
    assert result.outputs["model_lungs"] == seg
    labels, names = read_label_image(seg)
    assert set(names.values()) == {"lung-right", "lung-left"}
    (entry,) = result.models
    assert entry["name"] == "lungs" and entry["device"] == "cpu" and entry["slices"] == 16
    assert entry["segments"] == ["lung-right", "lung-left"]
    with (tmp_path / "out" / "stats.csv").open() as f:
        rows = {r["segment"]: r for r in csv.DictReader(f)}
    assert {"lung-right", "lungs:lung-right", "lungs:lung-left"} <= set(rows)
    truth = int((chest["phantom"].labels == 3).sum())
    model_right = int(rows["lungs:lung-right"]["voxel_count"])
    assert abs(model_right - truth) < 0.15 * truth  # the model finds the phantom's right lung
    assert "model lungs" in result.seconds
    from report_page import ReportPage

    page = ReportPage.read(tmp_path / "out" / "report.html")
    assert "Models" in page.headings and "lungs" in page.headings
    (table,) = [t for t in page.tables if any(row and row[0] == "lungs:lung-right" for row in t)]
    assert table[0][:3] == ["segment", "voxels", "volume (ml)"]
    assert [row[0] for row in table[1:]] == ["lungs:lung-right", "lungs:lung-left"]
    assert int(table[1][1].replace(",", "")) == model_right
    (figure,) = [f for f in page.images if f.alt.startswith("lungs:")]  # the model's segments on three planes
    assert "lungs:lung-right: axial" in figure.caption and "lungs:lung-left: sagittal" in figure.caption


def test_unknown_model_fails_before_any_work(chest, tmp_path):
    from medseg.errors import MedSegError
    from medseg.pipeline.study import run_study

    with pytest.raises(MedSegError, match="no-such-model"):
        run_study(chest["dicom"], tmp_path / "out", models=["no-such-model"])
    assert not (tmp_path / "out").exists()


# --- statistics against a plain numpy reference ------------------------------------------------

def _reference_rows(img: np.ndarray, lab: np.ndarray) -> dict[int, dict]:
    out = {}
    for v in [int(x) for x in np.unique(lab) if x]:
        vals = img[lab == v].astype(np.float64)
        zyx = np.argwhere(lab == v)
        out[v] = {"voxel_count": vals.size, "mean": vals.mean(), "std": vals.std(), "min": vals.min(),
                  "max": vals.max(), "median": float(np.median(vals)),
                  "lo": tuple(zyx.min(axis=0)[::-1]), "hi": tuple(zyx.max(axis=0)[::-1])}
    return out


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_statistics_equal_a_numpy_reference(dtype):
    from medseg.measure.stats import segment_statistics
    from medseg.phantom import make_abdomen

    p = make_abdomen(shape=(12, 80, 80), seed=3)
    img = p.hu.astype(dtype)
    if dtype == np.float32:
        img = img + np.float32(0.25)  # not integers: the sorting path
    image = sitk.GetImageFromArray(img)
    labels = sitk.GetImageFromArray(p.labels.astype(np.uint8))
    labels.CopyInformation(image)
    rows = {r["label_value"]: r for r in segment_statistics(image, labels)}
    ref = _reference_rows(img, p.labels)
    assert set(rows) == set(ref) and len(ref) >= 3
    for v, want in ref.items():
        got = rows[v]
        assert got["voxel_count"] == want["voxel_count"]
        for key in ("mean", "std", "min", "max", "median"):
            assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-9), (v, key)
        assert tuple(got[f"bbox_index_min_{a}"] for a in "xyz") == want["lo"]
        assert tuple(got[f"bbox_index_max_{a}"] for a in "xyz") == want["hi"]


# --- meshes: the bounding-box crop gives the full-volume surface --------------------------------

def test_cropped_mesh_equals_the_full_volume_mesh():
    from skimage.measure import marching_cubes

    from medseg.measure.mesh import label_surfaces, signed_volume

    rng = np.random.default_rng(0)
    lab = np.zeros((30, 40, 50), np.uint8)
    zz, yy, xx = np.mgrid[:30, :40, :50]
    lab[((zz - 12) / 8.0) ** 2 + ((yy - 20) / 10.0) ** 2 + ((xx - 18) / 12.0) ** 2 <= 1] = 2
    lab[5:9, 30:36, 38:47] = 5
    lab[rng.random(lab.shape) < 0.002] = 0
    image = sitk.GetImageFromArray(lab)
    image.SetSpacing((0.8, 0.9, 2.5))
    surfaces = {s.label_value: s for s in label_surfaces(image)}
    boxed = {s.label_value: s for s in label_surfaces(image, values=[2, 5], boxes={
        v: tuple(slice(int(a.min()), int(a.max()) + 1) for a in np.nonzero(lab == v)) for v in (2, 5)})}
    for v in (2, 5):  # boxes handed in (as `run` does from the statistics) give the same surfaces
        assert np.array_equal(boxed[v].vertices, surfaces[v].vertices)
        assert np.array_equal(boxed[v].faces, surfaces[v].faces)
    for v in (2, 5):
        full = np.pad(lab == v, 1).astype(np.float32)
        verts, faces, _, _ = marching_cubes(full, level=0.5)
        points = (verts - 1.0)[:, ::-1] * np.array([0.8, 0.9, 2.5])
        s = surfaces[v]
        assert len(s.faces) == len(faces)
        assert s.volume_ml * 1000 == pytest.approx(abs(signed_volume(points, faces.astype(np.int64))), rel=1e-9)


def test_coarsened_copy_for_drawing():
    from medseg.measure.mesh import coarsened, label_surfaces

    zz, yy, xx = np.mgrid[:60, :60, :60]
    ball = (((zz - 30) ** 2 + (yy - 30) ** 2 + (xx - 30) ** 2) <= 25 ** 2).astype(np.uint8)
    (s,) = label_surfaces(sitk.GetImageFromArray(ball))
    (c,) = coarsened([s], len(s.faces) // 10)
    assert len(c.faces) < len(s.faces) / 5
    assert c.volume_ml == s.volume_ml and c.area_mm2 == s.area_mm2  # the legend states the full surface's
    from medseg.measure.mesh import signed_volume
    assert signed_volume(c.vertices, c.faces) / 1000 == pytest.approx(s.volume_ml, rel=0.05)
    assert coarsened([s], 10 * len(s.faces))[0] is s


# --- decoding: worker processes and threads give the same volume -------------------------------

def test_process_and_thread_decoding_agree(tmp_path, monkeypatch):
    from medseg.io import load
    from medseg.io.dicom import pixels

    study = write_phantom_study(tmp_path / "p", seed=2, shape=(12, 48, 48))
    monkeypatch.setenv("MEDSEG_DECODE_PROCESSES", "0")
    threads, _ = load(study["dicom"])
    monkeypatch.setenv("MEDSEG_DECODE_PROCESSES", "1")
    monkeypatch.setattr(pixels, "PROCESS_MIN_SLICES", 1)
    monkeypatch.setitem(sys.modules, "slicer", types.ModuleType("slicer"))  # slicer-core: not the Slicer app
    used = []
    real = pixels._decode_in_processes
    monkeypatch.setattr(pixels, "_decode_in_processes", lambda *a, **k: used.append(1) or real(*a, **k))
    processes, _ = load(study["dicom"])
    assert used, "the process path was not taken"
    a, b = sitk.GetArrayViewFromImage(threads), sitk.GetArrayViewFromImage(processes)
    assert a.dtype == b.dtype == np.int16
    assert np.array_equal(a, b)


def test_no_worker_processes_inside_the_slicer_application(monkeypatch):
    from medseg.io.dicom import pixels

    app = types.ModuleType("slicer")
    app.app = object()
    monkeypatch.setitem(sys.modules, "slicer", app)
    assert not pixels._use_processes(300, 2)
    monkeypatch.setitem(sys.modules, "slicer", types.ModuleType("slicer"))
    assert pixels._use_processes(300, 2) == sys.platform.startswith("linux")


def test_process_decoding_reports_a_damaged_slice(tmp_path, monkeypatch, abdomen_dicom):
    import shutil

    from medseg.errors import DicomDecodeError
    from medseg.io import load
    from medseg.io.dicom import pixels

    source = abdomen_dicom
    folder = tmp_path / "abd"
    folder.mkdir()
    files = [Path(shutil.copy(p, folder)) for p in sorted(source.iterdir())[:6]]
    data = files[3].read_bytes()
    files[3].write_bytes(data[: int(len(data) * 0.6)])  # the JPEG 2000 stream cut mid-way
    monkeypatch.setattr(pixels, "PROCESS_MIN_SLICES", 1)
    used = []
    real = pixels._decode_in_processes
    monkeypatch.setattr(pixels, "_decode_in_processes", lambda *a, **k: used.append(1) or real(*a, **k))
    with pytest.raises(DicomDecodeError, match=files[3].name):
        load(folder)
    image, meta = load(folder, skip_damaged=True)
    assert used and image.GetSize()[2] == 6
    assert meta["damaged"][0]["file"] == str(files[3])


def test_lesion_model_is_measured_lesion_by_lesion(tmp_path):
    pytest.importorskip("torch")
    import numpy as np
    import SimpleITK as sitk
    from scipy import ndimage

    from medseg.io import read_label_image
    from medseg.pipeline.study import run_study
    from report_page import ReportPage

    # 0.91 mm pixels, inside the model's range: the model finds the phantom's 16 mm nodule, and the
    # lung-fraction filter drops what it finds outside the lungs.
    study = write_phantom_study(tmp_path / "chest", seed=0, shape=(32, 384, 384))
    result = run_study(study["dicom"], tmp_path / "out", models=["lung-tumour"], device="cpu", meshes=False,
                       dicom_seg=False)
    (entry,) = result.models
    labels, _ = read_label_image(tmp_path / "out" / "model-lung-tumour.seg.nrrd")
    arr = sitk.GetArrayFromImage(labels) > 0
    comp, n = ndimage.label(arr, structure=np.ones((3, 3, 3), bool))
    lesions = entry["lesions"]
    assert len(lesions) == n  # one row per 26-connected component of the model's output
    sizes = sorted(np.bincount(comp.ravel())[1:].tolist(), reverse=True)
    assert [x["voxels"] for x in lesions] == sizes
    # each lesion is its own segment in the statistics, with the same voxels
    rows = {r["segment"]: r for r in entry["stats_rows"]}
    assert list(rows) == [f"lung-tumour:lesion-{x['lesion']}" for x in lesions]
    assert [int(r["voxel_count"]) for r in rows.values()] == sizes
    if lesions:
        page = ReportPage.read(tmp_path / "out" / "report.html")
        (table,) = [t for t in page.tables if t and t[0][:2] == ["lesion", "voxels"]]
        assert [row[0] for row in table[1:]] == list(rows)
        (figure,) = [f for f in page.images if f.alt == "lung-tumour: where each lesion lies"]
        assert [p.split(":")[0] for p in figure.caption.split(". ", 1)[1].split("; ")] == \
            [f"lesion-{x['lesion']}" for x in lesions][:8]


def test_lesion_map_numbers_lesions_as_the_lesion_table_does():
    from medseg.measure.lesions import lesion_map, lesion_table

    arr = np.zeros((12, 40, 40), np.uint8)
    arr[2:5, 2:6, 2:6] = 1      # 48 voxels
    arr[6:11, 20:30, 20:30] = 1  # 500 voxels: lesion 1
    arr[1:3, 30:33, 5:8] = 2     # 18 voxels of another class
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((0.8, 0.8, 2.0))
    rows = lesion_table(image, values=[1, 2])
    numbered = sitk.GetArrayFromImage(lesion_map(image, [1, 2]))
    assert [r["voxels"] for r in rows] == [500, 48, 18]
    assert [int((numbered == r["lesion"]).sum()) for r in rows] == [500, 48, 18]
    assert numbered[8, 25, 25] == 1 and numbered[3, 3, 3] == 2 and numbered[1, 31, 6] == 3
    assert lesion_map(image, [1, 2]).GetSpacing() == image.GetSpacing()
