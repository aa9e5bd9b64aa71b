"""Model folders: ``model.pt`` (a state_dict) + ``model.json`` (the model card).

The card holds what inference needs and what a reader should know::

    format          "medseg-unet/1"
    name, version, date, medseg_version, description
    status          "validated" (out-of-sample figures meet the bar), "demo-only" (status_reason says
                    which numbers miss it), or "ok" (older cards)
    architecture    :class:`~.model.Architecture` fields
    classes         [{value, name, color [r, g, b]}], value 0 = background, in output order
    mirror_pairs    class values that swap under a left-right flip (flip TTA/augmentation)
    preprocessing   {window [lo, hi] HU, spacing_mm (in-plane, or null), size [H, W], orientation "LPS"}
    training        {data (description), synthetic (bool), studies, slices, epochs, seed, seconds, config}
    input_range     {modality [..], hu_p1 [lo, hi], hu_p99 [lo, hi], spacing_xy_mm [lo, hi], spacing_z_mm [lo, hi],
                    body_region [head | chest | abdomen-pelvis]}
    metrics         validation {dice, iou, per_class {name: {dice, iou}}, epoch}
    validation      out-of-sample table (leave-one-series-out rows, mean Dice, how the folds were trained)
    known_failures  [text], real_data {figures on named real series}
    weights         {file, bytes, sha256}

The card's structure, types and ranges are those of ``medseg/resources/model.schema.json``
(:mod:`.card_schema`); :func:`validate` then checks what a schema cannot (class values in order,
outputs matching the architecture, sizes fitting the poolings, the weights within the limits).
Weights are read with ``torch.load(weights_only=True)``: a pickle that needs code is refused.
Any unreadable, truncated or mismatched file raises :class:`ModelError` with one clear line.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import InputError, ParameterError
from ..io.atomic import atomic_output, write_bytes
from ..labels import Label

FORMAT = "medseg-unet/1"
CARD = "model.json"
WEIGHTS = "model.pt"
SHIPPED = Path(__file__).resolve().parents[1] / "resources" / "models"
REQUIRED = ("format", "name", "architecture", "classes", "preprocessing")


class ModelError(InputError):
    """A model folder or file that cannot be used: missing, corrupt, or not a MedSeg U-Net."""


def shipped_models() -> list[str]:
    """Names of the models shipped in ``medseg/resources/models``."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / CARD).is_file())


#: The card's ``format`` -> the kind of model it is (what the catalogue filters on).
CLASSIFIER_FORMAT = "medseg-classifier/1"
KINDS = {FORMAT: "unet", CLASSIFIER_FORMAT: "classifier"}


@dataclass(frozen=True)
class ModelEntry:
    """One model of the catalogue: its name, folder, ``kind`` ("unet", "classifier", or None when the
    card cannot be read or has a format this MedSeg does not know) and the card's ``format``.
    An entry is path-like: ``Path(entry)`` and ``str(entry)`` are its folder."""

    name: str
    folder: Path
    kind: Optional[str]
    format: Optional[str]

    def __fspath__(self) -> str:
        return str(self.folder)

    def __str__(self) -> str:
        return str(self.folder)


