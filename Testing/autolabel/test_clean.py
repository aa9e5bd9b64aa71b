"""Table/couch/headrest removal and the body mask (`medseg clean`).

Must hold: on the real ct-abdomen-20, >= 99.9 % of the reference-labelled voxels (arm bones
included) lie in the body mask and the table shells are in the object mask, not the body; on
the phantoms, body Dice >= 0.99 and object Dice >= 0.95 for every case, headrest variants
included; non-CT input is refused unless forced.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from medseg import io
from medseg.measure import metrics
from medseg.pipeline import files, steps as pipeline
from medseg.autolabel.table.body import body_and_objects
from medseg.autolabel.table.hu_classes import kmeans_hu
from medseg.autolabel import morphology as mo
from medseg.autolabel.table.hu_classes import air_threshold
from medseg.errors import Cancelled, NotCTError
from medseg.labels import AIR_HU
from medseg.phantom import make_abdomen, make_chest, make_head

CT = {"is_hu": True, "modality": "CT"}

PHANTOM_CASES = {
    "chest (curved table)": lambda: make_chest(seed=0),
    "chest lying on side": lambda: make_chest(seed=1, lying_on_side=True),
    "abdomen (arms + table)": lambda: make_abdomen(seed=0),
    "head, headrest separate": lambda: make_head(seed=0, headrest="separate"),
    "head, headrest touching": lambda: make_head(seed=1, headrest="touching"),
    "head, mask shell": lambda: make_head(seed=2, headrest="mask-shell"),
    "head, table only": lambda: make_head(seed=3, headrest="none"),
}


def _dice(found, phantom) -> tuple[float, float]:
    return (metrics.dice(found.body, phantom.masks["body"]),
            metrics.dice(found.objects, phantom.masks["table-headrest"]))


# --- phantoms -------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(PHANTOM_CASES))
def test_phantom_dice(case):
    phantom = PHANTOM_CASES[case]()
    found = body_and_objects(phantom.hu, phantom.spacing)
    body, objects = _dice(found, phantom)
    print(f"{case}: body Dice {body:.4f}, object Dice {objects:.4f}")
    assert body >= 0.99, (case, body)
    assert objects >= 0.95, (case, objects)


FINE_CASES = {  # sub-millimetre pixels with scanner blur and noise: the reduced-grid path
    "chest": lambda: make_chest((8, 384, 384), seed=0, blur_mm=0.8, noise_hu=20),
    "head, headrest separate": lambda: make_head((8, 384, 384), seed=0, headrest="separate", blur_mm=0.8, noise_hu=20),
    "head, mask shell": lambda: make_head((8, 384, 384), seed=0, headrest="mask-shell", blur_mm=0.8, noise_hu=20),
}


@pytest.mark.parametrize("case", list(FINE_CASES))
def test_reduced_grid_path(case):
    """Pixels under 1 mm: components at ~2 mm, the masks' edges redrawn at full resolution."""
    phantom = FINE_CASES[case]()
    found = body_and_objects(phantom.hu, phantom.spacing)
    assert found.stats["reduction_factor"] >= 2
    body, objects = _dice(found, phantom)
    print(f"{case} at {phantom.spacing[1]:.2f} mm, blurred: body Dice {body:.4f}, object Dice {objects:.4f}")
    assert body >= 0.99 and objects >= 0.95, (body, objects)


def test_body_holes_filled_and_cleaned_volume():
    """Lungs stay inside the body; the cleaned volume keeps the body's HU and is AIR_HU elsewhere."""
    p = make_chest(seed=4)
    result = pipeline.clean(p.to_image(), CT)
    body = sitk.GetArrayFromImage(result.body_mask).astype(bool)
    objects = sitk.GetArrayFromImage(result.object_mask).astype(bool)
    cleaned = sitk.GetArrayFromImage(result.cleaned)
    lungs = p.masks["lung-right"] | p.masks["lung-left"] | p.masks["airway"]
    assert body[lungs].all()
    assert not (body & objects).any()
    assert np.array_equal(cleaned[body], p.hu[body])
    assert (cleaned[~body] == AIR_HU).all()
    assert result.cleaned.GetSpacing() == p.to_image().GetSpacing()
    assert result.body_mask.GetPixelID() == sitk.sitkUInt8


def test_orientation_is_kept():
    """A volume stored in another orientation gets masks on its own grid, equal to the LPS result."""
    image = make_head(seed=1, headrest="touching").to_image()
    lps = pipeline.clean(image, CT)
    flipped = sitk.DICOMOrient(image, "RAS")
    ras = pipeline.clean(flipped, CT)
    assert ras.body_mask.GetDirection() == flipped.GetDirection()
    back = sitk.DICOMOrient(ras.body_mask, "LPS")
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(lps.body_mask))


# --- bad input, progress, cancel ---------------------------------------------------------------------

def test_non_ct_refused_unless_forced():
    image = make_chest(seed=0).to_image()
    with pytest.raises(NotCTError, match="--force"):
        pipeline.clean(image, {"is_hu": False, "modality": "MR"})
    mr_like = sitk.Abs(image)  # an MR-like range: no air near -1000 HU
    with pytest.raises(NotCTError, match="do not look like HU"):
        pipeline.clean(mr_like, {"is_hu": None, "modality": "unknown"})
    pipeline.clean(image, {"is_hu": False, "modality": "MR"}, force=True)
    pipeline.clean(image, {"is_hu": None})  # a volume file that holds HU passes the value check


