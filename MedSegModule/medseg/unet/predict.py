"""U-Net inference: slice by slice in batches, labels back on the input grid, optional TTA.

Per batch of axial slices (LPS order; a 2.5D card adds the planes ``context_mm`` above and below
each slice as channels, :func:`.data.context_planes`): HU -> model grid (resample + crop/pad, :mod:`.data`) ->
window/normalise -> network -> class probabilities -> back onto the input slice grid ->
argmax. Only one batch lives at model resolution at a time; the outputs are a uint8 label
volume and, when asked, uint8 probabilities (0..255 = 0..1) in memory or in a memory-mapped
``.npy`` file, so memory stays bounded for 512 x 512 x 1000 volumes.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from scipy import ndimage

from ..autolabel.morphology import fill_holes_except_domes
from ..errors import MedSegError, ParameterError
from ..labels import AIR_HU
from ..progress import CancelEvent, Progress, check_cancel, report
from ..preprocess import Reoriented
from .data import SliceGrid, context_planes, hu_stats, normalise
from .roi import box_extent_mm, drop_components, keep_in_lungs, masked, roi_box


class OutOfRangeWarning(UserWarning):
    """The input lies outside what the model card says the model was trained on."""


class AnatomyWarning(UserWarning):
    """The anatomy guard found implausible lung labels (:mod:`.guard`)."""


class AnatomyError(MedSegError):
    """``strict`` prediction whose lung labels the anatomy guard rejects (exit code 2)."""


@dataclass
class Prediction:
    """What :func:`predict` returns. ``labels``: uint8 image on the input's grid (class values of the
    card); ``probabilities``: (K, z, y, x) uint8 array or memmap in the input's array order, or None."""

    labels: sitk.Image
    card: dict
    probabilities: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    slices: int = 0
    anatomy: object = None  # guard.AnatomyCheck for lung models, else None


def range_warnings(card: dict, image: sitk.Image, meta: dict | None = None, stats: dict | None = None,
                   regions: dict | None = None) -> list[str]:
    """Ways ``image`` falls outside the card's ``input_range``: modality, HU percentiles, spacing,
    body region (``regions``: :func:`.guard.body_regions` of the image, when the card names regions).

    Margins: 100 HU on the 1st percentile (the air level: a calibration problem shows there),
    300 HU on the 99th (contrast and metal move it without changing much inside a model's window),
    a factor 1.25 on the in-plane pixel spacing; so normal scanner variation passes and a truly
    different input is named.
    The slice spacing is not checked: a 2D model sees one slice at a time.
    """
    rng = card.get("input_range") or {}
    meta = meta or {}
    out = []
    modality = meta.get("modality")
    if rng.get("modality") and modality not in (None, "unknown") and modality not in rng["modality"]:
        out.append(f"modality {modality} but the model was trained on {', '.join(rng['modality'])}")
    if meta.get("is_hu") is False:
        out.append("the input values are not Hounsfield units")
    stats = stats or hu_stats(sitk.GetArrayViewFromImage(image))
    for key, margin in (("p1", 100.0), ("p99", 300.0)):
        span = rng.get(f"hu_{key}")
        if span and not span[0] - margin <= stats[key] <= span[1] + margin:
            out.append(f"HU {key} = {stats[key]:.0f} outside the training range {span[0]:.0f}..{span[1]:.0f}")
    sx, sy = image.GetSpacing()[:2]
    span = rng.get("spacing_xy_mm")
    if span and not (span[0] / 1.25 <= min(sx, sy) and max(sx, sy) <= span[1] * 1.25):
        out.append(f"pixel spacing {min(sx, sy):.3g}..{max(sx, sy):.3g} mm outside the training range "
                   f"{span[0]:.3g}..{span[1]:.3g} mm")
    wanted = rng.get("body_region")
    if wanted and regions:
        from .guard import region_summary

        share = sum(v for k, v in regions.items() if k in wanted)
        if share < 0.5:
            out.append(f"body region {region_summary(regions)} of the slices, but model '{card.get('name')}' is "
                       f"for {', '.join(wanted)}")
    if card.get("status") == "demo-only":
        out.append(f"model '{card.get('name')}' is marked demo-only: {card.get('status_reason', 'see its card')}")
    return out


