"""Find the MedSegLib step behind each logic method, and read its result, whatever shape it has.

Steps land in MedSegLib issue by issue (clean/lungs/autolabel: #4, U-Net: #5, radiomics, stats and
meshes: #6). The logic looks each one up when it is called, never at import, so the module loads
and every other method works before a step exists, and a step works as soon as it lands. A
missing step is a :class:`NotBuiltError` naming the issue that brings it.

Steps return either a plain ``SimpleITK.Image`` or a small record (dataclass, tuple or dict);
the readers here accept any of those, so the logic does not break when a step's record grows.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import SimpleITK as sitk

from ..errors import NotBuiltError
from ..labels import Label
from .scene import PALETTE

#: step -> (issue that brings it, candidate "module:function" paths, tried in order).
STEPS: dict[str, tuple[int, tuple[str, ...]]] = {
    "clean": (4, ("pipeline:clean",)),
    "lungs": (4, ("pipeline:lungs", "autolabel.lungs:lung_mask")),
    "autolabel": (4, ("pipeline:autolabel", "autolabel:autolabel")),
    "unet": (5, ("pipeline:predict", "unet:predict", "unet.predict:predict")),
    "radiomics": (6, ("radiomics:extract",)),
    "stats": (6, ("stats:segment_statistics",)),
    "mesh": (6, ("mesh:label_surfaces",)),
}


def find(step: str) -> Callable | None:
    """The function implementing ``step`` (a key of :data:`STEPS`), or None while it has not landed."""
    for candidate in STEPS[step][1]:
        module_name, func_name = candidate.split(":")
        try:
            module = importlib.import_module(f"MedSegLib.{module_name}")
        except ModuleNotFoundError as exc:
            # Only a missing MedSegLib module means "not landed"; a missing third-party package
            # inside a landed module is a real error and must surface.
            if exc.name and exc.name.startswith("MedSegLib"):
                continue
            raise
        func = getattr(module, func_name, None)
        if callable(func):
            return func
    return None


def available(step: str) -> bool:
    """True when ``step``'s backend has landed in MedSegLib."""
    return find(step) is not None


def require(step: str) -> Callable:
    """The function implementing ``step``; :class:`NotBuiltError` naming its issue when it has not landed."""
    func = find(step)
    if func is None:
        issue, candidates = STEPS[step]
        raise NotBuiltError(f"MedSeg's {step} step is not built yet (issue #{issue}; looked for "
                            f"{', '.join('MedSegLib.' + c.replace(':', '.') for c in candidates)})")
    return func


def call(func: Callable, *args, **kwargs) -> Any:
    """Call a step with the keyword arguments it takes; the others are left out.

    Steps grow options as they land (``meta``, ``force``, ``progress``...); passing only what a
    step's signature names keeps the logic working with the step as it is today.
    """
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return func(*args, **kwargs)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return func(*args, **kwargs)


def _field(result: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        if isinstance(result, Mapping) and name in result:
            return result[name]
        if not isinstance(result, Mapping) and hasattr(result, name):
            return getattr(result, name)
    return None


def images_in(result: Any) -> list[sitk.Image]:
    """The SimpleITK images in a tuple/list result, in order."""
    if isinstance(result, (tuple, list)):
        return [r for r in result if isinstance(r, sitk.Image)]
    return []


def labels_of(result: Any) -> sitk.Image:
    """The label image in a step's result: the image itself, a ``labels`` field, or a tuple's first image."""
    if isinstance(result, sitk.Image):
        return result
    found = _field(result, ("labels", "label_image", "label_map", "labelmap", "mask"))
    if isinstance(found, sitk.Image):
        return found
    images = images_in(result)
    if images:
        return images[0]
    raise TypeError(f"the step returned {type(result).__name__}, which holds no label image")


def names_of(result: Any) -> Mapping[int, str] | list | None:
    """Segment names a result carries, if any: ``names``/``segments``/``label_table``, or a model card's ``classes``."""
    found = _field(result, ("names", "segments", "label_table"))
    if found:
        return found
    card = _field(result, ("card",))
    classes = card.get("classes") if isinstance(card, Mapping) else _field(result, ("classes",))
    return classes_to_labels(classes) if classes else None


def classes_to_labels(classes: Any) -> list[Label] | None:
    """A model card's ``classes`` as Labels (background, value 0, left out).

    Accepts [{value, name, color}], a list of names (value = index), or {value: name}.
    """
    if isinstance(classes, Mapping):
        classes = [{"value": int(k), "name": v} for k, v in classes.items()]
    out = []
    for i, c in enumerate(classes or []):
        c = c if isinstance(c, Mapping) else {"name": str(c)}
        value = int(c.get("value", i))
        if value == 0:
            continue  # background is no segment
        colour = tuple(int(x) for x in c.get("color", ())) or PALETTE[value % len(PALETTE)]
        out.append(Label(value, str(c.get("name", f"label-{value}")), colour))
    return out or None


def clean_parts(result: Any) -> tuple[sitk.Image, sitk.Image | None, sitk.Image | None]:
    """(cleaned volume, body mask, removed-object mask) from the clean step's result."""
    cleaned = _field(result, ("image", "cleaned", "volume", "cleaned_image"))
    body = _field(result, ("body", "body_mask"))
    objects = _field(result, ("objects", "object_mask", "removed", "removed_mask", "table", "table_mask"))
    images = images_in(result)
    if cleaned is None and images:
        cleaned = images[0]
        body = body if body is not None else (images[1] if len(images) > 1 else None)
        objects = objects if objects is not None else (images[2] if len(images) > 2 else None)
    if not isinstance(cleaned, sitk.Image):
        raise TypeError(f"the clean step returned {type(result).__name__}, which holds no cleaned volume")
    return cleaned, body, objects


def model_classes(model_dir: str | Path) -> list[Label] | None:
    """The classes of a model folder's ``model.json`` card as Labels, if it has a card."""
    card = Path(model_dir) / "model.json"
    if not card.is_file():
        return None
    return classes_to_labels(json.loads(card.read_text(encoding="utf-8")).get("classes"))


def models_folder() -> Path:
    """The shipped models: ``MedSegLib/resources/models/<name>/{model.pt, model.json}``."""
    return Path(__file__).resolve().parents[1] / "resources" / "models"


def list_models(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """{name: model folder} of the shipped models, plus every folder under ``folder`` holding a ``model.json``."""
    found = {}
    for root in (models_folder(), Path(folder) if folder else None):
        if root is not None and root.is_dir():
            for card in sorted(root.glob("*/model.json")):
                found.setdefault(card.parent.name, card.parent)
            if (root / "model.json").is_file():
                found.setdefault(root.name, root)
    return found
