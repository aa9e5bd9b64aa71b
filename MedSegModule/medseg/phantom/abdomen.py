"""A seeded abdomen CT phantom: organs, bowel and stomach gas, spine, arms beside the body, a table.

Built after ``ct-abdomen-20``'s traps: the arms lie beside the torso as separate components that
span every slice (they are patient anatomy: body label, humerus in the bone label), and the table
is two thin curved shells with low-density foam between, well below the back. There are no lungs
unless ``lung_bases=True`` puts the posterior lung bases into the top slices (the partial-lungs
case). Gas in the stomach (with a fluid level, gas anterior) and in bowel loops sits at about
-1000 HU inside soft tissue. Labels (DESIGN table): body (torso + arms), table-headrest (the
table), bone (spine, ribs, humeri), lung-right / lung-left (bases only). ``masks`` also holds
"torso", "arms", "gas", "liver", "spleen", "kidneys", "stomach" and "table".
"""

from __future__ import annotations

import numpy as np

from .base import HU, Phantom, compose_auto, curved_table, default_geometry, ellipse, finish, grid_mm, out_of_field

#: Nominal abdominal HU (before noise); non-contrast values.
ABDOMEN_HU = {
    **HU, "liver": 58, "spleen": 46, "kidney": 32, "bowel_wall": 40, "fluid": 12, "gas": -1000,
    "visceral_fat": -90, "humerus_cortical": 1100, "marrow": 60, "table_shell": 420, "table_foam": -860,
}


def _vertebra(X, Y, c):
    """(body, cancellous, arch + spinous process, canal) of a vertebra whose body is centred at c."""
    vb = ellipse(X, Y, c[0], c[1], 20, 17)
    canal_c = (c[0], c[1] + 27)
    canal = ellipse(X, Y, *canal_c, 8, 7)
    arch = (ellipse(X, Y, *canal_c, 13, 12) & ~canal) | ((np.abs(X - c[0]) <= 4) & (Y >= canal_c[1] + 8)
                                                         & (Y <= canal_c[1] + 28))
    return vb, ellipse(X, Y, c[0], c[1], 17, 14), arch, canal


