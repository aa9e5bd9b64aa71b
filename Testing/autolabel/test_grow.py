"""Grow from seeds: a few seed voxels per structure on chest phantoms, and the real ct-chest-141 nodule.

Most tests run ITK's fast grow-cut in this process (:func:`itk_grow_cut_here`), the same C++ code
as the default child-process engine, to save its start-up; the engine's own tests use the child.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

pytest.importorskip("itk", reason="grow from seeds needs itk-growcut (make setup installs it)")

from conftest import shared  # noqa: E402
from grow_helpers import nodule_seeds  # noqa: E402
from medseg.autolabel.grow import box_size, grow_from_seeds, parse_range, region_box, smooth_labels  # noqa: E402
from medseg.autolabel.grow_engine import itk_grow_cut, itk_grow_cut_here  # noqa: E402
from medseg.errors import Cancelled, ParameterError  # noqa: E402
from medseg.measure.metrics import dice  # noqa: E402
from medseg.phantom import make_chest  # noqa: E402

HERE = itk_grow_cut_here


def _put(seeds, mask, value, n, rng):
    """``n`` seed voxels of ``value`` drawn inside ``mask`` (away from its edge where it is thick enough)."""
    core = ndimage.binary_erosion(mask)
    idx = np.argwhere(core if core.sum() >= n else mask)
    seeds[tuple(idx[rng.choice(len(idx), n, replace=False)].T)] = value


def _phantom_seeds(phantom, rng):
    """5 voxels in each lung, 3 in the nodule, 12 in the background (body and outside air): 25 voxels."""
    nodule = phantom.masks["nodule"]
    right, left = phantom.masks["lung-right"] & ~nodule, phantom.masks["lung-left"]
    seeds = np.zeros(phantom.hu.shape, np.uint8)
    _put(seeds, right, 1, 5, rng)
    _put(seeds, left, 2, 5, rng)
    _put(seeds, nodule, 3, 3, rng)
    _put(seeds, phantom.masks["body"] & ~phantom.masks["lung-right"] & ~left, 9, 8, rng)
    _put(seeds, ~phantom.masks["body"], 9, 4, rng)
    return seeds, {1: right, 2: left, 3: nodule}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_few_seed_voxels_in_three_structures_give_dice_095(seed):
    phantom = make_chest(seed=seed)
    seeds, truth = _phantom_seeds(phantom, np.random.default_rng(seed))
    assert np.count_nonzero(seeds) == 25
    grown = grow_from_seeds(phantom.hu, seeds, phantom.spacing, smooth="median", engine=HERE)
    for value, mask in truth.items():
        assert dice(grown.labels == value, mask) >= 0.95, (value, dice(grown.labels == value, mask))
    assert grown.labels.dtype == seeds.dtype and {1, 2, 3, 9} <= set(np.unique(grown.labels)) <= {0, 1, 2, 3, 9}
    assert sum(grown.stats["voxels"].values()) + grown.stats["unlabelled_in_region"] == grown.stats["region_voxels"]


def test_seeds_always_win_and_more_seeds_refine():
    """Background seeds only outside the body: the body's tissue goes to the lungs' labels (wrong).
    Painting background seeds in the body too and running again corrects it; every seed keeps its value."""
    phantom = make_chest(seed=0)
    rng = np.random.default_rng(5)
    seeds = np.zeros(phantom.hu.shape, np.uint8)
    right, left = phantom.masks["lung-right"], phantom.masks["lung-left"]
    _put(seeds, right, 1, 5, rng)
    _put(seeds, left, 2, 5, rng)
    _put(seeds, ~phantom.masks["body"], 9, 4, rng)
    first = grow_from_seeds(phantom.hu, seeds, phantom.spacing, smooth="none", engine=HERE).labels
    tissue = phantom.masks["body"] & ~right & ~left
    assert np.mean(np.isin(first[tissue], [1, 2])) > 0.5  # the body's tissue went to the lungs
    _put(seeds, tissue, 9, 8, rng)
    second = grow_from_seeds(phantom.hu, seeds, phantom.spacing, smooth="none", engine=HERE).labels
    assert np.mean(second[tissue] == 9) > 0.95
    assert dice(second == 1, right) > dice(first == 1, right)
    np.testing.assert_array_equal(second[seeds > 0], seeds[seeds > 0])


def test_range_masks_voxels_outside_the_editable_intensities():
    phantom = make_chest(seed=0)
    seeds, truth = _phantom_seeds(phantom, np.random.default_rng(0))
    grown = grow_from_seeds(phantom.hu, seeds, phantom.spacing, hu_range=(-1100, -500), smooth="median",
                            engine=HERE)
    out_of_range = (phantom.hu < -1100) | (phantom.hu > -500)
    assert not np.any(grown.labels[out_of_range & (seeds == 0)])
    assert np.all(grown.labels[seeds > 0] == seeds[seeds > 0])  # seeds win even where out of range (the nodule)
    assert dice(grown.labels == 2, truth[2] & ~out_of_range) > 0.95
    assert grown.stats["range_hu"] == [-1100, -500]


def test_region_is_the_seeds_box_with_slicers_margins():
    seeds = np.zeros((50, 100, 100), np.uint8)
    seeds[20, 40, 40], seeds[30, 60, 80] = 1, 2
    # 20 % of the extent on each side (at least 3 voxels), 50 % when a range masks voxels; clipped
    assert region_box(seeds, masked=False) == (slice(17, 34), slice(36, 65), slice(32, 89))
    assert region_box(seeds, masked=True) == (slice(15, 36), slice(30, 71), slice(20, 100))


def test_smoothing_closes_holes_then_votes_and_keeps_shared_borders():
    labels = np.ones((9, 40, 40), np.uint8)
    labels[:, :, 20:] = 2
    labels[4, 10, 10] = 2          # a stray voxel of 2 inside 1
    labels[4, 30, 30] = 0          # an unlabelled hole inside 2
    spacing = (1.0, 1.0, 1.0)
    closed = smooth_labels(labels, "closing", spacing, kernel_mm=3.0)
    assert closed[4, 10, 10] == 1 and closed[4, 30, 30] == 2
    np.testing.assert_array_equal(closed[:, :, 19:21], labels[:, :, 19:21])  # the long border stays put
    assert smooth_labels(labels, "none", spacing) is labels
    allowed = np.ones(labels.shape, bool)
    allowed[4, 30, 30] = False     # out of the editable range: no label may spread into it
    median = smooth_labels(labels, "median", spacing, kernel_mm=3.0, allowed=allowed)
    assert median[4, 30, 30] == 0 and median[4, 10, 10] == 1
    assert box_size((2.0, 0.9765625, 0.9765625), 3.0) == (1, 3, 3)  # Slicer's rounding: 1.5 voxels smooth nothing
    with pytest.raises(ParameterError, match="--smooth"):
        smooth_labels(labels, "gaussian", spacing)


def test_bad_seeds_and_options_are_one_line_errors():
    hu = np.zeros((5, 6, 7), np.int16)
    one = np.zeros(hu.shape, np.uint8)
    one[2, 3, 3] = 1
    with pytest.raises(ParameterError, match="two or more segments"):
        grow_from_seeds(hu, one, (1, 1, 1), engine=HERE)
    with pytest.raises(ParameterError, match="differ in shape"):
        grow_from_seeds(hu, one[:4], (1, 1, 1), engine=HERE)
    assert parse_range("-1024,200") == (-1024.0, 200.0) and parse_range(None) is None
    for bad in ("200,-100", "a,b", "1,2,3"):
        with pytest.raises(ParameterError, match="--range"):
            parse_range(bad)


def _noise_volume(shape=(40, 160, 160)):
    rng = np.random.default_rng(0)
    hu = rng.normal(0, 30, shape).astype(np.int16)
    seeds = np.zeros(shape, np.uint8)
    seeds[1, 1, 1], seeds[-2, -2, -2] = 1, 2  # not on the border, from which FastGrowCut never grows
    return hu, seeds


def test_child_process_engine_equals_the_in_process_one_and_reports_progress():
    hu, seeds = _noise_volume((12, 48, 48))
    seen = []
    child = itk_grow_cut(hu, seeds, None, (2.0, 1.0, 1.0), 0.5, progress=lambda f, m: seen.append(m))
    np.testing.assert_array_equal(child, itk_grow_cut_here(hu, seeds, None, (2.0, 1.0, 1.0), 0.5))
    assert seen and seen[-1].startswith("grow-cut:")
    assert set(np.unique(child)) == {1, 2}


def test_cancel_stops_the_child_at_once():
    import time

    hu, seeds = _noise_volume()
    stop = threading.Event()
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        grow_from_seeds(hu, seeds, (2.0, 1.0, 1.0), whole_image=True, progress=lambda f, m: stop.set(), cancel=stop)
    assert time.perf_counter() - t0 < 30  # the whole grow takes minutes on this machine's 2 shared cores


# --- the real right-upper-lobe nodule of ct-chest-141 ---------------------------------------------------

@pytest.fixture(scope="module")
def chest141():
    from medseg.io import load

    image, _ = load(shared("ct-chest-141", "dicom"))
    return image


def test_nodule_volume_is_stable_when_the_seeds_move_two_voxels(chest141):
    hu = sitk.GetArrayViewFromImage(chest141)
    spacing = chest141.GetSpacing()[::-1]
    voxel_ml = float(np.prod(spacing)) / 1000.0

    def volume(shift):
        grown = grow_from_seeds(hu, nodule_seeds(chest141, shift), spacing, smooth="median", engine=HERE)
        return np.count_nonzero(grown.labels == 1) * voxel_ml, grown

    base, grown = volume((0, 0, 0))
    nodule = grown.labels == 1
    assert 3.0 < base < 8.0, base  # ml: a nodule about 2 cm across, not the vessels around it
    assert np.all(hu[nodule] > -700)  # no lung parenchyma inside
    assert float(np.median(hu[nodule])) > -100
    for shift in [(0, 0, 2), (0, 0, -2), (0, 2, 0), (0, -2, 0), (2, 0, 0), (-2, 0, 0)]:
        moved, _ = volume(shift)
        assert abs(moved / base - 1) <= 0.10, (shift, moved, base)
