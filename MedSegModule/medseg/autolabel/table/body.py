"""Body mask and removed-object mask (table, couch, headrest, mask shell) of a CT volume in HU.

The steps (the headrest seed's method, made to survive the traps of real scans):

1. reduce the grid in-plane to about 2 mm pixels (block means; components and openings then
   cost a quarter as much);
2. find the room-air level, cluster the HU above it with K-means (k = 4) and put the air/tissue
   threshold between the air-like clusters (air, foam, lung) and the first tissue cluster;
3. open the foreground with a 4 mm ball: thin shells, blankets and bridges fall away from the
   thick parts, whose 3D components are called patient or object (:mod:`.objects`);
4. give the thin residue to whichever side it belongs, and settle where an object presses on
   the skin by HU (shell versus skin);
5. fill the body's holes per axial slice (lungs, bowel gas) and add foam connected to objects;
6. enlarge both masks to the full grid, redrawing their edges from the full-resolution HU, so
   the reduction costs no accuracy where the masks end; add the faint sheets (a couch top's
   1 mm skins) that no threshold sees but that stand far above the air's noise.

Arrays are (z, y, x) in HU, axis 0 the axial slice axis; spacing is (z, y, x) mm.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ...progress import CancelEvent, Progress, check_cancel, report
from .. import morphology as mo
from .hu_classes import air_level, air_threshold, faint_objects, foam_level, foam_objects, kmeans_hu
from .objects import assign_residue, classify_cores, components, rejoin_small_anatomy, settle_contact

#: Pixel size (mm) of the reduced grid the components are found on.
WORK_MM = 2.0
#: Opening radius (mm): structures thinner than twice this are thin (shells, bridges, blankets).
OPEN_MM = 4.0
#: In-plane closing radius (mm) of the patient's outline that closes narrow openings (nostrils,
#: the ear canal) and so encloses the thin anatomy behind them.
ENCLOSE_MM = 8.0
#: How far (mm) a shell pressed flat on the skin is followed from where it leaves the skin: half
#: the widest contact of a head on its headrest, far short of the way round a skull to the brow.
CONTACT_REACH_MM = 40.0


@dataclass
class BodyObjects:
    """Masks (bool, z, y, x, on the input grid) and what the method found, for reports and tests."""

    body: np.ndarray
    objects: np.ndarray
    stats: dict = field(default_factory=dict)


class _Laps:
    """Wall-clock seconds per stage, for ``stats`` (the benchmark reads them)."""

    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self.t, 3)
        self.t = now


def _reduced_masks(low: np.ndarray, spacing_low, threshold: float, cancel: CancelEvent, lap: _Laps):
    """Patient and object masks on the reduced grid (before hole filling); also the component list."""
    fg = low > threshold
    core = mo.opening(fg, OPEN_MM, spacing_low)
    check_cancel(cancel)
    lap("opening")
    lab, comps = components(core, low, spacing_low)
    classify_cores(comps)

    def patient_of(comps_):
        ids = np.zeros(len(comps_) + 1, dtype=bool)
        for c in comps_:
            ids[c.label] = c.patient
        return ids[lab] & core

    # In-plane reach is enough to tell skin edges from shells, and far cheaper than a 3D ball.
    reach_se = (OPEN_MM + max(spacing_low[1:]), (mo.IN_PLANE_Z, *spacing_low[1:]))
    patient_core = patient_of(comps)
    if any(not c.patient for c in comps):
        rejoin_small_anatomy(comps, lab, mo.dilate(patient_core, *reach_se))
        patient_core = patient_of(comps)
    object_core = core & ~patient_core
    check_cancel(cancel)
    lap("components")
    reach = mo.dilate(patient_core, *reach_se)
    disc = (mo.IN_PLANE_Z, *spacing_low[1:])
    enclosed = mo.fill_holes_per_slice(mo.erode(mo.dilate(patient_core, ENCLOSE_MM, disc), ENCLOSE_MM, disc))
    thin_patient, thin_object = assign_residue(fg & ~core, patient_core, object_core, reach, low,
                                               float(np.prod(spacing_low)) / 1000.0, enclosed)
    lap("thin parts")
    steps = int(np.ceil(OPEN_MM / min(spacing_low[1:])))
    reach = int(np.ceil(CONTACT_REACH_MM / min(spacing_low[1:])))
    patient, objects = settle_contact(patient_core | thin_patient, object_core | thin_object, low, steps,
                                      reach_steps=reach)
    lap("contact")
    return patient, objects, comps


def body_and_objects(hu: np.ndarray, spacing, k: int = 4, progress: Progress | None = None,
                     cancel: CancelEvent = None) -> BodyObjects:
    """Body mask (holes filled per slice) and removed-object mask of an HU volume.

    ``hu`` is (z, y, x) in HU with out-of-field voxels at ``AIR_HU``; ``spacing`` is (z, y, x) mm.
    Axis 0 must be the axial slice axis (holes are filled per axial slice), as it is for an image
    in LPS (:func:`medseg.pipeline.steps.clean` reorients to LPS first).
    """
    lap = _Laps()
    t0 = lap.t
    spacing = tuple(float(s) for s in spacing)
    f = mo.block_factor(spacing, WORK_MM)
    spacing_low = (spacing[0], spacing[1] * f, spacing[2] * f)
    report(progress, 0.05, "reducing the grid")
    low = mo.block_mean(hu, f)
    check_cancel(cancel)
    air = air_level(low)
    centres = kmeans_hu(low, k, above=foam_level(air))
    threshold = air_threshold(centres, air[0])
    # Everything below happens in the box around whatever is denser than air (plus a margin for
    # foam and openings): the empty air around a patient is often a third of the grid.
    box = mo.bounding_box(low > threshold, margin=(1, 4, 4))
    low = low[box]
    lap("reduce + k-means")
    report(progress, 0.2, "components")
    patient_low, object_low, comps = _reduced_masks(low, spacing_low, threshold, cancel, lap)
    report(progress, 0.6, "filling holes")
    body_low = mo.fill_holes_per_slice(patient_low)
    object_low &= ~body_low
    object_low |= foam_objects(low, object_low, body_low, threshold, air, spacing_low)
    check_cancel(cancel)
    lap("holes + foam")
    report(progress, 0.8, "full resolution")
    full_box = mo.scale_box(box, f, hu.shape)
    body = np.zeros(hu.shape, dtype=bool)
    objects = np.zeros(hu.shape, dtype=bool)
    crop = hu[full_box]
    body[full_box] = mo.refine_up(body_low, crop, threshold, f, allowed_low=~object_low)
    # Objects are redrawn at the tissue threshold too, so their foam is lost in the one-pixel ring
    # at their edge: at full resolution the blur halo of a bright shell reaches the HU of foam,
    # and a halo is not an object.
    objects[full_box] = mo.refine_up(object_low, crop, threshold, f, allowed_low=~body_low) & ~body[full_box]
    objects[full_box] |= faint_objects(crop, body[full_box], objects[full_box], air, spacing)
    lap("full resolution")
    report(progress, 1.0, "body and objects found")
    stats = {
        "air_hu": round(air[0], 1), "air_sigma_hu": round(air[1], 1),
        "kmeans_centres_hu": [round(float(c), 1) for c in centres], "air_threshold_hu": round(threshold, 1),
        "reduction_factor": f, "work_spacing_mm": spacing_low, "components": [c.summary() for c in comps],
        "stage_seconds": lap.seconds, "seconds": round(time.perf_counter() - t0, 3),
    }
    return BodyObjects(body, objects, stats)
