"""The probabilities of one volume: P(normal) and P(abnormal) from a classifier folder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import SimpleITK as sitk
import torch

from ..progress import CancelEvent, Progress, check_cancel, report


@dataclass
class Classification:
    """``probabilities`` {"normal": 1 - p, "abnormal": p}, the model's ``card``, ``warnings`` about an
    input outside the card's training range, and the ``seconds`` taken."""

    probabilities: dict
    card: dict
    warnings: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


def classify(image: sitk.Image, model, meta: dict | None = None, device: str = "auto",
             progress: Progress | None = None, cancel: CancelEvent = None) -> Classification:
    """Classify ``image`` (HU, any orientation) with ``model`` (a classifier folder) on ``device``
    ("auto", "cpu", "cuda", "cuda:N")."""
    from ..unet.distributed import pick_device
    from ..unet.predict import range_warnings
    from .card import load_model
    from .data import preprocess

    t0 = time.perf_counter()
    dev = pick_device(device)
    net, card = load_model(model, str(dev))
    warnings = range_warnings(card, image, meta)
    check_cancel(cancel)
    report(progress, 0.2, "preprocessing")
    pre = card["preprocessing"]
    x = torch.from_numpy(preprocess(image, pre["size"], pre["window"]))[None, None].to(dev)
    check_cancel(cancel)
    report(progress, 0.6, "network")
    with torch.inference_mode():
        p = float(torch.sigmoid(net(x))[0])
    report(progress, 1.0, f"P(abnormal) {p:.3f}")
    return Classification({"normal": 1.0 - p, "abnormal": p}, card, warnings, time.perf_counter() - t0)
