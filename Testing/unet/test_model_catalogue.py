"""The one model catalogue (medseg.unet.card.installed_models): U-Nets and classifiers in one folder, told
apart by their cards' format, so that each selector lists only its own kind."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from medseg.errors import ParameterError
from medseg.unet.card import KINDS, ModelEntry, installed_models, shipped_models


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A folder as a user keeps it: a U-Net, a classifier (both really saved), a damaged card, a stray folder."""
    torch = pytest.importorskip("torch")
    from medseg.classify.card import save_model as save_classifier
    from medseg.classify.model import Architecture as ClassifierArchitecture, build as build_classifier
    from medseg.unet.card import save_model as save_unet
    from medseg.unet.model import Architecture, build

    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    arch = Architecture(n_classes=2, depth=2, base=4, max_width=8)
    save_unet(build(arch), {"name": "tiny-unet", "architecture": dataclasses.asdict(arch),
                            "classes": [{"value": 0, "name": "background", "color": [0, 0, 0]},
                                        {"value": 1, "name": "lung", "color": [200, 100, 100]}],
                            "preprocessing": {"window": [-1350.0, 150.0], "spacing_mm": None, "size": [64, 64],
                                              "orientation": "LPS"}}, root / "tiny-unet")
    carch = ClassifierArchitecture(channels=[4, 4, 8, 8], dense=8)
    save_classifier(build_classifier(carch), {
        "name": "tiny-classifier", "architecture": carch.to_dict(),
        "classes": [{"value": 0, "name": "normal"}, {"value": 1, "name": "abnormal"}],
        "preprocessing": {"window": [-1024.0, 3000.0], "size": [16, 32, 32], "orientation": "LPS"}}, root / "tiny-classifier")
    (root / "damaged").mkdir()
    (root / "damaged" / "model.json").write_text("{not json", encoding="utf-8")
    (root / "notes").mkdir()
    return root


def test_each_kind_lists_only_its_own_models(models):
    every = installed_models(models)
    assert {"tiny-unet", "tiny-classifier", "damaged"} <= set(every) and "notes" not in every
    assert every["tiny-unet"].kind == "unet" and every["tiny-classifier"].kind == "classifier"
    assert every["damaged"].kind is None and every["damaged"].format is None  # listed, but in no kind's selector
    unets, classifiers = installed_models(models, kind="unet"), installed_models(models, kind="classifier")
    assert set(unets) == {*shipped_models(), "tiny-unet"}  # the shipped models are U-Nets
    assert set(classifiers) == {"tiny-classifier"}
    assert all(e.kind == "unet" for e in unets.values()) and all(e.format == "medseg-classifier/1" for e in classifiers.values())


def test_an_entry_is_its_folder(models):
    entry = installed_models(models)["tiny-classifier"]
    assert isinstance(entry, ModelEntry) and entry.name == "tiny-classifier"
    assert Path(entry) == entry.folder == models / "tiny-classifier" and str(entry) == str(models / "tiny-classifier")


def test_one_model_folder_is_a_catalogue_of_one(models):
    assert set(installed_models(models / "tiny-classifier", kind="classifier")) == {"tiny-classifier"}
    assert "tiny-classifier" not in installed_models(models / "tiny-classifier", kind="unet")


def test_the_catalogue_reads_no_weights_and_imports_no_torch(models, monkeypatch):
    (models / "tiny-unet" / "model.pt").rename(models / "tiny-unet" / "model.pt.away")
    try:
        monkeypatch.setitem(sys.modules, "torch", None)  # an import of torch would fail now
        assert installed_models(models, kind="unet")["tiny-unet"].kind == "unet"
    finally:
        (models / "tiny-unet" / "model.pt.away").rename(models / "tiny-unet" / "model.pt")


def test_an_unknown_kind_is_a_user_error():
    with pytest.raises(ParameterError, match="model kind must be one of classifier, unet"):
        installed_models(kind="segmenter")
    assert set(KINDS.values()) == {"unet", "classifier"}
