"""report.html holds what a researcher keeps: every section, read back from the parsed page.

A chest phantom (exact geometry, every auto-label, a DICOM SEG) and the real ct-head-93, whose
stored values are offset by +1024 (the HU-correction case: two histograms).
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import shared
from medseg.phantom import write_phantom_study
from medseg.pipeline.study import run_study
from medseg.report.slices import _Volume, position_text
from report_page import ReportPage

MM = re.compile(r"^[SIRLAP] \d+\.\d mm$")
SECTIONS = {"Input", "Grid", "HU values", "Slices", "Segments", "Each label on three planes", "Surfaces",
            "Parameters", "Software", "Outputs", "Timings"}


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    study = write_phantom_study(tmp / "chest", seed=0, shape=(16, 96, 96))
    result = run_study(study["dicom"], tmp / "out", radiomics_preset=None)
    return result, ReportPage.read(result.outputs["report"])


def test_every_section_is_there(phantom_run):
    result, page = phantom_run
    assert SECTIONS <= set(page.headings), sorted(SECTIONS - set(page.headings))
    # Self-contained: no script, stylesheet or picture from elsewhere.
    assert page.script_sources == []
    assert all(not str(link).startswith(("http:", "https:", "/")) for link in page.links)


def test_grid_is_the_images(phantom_run):
    result, page = phantom_run
    image = sitk.ReadImage(str(result.outputs["ct"]))
    grid = page.facts("size (x × y × z voxels)")
    assert grid["size (x × y × z voxels)"] == " × ".join(str(n) for n in image.GetSize())
    assert grid["spacing (mm)"] == " × ".join(f"{s:.4f}" for s in image.GetSpacing())
    assert grid["orientation"] == "LPS"
    assert grid["direction (each image axis in LPS)"].startswith("x: (+1.0000, +0.0000, +0.0000)")


def test_montage_positions_are_the_slices_in_mm(phantom_run):
    result, page = phantom_run
    image = sitk.ReadImage(str(result.outputs["ct"]))
    caption = page.figure("axial slice montage").caption
    positions = caption.split("Slices at ", 1)[1].rstrip(".").split(", ")
    assert all(MM.match(p) for p in positions), positions
    # 16 slices: every one, inferior first, at the image's own z (mm).
    z0, dz = image.GetOrigin()[2], image.GetSpacing()[2]
    assert positions == [position_text(z0 + k * dz, 2) for k in range(image.GetSize()[2])]
    assert "z=" not in page.text


def test_each_label_on_three_planes(phantom_run):
    result, page = phantom_run
    caption = page.figure("each label on axial, coronal and sagittal slices").caption
    panels = caption.split(". ", 1)[1].rstrip(".").split("; ")
    present = [r["segment"] for r in result.stats_rows if r["voxel_count"]]
    assert len(panels) == 3 * len(present)
    for panel in panels:
        name, where = panel.split(": ")
        plane, position = where.split(" ", 1)
        assert plane in ("axial", "coronal", "sagittal") and MM.match(position), panel
    names = [p.split(": ")[0] for p in panels[::3]]
    assert names[0] == "body (remainder)" and "table-headrest (removed)" in names and "lung-right" in names


def test_stats_table_says_body_remainder_and_shows_removed_objects_in_magenta(phantom_run):
    result, page = phantom_run
    table = page.table_after("segment")
    rows = {r[0]: r for r in table[1:]}
    assert "body (remainder)" in rows and "body" not in rows
    assert "table-headrest (removed)" in rows
    k = [r[0] for r in table].index("table-headrest (removed)")
    assert "rgb(255,0,255)" in page.cells_html[page.tables.index(table)][k][0]
    # The body's row is the remainder: the exclusive label map counts each voxel once.
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(result.outputs["labels"])))
    assert int(rows["body (remainder)"][2].replace(",", "")) == int((labels == 1).sum())
    assert "the body minus every other label" in page.text


def test_one_histogram_when_nothing_was_corrected(phantom_run):
    result, page = phantom_run
    assert [f.alt for f in page.images if f.css == "hist"] == ["HU histogram"]
    assert "No HU correction: the values are HU" in page.text


def test_parameters_and_software(phantom_run):
    result, page = phantom_run
    options = page.facts("radiomics_preset")
    assert options["radiomics_preset"] == "none" and options["meshes"] == "True" and options["resample"] == "True"
    versions = {r[0]: r[1] for r in page.table_after("library")[1:]}
    for name in ("pydicom", "SimpleITK", "numpy", "torch", "pyradiomics"):
        try:
            expected = metadata.version(name)
        except metadata.PackageNotFoundError:
            expected = "not installed"
        assert versions[name] == expected, name


def test_radiomics_preset_settings_are_the_shipped_files():
    from medseg.report.facts import radiomics_preset

    settings = radiomics_preset("ct-default")
    assert settings["binWidth"] == 25 and settings["resampledPixelSpacing"] == [1, 1, 1]
    assert settings["image types"] == "Original" and "glcm" in settings["feature classes"]
    assert radiomics_preset(None) is None


def test_versions_are_read_without_importing_torch():
    code = ("import sys; from medseg.report.facts import library_versions; import medseg.report.html; "
            "rows = library_versions(); print('torch' in sys.modules, len(rows))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False" and int(out[1]) > 5


def test_dicom_seg_timing_when_written(phantom_run):
    result, page = phantom_run
    assert "dicom_seg" in result.outputs
    assert "dicom-seg" in [r[0] for r in page.table_after("step")]


def test_interactive_view_beside_the_static_render(phantom_run):
    pytest.importorskip("plotly")
    result, page = phantom_run
    assert ("surfaces-3d", "plotly-graph-div") in page.divs
    assert page.scripts >= 2  # plotly.js inline and the figure's own script
    assert page.figure("surface meshes").caption.startswith("static render")
    assert any(c.startswith("interactive (drag to turn") for c in page.captions)


@pytest.mark.realdata
def test_hu_corrected_series_shows_both_histograms(tmp_path):
    result = run_study(shared("ct-head-93", "dicom"), tmp_path / "out", radiomics_preset=None, meshes=False)
    page = ReportPage.read(result.outputs["report"])
    hists = [f for f in page.images if f.css == "hist"]
    assert [f.alt for f in hists] == ["HU histogram before correction", "HU histogram after correction"]
    assert "corrected by -1024 HU" in hists[1].caption
    assert "corrected them by -1024 HU" in page.text
    # The series has no FrameOfReferenceUID, so no DICOM SEG was written, and no timing is shown for it.
    assert "dicom_seg" not in result.outputs
    assert "dicom-seg" not in [r[0] for r in page.table_after("step")]


@pytest.mark.realdata
def test_before_histogram_is_the_stored_values(tmp_path):
    """The "before" rebuilt from the corrected volume equals the stored values, read with intercept 0."""
    from medseg.io import load
    from medseg.report.histogram import value_counts

    folder = shared("ct-head-93", "dicom")
    corrected, meta = load(folder)
    stored, _ = load(folder, rescale_intercept=0.0)
    assert meta["hu_check"]["corrected"] and meta["hu_check"]["shift_hu"] == -1024
    after, before = value_counts(corrected), value_counts(stored)
    assert after.sum() == before.sum() == np.prod(corrected.GetSize())
    np.testing.assert_array_equal(before[1024:], after[:-1024])


def test_slices_are_drawn_radiologically_from_any_orientation():
    """A marker at the patient's right, anterior and superior, in a volume stored RAS-first (not LPS)."""
    size = (30, 20, 10)  # x, y, z
    arr = np.full(size[::-1], -1000, dtype=np.int16)
    # Axes point R, A, S: high x index = patient's right, high y = anterior, high z = superior.
    arr[8, 16, 25] = 1000
    image = sitk.GetImageFromArray(arr)
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    image.SetSpacing((2.0, 2.0, 3.0))
    image.SetOrigin((10.0, 20.0, -30.0))
    vol = _Volume(image)
    world = image.TransformIndexToPhysicalPoint((25, 16, 8))  # LPS mm
    for axis, rows_cols in ((2, ("anterior", "right")), (1, ("superior", "right")), (0, ("superior", "anterior"))):
        n = vol.shape[2 - axis]
        k = max(range(n), key=lambda i: vol.ct(axis, i).max())
        picture = vol.ct(axis, k)
        r, c = np.unravel_index(np.argmax(picture), picture.shape)
        assert r < picture.shape[0] / 2, f"{axis}: {rows_cols[0]} is not at the top"
        assert c < picture.shape[1] / 2, f"{axis}: {rows_cols[1]} is not on the left"
        assert vol.position(axis, k) == position_text(world[axis], axis)
