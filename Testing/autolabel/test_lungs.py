"""Lung isolation (`medseg lungs`): real counts, gas rejection, phantom Dice, split, ROI, partial lungs."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from medseg.pipeline import files, steps as pipeline
from medseg.preprocess import lps_array
from medseg.autolabel.lungs.mask import segment_lungs
from medseg.autolabel.lungs.search_region import mirror, search_region
from medseg.errors import Cancelled, NotCTError
from medseg.io import load, read_label_image
from medseg.measure.metrics import dice
from medseg.phantom import make_abdomen, make_cardiac_mr, make_chest

CT = {"modality": "CT", "is_hu": True}
#: What a published DL lung model gives on ct-chest-2 (trachea and main bronchi excluded).
CHEST2_RIGHT, CHEST2_LEFT, CHEST2_TOTAL = 64752, 36536, 101288


def _split(phantom, hu=None, sl=slice(None)):
    seg = segment_lungs(phantom.hu[sl] if hu is None else hu, phantom.spacing)
    return seg, phantom.masks["lung-right"][sl], phantom.masks["lung-left"][sl]


# --- real data ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chest2(chest_dicom):
    image, meta = load(chest_dicom)
    return image, meta, pipeline.lungs(image, meta, split=True, roi=True)


def test_chest2_counts_match_the_published_model(chest2):
    _, _, result = chest2
    labels = sitk.GetArrayFromImage(result.labels)
    right, left = int((labels == 1).sum()), int((labels == 2).sum())
    assert right == pytest.approx(CHEST2_RIGHT, rel=0.03)
    assert left == pytest.approx(CHEST2_LEFT, rel=0.03)
    assert right + left == pytest.approx(CHEST2_TOTAL, rel=0.03)


def test_chest2_right_lung_is_patient_right(chest2):
    image, _, result = chest2
    labels = sitk.GetArrayFromImage(result.labels)
    # Identity direction: column index grows toward the patient's left (+x in LPS).
    assert image.GetDirection()[0] > 0
    cols = np.arange(labels.shape[2])
    assert cols[(labels == 1).any(axis=(0, 1))].mean() < cols[(labels == 2).any(axis=(0, 1))].mean()


def test_chest2_roi_holds_the_lungs(chest2):
    _, _, result = chest2
    # The spine axis runs through the vertebra (columns ~245-270), not through the contrast-filled
    # aorta beside it (column ~285), which is as dense as bone in a bone window.
    low, high = result.stats["roi_spine_axis_column_lps"]
    assert 245 <= low <= high <= 270
    labels = sitk.GetArrayFromImage(result.labels) > 0
    roi = sitk.GetArrayFromImage(result.roi) > 0
    assert roi[labels].all()
    assert roi.sum() > labels.sum()


def test_abdomen_gas_is_not_lung(abdomen_dicom):
    image, meta = load(abdomen_dicom)
    hu, spacing, _ = lps_array(image)
    seg = segment_lungs(hu, spacing)
    assert seg.body.sum() > 1_000_000
    assert seg.lungs.sum() <= 0.001 * seg.body.sum()
    # The stomach and colon gas were seen and rejected as gas, not missed.
    gas = [p for p in seg.stats["pieces"] if p["ml"] > 5]
    assert len(gas) >= 2 and all(not p["lung"] and p["gas_fraction"] > 0.5 for p in gas)


# --- phantoms -------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(seed=0), dict(seed=1, noise_hu=30), dict(seed=2, nodule="pleural"),
                                dict(seed=3, blur_mm=1.5), dict(seed=4, nodule=None)],
                         ids=["default", "noisy", "pleural-nodule", "blurred", "no-nodule"])
def test_chest_phantom_dice(kw):
    phantom = make_chest(**kw)
    seg, right, left = _split(phantom)
    assert dice(seg.lungs, right | left) >= 0.97
    assert dice(seg.right, right) >= 0.97
    assert dice(seg.left, left) >= 0.97
    # Trachea and main bronchi are not lung; the airway label finds them.
    airway = phantom.masks["airway"]
    if not kw.get("blur_mm"):  # blurred, the edge of a wall-less bronchus inside the lung is half lung
        assert (seg.lungs & airway).sum() <= 0.05 * airway.sum()
    assert dice(seg.airway, airway) >= 0.8


def test_nodules_are_inside_the_lung():
    for kind in ("interior", "pleural"):
        phantom = make_chest(seed=5, nodule=kind)
        seg = segment_lungs(phantom.hu, phantom.spacing)
        nodule = phantom.masks["nodule"]
        assert nodule.any() and seg.lungs[nodule].mean() >= 0.95, kind


@pytest.mark.parametrize("side", ["left", "right"])
def test_roi_recovers_a_collapsed_lung(side):
    phantom = make_chest(seed=6, collapsed=side)
    seg, right, left = _split(phantom)
    assert dice(seg.right, right) >= 0.97 and dice(seg.left, left) >= 0.97
    region, axis = search_region(phantom.hu, seg.body, seg.lungs, phantom.spacing)
    # The spine axis is the phantom's midline (x = 0 mm).
    true_axis = -phantom.origin[0] / phantom.spacing[2]
    assert np.abs(axis - true_axis).max() < 1.0
    healthy = phantom.masks["lung-right" if side == "left" else "lung-left"]
    assert region[mirror(healthy, axis)].mean() >= 0.99
    # The heart takes more room from the left lung, so the left's mirror covers a little less of
    # a collapsed right lung's space (0.94-0.98 over seeds) than the right's mirror of the left's.
    assert region[phantom.masks["collapsed"]].mean() >= (0.95 if side == "left" else 0.92)
    assert region[seg.lungs].all()


def test_roi_dilation_is_a_disc_of_five_voxels():
    phantom = make_chest(seed=7)
    seg = segment_lungs(phantom.hu, phantom.spacing)
    region, axis = search_region(phantom.hu, seg.body, seg.lungs, phantom.spacing)
    k = int(np.argmax(seg.lungs.sum(axis=(1, 2))))
    union = seg.lungs[k] | mirror(seg.lungs[k:k + 1], axis[k:k + 1])[0]
    yy, xx = np.mgrid[-5:6, -5:6]
    expected = ndimage.binary_dilation(union, yy ** 2 + xx ** 2 <= 25)
    np.testing.assert_array_equal(region[k], expected)


def test_partial_lungs_above_an_abdomen():
    phantom = make_abdomen(seed=0, lung_bases=True)
    seg, right, left = _split(phantom)
    assert right.any() and left.any()
    assert dice(seg.right, right) >= 0.97 and dice(seg.left, left) >= 0.97
    assert not seg.airway.any()  # bowel gas loops are round midline tubes, but not a trachea


def test_abdomen_phantom_without_lungs():
    phantom = make_abdomen(seed=1)
    seg = segment_lungs(phantom.hu, phantom.spacing)
    assert phantom.masks["gas"].any()
    assert seg.lungs.sum() == 0 and not seg.airway.any()


def test_lower_chest_only():
    # The lower 10 of 32 slices: lung bases and heart, no trachea.
    phantom = make_chest(seed=8)
    seg, right, left = _split(phantom, sl=slice(0, 10))
    assert dice(seg.right, right) >= 0.97 and dice(seg.left, left) >= 0.97


def test_lungs_touching_at_the_anterior_junction():
    phantom = make_chest(seed=9, nodule=None)
    hu = phantom.hu.copy()
    right, left = phantom.masks["lung-right"].copy(), phantom.masks["lung-left"].copy()
    # A band of parenchyma across the midline in front of the mediastinum joins the lungs in 8 slices.
    ks = slice(12, 20)
    rows = slice(int(np.flatnonzero((right | left)[16].any(axis=1))[0]) + 1, None)
    rows = slice(rows.start, rows.start + 3)
    centre = hu.shape[2] // 2
    band = np.zeros_like(right)
    band[ks, rows, centre - 14:centre + 14] = True
    band &= ~phantom.masks["airway"]
    hu[band] = -850
    right |= band & (np.arange(hu.shape[2]) < centre)[None, None, :]
    left |= band & (np.arange(hu.shape[2]) >= centre)[None, None, :]
    seg = segment_lungs(hu, phantom.spacing)
    assert seg.stats["split"]["joined"], "the joined lungs should have been split"
    assert dice(seg.right, right) >= 0.97 and dice(seg.left, left) >= 0.97


def test_flipped_grid_keeps_patient_sides():
    phantom = make_chest(seed=10)
    image = phantom.to_image()
    flipped = sitk.Flip(image, [True, False, False])  # x axis reversed: direction -1, same anatomy
    assert flipped.GetDirection()[0] < 0
    a = sitk.GetArrayFromImage(pipeline.lungs(image, CT, split=True).labels)
    b = pipeline.lungs(flipped, CT, split=True).labels
    assert b.GetDirection() == flipped.GetDirection() and b.GetOrigin() == flipped.GetOrigin()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(b)[:, :, ::-1], a)


# --- bad input, progress, cancel, files ------------------------------------------------------


def test_non_ct_input_is_refused_unless_forced():
    mr = make_cardiac_mr(seed=0).to_image()
    with pytest.raises(NotCTError, match="force"):
        pipeline.lungs(mr, {"modality": "MR", "is_hu": False})
    result = pipeline.lungs(mr, {"modality": "MR", "is_hu": False}, force=True)
    assert result.labels.GetSize() == mr.GetSize()


def test_progress_and_cancel():
    phantom = make_chest(seed=11)
    seen = []
    segment_lungs(phantom.hu, phantom.spacing, progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 5
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        segment_lungs(phantom.hu, phantom.spacing, cancel=event)


def test_lungs_to_file_writes_labels_and_roi(tmp_path):
    from medseg.io.segnrrd import read_seg_nrrd
    from medseg.phantom import write_phantom_study

    study = write_phantom_study(tmp_path / "study", seed=12)
    out, roi = tmp_path / "lungs.seg.nrrd", tmp_path / "roi.nrrd"
    result = files.lungs_to_file(study["dicom"], out, split=True, roi=roi)
    seg = read_seg_nrrd(out)
    assert [s.name for s in seg.segments] == ["lung-right", "lung-left"]
    written = sitk.GetArrayFromImage(read_label_image(roi)[0])
    assert written.max() == 1 and written.sum() == sitk.GetArrayFromImage(result.roi).sum()
    truth = study["phantom"]
    labels = sitk.GetArrayFromImage(result.labels)
    assert dice(labels == 1, truth.masks["lung-right"]) >= 0.97
    plain = tmp_path / "lungs.nrrd"
    files.lungs_to_file(study["dicom"], plain)
    assert set(np.unique(sitk.GetArrayFromImage(read_label_image(plain)[0]))) == {0, 1}


def test_diaphragm_dome_island_is_not_lung():
    """Near the base an axial slice cuts the liver's dome as an island with lung all round it; per-slice
    hole filling must not make it lung, while an interior nodule (lung above and below) stays in."""
    phantom = make_chest(seed=9, nodule="interior")
    hu = phantom.hu.copy()
    right, left = phantom.masks["lung-right"].copy(), phantom.masks["lung-left"].copy()
    k0 = int(np.flatnonzero(right.any(axis=(1, 2)))[0]) + 4  # the new base: liver below it
    liver = np.zeros_like(right)
    liver[:k0] = right[:k0]
    cy, cx = (int(round(c)) for c in ndimage.center_of_mass(right[k0]))
    yy, xx = np.mgrid[:hu.shape[1], :hu.shape[2]]
    sy, sx = phantom.spacing[1], phantom.spacing[2]
    for i, radius_mm in enumerate((22.0, 18.0, 12.0)):
        liver[k0 + i] |= (((yy - cy) * sy) ** 2 + ((xx - cx) * sx) ** 2 <= radius_mm ** 2) & right[k0 + i]
    dome = liver & (np.arange(hu.shape[0]) >= k0)[:, None, None]
    assert dome.sum() > 50 and not (dome & ~right).any()  # an island inside the lung on each slice
    hu[liver] = 55.0
    right &= ~liver
    seg = segment_lungs(hu, phantom.spacing)
    share = float(seg.right[dome].mean())
    print(f"dome voxels labelled lung: {share:.1%} of {int(dome.sum())}")
    assert share <= 0.1
    assert dice(seg.right, right) >= 0.95 and dice(seg.left, left) >= 0.97
    assert seg.lungs[phantom.masks["nodule"]].mean() >= 0.95
