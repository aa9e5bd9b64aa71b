"""Named model architectures and training tasks.

Model presets (:data:`MODEL_PRESETS`):

- ``cpu-small``: the fast CPU default, 5 levels of 8..128 channels with 2 convolutions each
  (about 0.5 M parameters, ~2 MB of weights). The shipped models use it.
- ``headrest-seed``: the headrest seed project's final model. Its "7 levels, with 2/4/8
  convolutions" is read here as 7 resolution levels whose conv blocks hold 2 convolutions at
  levels 1-2, 4 at levels 3-4 and 8 at levels 5-7 (the decoder mirrors the encoder), 16 channels
  doubling per level up to 256, dropout 0.2 in the deeper half. Inputs must be multiples of 64.
- ``classic``: Ronneberger's widths (64..1024, 2 convolutions, 5 levels), for comparison.

Task presets (:data:`TASKS`) say which labels become which classes and how slices are
preprocessed; ``medseg dataset --task`` and ``scripts/train_default_models.sh`` use them. Their
192 x 192 grids (384 mm at 2 mm for lungs, 480 mm at 2.5 mm for tables) keep CPU training to
minutes; both are fully convolutional, so other sizes work too.
Class sources are names of the DESIGN auto-label table (labels.AUTO_LABELS).
"""

from __future__ import annotations

from ..errors import ParameterError
from ..labels import LUNG_LEFT, LUNG_RIGHT, LUNG_TUMOUR, TABLE_HEADREST

MODEL_PRESETS: dict[str, dict] = {
    "cpu-small": {"depth": 5, "base": 8, "max_width": 128, "convs": 2, "norm": "batch", "dropout": 0.0},
    "headrest-seed": {"depth": 7, "base": 16, "max_width": 256, "convs": [2, 2, 4, 4, 8, 8, 8],
                      "norm": "batch", "dropout": 0.2},
    "classic": {"depth": 5, "base": 64, "max_width": 1024, "convs": 2, "norm": "batch", "dropout": 0.0},
}

#: Preprocessing and classes per task. ``window`` is (lo, hi) HU mapped onto [0, 1];
#: ``spacing_mm`` the in-plane pixel size slices are resampled to (None keeps the input's);
#: ``size`` the (H, W) crop/pad after resampling; ``head`` softmax (multi-class) or sigmoid (binary).
TASKS: dict[str, dict] = {
    "lungs": {
        "classes": [{"name": LUNG_RIGHT.name, "color": list(LUNG_RIGHT.color), "sources": [LUNG_RIGHT.name]},
                    {"name": LUNG_LEFT.name, "color": list(LUNG_LEFT.color), "sources": [LUNG_LEFT.name]}],
        "window": [-1350.0, 150.0], "spacing_mm": 2.0, "size": [192, 192], "head": "softmax",
        "auto": "lungs",
    },
    "table-headrest": {
        "classes": [{"name": TABLE_HEADREST.name, "color": list(TABLE_HEADREST.color),
                     "sources": [TABLE_HEADREST.name]}],
        "window": [-1024.0, 1024.0], "spacing_mm": 2.5, "size": [192, 192], "head": "sigmoid",
        "auto": "autolabel",
    },
    # Lung tumours, slice-wise, inside the lung search region only (input masked to it and cropped to
    # its box): 1.5 mm pixels keep a 5 mm nodule 3 pixels wide, and 176 x 240 (264 x 360 mm) holds
    # the region of an adult chest. Labels come from lesions inserted into real CT (phantom.lesions).
    "lung-tumour": {
        "classes": [{"name": LUNG_TUMOUR.name, "color": list(LUNG_TUMOUR.color), "sources": [LUNG_TUMOUR.name]}],
        "window": [-1000.0, 300.0], "spacing_mm": 1.5, "size": [176, 240], "head": "sigmoid",
        "auto": "lesions", "roi": "lungs",
    },
}


def model_preset(name: str) -> dict:
    """A copy of the architecture keywords of preset ``name``."""
    try:
        return dict(MODEL_PRESETS[name])
    except KeyError:
        raise ParameterError(f"unknown model preset {name!r}; choose one of {', '.join(MODEL_PRESETS)}") from None


def task(name: str) -> dict:
    """A copy of task preset ``name`` (classes, window, spacing, size, head, auto-label source)."""
    import copy

    try:
        return copy.deepcopy(TASKS[name])
    except KeyError:
        raise ParameterError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


def mirror_pairs(names: list[str]) -> list[list[int]]:
    """Class indices that swap under a left-right flip: names equal up to "right" <-> "left".

    ``names`` are the class names by index (0 = background). A left-right flip of the image must
    swap these labels, or flip augmentation and flip TTA would teach/predict the wrong side.
    """
    pairs = []
    for i, a in enumerate(names):
        if "right" in a:
            b = a.replace("right", "left")
            if b in names:
                pairs.append([i, names.index(b)])
    return pairs
