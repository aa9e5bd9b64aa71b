"""Point-list contours and RT Structure Sets to label maps (`medseg contours`).

Ground truth is the cardiac MR phantom: its i/o-contour files and RTSTRUCT must rasterise back onto
its blood pool and myocardium with Dice >= 0.95 for every ROI, whatever the slice matching rule.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.io.contours import Roi, contours_to_labels, rasterise, read_point_list
from medseg.pipeline.files import contours_to_file
from medseg.errors import GeometryError, InputError, OutputError, ParameterError
from medseg.io import load, read_label_image, write_volume
from medseg.measure.metrics import dice
from medseg.phantom import write_phantom_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return write_phantom_study(tmp_path_factory.mktemp("cmr"), seed=0, kind="cardiac-mr")


@pytest.fixture(scope="module")
def loaded(study):
    return load(study["dicom"])


def _truth(study):
    gt = study["phantom"].labels
    return {"blood_pool": gt == 1, "myocardium": gt == 2, "epicardium": gt > 0}


def _check_rois(labels: sitk.Image, names: dict, truth: dict, what: str, ring: bool) -> dict:
    a = sitk.GetArrayFromImage(labels)
    if ring:
        assert names == {1: "blood_pool", 2: "myocardium"}
        scores = {"blood_pool": dice(a == 1, truth["blood_pool"]), "myocardium": dice(a == 2, truth["myocardium"])}
    else:
        inner = 1 if names[1] in ("icontour", "LV endocardium") else 2
        # Without --ring each voxel has the smallest ROI's value, so the outer ROI's region is both values.
        scores = {names[inner]: dice(a == inner, truth["blood_pool"]), names[3 - inner]: dice(a > 0, truth["epicardium"]),
                  "ring": dice(a == 3 - inner, truth["myocardium"])}
    print(f"{what}: " + ", ".join(f"{k} Dice {v:.4f}" for k, v in scores.items()))
    assert all(v >= 0.95 for v in scores.values()), scores
    return scores


@pytest.mark.parametrize("ring", [False, True])
@pytest.mark.parametrize("source", ["contours", "rtstruct"])
def test_phantom_contours_round_trip(study, tmp_path, source, ring):
    out = tmp_path / "labels.seg.nrrd"
    labels, names, summary = contours_to_file(study["dicom"], study[source], out, ring=ring)
    _check_rois(labels, names, _truth(study), f"{source} ring={ring}", ring)
    assert summary["matching"] == ("InstanceNumber" if source == "contours" else "ReferencedSOPInstanceUID")
    assert summary["warnings"] == [] and all(r["contours"] == 12 and r["skipped"] == 0 for r in summary["rois"])
    back, back_names = read_label_image(out)
    assert back_names == names
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(labels))
    expected = ({"LV endocardium", "LV epicardium"} if source == "rtstruct" else {"icontour", "ocontour"})
    assert ring or set(names.values()) == expected


def test_instance_numbers_not_slice_order(tmp_path):
    """Point lists are matched by InstanceNumber, not by position in the folder or series."""
    s = write_phantom_study(tmp_path / "s", seed=3, kind="cardiac-mr", instance_numbers="random")
    labels, names, summary = contours_to_file(s["dicom"], s["contours"], None, ring=True)
    assert summary["matching"] == "InstanceNumber"
    _check_rois(labels, names, _truth(s), "random InstanceNumbers", True)


def test_volume_file_image(study, loaded, tmp_path):
    """A volume file has no InstanceNumbers: number N is slice N - 1; an RTSTRUCT is placed by position."""
    nrrd = write_volume(loaded[0], tmp_path / "mr.nrrd")
    labels, names, summary = contours_to_file(nrrd, study["contours"], None, ring=True)
    assert summary["matching"] == "slice index = number - 1"
    _check_rois(labels, names, _truth(study), "NRRD + point lists", True)
    labels, names, summary = contours_to_file(nrrd, study["rtstruct"], None, ring=True)
    assert summary["matching"] == "plane position"
    _check_rois(labels, names, _truth(study), "NRRD + RTSTRUCT", True)


def test_rtstruct_on_a_flipped_grid(study, loaded):
    """The LPS points go through the image's direction: on an RAS-ordered grid the masks flip with it."""
    flipped = sitk.DICOMOrient(loaded[0], "RAS")
    labels, table, summary = contours_to_labels(flipped, study["rtstruct"], None, ring=True)
    truth = sitk.GetImageFromArray(study["phantom"].labels)
    truth.CopyInformation(loaded[0])
    truth = sitk.GetArrayFromImage(sitk.DICOMOrient(truth, "RAS"))
    a = sitk.GetArrayFromImage(labels)
    assert dice(a == 1, truth == 1) >= 0.95 and dice(a == 2, truth == 2) >= 0.95


