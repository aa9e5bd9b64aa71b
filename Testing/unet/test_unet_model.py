"""The U-Net itself, its presets, and model folders: card validation and clear errors on bad files."""

from __future__ import annotations

import json
import pickle

import pytest

torch = pytest.importorskip("torch")

from medseg.errors import MedSegError, ParameterError  # noqa: E402
from medseg.unet import card as cards  # noqa: E402
from medseg.unet.model import Architecture, UNet2d, WithProbabilities, build, count_parameters  # noqa: E402
from medseg.unet.presets import MODEL_PRESETS, mirror_pairs, model_preset  # noqa: E402


@pytest.mark.parametrize("depth,norm,head,classes", [(1, "none", "softmax", 2), (3, "batch", "softmax", 3),
                                                     (4, "instance", "sigmoid", 1)])
def test_same_padding_output_size(depth, norm, head, classes):
    net = build(Architecture(depth=depth, base=4, norm=norm, head=head, n_classes=classes, dropout=0.1)).eval()
    x = torch.rand(2, 1, 24, 40)
    with torch.inference_mode():
        y = net(x)
        p = WithProbabilities(net)(x)
    assert y.shape == (2, classes, 24, 40)
    assert p.min() >= 0 and p.max() <= 1
    if head == "softmax":
        assert torch.allclose(p.sum(1), torch.ones(2, 24, 40), atol=1e-5)


def test_presets():
    seed = Architecture(**model_preset("headrest-seed"), n_classes=2)
    assert seed.depth == 7 and seed.convs == [2, 2, 4, 4, 8, 8, 8] and seed.multiple == 64
    net = UNet2d(seed)
    # Each encoder level holds its conv count, and the decoder mirrors it (no decoder at the bottom level).
    assert [sum(isinstance(m, torch.nn.Conv2d) for m in b) for b in net.down] == [2, 2, 4, 4, 8, 8, 8]
    assert [sum(isinstance(m, torch.nn.Conv2d) for m in b) for b in net.dec] == [8, 8, 4, 4, 2, 2]
    small = build(Architecture(**model_preset("cpu-small"), n_classes=3))
    assert count_parameters(small) < 1_000_000 < count_parameters(net)
    assert set(MODEL_PRESETS) >= {"cpu-small", "headrest-seed"}


def test_bad_architectures():
    with pytest.raises(ParameterError):
        Architecture(head="sigmoid", n_classes=3)
    with pytest.raises(ParameterError):
        Architecture(depth=3, convs=[2, 2])
    with pytest.raises(ParameterError):
        Architecture(norm="group")
    with pytest.raises(ParameterError):
        model_preset("huge")


def test_mirror_pairs():
    assert mirror_pairs(["background", "lung-right", "lung-left"]) == [[1, 2]]
    assert mirror_pairs(["background", "table-headrest"]) == []


def _card(arch: Architecture) -> dict:
    return {"name": "t", "architecture": arch.to_dict(),
            "classes": [{"value": 0, "name": "background", "color": [0, 0, 0]},
                        {"value": 1, "name": "lung-right", "color": [1, 2, 3]},
                        {"value": 2, "name": "lung-left", "color": [4, 5, 6]}],
            "preprocessing": {"window": [-1000, 200], "spacing_mm": None, "size": [32, 32]}}


@pytest.fixture
def saved(tmp_path):
    arch = Architecture(depth=2, base=4, n_classes=3)
    net = build(arch)
    return cards.save_model(net, _card(arch), tmp_path / "m"), net


def test_save_and_load_roundtrip(saved):
    folder, net = saved
    loaded, card = cards.load_model(folder)
    assert card["format"] == cards.FORMAT and card["weights"]["sha256"] and card["date"]
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert cards.load_model(folder / "model.json")[1]["name"] == "t"


def _expect_model_error(folder, match):
    with pytest.raises(cards.ModelError, match=match) as info:
        cards.load_model(folder)
    assert isinstance(info.value, MedSegError) and "\n" not in str(info.value)


def test_truncated_and_garbage_weights(saved):
    folder, _ = saved
    w = folder / "model.pt"
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    _expect_model_error(folder, "checksum")
    card = json.loads((folder / "model.json").read_text())
    del card["weights"]["sha256"]
    (folder / "model.json").write_text(json.dumps(card))
    _expect_model_error(folder, "cannot read the weights")
    w.write_bytes(b"not a torch file at all")
    _expect_model_error(folder, "cannot read the weights")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_weights_only_refuses_code(saved):
    folder, _ = saved

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    (folder / "model.pt").write_bytes(pickle.dumps({"x": Evil()}))
    card = json.loads((folder / "model.json").read_text())
    card["weights"].pop("sha256")
    (folder / "model.json").write_text(json.dumps(card))
    _expect_model_error(folder, "cannot read the weights")


def test_card_errors(saved, tmp_path):
    folder, _ = saved
    path = folder / "model.json"
    good = json.loads(path.read_text())
    for change, match in [(lambda c: c.pop("classes"), "lacks classes"),
                          (lambda c: c.update(format="other/9"), "unsupported model format"),
                          (lambda c: c["classes"].pop(), "2 classes but the architecture has 3"),
                          (lambda c: c["architecture"].update(depth=0), "architecture.depth: must be at least 1"),
                          (lambda c: c["preprocessing"].update(size=[31, 32]), "multiples of 2")]:
        card = json.loads(json.dumps(good))
        change(card)
        path.write_text(json.dumps(card))
        _expect_model_error(folder, match)
    path.write_text("{ not json")
    _expect_model_error(folder, "unreadable model card")
    # Weights of another architecture.
    path.write_text(json.dumps(good))
    torch.save(build(Architecture(depth=3, base=4, n_classes=3)).state_dict(), folder / "model.pt")
    card = json.loads(path.read_text())
    card["weights"].pop("sha256")
    path.write_text(json.dumps(card))
    _expect_model_error(folder, "do not fit")
    with pytest.raises(cards.ModelError, match="not a shipped model"):
        cards.resolve(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(cards.ModelError, match="not a model folder"):
        cards.resolve(tmp_path / "empty")


@pytest.mark.parametrize("name", cards.shipped_models())
def test_shipped_models(name):
    folder = cards.resolve(name)
    assert (folder / "model.pt").stat().st_size < 10 * 2**20
    net, card = cards.load_model(name)
    # Trained on real CT (the lungs and table models with a minority of phantoms; the lung-tumour
    # model on real chest CT with inserted lesions), and the card says so.
    assert card["training"]["synthetic"] is False and "real" in card["training"]["data"]
    if name != "lung-tumour":
        assert "real CT" in card["training"]["data"]
        comp = card["training"]["composition"]
        assert comp["real"] > comp["phantom"] > 0
    assert card["status"] in ("validated", "demo-only") and card["metrics"]["val_dice"] > 0.5
    h, w = card["preprocessing"]["size"]
    with torch.inference_mode():
        assert net(torch.rand(1, 1, h, w)).shape[-2:] == (h, w)


def test_shipped_names_listed():
    assert set(cards.shipped_models()) == {"lungs", "table-headrest", "lung-tumour"}
    lungs = cards.read_card("lungs")
    assert [c["name"] for c in lungs["classes"]] == ["background", "lung-right", "lung-left"]
    assert cards.read_card("table-headrest")["architecture"]["head"] == "sigmoid"
    assert cards.read_card("lung-tumour")["preprocessing"]["roi"] == "lungs"
