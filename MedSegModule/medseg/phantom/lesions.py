"""Synthetic lung lesions inserted into real CT volumes (HU), with their exact masks.

Three kinds, as lung nodules are classed on CT:

- ``solid``: soft tissue replacing the parenchyma (vessels inside it are covered);
- ``ground-glass``: a hazy rise of the parenchyma's HU that keeps the vessels and the host's own
  texture visible (the alveoli partly filled, the interstitium intact);
- ``part-solid``: ground glass with a solid core of 30-70 % of its diameter.

Each is ``free`` (inside the lung, at least 2 mm from its edge) or ``attached`` (its centre 40-80 %
of its radius from the lung's edge, so it sits on the pleura: costal, mediastinal or diaphragmatic).
Diameters are 5-60 mm. The shape is an ellipsoid (axes ×0.85-1.15) with a lobulated surface (a
low-pass random field, 12 % of the radius) and a 1 mm partial-volume edge. Masks hold only the lung
part: the pleural side of an attached lesion is the chest wall, already soft tissue.

Where the numbers come from:

- solid HU: the right-upper-lobe nodule of ``ct-chest-141`` (non-contrast, Philips), grown from
  seeds and measured 2 mm inside its edge by ``scripts/measure_nodule.py``: mean 5.6 HU, SD 23.3 HU;
  texture correlation between neighbouring voxels 0.877 in-plane (0.98 mm pixels) and 0.728 across
  its 2 mm slices, i.e. Gaussian-filtered noise of σ 1.35 mm in-plane and 1.8 mm across slices.
  Means are drawn from 5.6 ± 25 HU (the spread of solid nodules' means on non-contrast CT is wider
  than one nodule's, so SD 25 is an assumption, not a measurement);
- ground glass: the mean HU of ground-glass parts is drawn uniformly from -700 to -450 HU, the span
  of the published cut-offs and group means (pure GGNs ≤ -600 HU in most pre-invasive lesions;
  -675 / -562 HU for the ground-glass part between pre-invasive, minimally invasive and invasive
  adenocarcinoma in 230 part-solid nodules, Wang et al., Iran J Radiol 2018;15(1):e61846;
  subsolid means -548 / -365 HU in 216 nodules, Cancer Imaging 2020 (PMC6986053));
- part-solid cores are solid as above: above the -160 HU solid-component threshold of Lee et al.,
  PLoS ONE 2018;13:e0205490; the parenchyma around them is the host's own.

Arrays are (z, y, x) with spacing (z, y, x) in mm; the lung mask is the caller's (e.g. ``medseg lungs``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

KINDS = ("solid", "part-solid", "ground-glass")
DIAMETER_RANGE_MM = (5.0, 60.0)
#: Measured on ct-chest-141's nodule (see the module's docstring).
SOLID_MEAN_HU, SOLID_SD_HU = 5.6, 23.3
SOLID_MEAN_SPREAD_HU = 25.0
TEXTURE_SIGMA_MM = (1.8, 1.35, 1.35)  # (z, y, x)
GROUND_GLASS_HU = (-700.0, -450.0)
CORE_FRACTION = (0.3, 0.7)
EDGE_MM = 1.0
LOBULATION = 0.12
#: Voxels below this HU are parenchyma (air-filled lung), which ground glass raises.
PARENCHYMA_MAX_HU = -300.0


@dataclass
class Lesion:
    """One inserted lesion: kind, placement, size, centre (voxel index z, y, x), its HU and mask voxels."""

    kind: str
    attached: bool
    diameter_mm: float
    centre_zyx: tuple[int, int, int]
    mean_hu: float
    core_fraction: float | None
    voxels: int

    def to_dict(self) -> dict:
        return asdict(self)


def _texture(shape, spacing, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-SD Gaussian noise with the measured correlation lengths (mm -> voxels)."""
    sigma = [s_mm / float(s) for s_mm, s in zip(TEXTURE_SIGMA_MM, spacing)]
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return field / max(float(field.std()), 1e-6)


