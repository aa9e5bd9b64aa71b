"""2.5D input (``preprocessing.context_mm``): the planes above and below each slice as channels,
the same in training and in prediction."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import SimpleITK as sitk  # noqa: E402

from medseg.errors import ParameterError  # noqa: E402
from medseg.unet.card import ModelError  # noqa: E402
from medseg.unet.augment import AugmentConfig, augment  # noqa: E402
from medseg.unet.data import context_planes, input_channels  # noqa: E402
from medseg.unet.dataset import read_dataset  # noqa: E402
from medseg.unet.slices import SliceSet  # noqa: E402
from unet_helpers import tiny_data, train_tiny  # noqa: E402,F401


def _ramp(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32)[:, None, None] * np.ones((n, 3, 4), np.float32)


def test_planes_lie_at_the_distance_in_mm_not_the_next_slice():
    stack = _ramp(6)  # value = slice index
    one = context_planes(stack, [2], spacing_z_mm=1.0, context_mm=3.0)
    three = context_planes(stack, [2], spacing_z_mm=3.0, context_mm=3.0)
    assert one.shape == (1, 3, 3, 4)
    np.testing.assert_allclose(one[0, :, 0, 0], [0.0, 2.0, 5.0])  # 3 slices of 1 mm down and up (clamped at 0)
    np.testing.assert_allclose(three[0, :, 0, 0], [1.0, 2.0, 3.0])  # one slice of 3 mm
    np.testing.assert_allclose(context_planes(stack, [2], 2.0, 3.0)[0, :, 0, 0], [0.5, 2.0, 3.5])  # between slices
    np.testing.assert_allclose(context_planes(stack, [5], 2.0, 3.0)[0, :, 0, 0], [3.5, 5.0, 5.0])  # the end repeats


def test_a_gap_in_the_stack_is_bridged_by_the_slices_either_side():
    kept = _ramp(6)[[0, 1, 4, 5]] * 10  # slices 2 and 3 left out of the stack: values 0, 10, 40, 50
    out = context_planes(kept, [1], 1.0, 2.0, coords=[0, 1, 4, 5])
    np.testing.assert_allclose(out[0, :, 0, 0], [0.0, 10.0, 30.0])  # series slice 3 = 30, between 10 and 40


def test_channels_follow_the_card():
    assert input_channels({}) == input_channels({"context_mm": 0}) == 1
    assert input_channels({"context_mm": 3.0}) == 3


def test_augment_moves_every_channel_alike_and_keeps_the_2d_stream():
    yy, xx = np.mgrid[:40, :40]
    mask = (((yy - 15) ** 2 + (xx - 25) ** 2) < 60).astype(np.uint8)
    image = mask.astype(np.float32) * 0.8
    cfg = AugmentConfig(flip_lr=0.5, blur=1.0, fov_crop=0.5)
    for seed in range(6):
        flat, m1 = augment(image, mask, np.random.default_rng(seed), cfg)
        stacked, m3 = augment(np.stack([image] * 3), mask, np.random.default_rng(seed), cfg)
        one, m_one = augment(image[None], mask, np.random.default_rng(seed), cfg)
        assert stacked.shape == (3, 40, 40) and one.shape == (1, 40, 40)
        np.testing.assert_array_equal(one[0], flat)  # a 1-channel image gets exactly the 2D result
        np.testing.assert_array_equal(m1, m3)
        # same geometry and intensity on each channel (noise differs per pixel, not per channel's mean)
        for c in range(3):
            assert np.mean((stacked[c] > 0.4) != (m3 > 0)) < 0.03


def test_slice_set_gives_the_neighbouring_planes(tiny_data):
    info = read_dataset(tiny_data)
    flat = SliceSet(info, "train", None)
    info["preprocessing"] = {**info["preprocessing"], "context_mm": 1e-6 + info["files"][0]["slice_spacing_mm"]}
    deep = SliceSet(info, "train", None)
    assert flat[0][0].shape[0] == 1 and deep[0][0].shape[0] == 3
    k, z = deep.items[3]
    image, _ = deep.raw(3)
    stack = np.asarray(deep.images[k], dtype=np.float32)
    np.testing.assert_allclose(image[1], stack[z])
    np.testing.assert_allclose(image[0], stack[z - 1], atol=1e-4)  # one slice spacing away: the next slice
    np.testing.assert_allclose(image[2], stack[z + 1], atol=1e-4)


def test_a_2_5d_model_trains_predicts_and_its_card_must_agree(tiny_data, tmp_path):
    from medseg.io import load
    from medseg.unet.card import read_card
    from medseg.unet.predict import predict

    out = tmp_path / "model"
    result = train_tiny(tiny_data, out, epochs=1, montage=True, context_mm=5.0)
    card = json.loads((out / "model.json").read_text())
    assert card["architecture"]["in_channels"] == 3 and card["preprocessing"]["context_mm"] == 5.0
    assert result["epochs"] == 1 and (out / "montage" / "epoch_0001.png").is_file()
    image, meta = load(tiny_data.parent / "s0" / "dicom")
    labels = predict(image, out, meta, device="cpu", batch_size=3).labels
    assert labels.GetSize() == image.GetSize() and labels.GetPixelID() == sitk.sitkUInt8
    card["preprocessing"].pop("context_mm")  # weights for 3 channels, a card that says 1
    (out / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="in_channels 3"):
        read_card(out)
    with pytest.raises(ParameterError, match="context_mm"):
        train_tiny(tiny_data, tmp_path / "bad", epochs=1, context_mm=-1.0)