def model_kind(folder: str | os.PathLike) -> tuple[Optional[str], Optional[str]]:
    """(kind, format) of a model folder from its card's ``format`` alone (nothing else is validated)."""
    try:
        card = json.loads((Path(folder) / CARD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None, None
    fmt = card.get("format") if isinstance(card, dict) else None
    return KINDS.get(fmt) if isinstance(fmt, str) else None, fmt if isinstance(fmt, str) else None


def installed_models(folder: str | os.PathLike | None = None, kind: str | None = None) -> dict[str, ModelEntry]:
    """``{name: ModelEntry}``: the shipped models, then every ``*/model.json`` folder under ``folder``
    (or ``folder`` itself when it is a model folder); with ``kind`` ("unet" or "classifier") only
    those of that kind. Reads each card's format, no weights, and imports no torch."""
    if kind is not None and kind not in KINDS.values():
        raise ParameterError(f"model kind must be one of {', '.join(sorted(set(KINDS.values())))}, got {kind!r}")
    folders = {name: SHIPPED / name for name in shipped_models()}
    root = Path(folder) if folder else None
    if root is not None and root.is_dir():
        if (root / CARD).is_file():
            folders.setdefault(root.name, root)
        for card in sorted(root.glob(f"*/{CARD}")):
            folders.setdefault(card.parent.name, card.parent)
    found = {}
    for name, path in folders.items():
        entry = ModelEntry(name, path, *model_kind(path))
        if kind is None or entry.kind == kind:
            found[name] = entry
    return found


def card_labels(card: dict) -> list[Label]:
    """The card's classes as segments (background, value 0, left out), with the card's colours."""
    return [Label(int(c["value"]), str(c["name"]), tuple(int(v) for v in c["color"]))
            for c in card["classes"] if int(c["value"]) != 0]


def resolve(model: str | os.PathLike) -> Path:
    """The folder of ``model``: a folder path (or its model.json), else a shipped model's name."""
    p = Path(model)
    if p.is_file() and p.name == CARD:
        p = p.parent
    if p.is_dir():
        if not (p / CARD).is_file():
            raise ModelError(f"{p}: not a model folder (no {CARD}); train one with `medseg train`")
        return p
    if str(model) in shipped_models():
        return SHIPPED / str(model)
    names = ", ".join(shipped_models()) or "none installed"
    raise ModelError(f"{model}: no such model folder, and not a shipped model (shipped: {names})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_header(card, where: str, fmt: str, required=REQUIRED, other: str = "") -> None:
    """:class:`ModelError` unless ``card`` is a JSON object with the ``required`` keys and format ``fmt``
    (``other``: what to say about a card of another format)."""
    if not isinstance(card, dict):
        raise ModelError(f"{where}: not a model card (expected a JSON object)")
    missing = [k for k in required if k not in card]
    if missing:
        raise ModelError(f"{where}: model card lacks {', '.join(missing)}")
    if card["format"] != fmt:
        raise ModelError(f"{where}: unsupported model format {card['format']!r} (this reads {fmt}){other}")


def validate(card: dict, where: str = CARD) -> dict:
    """Check a card's structure; returns it or raises :class:`ModelError` naming the first problem."""
    from .model import Architecture

    from ..limits import check_allocation
    from .card_schema import check

    check_header(card, where, FORMAT, other="; volume classifiers are used by `medseg classify`")
    problem = check(card)
    if problem:
        raise ModelError(f"{where}: {problem} (see medseg/resources/model.schema.json)")
    try:
        arch = Architecture.from_dict(card["architecture"])
    except (ParameterError, TypeError) as exc:
        raise ModelError(f"{where}: bad architecture: {exc}") from None
    check_allocation(f"the weights of the model in {where} (architecture.base {arch.base})",
                     (arch.parameter_count(),), "float32")
    classes = card["classes"]
    if not isinstance(classes, list) or [c.get("value") for c in classes] != list(range(len(classes))):
        raise ModelError(f"{where}: classes must be a list with values 0, 1, ... in order")
    if any(not isinstance(c.get("name"), str) or len(c.get("color", ())) != 3 for c in classes):
        raise ModelError(f"{where}: every class needs a name and a colour [r, g, b]")
    outputs = 2 if arch.head == "sigmoid" else arch.n_classes
    if len(classes) != outputs:
        raise ModelError(f"{where}: {len(classes)} classes but the architecture has {outputs} outputs")
    pre = card["preprocessing"]
    try:
        lo, hi = (float(v) for v in pre["window"])
        h, w = (int(v) for v in pre["size"])
        spacing = pre.get("spacing_mm")
        spacing = None if spacing is None else float(spacing)
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{where}: preprocessing needs window [lo, hi], size [H, W] and spacing_mm") from None
    if lo >= hi or h % arch.multiple or w % arch.multiple or (spacing is not None and spacing <= 0):
        raise ModelError(f"{where}: bad preprocessing (window {lo}..{hi} HU, size {h}x{w} must be multiples of "
                         f"{arch.multiple}, spacing {spacing} mm)")
    from .data import input_channels

    if arch.in_channels != input_channels(pre):
        raise ModelError(f"{where}: architecture.in_channels {arch.in_channels} but preprocessing.context_mm "
                         f"{pre.get('context_mm', 0)} means {input_channels(pre)} input channel(s)")
    return card


def read_card(model: str | os.PathLike, check=None) -> dict:
    """The validated card of a model folder or shipped model name; ``check(card, where)`` validates it
    (default :func:`validate`, the U-Net's; the volume classifier passes its own)."""
    check = check or validate
    folder = resolve(model)
    path = folder / CARD
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable model card ({exc.__class__.__name__}: {exc})") from None
    card = check(card, str(path))
    card["_folder"] = str(folder)
    return card


def load_state(path: Path, expected_sha256: str | None = None) -> dict:
    """A state_dict from ``path`` with ``torch.load(weights_only=True)``; :class:`ModelError` if unusable."""
    import torch

    if not path.is_file():
        raise ModelError(f"{path}: weights file missing")
    if expected_sha256 and _sha256(path) != expected_sha256:
        raise ModelError(f"{path}: weights do not match the card's checksum (corrupt or replaced file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/pickled/foreign files
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        raise ModelError(f"{path}: cannot read the weights ({first})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a training checkpoint: take its weights
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise ModelError(f"{path}: not a state_dict of tensors")
    return state


def load_model(model: str | os.PathLike, device: str = "cpu", check=None, build=None):
    """(network in eval mode on ``device``, card) for a model folder or shipped model name.

    ``check`` validates the card and ``build(architecture dict)`` makes the network (defaults: the
    U-Net's; the volume classifier passes its own).
    """
    if build is None:
        from .model import build

    card = read_card(model, check=check)
    folder = Path(card["_folder"])
    weights = card.get("weights", {})
    state = load_state(folder / weights.get("file", WEIGHTS), weights.get("sha256"))
    net = build(card["architecture"])
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:200]
        raise ModelError(f"{folder}: weights do not fit the card's architecture ({first})") from None
    return net.to(device).eval(), card


def state_bytes(obj) -> bytes:
    """``torch.save(obj)`` in memory: torch's own file writer aborts the process on a full disk, so
    files are written from these bytes with checked writes (:func:`medseg.io.atomic.write_bytes`)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_model(net, card: dict, folder: str | os.PathLike, check=None) -> Path:
    """Write ``model.pt`` (state_dict) and ``model.json`` atomically into ``folder``; returns it.

    Fills in format, date, versions and the weights' size and checksum, then validates the card
    with ``check(card, where)`` (default :func:`validate`).
    """
    import torch

    from .. import __version__

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    write_bytes(folder / WEIGHTS, state_bytes(state))
    card = {k: v for k, v in card.items() if not k.startswith("_")}
    card.setdefault("format", FORMAT)
    card.setdefault("version", "1")
    card.setdefault("status", "ok")
    card["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    card["medseg_version"] = __version__
    card["weights"] = {"file": WEIGHTS, "bytes": (folder / WEIGHTS).stat().st_size,
                       "sha256": _sha256(folder / WEIGHTS)}
    (check or validate)(card, str(folder / CARD))
    with atomic_output(folder / CARD) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return folder


def update_card(folder: str | os.PathLike, check=None, **fields) -> dict:
    """Merge ``fields`` into a saved card (e.g. the real-data figure after training); returns it.
    ``check`` validates the result (default :func:`validate`)."""
    path = Path(folder) / CARD
    card = json.loads(path.read_text(encoding="utf-8"))
    card.update(fields)
    (check or validate)(card, str(path))
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card