def _shape(box_shape, centre, spacing, radius_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Signed depth in mm inside the lobulated ellipsoid (> 0 inside) on the box around ``centre``."""
    axes = radius_mm * rng.uniform(0.85, 1.15, 3)
    grids = np.ogrid[tuple(slice(0, n) for n in box_shape)]
    r = np.sqrt(sum(((g - c) * float(s) / a) ** 2 for g, c, s, a in zip(grids, centre, spacing, axes)))
    lobes = ndimage.gaussian_filter(rng.standard_normal(box_shape).astype(np.float32),
                                    [0.35 * radius_mm / float(s) for s in spacing])
    lobes /= max(float(lobes.std()), 1e-6)
    return (1.0 - r + LOBULATION * lobes) * radius_mm


def candidate_centres(lung: np.ndarray, spacing, diameter_mm: float, attached: bool,
                      depth_mm: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) voxel indices where a lesion of ``diameter_mm`` fits free (>= radius + 2 mm deep in the lung)
    or attached (40-80 % of its radius deep, the band at least one voxel thick). ``depth_mm``: the lung's distance transform, if already made."""
    depth = ndimage.distance_transform_edt(lung, sampling=spacing) if depth_mm is None else depth_mm
    r = diameter_mm / 2.0
    # the pleural band is at least one voxel deep, or a small lesion on a coarse grid fits nowhere
    ok = (depth >= 0.4 * r) & (depth <= max(0.8 * r, 0.4 * r + max(float(s) for s in spacing))) if attached \
        else depth >= r + 2.0
    return np.argwhere(ok & lung)


def insert_lesion(hu: np.ndarray, lung: np.ndarray, spacing, kind: str = "solid", diameter_mm: float = 20.0,
                  attached: bool = False, rng: np.random.Generator | None = None, centre=None,
                  depth_mm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, Lesion]:
    """Insert one lesion into ``hu`` (a copy is returned): ``(hu_out float32, mask bool, Lesion)``.

    ``lung``: bool mask of the lungs on the same grid. ``kind``: one of :data:`KINDS`;
    ``diameter_mm`` in :data:`DIAMETER_RANGE_MM`; ``centre``: a voxel (z, y, x), else drawn where the
    lesion fits (:func:`candidate_centres`; ``ValueError`` when it fits nowhere). ``rng`` seeds the
    draw, shape, HU and texture.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    lo, hi = DIAMETER_RANGE_MM
    if not lo <= diameter_mm <= hi:
        raise ValueError(f"diameter must be {lo:g}-{hi:g} mm, got {diameter_mm:g}")
    rng = rng or np.random.default_rng(0)
    lung = np.asarray(lung, bool)
    r = diameter_mm / 2.0
    if centre is None:
        options = candidate_centres(lung, spacing, diameter_mm, attached, depth_mm)
        if not len(options):
            where = "on the pleura" if attached else "free in the lung"
            raise ValueError(f"no room for a {diameter_mm:g} mm lesion {where}")
        centre = tuple(int(v) for v in options[rng.integers(len(options))])
    reach = [int(np.ceil(1.4 * r / float(s))) + 2 for s in spacing]
    box = tuple(slice(max(0, c - h), min(n, c + h + 1)) for c, h, n in zip(centre, reach, hu.shape))
    local_centre = [c - b.start for c, b in zip(centre, box)]
    sub_shape = tuple(b.stop - b.start for b in box)
    depth = _shape(sub_shape, local_centre, spacing, r, rng)
    alpha = np.clip(depth / EDGE_MM + 0.5, 0.0, 1.0)
    host = hu[box].astype(np.float32)
    out = hu.astype(np.float32, copy=True)
    texture = _texture(sub_shape, spacing, rng)
    core_fraction = None
    if kind == "solid":
        mean = float(rng.normal(SOLID_MEAN_HU, SOLID_MEAN_SPREAD_HU))
        new = host + alpha * (mean + SOLID_SD_HU * texture - host)
    else:
        mean = float(rng.uniform(*GROUND_GLASS_HU))
        parenchyma = host < PARENCHYMA_MAX_HU
        local = float(np.median(host[parenchyma & (alpha > 0)])) if np.any(parenchyma & (alpha > 0)) else -800.0
        # ground glass lifts the parenchyma by the same step everywhere, so its texture and vessels stay
        new = np.where(parenchyma, host + alpha * max(0.0, mean - local), host)
        if kind == "part-solid":
            core_fraction = float(rng.uniform(*CORE_FRACTION))
            core_depth = depth - (1.0 - core_fraction) * r
            beta = np.clip(core_depth / EDGE_MM + 0.5, 0.0, 1.0)
            solid = float(rng.normal(SOLID_MEAN_HU, SOLID_MEAN_SPREAD_HU))
            new = new + beta * (solid + SOLID_SD_HU * texture - new)
    mask = np.zeros(hu.shape, bool)
    mask[box] = (alpha >= 0.5) & lung[box]
    out[box] = np.where(lung[box] | ((alpha > 0) & (host > PARENCHYMA_MAX_HU)), new, host)
    lesion = Lesion(kind, bool(attached), float(diameter_mm), tuple(int(c) for c in centre), round(mean, 1),
                    None if core_fraction is None else round(core_fraction, 3), int(mask.sum()))
    return out, mask, lesion


def insert_lesions(hu: np.ndarray, lung: np.ndarray, spacing, count: int = 1, rng: np.random.Generator | None = None,
                   kinds=KINDS, diameters_mm=DIAMETER_RANGE_MM, attached_fraction: float = 0.5,
                   ) -> tuple[np.ndarray, np.ndarray, list[Lesion]]:
    """Insert ``count`` lesions with drawn kind, size (log-uniform in ``diameters_mm``) and placement.

    A size that fits nowhere is halved until it fits (not below 5 mm). Returns
    ``(hu_out float32, union of the masks, lesions)``; later lesions avoid earlier ones.
    """
    rng = rng or np.random.default_rng(0)
    out = np.asarray(hu, np.float32)
    union = np.zeros(hu.shape, bool)
    free_lung = np.asarray(lung, bool).copy()
    lesions = []
    for _ in range(count):
        kind = str(rng.choice(list(kinds)))
        attached = bool(rng.random() < attached_fraction)
        lo, hi = (float(v) for v in diameters_mm)
        diameter = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        depth = ndimage.distance_transform_edt(free_lung, sampling=spacing)
        while True:
            try:
                out, mask, lesion = insert_lesion(out, free_lung, spacing, kind, diameter, attached, rng,
                                                  depth_mm=depth)
                break
            except ValueError:
                if diameter / 2 < DIAMETER_RANGE_MM[0]:
                    raise
                diameter /= 2
        union |= mask
        free_lung &= ~ndimage.binary_dilation(mask, iterations=2)
        lesions.append(lesion)
    return out, union, lesions
