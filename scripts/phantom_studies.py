"""Seeded synthetic phantom studies for the U-Net training sets (a minority of their slices).

``make_studies(name, out, n, seed)`` writes ``n`` phantom studies (DICOM + labels.nrrd) for model
``name`` ("lungs": varied chests with real-CT lung texture; "table-headrest": heads in every
headrest variant, chests and abdomens on their tables). Used by scripts/train_default_models.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _chest(i: int, rng: np.random.Generator) -> dict:
    """A varied chest phantom: pixel size, FOV, noise, blur, nodules, a collapsed lung.

    No patients lying on their side: there the lungs lie above each other and the right/left
    decision must come from anatomy alone, which a small 2D model learnt at the cost of its
    right/left split on ordinary supine CT.
    """
    fov = rng.uniform(300.0, 430.0)
    px = rng.uniform(0.6, 2.2)  # real chest CT pixels are 0.6-1 mm; the model sees them at 2 mm anyway
    n = int(round(fov / px / 2)) * 2
    kw = {"kind": "chest", "shape": (16, n, n), "spacing": (10.0, px, px), "noise_hu": rng.uniform(5, 30),
          "blur_mm": rng.uniform(0.0, 1.5), "nodule": [None, "interior", "pleural"][i % 3]}
    if i % 7 == 3:
        kw["collapsed"] = ["left", "right"][i % 2]
    if rng.random() < 0.3:
        kw["fov_diameter_mm"] = 0.95 * fov
    return kw


def lung_texture(phantom, rng: np.random.Generator):
    """Give the phantom's lungs real-CT texture, in place; the labels stay as they are.

    The phantom lungs are uniform -850 HU with four vessels, while real lungs are full of vessel
    branches (many touching the pleura and the hilum) and grow denser toward the back (dependent
    atelectasis). A model trained on the plain phantom calls those parts "not lung" on real CT, so
    the training copies get random vessel segments (1.2-6 mm wide, 0..120 HU), a posterior density
    gradient (up to +300 HU) and a smooth parenchyma texture. Domain randomisation: it widens what
    "lung" looks like without changing where the lung is.
    """
    from scipy import ndimage

    hu = phantom.hu.astype(np.float32)
    lung = phantom.masks["lung-right"] | phantom.masks["lung-left"]
    _, sy, sx = phantom.spacing
    ny, nx = hu.shape[1:]
    yy, xx = np.mgrid[:ny, :nx]
    base_shift = rng.uniform(-60, 80)
    gradient = rng.uniform(0, 300)
    for k in range(hu.shape[0]):
        m = lung[k]
        if not m.any():
            continue
        rows = np.flatnonzero(m.any(axis=1))
        depth = np.clip((yy - rows[0]) / max(rows[-1] - rows[0], 1), 0, 1) ** 2  # 0 front .. 1 back
        texture = ndimage.gaussian_filter(rng.normal(0, 1, (ny, nx)), 3.0 / sy)
        add = base_shift + gradient * depth + 25 * texture / max(texture.std(), 1e-6)
        vessels = np.zeros((ny, nx), bool)
        pts = np.argwhere(m)
        for _ in range(int(rng.integers(15, 60))):
            y0, x0 = pts[rng.integers(len(pts))]
            angle, length = rng.uniform(0, np.pi), rng.uniform(3, 35)
            radius = rng.uniform(0.6, 3.0)
            t = np.linspace(0, length, max(2, int(length / min(sy, sx)) * 2))
            cy, cx = y0 + t * np.sin(angle) / sy, x0 + t * np.cos(angle) / sx
            for py, px in zip(cy[::2], cx[::2]):
                vessels |= ((yy - py) * sy) ** 2 + ((xx - px) * sx) ** 2 <= radius ** 2
        vessel_hu = rng.uniform(0, 120)
        sl = hu[k]
        sl[m] += add[m]
        sl[m & vessels] = vessel_hu + rng.normal(0, 15, int((m & vessels).sum()))
        hu[k] = sl
    phantom.hu = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    return phantom


def _table_study(i: int, rng: np.random.Generator) -> dict:
    """Head phantoms in every headrest variant, plus chests and abdomens on their tables."""
    from medseg.phantom import HEADREST_VARIANTS

    kind = ["head", "head", "chest", "abdomen"][i % 4]
    fov = rng.uniform(*{"head": (240.0, 360.0), "chest": (330.0, 460.0), "abdomen": (420.0, 520.0)}[kind])
    px = rng.uniform(0.6, 2.5)
    n = int(round(fov / px / 2)) * 2
    kw = {"kind": kind, "shape": (12, n, n), "spacing": (12.0, px, px), "noise_hu": rng.uniform(5, 30),
          "blur_mm": rng.uniform(0.0, 1.5)}
    if kind == "head":
        kw["headrest"] = HEADREST_VARIANTS[(i // 4 * 2 + i % 4) % len(HEADREST_VARIANTS)]
    return kw


def make_studies(name: str, out: Path, n: int, seed: int) -> list[Path]:
    """Write ``n`` phantom studies (DICOM + labels.nrrd) for model ``name``; one patient ID each."""
    from medseg.phantom import make_phantom, write_phantom_study

    rng = np.random.default_rng(seed)
    studies = []
    for i in range(n):
        kw = (_chest if name == "lungs" else _table_study)(i, rng)
        texture_rng = np.random.default_rng([seed, i, 3])  # drawn apart, so recipes above stay put
        folder = out / f"study-{i:03d}"
        if not (folder / "labels.nrrd").is_file():
            kind = kw.pop("kind")
            phantom = make_phantom(kind, seed=seed + i, **kw)
            if name == "lungs":
                phantom = lung_texture(phantom, texture_rng)
            write_phantom_study(folder, seed=seed + i, phantom=phantom, patient_id=f"PH{seed + i}")
        studies.append(folder)
    return studies