def test_multiframe_image_places_rtstruct_by_position(study, tmp_path):
    """One Enhanced file holds every frame (one SOPInstanceUID), stored out of order: placed by position."""
    from medseg.phantom.dicom_enhanced import write_enhanced_ct

    p = study["phantom"]
    path = write_enhanced_ct(p.hu, p.spacing, p.origin, tmp_path / "mf.dcm", frame_order="random",
                             rescale_intercept=0, pixel_representation=0)
    labels, names, summary = contours_to_file(path, study["rtstruct"], None, ring=True)
    assert summary["matching"] == "plane position"
    _check_rois(labels, names, _truth(study), "Enhanced multi-frame + RTSTRUCT", True)


def test_single_file_with_slice_index(study, loaded):
    image = loaded[0]
    k = 4
    f = sorted(study["contours"].glob("*-ocontour-manual.txt"))[k]
    labels, table, summary = contours_to_labels(image, f, loaded[1])  # number in the name -> InstanceNumber
    a = sitk.GetArrayFromImage(labels)
    assert [lab.name for lab in table] == ["ocontour"] and np.nonzero(a.any(axis=(1, 2)))[0].tolist() == [k]
    truth = _truth(study)["epicardium"][k]
    assert dice(a[k] > 0, truth) >= 0.95
    labels, _, summary = contours_to_labels(image, f, None, slice_index=7)
    assert summary["matching"] == "slice index (given)"
    assert np.nonzero(sitk.GetArrayFromImage(labels).any(axis=(1, 2)))[0].tolist() == [7]


def test_holes_and_islands_are_even_odd():
    square = lambda c, h: np.array([[c - h, c - h], [c + h, c - h], [c + h, c + h], [c - h, c + h]], float)  # noqa: E731
    with_z = lambda xy, z: np.column_stack([xy, np.full(len(xy), z)])  # noqa: E731
    roi = Roi("ring", polygons=[with_z(square(10, 6), 1), with_z(square(10, 2), 1),  # a square with a hole
                                with_z(square(25, 2), 1.2),  # an island on the same slice (z within half a slice)
                                with_z(square(10, 3), 9)])  # outside the 3 slices: skipped with a note
    mask, notes = rasterise(roi, (3, 32, 32))
    assert mask[1, 10, 10] == 0 and mask[1, 10, 5] == 1 and mask[1, 25, 25] == 1
    assert mask[1].sum() == 13 * 13 - 5 * 5 + 5 * 5 and not mask[[0, 2]].any()
    assert len(notes) == 1 and "outside the image" in notes[0]
    tilted = Roi("tilted", polygons=[np.array([[0, 0, 0], [5, 0, 1], [5, 5, 2]], float)])
    assert "not in an image plane" in rasterise(tilted, (3, 8, 8))[1][0]


def test_names_option_and_ring_errors(study, loaded):
    labels, table, _ = contours_to_labels(loaded[0], study["rtstruct"], loaded[1], names="endo,epi")
    assert [lab.name for lab in table] == ["endo", "epi"]
    with pytest.raises(ParameterError, match="--names"):
        contours_to_labels(loaded[0], study["rtstruct"], loaded[1], names=["only-one"])
    one = sorted(study["contours"].glob("*-icontour-manual.txt"))[0]
    with pytest.raises(ParameterError, match="--ring needs exactly two"):
        contours_to_labels(loaded[0], one, loaded[1], ring=True)


def test_bad_inputs(study, loaded, tmp_path):
    image, meta = loaded
    with pytest.raises(InputError, match="not an RT Structure Set"):
        contours_to_labels(image, study["files"][0], meta)
    (tmp_path / "notes.txt").write_text("1 2\n3 4\n5 6\n")
    with pytest.raises(InputError, match="<number>-<name>"):
        contours_to_labels(image, tmp_path, meta)
    with pytest.raises(ParameterError, match="--slice"):
        contours_to_labels(image, tmp_path / "notes.txt", meta)
    with pytest.raises(InputError):
        contours_to_labels(image, tmp_path / "missing", meta)
    (tmp_path / "x.nrrd").write_bytes(b"NRRD0004\n")
    with pytest.raises(InputError, match="neither"):
        contours_to_labels(image, tmp_path / "x.nrrd", meta)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "IM-0001-0001-icontour-manual.txt").write_text("1 2 3\n")
    with pytest.raises(InputError, match="two numbers"):
        read_point_list(tmp_path / "bad" / "IM-0001-0001-icontour-manual.txt")
    with pytest.raises(OutputError):
        contours_to_file(study["dicom"], study["rtstruct"], study["files"][0])


def test_contours_off_the_grid_raise_geometry_error(study, loaded):
    """An image elsewhere in space (another study): no contour lands on it, which is a clear error."""
    moved = sitk.Image(loaded[0])
    moved.SetOrigin(np.add(moved.GetOrigin(), (0.0, 0.0, 500.0)).tolist())
    with pytest.raises(GeometryError, match="no contour lands"):
        contours_to_labels(moved, study["rtstruct"], None)


def test_cli_contours(study, tmp_path, cli):
    out = tmp_path / "cli.seg.nrrd"
    result = cli("contours", study["dicom"], study["rtstruct"], "-o", out, "--ring")
    assert result.returncode == 0, result.stderr
    labels, names = read_label_image(out)
    assert names == {1: "blood_pool", 2: "myocardium"}
    _check_rois(labels, names, _truth(study), "CLI --ring", True)
