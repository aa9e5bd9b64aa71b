"""Patient versus object: connected components and their classification.

The headrest seed's method: cluster the HU inside the field of view (K-means, k = 4, in
:mod:`.hu_classes`, which gives the air/tissue threshold), take the 3D connected components of
everything denser than air, and call each component *patient* or
*object* (table, couch, headrest, mask shell, blanket) from its HU statistics, shape, size and
position relative to the patient. Arrays are (z, y, x); spacing is (z, y, x) mm.

Why not "largest component = body": arms resting beside the body are separate components that
span every slice, as the table does, and they are anatomy. Why not "spans all of z = table":
the same arms. What tells them apart is that anatomy is thick soft tissue with the HU spread
of fat, muscle and bone, while tables and headrests are thin shells of carbon or plastic and
foam that is nearly air.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..morphology import IN_PLANE_Z, bounding_box, dilate, erode

#: HU band of fat, muscle and organs (with partial volume at their edges).
TISSUE_HU = (-250.0, 250.0)
#: HU of skin and fat where an object touches it: below carbon-fibre shells (300+ HU), above
#: the partial volume of a shell with foam or air.
CONTACT_HU = (-150.0, 200.0)
#: HU of carbon-fibre and rigid-plastic shells of tables and headrests (below cortical bone).
SHELL_HU = (200.0, 900.0)
#: Thinnest in-plane slab (mm) a separate piece of anatomy can be: an arm or a leg is 50+ mm;
#: a table edge or the junction of a headrest and the table is a few mm.
ANATOMY_MIN_THICKNESS_MM = 15.0
#: Largest flat tissue core (mL) beside the patient that is anatomy the opening cut off (nose, ear).
SMALL_ANATOMY_ML = 5.0
#: Share of a small, not dense residue that must lie beside the patient for it to be anatomy.
SMALL_NEAR_SHARE = 0.4
#: A thin residue under this volume (mL) lying wholly beside the patient is the skin's fringe.
FRINGE_MAX_ML = 0.1
#: A thin residue this large (mL) with a dense core is a shell, not a finger (a finger is 2-5 mL).
SHEET_MIN_ML = 10.0


@dataclass
class Component:
    """Statistics of one connected component (HU, mm, mL); ``bbox`` is (z, y, x) slices.

    ``voxels`` and ``volume_ml`` are estimated from every 3rd voxel (see :func:`components`).
    """

    label: int
    voxels: int
    volume_ml: float
    mean_hu: float
    std_hu: float
    tissue_fraction: float
    bbox: tuple
    extent_mm: tuple[float, float, float]
    thickness_mm: float = 0.0
    patient: bool = False
    why: str = ""

    def summary(self) -> dict:
        return {"label": self.label, "volume_ml": round(self.volume_ml, 2), "mean_hu": round(self.mean_hu, 1),
                "std_hu": round(self.std_hu, 1), "tissue_fraction": round(self.tissue_fraction, 3),
                "extent_mm": [round(e, 1) for e in self.extent_mm], "thickness_mm": round(self.thickness_mm, 1),
                "patient": self.patient, "why": self.why}


def _in_plane_thickness(flat: np.ndarray, index: np.ndarray, shape, spacing, n: int, counts: np.ndarray) -> np.ndarray:
    """Per component, the slab-equivalent in-plane thickness sqrt(12 lambda_min) in mm.

    lambda_min is the smaller eigenvalue of the (y, x) covariance of the component's voxel
    positions (mm^2), pooled over its slices: a slab of thickness t gives t, a disc of radius R
    gives 1.7 R. ``flat``/``index`` are the sampled voxels' labels and flat indices.
    """
    _, yi, xi = np.unravel_index(index, shape)
    y, x = yi * float(spacing[1]), xi * float(spacing[2])
    c = np.maximum(counts, 1)
    my, mx = np.bincount(flat, y, n + 1) / c, np.bincount(flat, x, n + 1) / c
    syy = np.bincount(flat, y * y, n + 1) / c - my * my
    sxx = np.bincount(flat, x * x, n + 1) / c - mx * mx
    sxy = np.bincount(flat, x * y, n + 1) / c - mx * my
    half_tr, det = (syy + sxx) / 2, syy * sxx - sxy * sxy
    lam_min = half_tr - np.sqrt(np.maximum(half_tr * half_tr - det, 0.0))
    return np.sqrt(12.0 * np.maximum(lam_min, 0.0))


def components(mask: np.ndarray, hu: np.ndarray, spacing) -> tuple[np.ndarray, list[Component]]:
    """Label the 6-connected components of ``mask`` and measure each one's HU and size.

    Face connectivity keeps objects that touch the patient only at a corner apart.
    """
    lab, n = ndimage.label(mask)
    if n == 0:
        return lab, []
    # Sizes and HU statistics from every 3rd component voxel: exact enough for components of
    # hundreds of voxels, at a third of the cost. float64 weights: bincount's fast path.
    inside = np.flatnonzero(mask)[::3]
    flat, v = lab.ravel()[inside], hu.ravel()[inside].astype(np.float64)
    sampled = np.bincount(flat, minlength=n + 1)
    count = sampled * 3
    s1 = np.bincount(flat, weights=v, minlength=n + 1)
    s2 = np.bincount(flat, weights=v * v, minlength=n + 1)
    in_band = ((v >= TISSUE_HU[0]) & (v <= TISSUE_HU[1])).astype(np.float64)
    tissue = np.bincount(flat, weights=in_band, minlength=n + 1)
    thick = _in_plane_thickness(flat, inside, lab.shape, spacing, n, sampled)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    out = []
    for i, box in enumerate(ndimage.find_objects(lab), start=1):
        c = max(sampled[i], 1)
        mean = s1[i] / c
        std = float(np.sqrt(max(s2[i] / c - mean * mean, 0.0)))
        extent = tuple(float((sl.stop - sl.start) * sp) for sl, sp in zip(box, spacing))
        out.append(Component(i, int(count[i]), count[i] * voxel_ml, float(mean), std, tissue[i] / c, box, extent,
                             float(thick[i])))
    return lab, out


def looks_like_anatomy(c: Component, min_std_hu: float = 30.0) -> tuple[bool, str]:
    """Is a thick component patient tissue? (bool, reason)

    Anatomy is mostly in the tissue band (fat to organs; bone is a minority) and heterogeneous:
    fat next to muscle next to bone gives a spread of tens of HU even without noise. A block of
    plastic or carbon is either outside the band or uniform apart from noise.
    """
    if c.tissue_fraction < 0.6:
        return False, f"only {c.tissue_fraction:.0%} of voxels in the tissue HU band"
    if not TISSUE_HU[0] <= c.mean_hu <= TISSUE_HU[1]:
        return False, f"mean {c.mean_hu:.0f} HU outside the tissue band"
    if c.std_hu < min_std_hu:
        return False, f"uniform (HU std {c.std_hu:.0f}) like a plastic block"
    return True, "thick, tissue HU"


def classify_cores(comps: list[Component]) -> list[Component]:
    """Mark the thick components (those that survive the opening) as patient or object.

    The largest anatomy-like component is the patient's trunk or head. Other anatomy-like
    components (arms, legs) are patient too, whatever their length in z, when they are at least
    :data:`ANATOMY_MIN_THICKNESS_MM` thick in-plane; flat pieces (a table edge, the blurred
    junction of a headrest and the table) are objects.
    """
    for c in comps:
        c.patient, c.why = looks_like_anatomy(c)
    trunk = max((c for c in comps if c.patient), key=lambda c: c.voxels, default=None)
    for c in comps:
        if c.patient and c is not trunk and c.thickness_mm < ANATOMY_MIN_THICKNESS_MM:
            c.patient, c.why = False, f"flat ({c.thickness_mm:.0f} mm thick in-plane), not a limb"
    if comps and trunk is None:
        # No component reads as tissue (odd kernel, contrast-filled phantom): keep the largest.
        big = max(comps, key=lambda c: c.voxels)
        big.patient, big.why = True, "largest component (nothing else looked like anatomy)"
    return comps


def rejoin_small_anatomy(comps: list[Component], lab: np.ndarray, reach: np.ndarray) -> list[Component]:
    """Patient again: object cores under :data:`SMALL_ANATOMY_ML`, not dense, that lie within ``reach``.

    The opening cuts the tip of a nose, an auricle or a finger off the head or hand: a small
    piece of tissue right beside the patient, flat in-plane, and on a coarse grid so blurred by
    partial volume that much of it reads below the tissue band. A table edge or a headrest's
    junction is flat too, but long and not beside the patient; a shell's piece is dense.
    ``reach`` is the patient core dilated by the opening radius; ``lab`` the core labels.
    """
    near = np.bincount(lab[reach], minlength=len(comps) + 1) > 0
    for c in comps:
        if not c.patient and c.volume_ml < SMALL_ANATOMY_ML and c.mean_hu < SHELL_HU[0] and near[c.label]:
            c.patient, c.why = True, f"small piece ({c.volume_ml:.1f} mL) beside the patient"
    return comps


def assign_residue(residue: np.ndarray, patient_core: np.ndarray, object_core: np.ndarray,
                   reach: np.ndarray, hu: np.ndarray, voxel_ml: float,
                   enclosed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split the thin structures the opening removed between patient and objects.

    ``residue`` is foreground minus the opened (thick) foreground; ``reach`` is the patient core
    dilated by the opening radius. A residue component is skin edge, ear, nose or fingers
    (patient) when most of its voxels lie within reach of the patient, most are in the tissue HU
    band, and it does not touch a thick object. Otherwise (table shell, mask shell, blanket,
    headrest rim; a carbon shell hugging the scalp) it is an object, even where it touches the
    skin: this is the bridge the opening cut. A large thin sheet with a dense core is an object
    too: partial volume spreads a 3 mm carbon shell over voxels whose HU look like tissue, but
    its core stays above 200 HU, which skin and fat never reach (a finger's bone does, but a
    finger is small). A residue mostly inside ``enclosed`` (the patient's outline closed over its
    narrow openings, such as the nostrils) counts as beside the patient however deep it lies: the
    turbinates of a nasal cavity are thin and far from the thick face. Returns (patient_part,
    object_part).
    """
    lab, n = ndimage.label(residue, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return np.zeros_like(residue), np.zeros_like(residue)
    idx = np.flatnonzero(lab)
    flat = lab.ravel()[idx]
    total = np.bincount(flat, minlength=n + 1)
    near = np.bincount(flat, weights=reach.ravel()[idx].astype(np.float64), minlength=n + 1)
    inside = np.zeros(n + 1)
    if enclosed is not None:
        inside = np.bincount(flat, weights=enclosed.ravel()[idx].astype(np.float64), minlength=n + 1)
        near = np.maximum(near, inside)
    touching = dilate(object_core, 1.0, (1.0, 1.0, 1.0)).ravel()[idx]
    touch_obj = np.bincount(flat, weights=touching.astype(np.float64), minlength=n + 1)
    v = hu.ravel()[idx]
    tissue = np.bincount(flat, weights=((v >= TISSUE_HU[0]) & (v <= TISSUE_HU[1])).astype(np.float64), minlength=n + 1)
    dense = np.bincount(flat, weights=(v > SHELL_HU[0]).astype(np.float64), minlength=n + 1)
    half = 0.5 * np.maximum(total, 1)
    sheet = (dense >= 0.25 * total) & (total * voxel_ml >= SHEET_MIN_ML)
    # A speck wholly beside the patient is the skin's partial-volume fringe, whatever its HU (a
    # voxel half air, half skin reads below the tissue band): left to the objects, it would seed
    # the contact rule below on a bare brow.
    fringe = (near >= total) & (total * voxel_ml < FRINGE_MAX_ML)
    # An auricle on a 3 mm grid: small, not dense, mostly beside the head, and so blurred that
    # half of it reads below the tissue band.
    small = (total * voxel_ml < SMALL_ANATOMY_ML) & (dense < 0.1 * total) & (near >= SMALL_NEAR_SHARE * total)
    # Bone at the end of an ear canal is thin and dense, but lies within the closed outline.
    small |= (total * voxel_ml < SMALL_ANATOMY_ML) & (inside >= 0.8 * total)
    is_patient = (((near >= half) & (tissue >= half)) | fringe | small) & (touch_obj == 0) & ~sheet
    is_patient[0] = False
    keep = is_patient[lab]
    return keep & residue, ~keep & residue


def _grow(seed: np.ndarray, into: np.ndarray, steps: int) -> np.ndarray:
    """The voxels of ``into`` reached from ``seed`` in at most ``steps`` in-plane 4-connected moves within ``into``.

    In-plane only: the skin shaved off at a contact lies beside the patient in the same slice,
    while a move across slices could walk from a contact slice onto the shell of a slice where
    the head no longer touches it.
    """
    reached = np.zeros_like(into)
    front = seed
    for _ in range(steps):
        front = dilate(front, 1.0, (IN_PLANE_Z, 1.0, 1.0)) & into & ~reached
        if not front.any():
            break
        reached |= front
    return reached


def settle_contact(patient: np.ndarray, objects: np.ndarray, hu: np.ndarray, steps: int,
                   skin=CONTACT_HU, shell=SHELL_HU, reach_steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Move the voxels where an object presses on the skin to the side their HU says.

    The opening cannot cut a shell lying flat on the skin (that is no bridge): the shell comes
    out as part of the patient, and the skin the opening shaved off can come out with the
    object. So: patient voxels with shell HU (carbon fibre, rigid plastic: ``shell``) within
    ``steps`` voxels of the patient's surface, connected (26-neighbours) to an object within
    ``reach_steps`` voxels (None: however far), become object; then the patient grows back, at
    most ``steps`` voxels, through object voxels with skin/fat HU (``skin``). Cortical bone lies
    above the shell band and deeper than the skin, so it is never moved; the reach keeps the
    skull's outer table under a thin scalp, which reads as shell and runs all round the head,
    from following a headrest's contact to the forehead. Returns (patient, objects).
    """
    if steps < 1:
        return patient, objects
    surface = patient & ~erode(patient, float(steps), (IN_PLANE_Z, 1.0, 1.0))  # in-plane: cheap, and enough
    dense = surface & (hu > shell[0]) & (hu < shell[1])
    touching = dilate(objects, 1.8, (1.0, 1.0, 1.0)) & dense
    if reach_steps is None:
        lab, n = ndimage.label(dense, structure=np.ones((3, 3, 3), dtype=bool))
        keep = np.zeros(n + 1, dtype=bool)
        keep[np.unique(lab[touching])] = True
        keep[0] = False
        to_object = keep[lab]
    elif touching.any():
        box = bounding_box(dense, margin=(1, 1, 1))
        to_object = np.zeros_like(dense)
        to_object[box] = ndimage.binary_dilation(touching[box], np.ones((3, 3, 3), dtype=bool),
                                                 iterations=reach_steps, mask=dense[box])
    else:
        to_object = touching
    patient, objects = patient & ~to_object, objects | to_object
    to_patient = _grow(patient, objects & (hu >= skin[0]) & (hu <= skin[1]), steps)
    return patient | to_patient, objects & ~to_patient
