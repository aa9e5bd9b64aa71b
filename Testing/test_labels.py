"""One label table: a value has one name and one colour in every output, and names travel with the files.

On the real abdomen with its reference labels (value 1 = spleen, 5 = liver): meshes, statistics,
radiomics and evaluate use the reference's own names, never the auto-label names of the same
values. A NIfTI auto-label file keeps its names through its sidecar. The same value gets the
same name and colour in seg.nrrd, mesh files, DICOM SEG, the MRML scene and the report.
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from medseg import labels as L
from medseg.io import read_label_image, write_label_image
from medseg.io.segnrrd import read_seg_nrrd
from medseg.phantom import write_phantom_study

# The reference's bones, which the auto-label "bone" covers (cartilage aside).
REFERENCE_BONES = ("vertebrae_T12", "vertebrae_T11", "humerus_left", "humerus_right",
                   *(f"rib_{side}_{n}" for side in ("left", "right") for n in range(6, 13)))


def test_label_table_names_only_what_a_file_names():
    table = L.label_table([1, 5, 7], {1: "spleen", 5: "liver"})
    assert [(lab.value, lab.name) for lab in table] == [(1, "spleen"), (5, "liver"), (7, "label-7")]
    assert table[0].color != L.BODY.color  # value 1 is the spleen here, not the body
    assert L.label_table([1, 6], L.AUTO_LABELS) == [L.BODY, L.BONE]
    assert L.label_table([3]) == [L.Label(3, "label-3", L.PALETTE[3])]


def test_mesh_of_the_reference_names_spleen_and_liver(abdomen_reference, tmp_path, cli):
    res = cli("mesh", abdomen_reference, "-o", tmp_path / "m", "--labels", "1,5", "--json")
    assert res.returncode == 0, res.stderr
    assert {r["name"] for r in json.loads(res.stdout)} == {"spleen", "liver"}
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"spleen.stl", "liver.stl"}


def test_stats_and_radiomics_of_the_reference_name_spleen_and_liver(abdomen_dicom, abdomen_reference, tmp_path, cli):
    res = cli("stats", abdomen_dicom, abdomen_reference, "-o", tmp_path / "s.csv")
    assert res.returncode == 0, res.stderr
    rows = {int(r["label_value"]): r["segment"] for r in csv.DictReader((tmp_path / "s.csv").open())}
    assert rows[1] == "spleen" and rows[5] == "liver"
    res = cli("radiomics", abdomen_dicom, abdomen_reference, "-o", tmp_path / "r.json", "--labels", "1,5",
              "--params", "ct-baseline")
    assert res.returncode == 0, res.stderr
    assert [r["segment"] for r in json.loads((tmp_path / "r.json").read_text())] == ["spleen", "liver"]


@pytest.fixture(scope="module")
def abdomen_auto(abdomen_dicom, tmp_path_factory):
    """The auto-labels of the real abdomen, as seg.nrrd and as NIfTI (+ sidecar)."""
    from medseg.pipeline.files import autolabel_to_file

    folder = tmp_path_factory.mktemp("auto")
    result = autolabel_to_file(abdomen_dicom, folder / "auto.seg.nrrd")
    write_label_image(result.labels, folder / "auto.nii.gz", segments=list(result.segments))
    return folder


def test_evaluate_compares_only_same_named_structures(abdomen_auto, abdomen_reference, tmp_path, cli):
    ref, names = read_label_image(abdomen_reference)
    arr = sitk.GetArrayViewFromImage(ref)
    bone_values = [v for v, n in names.items() if n in REFERENCE_BONES]
    merged = np.select([arr == 1, np.isin(arr, bone_values)], [1, 2], 0).astype(np.uint8)
    image = sitk.GetImageFromArray(merged)
    image.CopyInformation(ref)
    write_label_image(image, tmp_path / "ref.nrrd", segments=[L.Label(1, "spleen", (0, 0, 0)), L.Label(2, "bone", (0, 0, 0))])

    res = cli("evaluate", abdomen_auto / "auto.seg.nrrd", tmp_path / "ref.nrrd", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["matched_by"] == "name" and list(out["labels"]) == ["bone"]  # not "body" against the spleen
    assert out["labels"]["bone"]["pred_values"] == [L.BONE.value] and out["labels"]["bone"]["ref_values"] == [2]
    assert 0.5 < out["labels"]["bone"]["dice"] < 1.0
    assert any("only in the reference" in n and "spleen" in n for n in out["notes"])
    assert any("only in the prediction" in n and "body" in n for n in out["notes"])
    human = cli("evaluate", abdomen_auto / "auto.seg.nrrd", tmp_path / "ref.nrrd")
    assert "compared by name: bone" in human.stdout and "spleen" in human.stderr

    # No shared name: a clear error, and --map pairs structures by name, with unions.
    res = cli("evaluate", abdomen_auto / "auto.seg.nrrd", abdomen_reference)
    assert res.returncode == 2 and "share no segment name" in res.stderr and "--map" in res.stderr
    res = cli("evaluate", abdomen_auto / "auto.seg.nrrd", abdomen_reference, "--json",
              "--map", "bone=" + "+".join(REFERENCE_BONES))
    assert res.returncode == 0, res.stderr
    mapped = json.loads(res.stdout)["labels"]
    (row,) = mapped.values()
    assert row["dice"] == pytest.approx(out["labels"]["bone"]["dice"])


def test_evaluate_both_empty_is_not_a_perfect_score(tmp_path, cli):
    empty = sitk.Image(8, 8, 4, sitk.sitkUInt8)
    write_label_image(empty, tmp_path / "a.seg.nrrd", segments=[L.BONE])
    write_label_image(empty, tmp_path / "b.seg.nrrd", segments=[L.BONE])
    res = cli("evaluate", tmp_path / "a.seg.nrrd", tmp_path / "b.seg.nrrd", "--json")
    assert res.returncode == 0, res.stderr
    row = json.loads(res.stdout)["labels"]["bone"]
    assert row["dice"] is None and "both masks are empty" in row["note"]
    human = cli("evaluate", tmp_path / "a.seg.nrrd", tmp_path / "b.seg.nrrd")
    assert re.search(r"bone\s+n/a", human.stdout), human.stdout


def test_nifti_auto_labels_keep_their_names(abdomen_auto, abdomen_dicom, tmp_path, cli):
    nifti = abdomen_auto / "auto.nii.gz"
    assert (abdomen_auto / "auto.json").is_file()
    _, names = read_label_image(nifti)
    assert names == {lab.value: lab.name for lab in L.AUTO_LABELS}
    res = cli("stats", abdomen_dicom, nifti, "-o", tmp_path / "s.csv")
    assert res.returncode == 0, res.stderr
    assert {r["segment"] for r in csv.DictReader((tmp_path / "s.csv").open())} <= {lab.name for lab in L.AUTO_LABELS}
    res = cli("radiomics", abdomen_dicom, nifti, "-o", tmp_path / "r.json", "--labels", "bone", "--params", "ct-baseline")
    assert res.returncode == 0, res.stderr
    assert [r["segment"] for r in json.loads((tmp_path / "r.json").read_text())] == ["bone"]
    res = cli("mesh", nifti, "-o", tmp_path / "m", "--labels", str(L.BONE.value))
    assert res.returncode == 0, res.stderr
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["bone.stl"]


def _ply_colour(path) -> tuple[int, int, int]:
    data = path.read_bytes()
    body = data[data.index(b"end_header\n") + len(b"end_header\n"):]
    vertex = np.dtype([("p", "<f4", 3), ("n", "<f4", 3), ("rgb", "u1", 3)])
    return tuple(int(c) for c in np.frombuffer(body, dtype=vertex, count=1)["rgb"][0])


def _dicom_seg_colours(path) -> dict[str, tuple[int, int, int]]:
    import highdicom as hd

    seg = pydicom.dcmread(path)
    return {s.SegmentLabel: tuple(hd.color.CIELabColor.from_dicom_value(s.RecommendedDisplayCIELabValue).to_rgb())
            for s in seg.SegmentSequence}


@pytest.mark.slicer
def test_one_value_one_name_one_colour_in_every_output(tmp_path, cli):
    """seg.nrrd, the names sidecar, mesh files, DICOM SEG, the MRML scene and the report agree, also for
    a value no file names (7, "label-7")."""
    from medseg.io.dicomseg import write_dicom_seg
    from medseg.io.meshes import write_meshes
    from medseg.measure.mesh import label_surfaces
    from medseg.mrml import scene as S
    from medseg.mrml.headless import create_headless_app

    study = write_phantom_study(tmp_path / "chest", seed=0, shape=(16, 96, 96))
    res = cli("run", study["dicom"], "-o", tmp_path / "run", "--no-radiomics")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "run" / "dicom"  # one folder per study, named from its path
    labels, names = read_label_image(out / "labels.seg.nrrd")
    arr = sitk.GetArrayFromImage(labels)
    arr[2:5, 5:15, 5:15] = 7  # in the air beside the patient: a structure no table names
    labels = sitk.GetImageFromArray(arr)
    labels.CopyInformation(read_label_image(out / "labels.seg.nrrd")[0])
    present = [int(v) for v in np.unique(arr) if v]
    expected = {lab.value: (lab.name, lab.color) for lab in L.label_table(present, names)}
    assert expected[7][0] == "label-7" and expected[L.LUNG_LEFT.value] == (L.LUNG_LEFT.name, L.LUNG_LEFT.color)

    write_label_image(labels, tmp_path / "x.seg.nrrd", segments=L.label_table(present, names))
    seg = {s.label_value: (s.name, tuple(int(round(255 * c)) for c in s.color))
           for s in read_seg_nrrd(tmp_path / "x.seg.nrrd").segments}
    assert seg == expected

    write_label_image(labels, tmp_path / "x.nii.gz", segments=L.label_table(present, names))
    sidecar = json.loads((tmp_path / "x.json").read_text())["labels"]
    assert {d["value"]: (d["name"], tuple(d["color"])) for d in sidecar} == expected

    surfaces = label_surfaces(labels, names)
    paths = write_meshes(surfaces, tmp_path / "ply", fmt="ply")
    assert {s.label_value: (s.name, s.color) for s in surfaces} == expected
    assert {p.stem: _ply_colour(p) for p in paths} == {n: c for n, c in expected.values()}

    write_dicom_seg(labels, study["files"], tmp_path / "x.dcm", segments=names)
    dicom = _dicom_seg_colours(tmp_path / "x.dcm")
    for name, colour in expected.values():
        assert np.abs(np.subtract(dicom[name], colour)).max() <= 1, (name, dicom[name], colour)

    app = create_headless_app()
    node = S.labels_to_segmentation_node(app.scene, labels, names)
    segmentation = node.GetSegmentation()
    scene = {}
    for seg_id, value in S.segment_label_values(node).items():
        segment = segmentation.GetSegment(seg_id)
        scene[value] = (segment.GetName(), tuple(int(round(255 * c)) for c in segment.GetColor()))
    assert scene == expected
    app.scene.Clear(True)

    report = (out / "report.html").read_text()
    for value, (name, (r, g, b)) in expected.items():
        if value != 7 and (arr == value).any():
            # The report says what body and table-headrest mean there: "body (remainder)", "... (removed)".
            assert re.search(rf"background:rgb\({r},{g},{b}\)'></span>{re.escape(name)}( \((remainder|removed)\))?<",
                             report), name
