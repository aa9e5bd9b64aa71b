"""A small, seeded chest CT phantom with exact ground-truth labels.

Geometry is built in physical millimetres (LPS: +x patient left, +y posterior, +z superior) on
the voxel centres, so the anatomy keeps its size whatever the grid. With the identity direction
the column index grows toward the patient's left: the right lung sits at low column index (the
image left, radiological convention) and the table at high row index (posterior).

The pieces every phantom shares (:class:`Phantom`, the grid, shapes, the curved table, noise) live
in :mod:`.base` and are re-exported here for the callers that imported them from this module.
"""

from __future__ import annotations

import numpy as np

from .base import (
    HU, IDENTITY, Phantom, compose_auto, curved_table,
    default_geometry, ellipse, finish, grid_mm, out_of_field,
)

__all__ = ["HU", "IDENTITY", "Phantom", "curved_table", "default_geometry", "ellipse", "finish", "grid_mm",
           "make_chest"]

# ---------------------------------------------------------------------------------------------
# The chest


def make_chest(shape=(32, 128, 128), spacing=None, seed: int = 0, noise_hu: float = 10.0, *,
               origin=None, jitter: float = 1.0, blur_mm: float = 0.0,
               fov_diameter_mm: float | None = None, nodule: str | None = "interior",
               collapsed: str | None = None, lying_on_side: bool = False) -> Phantom:
    """A chest CT phantom: body wall, lungs with vessels, airway, heart, aorta, spine, ribs, a tumour
    nodule and a curved table.

    ``shape`` is (z, y, x); ``spacing`` (z, y, x) mm defaults to a 350 mm FOV over 160 mm of chest.
    ``seed`` drives both the noise and small anatomical variation (scaled by ``jitter``; 0 gives the
    canonical anatomy). ``blur_mm`` is an optional in-plane Gaussian PSF. ``fov_diameter_mm`` makes
    voxels outside that circle out of field (``padding_mask``, HU = AIR_HU, no noise).
    Labels: body, table-headrest, lung-right, lung-left, airway, bone.

    ``nodule``: "interior" (a ~16 mm soft-tissue sphere inside the right lung, or the left one when
    the right is collapsed), "pleural" (touching the lateral pleura) or None. It is labelled lung
    (the anatomical lung mask holds it); ``masks["nodule"]`` has it alone. ``collapsed``: "left" or
    "right" shrinks that lung to a small posterior-medial remnant with pleural fluid (~15 HU) in
    the rest of its space; ``masks["collapsed"]`` is the space the full lung would fill.
    ``lying_on_side`` turns the patient 90 degrees in-plane (left side down, back toward the image
    left) while the table stays flat under them; the default FOV grows to 420 mm to hold them.
    """
    if collapsed not in (None, "left", "right"):
        raise ValueError(f"collapsed must be 'left', 'right' or None, got {collapsed!r}")
    if nodule not in (None, "interior", "pleural"):
        raise ValueError(f"nodule must be 'interior', 'pleural' or None, got {nodule!r}")
    spacing, origin = default_geometry(shape, spacing, origin, fov_mm=420.0 if lying_on_side else 350.0)
    nz, ny, nx = shape
    anat_rng, noise_rng = np.random.default_rng(seed).spawn(2)
    j = lambda lo, hi: 1.0 + jitter * anat_rng.uniform(lo, hi)  # noqa: E731  multiplicative jitter
    s = lambda mm: jitter * anat_rng.uniform(-mm, mm)  # noqa: E731          additive jitter (mm)

    body_a, body_b, body_cy = 150.0 * j(-0.07, 0.04), 105.0 * j(-0.07, 0.04), -10.0
    fat_mm, muscle_mm = 15.0 * j(-0.3, 0.3), 12.0
    lung_scale = j(-0.08, 0.04)
    heart_c = (15.0 + s(5), -30.0 + s(5))
    gap_mm = 7.0 + abs(s(3))
    vessels = [(fx + s(0.05), fy + s(0.05)) for fx, fy in ((-0.35, -0.3), (0.3, -0.35), (-0.3, 0.35), (0.35, 0.3))]
    nod_r, nod_t, nod_d = 8.0 * j(-0.15, 0.15), 0.6 + s(0.08), (s(0.15), s(0.15))
    z, y, x = grid_mm(shape, spacing, origin)
    Yi, Xi = y[:, None], x[None, :]  # image (table) coordinates
    if lying_on_side:  # patient coordinates: their left points down (+y), their back to the image left
        centre_y = y[-1] - 3.0 - 28.0 - gap_mm - body_a
        X, Y = np.broadcast_to(Yi - centre_y, (ny, nx)), np.broadcast_to(body_cy - Xi, (ny, nx))
        table_top = centre_y + body_a + gap_mm
    else:
        X, Y = Xi, Yi
        table_top = body_cy + body_b + gap_mm  # lowest point of the trough, below the body's back
    nod_side = "lung-left" if collapsed == "right" else "lung-right"
    nod_z = z[0] + nod_t * (z[-1] - z[0])
    t_all = (z - z[0]) / max(z[-1] - z[0], 1e-6)  # 0 at the diaphragm end, 1 at the top (apex)

    masks = {k: np.zeros(shape, dtype=bool) for k in ("body", "table-headrest", "lung-right", "lung-left",
                                                      "airway", "bone", "nodule", "collapsed")}
    tissues = {k: np.zeros(shape, dtype=bool) for k in ("fat", "muscle", "lung_parenchyma", "vessel",
                                                         "heart", "table_shell", "table_foam", "nodule",
                                                         "effusion", "atelectasis")}
    hu = np.full(shape, HU["air"], dtype=np.float32)

    shells, foam = curved_table(Xi, Yi, table_top, shell_mm=max(3.0, 1.05 * spacing[1]))  # no gaps between rows
    for k, t in enumerate(t_all):
        sl = hu[k]
        taper = 1.0 - 0.06 * t  # the chest narrows a little toward the shoulders' base
        a, b = body_a * taper, body_b
        body = ellipse(X, Y, 0.0, body_cy, a, b)
        muscle = ellipse(X, Y, 0.0, body_cy, a - fat_mm, b - fat_mm)
        cavity = ellipse(X, Y, 0.0, body_cy, a - fat_mm - muscle_mm - 5, b - fat_mm - muscle_mm - 5)
        sl[foam], sl[shells] = HU["table_foam"], HU["table_shell"]
        sl[body] = HU["fat"]
        sl[muscle] = HU["muscle"]
        sl[cavity] = HU["soft"]

        # Mediastinum: heart (lower half, in its fat) and descending aorta; spine behind.
        heart_f = np.clip((0.42 - t) / 0.15, 0, 1) ** 0.5
        heart = ellipse(X, Y, *heart_c, 52 * heart_f, 42 * heart_f)
        heart_fat = ellipse(X, Y, *heart_c, 52 * heart_f + 4, 42 * heart_f + 4) & (heart_f > 0)
        sl[heart_fat & ~heart] = HU["fat"]
        sl[heart] = HU["heart"]
        aorta = ellipse(X, Y, 22.0, body_cy + b - 72, 11, 11)
        sl[aorta] = HU["soft"]
        vb_c = (0.0, body_cy + b - 58)  # vertebral body centre
        vb = ellipse(X, Y, *vb_c, 17, 16)
        canal_c = (0.0, vb_c[1] + 25)
        canal = ellipse(X, Y, *canal_c, 7, 7)
        arch = ellipse(X, Y, *canal_c, 12, 12) & ~canal
        spinous = (np.abs(X) <= 4) & (Y >= canal_c[1] + 7) & (Y <= canal_c[1] + 22)
        bone = vb | arch | spinous

        # Lungs: ellipses in the cavity, tapering to the apex, domed by the diaphragm at the base.
        apex_f = np.sqrt(np.clip(1 - ((t - 0.45) / 0.52) ** 2, 0, 1)) if t > 0.45 else 1.0
        keep_out = (ellipse(X, Y, *heart_c, 52 * heart_f + 10, 42 * heart_f + 10) & (heart_f > 0)) \
            | ellipse(X, Y, 22.0, body_cy + b - 72, 15, 15) | ellipse(X, Y, *vb_c, 22, 21) | (np.abs(X) < 14)
        for side, cx, dome_t in (("lung-right", -68.0, 0.16), ("lung-left", 68.0, 0.10)):
            la, lb, lcy = 50 * lung_scale * apex_f, 70 * lung_scale * apex_f, -8.0
            r = np.sqrt(((X - cx) / max(la, 1e-6)) ** 2 + ((Y - lcy) / max(lb, 1e-6)) ** 2)
            dome = 0.95 * np.clip((dome_t - t) / dome_t, 0, 1)  # central part below the diaphragm
            lung = (r <= 1) & (r >= dome) & cavity & ~keep_out & (la > 4)
            if side == f"lung-{collapsed}":  # a small remnant against the spine, fluid in the rest
                masks["collapsed"][k] = lung
                sl[lung] = HU["effusion"]
                remnant = ellipse(X, Y, 0.6 * cx, lcy + 0.55 * lb, 0.35 * la, 0.3 * lb) & lung
                sl[remnant] = HU["atelectasis"]
                tissues["effusion"][k], tissues["atelectasis"][k] = lung & ~remnant, remnant
                masks[side][k] = remnant
                continue
            sl[lung] = HU["lung"]
            vessel = np.zeros_like(lung)
            wob = 0.04 * np.sin(2 * np.pi * t + cx)
            for fx, fy in vessels:
                vessel |= ellipse(X, Y, cx + (fx + wob) * la, lcy + fy * lb, 3.2, 3.2)
            vessel &= lung
            sl[vessel] = HU["vessel"]
            nod = np.zeros_like(lung)
            dz2 = (z[k] - nod_z) ** 2
            if nodule is not None and side == nod_side and dz2 < nod_r ** 2 and la > 4:
                along = np.sign(cx) * (0.85 * la if nodule == "pleural" else 0.0)
                nod = ellipse(X, Y, cx + along + nod_d[0] * la, lcy + nod_d[1] * lb, *(2 * [np.sqrt(nod_r ** 2 - dz2)]))
                nod &= lung
                sl[nod] = HU["nodule"]
            masks["nodule"][k] |= nod
            tissues["nodule"][k] |= nod
            masks[side][k], tissues["lung_parenchyma"][k] = lung, tissues["lung_parenchyma"][k] | (lung & ~vessel & ~nod)
            tissues["vessel"][k] |= vessel & ~nod

        # Airway: trachea above the carina, main bronchi running down and out below it.
        airway = np.zeros_like(body)
        if t >= 0.6:
            airway = ellipse(X, Y, 0.0, -10.0, 9, 9)
        elif t >= 0.44:
            f = (0.6 - t) / 0.16
            for sgn in (-1, 1):
                airway |= ellipse(X, Y, sgn * (6 + 36 * f), -10.0 + 4 * f, 6, 6)
        airway &= cavity & ~bone & ~heart_fat
        sl[airway] = HU["air"]
        for side in ("lung-right", "lung-left"):
            masks[side][k] &= ~airway
        tissues["lung_parenchyma"][k] &= ~airway

        # Bone: spine, ribs (cross-sections in the muscle layer), sternum.
        sl[vb] = HU["cortical"]
        sl[ellipse(X, Y, *vb_c, 14, 13)] = HU["cancellous"]
        sl[arch | spinous] = HU["cortical"] - 100
        sl[canal] = HU["csf"]
        ribs = np.zeros_like(body)
        ra, rb = a - fat_mm - 8, b - fat_mm - 8
        phase = 10.0 * ((k * 0.37) % 1.0)
        for deg in (15, 40, 65, 115, 140, 165, 195, 220, 320, 345):
            th = np.deg2rad(deg + phase)
            ribs |= ellipse(X, Y, ra * np.cos(th), body_cy + rb * np.sin(th), 5.5, 4.5)
        ribs &= muscle & ~cavity
        sternum = (np.abs(X) <= 12) & (np.abs(Y - (body_cy - b + fat_mm + 6)) <= 4) & (t > 0.25)
        sl[ribs] = HU["rib"]
        sl[sternum] = HU["sternum"]

        masks["body"][k] = body
        masks["table-headrest"][k] = shells | foam
        masks["airway"][k] = airway
        masks["bone"][k] = bone | ribs | sternum
        tissues["fat"][k] = body & ~muscle & ~ribs & ~bone
        tissues["muscle"][k] = muscle & ~cavity & ~ribs & ~bone & ~sternum
        tissues["heart"][k] = heart
        tissues["table_shell"][k], tissues["table_foam"][k] = shells, foam

    padding = out_of_field(Xi, Yi, shape, fov_diameter_mm, masks, tissues)
    hu_out = finish(hu, noise_rng, noise_hu, blur_mm, spacing, padding)
    return Phantom(hu=hu_out, labels=compose_auto(masks), spacing=spacing, origin=origin, name="chest",
                   seed=seed, body_part="CHEST", masks=masks, tissues=tissues, padding_mask=padding)
