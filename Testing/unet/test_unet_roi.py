"""Components kept only where they lie in the lungs (medseg.unet.roi.keep_in_lungs), on arrays whose
answer is known by construction, and through predict with a card that asks for it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medseg.unet.roi import keep_in_lungs, whole_lungs

SPACING = (2.0, 1.0, 1.0)


def _lung_with_lesions():
    """A box of lung (z, y, x) with a solid nodule cut out of it, a pleural notch on its side and a
    wide dome pushed up into its base; the labels a model might give on each."""
    lung = np.zeros((20, 80, 80), bool)
    lung[2:18, 10:70, 10:70] = True
    zz, yy, xx = np.ogrid[:20, :80, :80]
    nodule = ((zz - 10) * 2.0) ** 2 + (yy - 40) ** 2 + (xx - 40) ** 2 <= 36
    notch = ((zz - 10) * 2.0) ** 2 + (yy - 40) ** 2 + (xx - 13) ** 2 <= 36  # centre half its radius inside the lung, as inserted
    dome = (zz < 6) & ((yy - 40) ** 2 + (xx - 40) ** 2 <= 28 ** 2)  # 56 mm wide, from below
    lung &= ~(nodule | notch | dome)  # the classical mask leaves out what is not air
    labels = np.zeros(lung.shape, np.uint8)
    labels[nodule] = 1
    labels[notch & (xx >= 9)] = 1  # the model's pleural lesion reaches a little past the edge
    band = dome & ~ndimage_erode(dome)  # a rim along the dome: mostly outside the lung
    labels[band & (zz >= 3)] = 1
    return lung, labels, nodule, notch, band


def ndimage_erode(mask):
    from scipy import ndimage

    return ndimage.binary_erosion(mask, iterations=3)


def test_whole_lungs_fills_nodules_and_notches_not_the_dome():
    lung, _, nodule, notch, dome_band = _lung_with_lesions()
    whole = whole_lungs(lung, SPACING)
    assert whole[nodule].all()
    # a notch at the lung's edge is only partly closed (the disk cannot reach round its outer side),
    # as on real pleural lesions: most of it, so a majority rule keeps it
    assert 0.5 < whole[notch & (np.ogrid[:20, :80, :80][2] >= 10)].mean() < 1.0
    zz = np.ogrid[:20, :80, :80][0]
    core = dome_band.copy()
    core[:] = False
    core[3:5, 30:50, 30:50] = True  # the middle of the dome, 10 mm from its rim
    assert not whole[core & (zz < 5)].any()
    assert not whole[lung.shape[0] - 1].any()  # nothing added outside the lung's own slices


def test_components_mostly_outside_the_lungs_go():
    lung, labels, nodule, notch, band = _lung_with_lesions()
    out = keep_in_lungs(labels, lung, SPACING, 0.5)
    assert (out[nodule] == 1).all()
    kept_notch = (labels == 1) & notch
    assert (out[kept_notch] == 1).all()  # whole component kept, the part past the edge too
    assert not out[band].any()
    # 0 keeps everything; 1 keeps only what lies entirely in the lungs
    np.testing.assert_array_equal(keep_in_lungs(labels, lung, SPACING, 0.0), labels)
    strict = keep_in_lungs(labels, lung, SPACING, 1.0)
    assert (strict[nodule] == 1).all() and not strict[notch].any()


def test_predict_asks_for_the_lungs_when_the_card_does(tmp_path):
    torch = pytest.importorskip("torch")
    import SimpleITK as sitk

    from conftest import shared
    from medseg.errors import ParameterError
    from medseg.io import load
    from medseg.pipeline.steps import lungs, predict as pipeline_predict
    from medseg.unet.card import save_model
    from medseg.unet.model import Architecture, build
    from medseg.unet.predict import predict

    arch = Architecture(depth=2, base=4, head="sigmoid", n_classes=1)
    net = build(arch)
    with torch.no_grad():
        net.out.weight.zero_()
        net.out.bias.fill_(10.0)  # tumour everywhere it may be
    card = {"name": "always", "architecture": arch.to_dict(),
            "preprocessing": {"window": [-1000.0, 300.0], "spacing_mm": 1.5, "size": [176, 240],
                              "orientation": "LPS", "roi": "lungs"},
            "postprocess": {"min_lung_fraction": 0.5},
            "classes": [{"value": 0, "name": "background", "color": [0, 0, 0]},
                        {"value": 1, "name": "lung-tumour", "color": [230, 60, 60]}]}
    model = save_model(net, card, tmp_path / "m")
    image, meta = load(shared("ct-chest-2", "dicom"))
    found = lungs(image, meta, roi=True)
    with pytest.raises(ParameterError, match="lungs"):
        predict(image, model, meta, device="cpu", roi=found.roi)
    with pytest.raises(ParameterError, match="lungs size"):  # before the network runs
        predict(image, model, meta, device="cpu", roi=found.roi, lungs=found.labels[:, :, :1])
    labels = sitk.GetArrayFromImage(predict(image, model, meta, device="cpu", roi=found.roi,
                                            lungs=found.labels).labels) > 0
    region = sitk.GetArrayFromImage(found.roi) > 0
    # the region is one component per lung side, most of it lung: kept, and nothing outside it
    assert labels.any() and not labels[~region].any()
    again = sitk.GetArrayFromImage(pipeline_predict(image, model, meta, device="cpu").labels) > 0
    np.testing.assert_array_equal(again, labels)
    strict = json.loads((model / "model.json").read_text())
    strict["postprocess"]["min_lung_fraction"] = 1.0
    none = sitk.GetArrayFromImage(predict(image, (net, strict), meta, device="cpu", roi=found.roi,
                                          lungs=found.labels).labels)
    assert not none.any()  # the dilated region always reaches past the lungs
