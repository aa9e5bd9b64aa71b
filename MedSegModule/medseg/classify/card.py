"""The classifier's model folder: ``model.pt`` (a state_dict) + ``model.json`` (its card).

The folder machinery (atomic writes, checksums, ``torch.load(weights_only=True)``, shipped and
installed models) is the U-Net's (:mod:`medseg.unet.card`); only the card's content differs::

    format          "medseg-classifier/1"
    name, version, date, medseg_version, status, description
    architecture    :class:`~.model.Architecture` fields
    classes         [{value 0, name "normal"}, {value 1, name "abnormal"}]: the output is P(abnormal)
    preprocessing   {window [lo, hi] HU, size [D, H, W], orientation "LPS"}
    training        {data, synthetic, volumes, split, epochs, seed, seconds, config, parameters}
    input_range     as the U-Net's: modality, HU percentiles, spacing of the training volumes
    metrics         validation {auc, accuracy, loss, epoch}
    weights         {file, bytes, sha256}
"""

from __future__ import annotations

import os

from ..unet.card import CLASSIFIER_FORMAT, ModelError, check_header, load_model as load_any_model, read_card as read_any_card
from ..unet.card import save_model as save_any_model

FORMAT = CLASSIFIER_FORMAT
REQUIRED = ("format", "name", "architecture", "classes", "preprocessing")


def validate(card: dict, where: str = "model.json") -> dict:
    """Check a classifier card; returns it or raises :class:`ModelError` naming the first problem."""
    from ..errors import ParameterError
    from .model import Architecture

    check_header(card, where, FORMAT, REQUIRED, other="; U-Net models are used by `medseg predict`")
    try:
        arch = Architecture.from_dict(card["architecture"])
    except (ParameterError, TypeError) as exc:
        raise ModelError(f"{where}: bad architecture: {exc}") from None
    if [c.get("name") for c in card["classes"]] != ["normal", "abnormal"]:
        raise ModelError(f"{where}: classes must be normal (0) and abnormal (1)")
    pre = card["preprocessing"]
    try:
        lo, hi = (float(v) for v in pre["window"])
        size = [int(v) for v in pre["size"]]
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{where}: preprocessing needs window [lo, hi] and size [D, H, W]") from None
    if lo >= hi or len(size) != 3 or any(s < 1 or s % arch.multiple for s in size):
        raise ModelError(f"{where}: bad preprocessing (window {lo}..{hi} HU; size {size} must be 3 multiples of "
                         f"{arch.multiple})")
    return card


def read_card(model: str | os.PathLike) -> dict:
    """The validated card of a classifier folder (or its model.json)."""
    return read_any_card(model, check=validate)


def save_model(net, card: dict, folder) -> os.PathLike:
    return save_any_model(net, {"format": FORMAT, **card}, folder, check=validate)


def load_model(model: str | os.PathLike, device: str = "cpu"):
    """(network in eval mode on ``device``, card) of a classifier folder."""
    from .model import build

    return load_any_model(model, device, check=validate, build=build)