def make_abdomen(shape=(32, 128, 128), spacing=None, seed: int = 0, noise_hu: float = 10.0, *,
                 origin=None, jitter: float = 1.0, blur_mm: float = 0.0, lung_bases: bool = False,
                 arms: bool = True, fov_diameter_mm: float | None = None) -> Phantom:
    """An abdomen CT phantom (see the module docstring).

    ``shape`` is (z, y, x); ``spacing`` (z, y, x) mm defaults to a 500 mm FOV (room for the arms)
    over 160 mm, from the lower abdomen (slice 0) up to the diaphragm. ``arms=False`` leaves the
    arms out (arms raised). Other arguments act as in :func:`make_chest`.
    """
    spacing, origin = default_geometry(shape, spacing, origin, fov_mm=500.0, length_mm=160.0)
    nz, ny, nx = shape
    anat_rng, noise_rng = np.random.default_rng([seed, 2]).spawn(2)
    j = lambda lo, hi: 1.0 + jitter * anat_rng.uniform(lo, hi)  # noqa: E731
    s = lambda mm: jitter * anat_rng.uniform(-mm, mm)  # noqa: E731

    body_a, body_b, cy = 145.0 * j(-0.06, 0.04), 108.0 * j(-0.06, 0.04), -30.0
    fat_mm, muscle_mm = 22.0 * j(-0.3, 0.3), 10.0
    arm_gap, arm_a, arm_b = 14.0 + abs(s(4.0)), 36.0 * j(-0.08, 0.05), 45.0 * j(-0.08, 0.05)
    table_gap = 25.0 + abs(s(5.0))
    liver_c, stomach_c = (-50.0 + s(6), cy - 5.0 + s(6)), (48.0 + s(6), cy - 45.0 + s(5))
    # Bowel loops: short tubes along z in the lower, anterior abdomen (centre, radius, z-range, contents).
    loops = []
    for gx in (-60.0, -20.0, 20.0, 60.0):
        for gy in (-65.0, -25.0):
            t0 = anat_rng.uniform(0.0, 0.3)
            loops.append(((gx + s(8), cy + gy + s(8)), 10.0 + abs(s(4)), (t0, t0 + anat_rng.uniform(0.2, 0.35)),
                          ("gas", "fluid", "level")[int(anat_rng.integers(3))]))
    z, y, x = grid_mm(shape, spacing, origin)
    Y, X = y[:, None], x[None, :]
    t_all = (z - z[0]) / max(z[-1] - z[0], 1e-6)  # 0 lower abdomen, 1 at the diaphragm

    names = ("body", "table-headrest", "lung-right", "lung-left", "bone", "torso", "arms", "gas", "liver",
             "spleen", "kidneys", "stomach", "table")
    masks = {k: np.zeros(shape, dtype=bool) for k in names}
    tissues = {k: np.zeros(shape, dtype=bool) for k in (
        "fat", "muscle", "visceral_fat", "liver", "spleen", "kidney", "gas", "fluid", "spine", "humerus",
        "lung_parenchyma", "table_shell", "table_foam")}
    hu = np.full(shape, HU["air"], dtype=np.float32)
    back_y = cy + 0.92 * body_b  # the back is flattened against gravity
    shells, foam = curved_table(X, Y, back_y + table_gap, half_width_mm=215.0, radius_mm=500.0,
                                shell_mm=max(2.5, 1.05 * spacing[1]), thickness_mm=38.0)
    A = ABDOMEN_HU
    for k, t in enumerate(t_all):
        sl = hu[k]
        a = body_a * (1.0 - 0.05 * t)
        torso = ellipse(X, Y, 0.0, cy, a, body_b) & (Y <= back_y)
        muscle = ellipse(X, Y, 0.0, cy, a - fat_mm, body_b - fat_mm) & (Y <= back_y - fat_mm * 0.6)
        cavity = ellipse(X, Y, 0.0, cy, a - fat_mm - muscle_mm, body_b - fat_mm - muscle_mm) & (Y <= back_y - 40)
        sl[foam], sl[shells] = A["table_foam"], A["table_shell"]
        sl[torso], sl[muscle], sl[cavity] = A["fat"], A["muscle"], A["visceral_fat"]

        # Spine, paraspinal muscles, psoas, aorta, IVC.
        vb_c = (0.0, back_y - 62.0)
        vb, canc, arch, canal = _vertebra(X, Y, vb_c)
        para = (ellipse(X, Y, -28, back_y - 28, 22, 20) | ellipse(X, Y, 28, back_y - 28, 22, 20)) & muscle
        sl[para] = A["muscle"]
        psoas_f = np.clip((0.6 - t) / 0.4, 0, 1)
        psoas = (ellipse(X, Y, -38, vb_c[1], 16 * psoas_f, 18 * psoas_f)
                 | ellipse(X, Y, 38, vb_c[1], 16 * psoas_f, 18 * psoas_f)) & cavity
        sl[psoas] = A["muscle"]
        aorta, ivc = ellipse(X, Y, 14, vb_c[1] - 32, 11, 11), ellipse(X, Y, -22, vb_c[1] - 28, 13, 9)
        sl[aorta | ivc] = A["soft"]

        # Solid organs: liver (right, upper), spleen (left, posterior), kidneys.
        lf = np.clip((t - 0.25) / 0.35, 0, 1) ** 0.6
        liver = ellipse(X, Y, liver_c[0], liver_c[1], 80 * lf, 72 * lf) & cavity & ~ellipse(X, Y, *vb_c, 30, 30)
        liver &= ~aorta & ~ivc
        spleen = ellipse(X, Y, 78, cy + 38, 26, 40) & cavity & (t > 0.5)
        kf = np.sqrt(np.clip(1 - ((t - 0.45) / 0.3) ** 2, 0, 1))
        kidneys = (ellipse(X, Y, -68, vb_c[1] - 5, 24 * kf, 32 * kf) | ellipse(X, Y, 68, vb_c[1] - 8, 24 * kf, 32 * kf))
        kidneys &= cavity & ~liver & ~spleen
        sl[liver], sl[spleen], sl[kidneys] = A["liver"], A["spleen"], A["kidney"]

        # Stomach: wall, fluid behind, gas in front (supine: gas rises anteriorly, to low y).
        gas = np.zeros_like(torso)
        fluid = np.zeros_like(torso)
        stomach = np.zeros_like(torso)
        if t > 0.55:
            sf = np.sqrt(np.clip((t - 0.55) / 0.2, 0, 1))
            stomach = ellipse(X, Y, *stomach_c, 46 * sf, 34 * sf) & cavity & ~liver
            lumen = ellipse(X, Y, *stomach_c, 46 * sf - 5, 34 * sf - 5) & stomach
            level = stomach_c[1] - 4.0
            sl[stomach] = A["bowel_wall"]
            gas |= lumen & (Y < level)
            fluid |= lumen & (Y >= level)
        # Bowel loops: gas, fluid, or gas over fluid.
        for (bx, by), r, (t0, t1), kind in loops:
            if not t0 <= t <= t1:
                continue
            tube = ellipse(X, Y, bx, by, r, r) & cavity & ~liver & ~kidneys & ~stomach & ~psoas
            lumen = ellipse(X, Y, bx, by, r - 3.5, r - 3.5) & tube
            sl[tube] = A["bowel_wall"]
            if kind == "gas":
                gas |= lumen
            elif kind == "fluid":
                fluid |= lumen
            else:
                gas |= lumen & (Y < by)
                fluid |= lumen & (Y >= by)
        sl[fluid], sl[gas] = A["fluid"], A["gas"]

        # Bone: vertebra and, in the upper half, the lower ribs in the body wall.
        sl[vb], sl[canc], sl[arch], sl[canal] = A["cortical"], A["cancellous"], A["cortical"] - 100, A["csf"]
        bone = vb | arch
        ribs = np.zeros_like(torso)
        if t > 0.45:
            ra, rb = a - fat_mm - 5, body_b - fat_mm - 5
            for deg in (20, 45, 70, 110, 135, 160, 200, 225, 315, 340):
                th = np.deg2rad(deg + 8.0 * ((k * 0.37) % 1.0))
                ribs |= ellipse(X, Y, ra * np.cos(th), cy + rb * np.sin(th), 5.5, 4.5)
            ribs &= muscle & ~cavity
            sl[ribs] = ABDOMEN_HU["rib"]

        # Lung bases: the posterior costophrenic recesses, a crescent inside the ribs that deepens
        # upward over the domes of the diaphragm.
        lungs = {}
        if lung_bases and t > 0.7:
            d = 6.0 + 34.0 * (t - 0.7) / 0.3
            wa, wb = a - fat_mm - muscle_mm, body_b - fat_mm - muscle_mm
            recess = ellipse(X, Y, 0.0, cy, wa, wb) & ~ellipse(X, Y, 0.0, cy - 10, wa - d, wb - d - 10)
            recess &= (Y > cy - 10) & ~para & ~ellipse(X, Y, *vb_c, 30, 28) & ~ellipse(X, Y, vb_c[0], vb_c[1] + 27, 18, 16)
            recess &= ~ribs & (np.abs(X) > 22) & ~aorta & ~ivc
            for side, lung in (("lung-right", recess & (X < 0)), ("lung-left", recess & (X > 0))):
                sl[lung] = A["lung"]
                lungs[side] = lung
                masks[side][k] = lung

        # Arms beside the torso: skin/fat, muscle and the humerus, never touching the torso.
        arm, arm_fat, humerus = np.zeros_like(torso), np.zeros_like(torso), np.zeros_like(torso)
        if arms:
            for sgn in (-1.0, 1.0):
                ax, ay = sgn * (body_a + arm_gap + arm_a + 4.0 * (t - 0.5)), cy + 12.0
                one = ellipse(X, Y, ax, ay, arm_a, arm_b)
                sl[one] = A["fat"]
                inner = ellipse(X, Y, ax, ay, arm_a - 7, arm_b - 7)
                sl[inner] = A["muscle"]
                h = ellipse(X, Y, ax - sgn * 4.0, ay + 4.0, 12.0, 12.0)
                sl[h] = A["humerus_cortical"]
                sl[ellipse(X, Y, ax - sgn * 4.0, ay + 4.0, 7.0, 7.0)] = A["marrow"]
                arm, arm_fat, humerus = arm | one, arm_fat | (one & ~inner), humerus | h

        organs = liver | spleen | kidneys | stomach | aorta | ivc | psoas | fluid | gas
        masks["torso"][k], masks["arms"][k] = torso, arm
        masks["body"][k] = torso | arm
        masks["bone"][k] = bone | ribs | humerus
        masks["gas"][k], masks["liver"][k], masks["spleen"][k] = gas, liver, spleen
        masks["kidneys"][k], masks["stomach"][k] = kidneys, stomach & (t > 0.55)
        masks["table"][k] = masks["table-headrest"][k] = shells | foam
        lung_any = lungs.get("lung-right", np.zeros_like(torso)) | lungs.get("lung-left", np.zeros_like(torso))
        tissues["fat"][k] = (torso & ~muscle & ~ribs) | arm_fat
        tissues["muscle"][k] = (muscle & ~cavity & ~ribs & ~bone) | (para & ~bone)
        tissues["visceral_fat"][k] = cavity & ~organs & ~bone & ~canal & ~lung_any
        tissues["liver"][k], tissues["spleen"][k] = liver & ~lung_any, spleen & ~lung_any
        tissues["kidney"][k], tissues["gas"][k], tissues["fluid"][k] = kidneys & ~lung_any, gas, fluid
        tissues["spine"][k], tissues["humerus"][k], tissues["lung_parenchyma"][k] = bone, humerus, lung_any
        tissues["table_shell"][k], tissues["table_foam"][k] = shells, foam

    padding = out_of_field(X, Y, shape, fov_diameter_mm, masks, tissues)
    hu_out = finish(hu, noise_rng, noise_hu, blur_mm, spacing, padding)
    return Phantom(hu=hu_out, labels=compose_auto(masks), spacing=spacing, origin=origin, name="abdomen",
                   seed=seed, body_part="ABDOMEN", masks=masks, tissues=tissues, padding_mask=padding)

