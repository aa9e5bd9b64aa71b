"""The phantom studies: head (headrest variants), abdomen (arms, gas, table), cardiac MR
(contours, RTSTRUCT), the chest's nodule / collapsed-lung / lying-on-side options, and the study writer."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage
from skimage.draw import polygon
from skimage.filters import threshold_otsu

from medseg.io import load
from medseg.labels import BODY, BONE, LUNG_LEFT, LUNG_RIGHT, TABLE_HEADREST
from medseg.phantom import (
    HEADREST_VARIANTS, PHANTOMS, make_abdomen, make_cardiac_mr, make_chest,
    make_head, make_phantom, write_phantom_study,
)

SIX = ndimage.generate_binary_structure(3, 1)
CUBE = np.ones((3, 3, 3), bool)


def dice(a, b) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return 2.0 * (a & b).sum() / max(a.sum() + b.sum(), 1)


@pytest.fixture(scope="module")
def heads():
    return {v: make_head(seed=0, headrest=v) for v in HEADREST_VARIANTS}


@pytest.fixture(scope="module")
def abdomen():
    return make_abdomen(seed=0)


@pytest.fixture(scope="module")
def cardiac_study(tmp_path_factory):
    return write_phantom_study(tmp_path_factory.mktemp("cmr"), seed=2, kind="cardiac-mr")


@pytest.mark.parametrize("kind,kw", [("head", {"headrest": "touching"}), ("head", {"headrest": "mask-shell"}),
                                     ("abdomen", {"lung_bases": True}), ("cardiac-mr", {}),
                                     ("chest", {"collapsed": "left", "lying_on_side": True})])
def test_determinism(kind, kw):
    shape = (8, 64, 64)
    a, b = make_phantom(kind, shape=shape, seed=4, **kw), make_phantom(kind, shape=shape, seed=4, **kw)
    c = make_phantom(kind, shape=shape, seed=5, **kw)
    assert np.array_equal(a.hu, b.hu) and np.array_equal(a.labels, b.labels)
    assert all(np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
    assert a.hu.dtype == np.int16 and a.labels.dtype == np.uint8 and a.hu.shape == shape
    assert not np.array_equal(a.hu, c.hu)
    assert set(PHANTOMS) >= {"chest", "head", "abdomen", "cardiac-mr"}


def _mean(p, tissue):
    m = p.tissues[tissue]
    assert m.sum() > 10, tissue
    return float(p.hu[m].mean())


def test_head_hu_and_labels(heads):
    p = heads["mask-shell"]
    assert 800 <= np.percentile(p.hu[p.tissues["skull"] & ~ndimage.binary_erosion(p.tissues["skull"])], 50) <= 1200
    assert 600 <= _mean(p, "skull") <= 1100
    assert 25 <= _mean(p, "brain") <= 45 and 10 <= _mean(p, "scalp") <= 45 and -10 <= _mean(p, "csf") <= 25
    assert _mean(p, "sinus_air") < -900 and 0 <= _mean(p, "eye") <= 20 and -130 <= _mean(p, "orbital_fat") <= -40
    assert 100 <= _mean(p, "headrest_shell") <= 400 and -900 <= _mean(p, "headrest_foam") <= -600
    assert 50 <= _mean(p, "mask_shell") <= 150 and 100 <= _mean(p, "table_shell") <= 400
    lab = p.labels
    assert {BODY.value, TABLE_HEADREST.value, BONE.value} <= set(np.unique(lab).tolist()) <= {0, 1, 2, 6}
    assert not (p.masks["bone"] & ~p.masks["body"]).any()
    assert np.array_equal(lab == TABLE_HEADREST.value, p.masks["table-headrest"])
    assert not (p.masks["table-headrest"] & p.masks["body"]).any()
    # The headrest cradles the back of the head: below (posterior to) its centre, above the table.
    rows = np.nonzero(p.masks["headrest"])[1]
    body_rows = np.nonzero(p.masks["body"])[1]
    table_rows = np.nonzero(p.masks["table"])[1]
    assert rows.min() > body_rows.mean() and rows.max() < table_rows.max()
    assert p.masks["table"].any(axis=(1, 2)).all() and p.masks["headrest"].any(axis=(1, 2)).all()
    assert p.modality == "CT" and p.body_part == "HEAD"


def test_headrest_separate_has_a_gap(heads):
    p = heads["separate"]
    grown = ndimage.binary_dilation(p.masks["body"], structure=CUBE)
    assert not (grown & p.masks["table-headrest"]).any()


def test_headrest_touching_touches_over_an_area(heads):
    p = heads["touching"]
    contact = ndimage.binary_dilation(p.masks["body"], structure=SIX) & p.masks["headrest"]
    assert contact.sum() >= 30 and contact.any(axis=(1, 2)).sum() >= 3
    # The contact is the dense cradle shell, not only foam: a threshold joins head and headrest.
    assert (p.hu[contact] > 100).mean() > 0.5
    comp, _ = ndimage.label(p.hu > -500)
    assert np.intersect1d(comp[p.masks["body"]], comp[p.masks["headrest"]]).size > 0


def test_headrest_mask_shell_is_thin(heads):
    p = heads["mask-shell"]
    shell = p.masks["mask_shell"]
    assert shell.sum() > 200 and shell.any(axis=(1, 2)).sum() >= p.hu.shape[0] // 2
    cross = np.zeros((3, 3, 3), bool)
    cross[1] = ndimage.generate_binary_structure(2, 1)
    assert not ndimage.binary_erosion(shell, structure=cross).any()  # at most 2 voxels thick in-plane
    assert not (ndimage.binary_dilation(p.masks["body"], structure=SIX) & shell).any()
    # Perforated: holes break each slice's shell into many pieces.
    k = int(np.argmax(shell.sum(axis=(1, 2))))
    assert ndimage.label(shell[k], structure=np.ones((3, 3), bool))[1] >= 5
    assert (p.labels[shell] == TABLE_HEADREST.value).all()
    assert heads["none"].masks["headrest"].sum() == 0 and not heads["none"].masks["mask_shell"].any()
    assert np.array_equal(heads["none"].masks["table-headrest"], heads["none"].masks["table"])


def test_abdomen_hu(abdomen):
    p = abdomen
    assert 45 <= _mean(p, "liver") <= 70 and 35 <= _mean(p, "spleen") <= 60 and 20 <= _mean(p, "kidney") <= 45
    assert -130 <= _mean(p, "fat") <= -70 and 30 <= _mean(p, "muscle") <= 60 and -10 <= _mean(p, "fluid") <= 30
    assert _mean(p, "gas") < -950 and _mean(p, "humerus") > 500 and _mean(p, "spine") > 200
    assert _mean(p, "table_shell") > 200 and -950 <= _mean(p, "table_foam") <= -700
    assert p.body_part == "ABDOMEN" and not p.masks["lung-right"].any() and not p.masks["lung-left"].any()


def test_abdomen_arms_are_separate_components_in_the_body(abdomen):
    p = abdomen
    comp, _ = ndimage.label(p.hu > -500, structure=CUBE)
    arms, torso = p.masks["arms"], p.masks["torso"]
    arm_labels = set(np.unique(comp[arms]).tolist()) - {0}
    assert len(arm_labels) == 2  # one component per arm
    for lab in arm_labels:
        part = comp == lab
        assert part.any(axis=(1, 2)).all()  # spans every slice, like the table
        assert not (part & torso).any() and not (part & p.masks["table"]).any()
        assert (part & ~p.masks["body"]).sum() == 0
    # Arms are patient anatomy: body (or bone, for the humerus) in the labels.
    assert np.isin(p.labels[arms], [BODY.value, BONE.value]).all()
    assert (p.labels[p.tissues["humerus"]] == BONE.value).all()
    # The table: its own components, spanning every slice, away from the body.
    table_labels = set(np.unique(comp[p.masks["table"] & (p.hu > -500)]).tolist()) - {0}
    assert table_labels and not table_labels & set(np.unique(comp[p.masks["body"]]).tolist())
    assert p.masks["table"].any(axis=(1, 2)).all()
    assert not (ndimage.binary_dilation(p.masks["body"], structure=CUBE) & p.masks["table"]).any()


def test_abdomen_gas_is_inside_the_body(abdomen):
    p = abdomen
    gas = p.masks["gas"]
    assert gas.sum() > 100 and (p.hu[gas] < -900).mean() > 0.99
    assert not (gas & ~p.masks["torso"]).any()
    for k in np.nonzero(gas.any(axis=(1, 2)))[0]:
        air, _ = ndimage.label(p.hu[k] < -500)
        border = set(np.unique(np.r_[air[0], air[-1], air[:, 0], air[:, -1]]).tolist())
        assert not set(np.unique(air[gas[k]]).tolist()) & border  # enclosed, not outside air


def test_abdomen_lung_bases():
    p = make_abdomen(seed=1, lung_bases=True)
    lungs = p.masks["lung-right"] | p.masks["lung-left"]
    zs = np.nonzero(lungs.any(axis=(1, 2)))[0]
    assert zs.size and zs.min() > p.hu.shape[0] // 2 and zs.max() == p.hu.shape[0] - 1
    assert -900 <= p.hu[lungs].mean() <= -750
    assert (p.labels == LUNG_RIGHT.value).sum() > 100 and (p.labels == LUNG_LEFT.value).sum() > 100
    cols = np.arange(p.hu.shape[2])
    assert cols[np.nonzero(p.masks["lung-right"])[2]].mean() < p.hu.shape[2] / 2


def test_chest_nodule_collapsed_and_side():
    p = make_chest(seed=0)
    nod = p.masks["nodule"]
    assert nod.sum() > 20 and (p.labels[nod] == LUNG_RIGHT.value).all() and 0 <= p.hu[nod].mean() <= 70
    assert not (nod & p.tissues["lung_parenchyma"]).any()
    assert make_chest(seed=0, nodule="pleural").masks["nodule"].sum() > 5
    assert not make_chest(seed=0, nodule=None).masks["nodule"].any()
    for side, other, mirror in (("left", "right", LUNG_LEFT), ("right", "left", LUNG_RIGHT)):
        c = make_chest(seed=0, collapsed=side)
        small, big = c.masks[f"lung-{side}"].sum(), c.masks[f"lung-{other}"].sum()
        assert 0 < small < 0.15 * big
        assert (c.labels == mirror.value).sum() == small
        assert c.masks["collapsed"].sum() > 5 * small and not (c.masks[f"lung-{side}"] & ~c.masks["collapsed"]).any()
        # The missing side mirrors the healthy one (what the mirrored search region relies on).
        assert dice(c.masks["collapsed"], c.masks[f"lung-{other}"][:, :, ::-1]) > 0.6
        assert c.masks["nodule"].any() and not (c.masks["nodule"] & c.masks["collapsed"]).any()
    s = make_chest(seed=0, lying_on_side=True)
    body = s.masks["body"]
    rows, cols = np.nonzero(body.any(axis=0))
    assert np.ptp(rows) > 1.3 * np.ptp(cols)  # on the side: taller than wide
    # Left side down: the left lung lies below (higher row) the right one; table flat under the body.
    assert np.nonzero(s.masks["lung-left"])[1].mean() > np.nonzero(s.masks["lung-right"])[1].mean()
    table = s.masks["table-headrest"]
    assert table.any(axis=(1, 2)).all()
    rows = np.arange(body.shape[1])[None, :, None]
    both = table.any(axis=1) & body.any(axis=1)
    top_of_table, bottom_of_body = np.where(table, rows, 10**6).min(axis=1), np.where(body, rows, -1).max(axis=1)
    assert both.sum() > 100 and (top_of_table[both] > bottom_of_body[both] + 1).all()
    assert not (ndimage.binary_dilation(body, structure=CUBE) & table).any()


def test_cardiac_mr_phantom():
    p = make_cardiac_mr(seed=0)
    assert p.modality == "MR" and [lab.name for lab in p.label_table] == ["blood_pool", "myocardium"]
    assert np.array_equal(p.labels == 1, p.masks["blood_pool"]) and np.array_equal(p.labels == 2, p.masks["myocardium"])
    assert p.hu.min() >= 0
    assert 420 <= _mean(p, "blood") <= 650 and 120 <= _mean(p, "myocardium") <= 230 and _mean(p, "lung") < 80
    assert p.masks["papillary"].any() and not (p.masks["papillary"] & ~p.masks["blood_pool"]).any()
    areas = p.masks["blood_pool"].sum(axis=(1, 2))
    assert (areas > 0).all() and areas[-1] < 0.6 * areas[0] and len(set(areas.tolist())) == len(areas)
    # Otsu inside the outer contour finds the blood pool (a sanity bound).
    region = p.masks["blood_pool"] | p.masks["myocardium"]
    assert dice((p.hu > threshold_otsu(p.hu[region])) & region, p.masks["blood_pool"]) >= 0.90


def _rasterise(points_xy, shape):
    mask = np.zeros(shape, bool)
    rr, cc = polygon(points_xy[:, 1], points_xy[:, 0], shape=shape)
    mask[rr, cc] = True
    return mask


def test_cardiac_contour_files_rasterise_to_the_masks(cardiac_study):
    p, folder = cardiac_study["phantom"], cardiac_study["contours"]
    nz, ny, nx = p.hu.shape
    assert len(cardiac_study["contour_files"]) == 2 * nz
    inner, outer = np.zeros(p.hu.shape, bool), np.zeros(p.hu.shape, bool)
    for f in cardiac_study["files"]:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        k = int(round((float(ds.ImagePositionPatient[2]) - p.origin[2]) / p.spacing[0]))
        assert f.name == f"IM-0001-{ds.InstanceNumber:04d}.dcm"
        for name, out in (("icontour", inner), ("ocontour", outer)):
            pts = np.loadtxt(folder / f"IM-0001-{ds.InstanceNumber:04d}-{name}-manual.txt", ndmin=2)
            assert pts.shape[1] == 2 and len(pts) >= 32
            out[k] = _rasterise(pts, (ny, nx))
    assert dice(inner, p.masks["blood_pool"]) >= 0.95
    assert dice(outer & ~inner, p.masks["myocardium"]) >= 0.95


def test_cardiac_rtstruct(cardiac_study):
    p = cardiac_study["phantom"]
    ds = pydicom.dcmread(cardiac_study["rtstruct"])
    assert ds.SOPClassUID == pydicom.uid.RTStructureSetStorage and ds.Modality == "RTSTRUCT"
    images = {d.SOPInstanceUID: d for d in (pydicom.dcmread(f, stop_before_pixels=True)
                                            for f in cardiac_study["files"])}
    first = next(iter(images.values()))
    frame = ds.ReferencedFrameOfReferenceSequence[0]
    assert frame.FrameOfReferenceUID == first.FrameOfReferenceUID
    series = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == first.SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in series.ContourImageSequence} == set(images)
    names = {r.ROINumber: r.ROIName for r in ds.StructureSetROISequence}
    assert set(names.values()) == {"LV endocardium", "LV epicardium"}
    masks = {}
    for rc in ds.ROIContourSequence:
        m = np.zeros(p.hu.shape, bool)
        for c in rc.ContourSequence:
            assert c.ContourGeometricType == "CLOSED_PLANAR"
            xyz = np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
            assert len(xyz) == int(c.NumberOfContourPoints)
            img = images[c.ContourImageSequence[0].ReferencedSOPInstanceUID]
            ipp = np.array([float(v) for v in img.ImagePositionPatient])
            assert np.allclose(xyz[:, 2], ipp[2], atol=1e-3)  # on the slice plane
            k = int(round((ipp[2] - p.origin[2]) / p.spacing[0]))
            row_sp, col_sp = (float(v) for v in img.PixelSpacing)
            pix = np.stack([(xyz[:, 0] - ipp[0]) / col_sp, (xyz[:, 1] - ipp[1]) / row_sp], axis=1)
            m[k] |= _rasterise(pix, p.hu.shape[1:])
        masks[names[rc.ReferencedROINumber]] = m
    endo, epi = masks["LV endocardium"], masks["LV epicardium"]
    assert dice(endo, p.masks["blood_pool"]) >= 0.95
    assert dice(epi & ~endo, p.masks["myocardium"]) >= 0.95


def test_cardiac_mr_series(cardiac_study):
    p = cardiac_study["phantom"]
    ds = pydicom.dcmread(cardiac_study["files"][0])
    assert ds.SOPClassUID == pydicom.uid.MRImageStorage == ds.file_meta.MediaStorageSOPClassUID
    assert ds.Modality == "MR" and "RescaleType" not in ds and "KVP" not in ds and ds.MagneticFieldStrength == 1.5
    image, meta = load(cardiac_study["dicom"])
    assert meta["modality"] == "MR" and not meta["is_hu"]
    assert np.array_equal(sitk.GetArrayViewFromImage(image), p.hu)
    labels = sitk.ReadImage(str(cardiac_study["labels"]))
    assert np.allclose(labels.GetOrigin(), image.GetOrigin(), atol=1e-4)
    info = json.loads(cardiac_study["labels_json"].read_text())
    assert info["modality"] == "MR" and [d["name"] for d in info["labels"]] == ["blood_pool", "myocardium"]
    assert info["contours"]["rois"] == {"icontour": "LV endocardium", "ocontour": "LV epicardium"}


@pytest.mark.parametrize("kind,kw", [("head", {"headrest": v}) for v in HEADREST_VARIANTS]
                         + [("abdomen", {"lung_bases": True}), ("chest", {"collapsed": "right"}),
                            ("chest", {"lying_on_side": True})])
def test_write_phantom_study_every_kind(tmp_path, kind, kw):
    study = write_phantom_study(tmp_path, seed=1, kind=kind, shape=(6, 64, 64), shuffle_names=True, **kw)
    p = study["phantom"]
    image, meta = load(study["dicom"])
    assert meta["is_hu"] and meta["modality"] == "CT" and len(study["files"]) == 6
    assert np.array_equal(sitk.GetArrayViewFromImage(image), p.hu)
    labels = sitk.ReadImage(str(study["labels"]))
    assert np.allclose(labels.GetOrigin(), image.GetOrigin(), atol=1e-4)
    assert np.array_equal(sitk.GetArrayViewFromImage(labels), p.labels)
    info = json.loads(study["labels_json"].read_text())
    assert info["phantom"] == p.name and {d["name"] for d in info["labels"] if d["present"]} >= {"body", "table-headrest"}
    assert "contours" not in study