def test_progress_and_cancel():
    image = make_chest(seed=0).to_image()
    seen = []
    pipeline.clean(image, CT, progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        pipeline.clean(image, CT, cancel=cancel)


def test_clean_to_files(tmp_path):
    study = tmp_path / "in.nrrd"
    p = make_head(seed=0, headrest="touching")
    io.write_volume(p.to_image(), study)
    out, body, objects = tmp_path / "clean.nrrd", tmp_path / "body.seg.nrrd", tmp_path / "objects.nrrd"
    files.clean_to_files(study, out, body_mask=body, object_mask=objects)
    cleaned = sitk.GetArrayFromImage(io.read_volume(out))
    body_img, names = io.read_label_image(body)
    assert names == {1: "body"}
    assert metrics.dice(sitk.GetArrayFromImage(body_img), p.masks["body"]) >= 0.99
    obj = sitk.GetArrayFromImage(io.read_label_image(objects)[0])
    assert metrics.dice(obj, p.masks["table-headrest"]) >= 0.95
    assert (cleaned[~p.masks["body"]] == AIR_HU).mean() > 0.99


# --- pieces -----------------------------------------------------------------------------------------

def test_kmeans_and_threshold():
    rng = np.random.default_rng(0)
    hu = np.concatenate([rng.normal(-1000, 10, 50_000), rng.normal(-100, 15, 20_000),
                         rng.normal(45, 15, 20_000), rng.normal(700, 50, 5_000)])
    centres = kmeans_hu(hu, 3, above=-960)
    assert np.allclose(centres, [-100, 45, 700], atol=15)
    assert -600 < air_threshold(centres, -1000.0) < -450


def test_shift_morphology_matches_scipy():
    rng = np.random.default_rng(1)
    mask = ndimage.gaussian_filter(rng.normal(size=(12, 40, 50)), 2) > 0
    for spacing in [(2.0, 1.95, 1.95), (5.0, 1.0, 1.0), (1.0, 1.0, 1.5)]:
        se = mo.ellipsoid(4.0, spacing)
        assert np.array_equal(mo.erode(mask, 4.0, spacing), ndimage.binary_erosion(mask, se, border_value=1))
        assert np.array_equal(mo.dilate(mask, 4.0, spacing), ndimage.binary_dilation(mask, se))


def test_few_slices():
    """Volumes thinner than the structuring elements (1-2 slices) work, e.g. a 2-slice chest CT."""
    p = make_chest(seed=0)
    for n in (1, 2):
        found = body_and_objects(p.hu[:n], (1.0, *p.spacing[1:]))
        assert metrics.dice(found.body, p.masks["body"][:n]) >= 0.99
    mask = np.zeros((2, 9, 9), dtype=bool)
    mask[:, 2:7, 2:7] = True
    spacing = (0.5, 1.0, 1.0)  # the ellipsoid reaches 4 slices away, the array has 2
    assert np.array_equal(mo.dilate(mask, 2.0, spacing), ndimage.binary_dilation(mask, mo.ellipsoid(2.0, spacing)))


def test_fill_holes_per_slice_keeps_open_notches():
    ring = np.zeros((2, 20, 20), dtype=bool)
    ring[:, 3:17, 3:17] = True
    ring[:, 6:14, 6:14] = False  # an enclosed hole: filled
    ring[1, 6:14, 14:] = False  # slice 1: the hole opens to the outside, so it stays open
    filled = mo.fill_holes_per_slice(ring)
    assert filled[0, 6:14, 6:14].all()
    assert not filled[1, 8, 8]


# --- the real abdomen ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def abdomen(abdomen_dicom, abdomen_reference):
    image, meta = io.load(abdomen_dicom)
    result = pipeline.clean(image, meta)
    ref = sitk.GetArrayFromImage(io.read_label_image(abdomen_reference)[0])
    return image, result, ref


def test_abdomen_body_covers_reference_labels(abdomen):
    _, result, ref = abdomen
    body = sitk.GetArrayFromImage(result.body_mask).astype(bool)
    labelled = ref > 0
    coverage = body[labelled].mean()
    print(f"ct-abdomen-20: {coverage:.5%} of reference-labelled voxels in the body mask")
    assert coverage >= 0.999
    for value in (69, 70):  # humerus left / right: the arms lie beside the body, separate components
        arm = ref == value
        assert arm.any() and body[arm].mean() >= 0.999, value


def test_abdomen_table_is_an_object(abdomen):
    """The table, found independently of the method: dense voxels posterior to every reference label."""
    image, result, ref = abdomen
    hu = sitk.GetArrayFromImage(image)
    body = sitk.GetArrayFromImage(result.body_mask).astype(bool)
    objects = sitk.GetArrayFromImage(result.object_mask).astype(bool)
    margin = int(round(20.0 / image.GetSpacing()[1]))  # 20 mm behind the back-most labelled row
    below = np.zeros_like(body)
    below[:, np.nonzero(ref.any(axis=(0, 2)))[0].max() + margin:, :] = True
    shells = below & (hu > 200)
    assert shells.sum() > 10_000  # two curved carbon shells under the patient on every slice
    in_objects = objects[shells].mean()
    print(f"ct-abdomen-20: {in_objects:.3%} of the table-shell voxels in the object mask")
    assert in_objects >= 0.99
    assert not body[shells].any()
    assert not objects[ref > 0].any()
