"""`medseg grow` from the command line: seeds painted as a seg.nrrd or a NIfTI with its names sidecar."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("itk", reason="grow from seeds needs itk-growcut (make setup installs it)")

from medseg.io import read_label_image, write_label_image  # noqa: E402
from medseg.labels import Label  # noqa: E402
from medseg.measure.metrics import dice  # noqa: E402
from medseg.phantom import write_phantom_study  # noqa: E402


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return write_phantom_study(tmp_path_factory.mktemp("grow-study"), seed=3, kind="chest")


def _seeds(phantom) -> np.ndarray:
    """A 3x3 patch on three slices in each lung and one in the body wall; outside air in two corners of every slice."""
    seeds = np.zeros(phantom.hu.shape, np.uint8)
    for value, name in ((1, "lung-right"), (2, "lung-left")):
        z, y, x = np.argwhere(phantom.masks[name])[len(np.argwhere(phantom.masks[name])) // 2]
        seeds[z - 1:z + 2, y - 1:y + 2, x - 1:x + 2] = value
    tissue = phantom.masks["body"] & ~phantom.masks["lung-right"] & ~phantom.masks["lung-left"]
    z, y, x = np.argwhere(tissue)[0]
    seeds[z:z + 3, y:y + 2, x:x + 2] = 7
    seeds[:, 0, 0] = seeds[:, -1, -1] = 7  # two corners: the region around the seeds is the whole grid
    return seeds


def _image(array, like: sitk.Image) -> sitk.Image:
    img = sitk.GetImageFromArray(array)
    img.CopyInformation(like)
    return img


SEGMENTS = [Label(1, "right lung", (128, 174, 128)), Label(2, "left lung", (111, 184, 210)),
            Label(7, "background", (40, 40, 40))]


@pytest.mark.parametrize("seeds_name, out_name", [("seeds.seg.nrrd", "grown.seg.nrrd"),
                                                  ("seeds.nii.gz", "grown.nrrd")])
def test_grow_keeps_the_seed_names_and_finds_both_lungs(study, tmp_path, cli, seeds_name, out_name):
    phantom = study["phantom"]
    seeds_path = write_label_image(_image(_seeds(phantom), phantom.labels_image()), tmp_path / seeds_name,
                                   segments=SEGMENTS)
    out = tmp_path / out_name
    res = cli("grow", study["dicom"], seeds_path, "-o", out, "--smooth", "median")
    assert res.returncode == 0, res.stderr
    labels, names = read_label_image(out)
    assert names == {1: "right lung", 2: "left lung", 7: "background"}
    grown = sitk.GetArrayFromImage(labels)
    assert dice(grown == 1, phantom.masks["lung-right"]) > 0.95
    assert dice(grown == 2, phantom.masks["lung-left"]) > 0.95
    assert "right lung" in res.stdout and "ml" in res.stdout


def test_range_and_errors(study, tmp_path, cli):
    phantom = study["phantom"]
    seeds = _seeds(phantom)
    seeds_path = write_label_image(_image(seeds, phantom.labels_image()), tmp_path / "s.nrrd", segments=SEGMENTS)
    res = cli("grow", study["dicom"], seeds_path, "-o", tmp_path / "g.nrrd", "--range=-1100,-500", "--smooth", "none")
    assert res.returncode == 0, res.stderr
    grown = sitk.GetArrayFromImage(read_label_image(tmp_path / "g.nrrd")[0])
    assert not np.any(grown[(phantom.hu > -500) & (seeds == 0)])

    only_one = write_label_image(_image((seeds == 1).astype(np.uint8), phantom.labels_image()), tmp_path / "one.nrrd")
    res = cli("grow", study["dicom"], only_one, "-o", tmp_path / "x.nrrd")
    assert res.returncode == 2 and "two or more segments" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = cli("grow", study["dicom"], seeds_path, "-o", seeds_path)
    assert res.returncode == 2 and "refusing" in res.stderr.lower()
    res = cli("grow", study["dicom"], seeds_path, "-o", tmp_path / "y.nrrd", "--range=5,1")
    assert res.returncode == 2 and "LO < HI" in res.stderr