def _same_grid(mask: sitk.Image, oriented: Reoriented, what: str) -> np.ndarray:
    """A mask image on the input's grid as a bool LPS array."""
    if tuple(mask.GetSize()) != tuple(oriented.original.GetSize()):
        raise ParameterError(f"{what} size {mask.GetSize()} differs from the image's {oriented.original.GetSize()}")
    return sitk.GetArrayFromImage(Reoriented.of(mask).image) > 0


def _region(roi: sitk.Image, oriented: Reoriented, pre: dict):
    """(region bool LPS array, its box, warnings) of a 0/1 ``roi`` image on the input's grid."""
    region = _same_grid(roi, oriented, "roi")
    box = roi_box(region)
    notes = []
    if box is None:
        notes.append(f"the input region ({pre.get('roi', 'roi')}) is empty: nothing to segment")
        return region, (slice(0, 0), slice(None), slice(None)), notes
    rows, cols = box_extent_mm(box, oriented.spacing)
    t = pre.get("spacing_mm")
    view = [n * float(t if t is not None else s) for n, s in zip(pre["size"], oriented.spacing[1:])]
    if rows > view[0] or cols > view[1]:
        notes.append(f"the input region ({pre.get('roi', 'roi')}) spans {rows:.0f} x {cols:.0f} mm, more than the "
                     f"model's {view[0]:.0f} x {view[1]:.0f} mm field of view: its edges are not segmented")
    return region, box, notes


def _tta_flip(net, x: torch.Tensor, head: str, pairs) -> torch.Tensor:
    """Probabilities of the left-right flipped slices, flipped back, mirror classes swapped back."""
    from .model import probabilities

    p = probabilities(net(torch.flip(x, dims=[3])), head)
    p = torch.flip(p, dims=[3])
    if pairs:
        order = list(range(p.shape[1]))
        for a, b in pairs:
            order[a], order[b] = b, a
        p = p[:, order]
    return p


