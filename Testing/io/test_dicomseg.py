"""DICOM SEG output: written with highdicom, referencing the source CT series, read back and checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from conftest import shared
from medseg.io import dicomseg
from medseg import io
from medseg.errors import DependencyError, GeometryError, InputError, OutputError
from medseg.labels import AUTO_LABELS, Label
from medseg.phantom.dicom_writer import write_ct_series

hd = pytest.importorskip("highdicom", reason="highdicom (the dicomseg extra) is not installed")

SHAPE = (10, 36, 44)  # (z, y, x)
SPACING = (2.5, 0.8, 0.7)
ORIGIN = (-20.0, -15.5, 100.25)
OBLIQUE = tuple(np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]]).ravel())


def make_labels() -> np.ndarray:
    lab = np.zeros(SHAPE, dtype=np.uint8)
    lab[1:5, 4:20, 5:25] = 1  # "body"-like block on slices 1-4
    lab[3:8, 22:33, 10:40] = 3  # lung-right on slices 3-7
    lab[9, 1:3, 1:3] = 6  # a speck of bone on the last slice
    return lab


@pytest.fixture(scope="module", params=["axial", "oblique"])
def study(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"seg-{request.param}")
    hu = np.full(SHAPE, -1000, dtype=np.int16)
    direction = OBLIQUE if request.param == "oblique" else (1, 0, 0, 0, 1, 0, 0, 0, 1)
    write_ct_series(hu, SPACING, ORIGIN, root / "ct", direction=direction, shuffle_names=True, instance_numbers="random")
    image, meta = io.load(root / "ct")
    assert meta["source"] == "dicom"
    labels = sitk.GetImageFromArray(make_labels())
    labels.CopyInformation(image)
    files = [str(f) for f in meta["files"]]
    seg_path = dicomseg.write_dicom_seg(labels, files, root / "out" / "labels.seg.dcm", segments=AUTO_LABELS)
    return {"root": root, "image": image, "labels": labels, "files": files, "seg": seg_path}


def test_segments_frames_and_reference(study):
    seg = hd.seg.segread(study["seg"])
    source = pydicom.dcmread(study["files"][0], stop_before_pixels=True)
    assert seg.SegmentationType == "BINARY"
    assert [(s.SegmentNumber, s.SegmentLabel) for s in seg.SegmentSequence] == [(1, "body"), (2, "lung-right"), (3, "bone")]
    lab = make_labels()
    non_empty = sum(int((lab == v).any(axis=(1, 2)).sum()) for v in (1, 3, 6))
    assert int(seg.NumberOfFrames) == non_empty == 4 + 5 + 1
    assert [r.SeriesInstanceUID for r in seg.ReferencedSeriesSequence] == [source.SeriesInstanceUID]
    assert seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.PatientID == source.PatientID
    assert seg.SeriesInstanceUID != source.SeriesInstanceUID


def test_segment_descriptions_codes_and_algorithm(study):
    seg = pydicom.dcmread(study["seg"])
    body, lung, bone = seg.SegmentSequence
    assert body.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning == "Anatomical Structure"
    assert body.SegmentedPropertyTypeCodeSequence[0].CodeValue == "38266002"  # Entire body
    assert lung.SegmentedPropertyTypeCodeSequence[0].CodeValue == "3341006"  # Right lung
    assert bone.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning == "Tissue"
    assert bone.SegmentedPropertyTypeCodeSequence[0].CodeValue == "272673000"  # Bone
    for s in seg.SegmentSequence:
        assert s.SegmentAlgorithmType == "AUTOMATIC" and s.SegmentAlgorithmName == "MedSeg"
        algo = s.SegmentationAlgorithmIdentificationSequence[0]
        assert algo.AlgorithmName == "MedSeg" and algo.AlgorithmVersion
        assert len(s.RecommendedDisplayCIELabValue) == 3


def test_per_frame_positions_and_pixels_match_the_source(study):
    seg = pydicom.dcmread(study["seg"])
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in study["files"]]
    by_uid = {ds.SOPInstanceUID: (k, ds) for k, ds in enumerate(sources)}
    lab = make_labels()
    values = {1: 1, 2: 3, 3: 6}
    frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), int(seg.Rows), int(seg.Columns))
    for frame, pixels in zip(seg.PerFrameFunctionalGroupsSequence, frames):
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        k, source = by_uid[uid]
        assert np.allclose([float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient],
                           [float(v) for v in source.ImagePositionPatient], atol=1e-3)
        number = frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        assert np.array_equal(pixels.astype(bool), lab[k] == values[number])
    report = dicomseg.validate_dicom_seg(study["seg"], study["labels"], study["files"], segments=AUTO_LABELS)
    assert report["ok"], report["problems"]
    assert report["frames"] == report["expected_frames"] == 10
    assert report["label_values"] == values


def test_read_back_on_the_source_grid_and_on_its_own(study):
    image, names = dicomseg.read_dicom_seg(study["seg"], study["files"])
    assert names == {1: "body", 2: "lung-right", 3: "bone"}
    assert io.grid.same_grid(image, study["image"])
    expected = np.select([make_labels() == v for v in (1, 3, 6)], [1, 2, 3], 0)
    assert np.array_equal(sitk.GetArrayFromImage(image), expected)
    own, _ = dicomseg.read_dicom_seg(study["seg"])  # spans the non-empty slices only
    on_grid = io.grid.resample_nearest(own, study["image"])
    assert np.array_equal(sitk.GetArrayFromImage(on_grid), expected)


def test_names_from_a_mapping_get_snomed_codes(study, tmp_path):
    names = {1: "liver", 3: "vertebrae_T12", 6: "mystery"}
    path = dicomseg.write_dicom_seg(study["labels"], study["files"], tmp_path / "named.dcm", segments=names,
                                    algorithm_family="ai")
    seg = pydicom.dcmread(path)
    types = [(s.SegmentLabel, s.SegmentedPropertyTypeCodeSequence[0].CodeMeaning) for s in seg.SegmentSequence]
    assert types == [("liver", "Liver"), ("vertebrae_T12", "T12 vertebra"), ("mystery", "Tissue")]
    family = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0].AlgorithmFamilyCodeSequence[0]
    assert family.CodeMeaning == "Artificial Intelligence"
    assert dicomseg.validate_dicom_seg(path, study["labels"], study["files"], segments=names)["ok"]
    manual = dicomseg.write_dicom_seg(study["labels"], study["files"], tmp_path / "manual.dcm",
                                      segments=[Label(1, "a", (1, 2, 3)), Label(3, "b", (4, 5, 6))],
                                      algorithm_type="MANUAL")
    seg = pydicom.dcmread(manual)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["a", "b", "label-6"]
    assert all(s.SegmentAlgorithmType == "MANUAL" for s in seg.SegmentSequence)


def test_flipped_labels_are_put_on_the_series_grid(study, tmp_path):
    flipped = sitk.Flip(study["labels"], [False, False, True])  # same voxels, z reversed
    assert not io.grid.same_grid(flipped, study["labels"])
    path = dicomseg.write_dicom_seg(flipped, study["files"], tmp_path / "flipped.dcm")
    assert dicomseg.validate_dicom_seg(path, study["labels"], study["files"])["ok"]


def test_labels_off_the_series_grid_are_refused(study, tmp_path):
    shifted = sitk.Image(study["labels"])
    shifted.SetOrigin(tuple(np.add(study["labels"].GetOrigin(), (0.0, 0.0, 1.0))))
    with pytest.raises(GeometryError, match="not on the source DICOM series' grid"):
        dicomseg.write_dicom_seg(shifted, study["files"], tmp_path / "bad.dcm")
    cropped = study["labels"][:, :, :-1]
    with pytest.raises(GeometryError):
        dicomseg.write_dicom_seg(cropped, study["files"], tmp_path / "bad.dcm")
    with pytest.raises(GeometryError):  # slices in another order than the label map's
        swapped = [study["files"][1], study["files"][0], *study["files"][2:]]
        dicomseg.write_dicom_seg(study["labels"], swapped, tmp_path / "bad.dcm")
    with pytest.raises(InputError, match="repeat"):
        dicomseg.write_dicom_seg(study["labels"], [*study["files"][:-1], study["files"][0]], tmp_path / "bad.dcm")
    assert not (tmp_path / "bad.dcm").exists()
    path = dicomseg.write_dicom_seg(shifted, study["files"], tmp_path / "resampled.dcm", resample_labels=True)
    on_grid = io.grid.resample_nearest(shifted, study["image"])
    assert dicomseg.validate_dicom_seg(path, on_grid, study["files"])["ok"]


def test_bad_inputs(study, tmp_path):
    empty = sitk.Image(study["labels"])
    empty *= 0
    with pytest.raises(InputError, match="empty"):
        dicomseg.write_dicom_seg(empty, study["files"], tmp_path / "x.dcm")
    with pytest.raises(InputError, match="not DICOM"):
        dicomseg.write_dicom_seg(study["labels"], [], tmp_path / "x.dcm")
    with pytest.raises(OutputError):
        dicomseg.write_dicom_seg(study["labels"], study["files"], study["files"][0])


def test_validation_notices_a_moved_frame(study, tmp_path):
    seg = pydicom.dcmread(study["seg"])
    position = seg.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0]
    position.ImagePositionPatient = [float(v) + (1.0 if i == 2 else 0.0) for i, v in enumerate(position.ImagePositionPatient)]
    seg.save_as(tmp_path / "moved.dcm")
    report = dicomseg.validate_dicom_seg(tmp_path / "moved.dcm", study["labels"], study["files"])
    assert not report["ok"] and any("frame positions" in p for p in report["problems"])
    other = sitk.Image(study["labels"])
    other[5, 5, 9] = 1
    report = dicomseg.validate_dicom_seg(study["seg"], other, study["files"])
    assert not report["ok"]


def test_missing_highdicom_says_how_to_install(monkeypatch, study, tmp_path):
    monkeypatch.setitem(sys.modules, "highdicom", None)
    with pytest.raises(DependencyError, match="pip install highdicom"):
        dicomseg.write_dicom_seg(study["labels"], study["files"], tmp_path / "x.dcm")
    with pytest.raises(DependencyError):
        dicomseg.read_dicom_seg(study["seg"])


def test_real_abdomen_reference_labels(tmp_path):
    """The shared abdomen is anonymised with blank Study/Series/SOP UIDs: refused with a clear error;
    a copy with UIDs restored gets a valid SEG of its 31 reference structures."""
    dicom = shared("ct-abdomen-20", "dicom")
    image, meta = io.load(dicom)
    labels, _ = io.read_label_image(shared("ct-abdomen-20", "reference-labels.nrrd"))
    names = {int(k): v for k, v in json.loads(shared("ct-abdomen-20", "reference-labels.json").read_text()).items()}
    with pytest.raises(InputError, match="anonymised"):
        dicomseg.write_dicom_seg(labels, meta["files"], tmp_path / "refused.dcm", segments=names)
    study_uid, series_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    fixed = []
    for f in meta["files"]:
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID
        fixed.append(tmp_path / "dicom" / Path(f).name)
        fixed[-1].parent.mkdir(exist_ok=True)
        ds.save_as(fixed[-1])
    path = dicomseg.write_dicom_seg(labels, fixed, tmp_path / "abdomen-seg.dcm", segments=names, algorithm_type="MANUAL")
    report = dicomseg.validate_dicom_seg(path, labels, fixed, segments=names)
    assert report["ok"], report["problems"]
    present = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(labels)) if v]
    assert list(report["segments"].values()) == [names[v] for v in present]
    assert report["referenced_series_uids"] == [series_uid]