def argmax_classes(p: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) -> (N, H, W) uint8 index of the largest channel (the first on ties).

    Done as K elementwise passes: torch's argmax over the channel axis of a (N, K, H, W) tensor is a
    strided reduction that takes ~10x longer on CPU at 512 x 512.
    """
    best = p[:, 0].clone()
    out = torch.zeros(best.shape, dtype=torch.uint8, device=p.device)
    for k in range(1, p.shape[1]):
        better = p[:, k] > best
        out[better] = k
        best = torch.maximum(best, p[:, k])
    return out


def postprocess(labels: np.ndarray, largest_component: bool = False, fill_holes: bool = False) -> np.ndarray:
    """Per class: keep the largest 3D component (26-connected) and/or fill holes slice by slice
    (``labels`` z, y, x on an LPS grid), except a hole that is the top of something below the class:
    a lung's ring round the diaphragm's dome stays a ring (:func:`.morphology.fill_holes_except_domes`)."""
    out = labels.copy()
    for c in [int(v) for v in np.unique(labels) if v]:
        m = labels == c
        if largest_component:
            lab, n = ndimage.label(m, structure=np.ones((3, 3, 3), bool))
            if n > 1:
                sizes = np.bincount(lab.ravel())
                sizes[0] = 0
                m = lab == int(sizes.argmax())
        if fill_holes:
            m = fill_holes_except_domes(m)
        out[(labels == c) & ~m] = 0
        out[m & (out == 0)] = c  # filled holes take the class only where nothing else is
    return out


def anatomical_postprocess(labels: np.ndarray, hu: np.ndarray, spacing, inside_body: bool = False,
                           min_component_ml: float = 0.0) -> np.ndarray:
    """The card's anatomical steps on LPS arrays (z, y, x; ``spacing`` mm): with ``inside_body`` labels
    outside the body mask (:func:`.guard.body_mask`) are cleared; components (26-connected, per class)
    smaller than ``min_component_ml`` mL are dropped, so specks in the air beside an arm go while a
    lung, or even the tip of a lung base, stays."""
    out = labels.copy()
    if inside_body:
        from .guard import body_mask

        out[~body_mask(hu, spacing)] = 0
    if min_component_ml > 0:
        voxel_ml = float(np.prod(spacing)) / 1000.0

        def small(comp: np.ndarray, n: int) -> np.ndarray:
            return np.r_[False, np.bincount(comp.ravel(), minlength=n + 1)[1:] * voxel_ml < min_component_ml]

        out = drop_components(out, small)
    return out


def predict(image: sitk.Image, model, meta: dict | None = None, device: str = "auto", tta: bool = False,
            batch_size: int = 8, largest_component: bool | None = None, fill_holes: bool | None = None,
            probabilities: str | os.PathLike | bool | None = None, guard: bool = True, strict: bool = False,
            progress: Progress | None = None, cancel: CancelEvent = None, roi: sitk.Image | None = None,
            lungs: sitk.Image | None = None) -> Prediction:
    """Segment ``image`` (HU, any orientation) with ``model`` (folder, shipped name, or (net, card)).

    ``probabilities``: None/False (none), True (uint8 array in memory) or a ``.npy`` path (uint8
    memmap written there, (K, z, y, x)). Out-of-range inputs are warned about with
    :class:`OutOfRangeWarning` and listed in ``Prediction.warnings``. ``largest_component`` and
    ``fill_holes`` None take the card's ``postprocess`` defaults (off when it has none).
    ``guard``: for models with lung classes, run the anatomy guard (:mod:`.guard`) on the labels;
    when it fires it warns with :class:`AnatomyWarning`, or with ``strict`` raises :class:`AnatomyError`.
    ``roi``: a 0/1 image on ``image``'s grid (a card with ``preprocessing.roi`` needs one, e.g. the
    lung search region): the model then sees only the region (outside set to air, cropped to its
    box, :mod:`.roi`) and every label outside it is 0. ``lungs``: the classical lung mask (0/1 or
    split labels) on ``image``'s grid, needed by a card whose ``postprocess.min_lung_fraction`` drops
    the components that lie mostly outside the lungs (:func:`.roi.keep_in_lungs`).
    """
    from .card import load_model
    from .distributed import pick_device
    from .model import probabilities as to_probs

    t0 = time.perf_counter()
    dev = pick_device(device)
    net, card = (model if isinstance(model, tuple) else load_model(model, "cpu"))
    net = net.to(dev, memory_format=torch.channels_last).eval()  # ~2-10x faster convolutions on CPU
    head = card["architecture"]["head"]
    post = card.get("postprocess") or {}
    largest_component = bool(post.get("largest_component", False) if largest_component is None else largest_component)
    fill_holes = bool(post.get("fill_holes", False) if fill_holes is None else fill_holes)
    pre = card["preprocessing"]
    window = tuple(float(v) for v in pre["window"])
    pairs = card.get("mirror_pairs") or []
    oriented = Reoriented.of(image)
    hu = sitk.GetArrayViewFromImage(oriented.image)
    regions = None
    if (card.get("input_range") or {}).get("body_region"):
        from .guard import body_regions

        regions = body_regions(hu, oriented.spacing)
    notes = range_warnings(card, image, meta, hu_stats(hu), regions)
    region, box = None, (slice(None),) * 3
    if pre.get("roi") and roi is None:
        raise ParameterError(f"model '{card.get('name')}' segments inside a region ({pre['roi']}): pass it as roi, "
                             "or use medseg.pipeline.steps.predict, which makes it")
    min_lung, lung = float(post.get("min_lung_fraction") or 0.0), None
    if min_lung > 0:  # checked before the network runs, used after it
        if lungs is None:
            raise ParameterError(f"model '{card.get('name')}' keeps only lesions inside the lungs: pass the lung "
                                 "mask as lungs, or use medseg.pipeline.steps.predict, which makes it")
        lung = _same_grid(lungs, oriented, "lungs")
    if roi is not None:
        region, box, more = _region(roi, oriented, pre)
        notes += more
    for note in notes:
        warnings.warn(note, OutOfRangeWarning, stacklevel=2)
    work = hu if region is None else masked(hu[box], region[box])
    grid = SliceGrid.make(work.shape[1:], oriented.spacing[1:], pre["size"], pre.get("spacing_mm"))
    context_mm = float(pre.get("context_mm") or 0.0)
    k_classes = len(card["classes"])
    labels = np.zeros(hu.shape, dtype=np.uint8)
    crop = np.zeros(work.shape, dtype=np.uint8) if region is not None else labels
    probs = None
    if probabilities is True:
        probs = np.zeros((k_classes,) + hu.shape, dtype=np.uint8)
    elif probabilities:
        path = Path(probabilities)
        if path.suffix != ".npy":
            raise ValueError("memory-mapped probabilities need a .npy path")
        probs = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(k_classes,) + hu.shape)
    if probs is not None and region is not None:
        probs[0] = 255  # outside the region: background, certainly
    z0 = box[0].start or 0
    with torch.inference_mode():
        for k in range(0, work.shape[0], batch_size):
            check_cancel(cancel)
            if context_mm > 0:  # a 2.5D model: the planes context_mm above and below as channels
                x = torch.from_numpy(context_planes(work, range(k, min(k + batch_size, work.shape[0])),
                                                    oriented.spacing[0], context_mm)).to(dev)
            else:
                x = torch.from_numpy(np.array(work[k:k + batch_size], dtype=np.float32))[:, None].to(dev)  # a copy: hu is read-only
            x = normalise(grid.to_model(x, fill=float(AIR_HU)), window).contiguous(memory_format=torch.channels_last)
            p = to_probs(net(x), head)
            if tta:
                p = 0.5 * (p + _tta_flip(net, x, head, pairs))
            p = grid.from_model(p)
            crop[k:k + batch_size] = argmax_classes(p).cpu().numpy()
            if probs is not None:
                q = (p.clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy().transpose(1, 0, 2, 3)
                if region is None:
                    probs[:, k:k + batch_size] = q
                else:
                    inside = region[box][k:k + batch_size]
                    for c in range(k_classes):
                        view = probs[c, z0 + k:z0 + k + len(q[c]), box[1], box[2]]
                        view[inside] = q[c][inside]
            report(progress, min(k + batch_size, work.shape[0]) / max(work.shape[0], 1), "segmenting slices")
    if region is not None:
        labels[box] = np.where(region[box], crop, 0)
    if largest_component or fill_holes:
        labels = postprocess(labels, largest_component, fill_holes)
    if post.get("inside_body") or post.get("min_component_ml"):
        labels = anatomical_postprocess(labels, hu, oriented.spacing, bool(post.get("inside_body")),
                                        float(post.get("min_component_ml") or 0.0))
    if lung is not None:
        labels = keep_in_lungs(labels, lung, oriented.spacing, min_lung)
    anatomy = None
    if guard:
        from .guard import check_anatomy

        report(progress, 1.0, "anatomy guard")
        anatomy = check_anatomy(hu, oriented.spacing, labels, card, cancel=cancel)
        if anatomy is not None and anatomy.fired:
            if strict:
                raise AnatomyError(anatomy.message() + " (--strict)")
            notes.append(anatomy.message())
            warnings.warn(anatomy.message(), AnatomyWarning, stacklevel=2)
    if probs is not None and oriented.orientation != "LPS":
        for c in range(k_classes):  # one channel in memory at a time
            probs[c] = sitk.GetArrayFromImage(oriented.back(np.ascontiguousarray(probs[c])))
    if isinstance(probs, np.memmap):
        probs.flush()
    out = oriented.back(labels)
    return Prediction(out, card, probs, notes, time.perf_counter() - t0, int(hu.shape[0]), anatomy)
