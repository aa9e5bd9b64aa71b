"""A seeded head CT phantom lying in a headrest: scalp, skull, brain, face and sinuses, table.

The head lies supine (face toward low row index, the back of the head toward the table). The
headrest variants are the cases a headrest-removal step must handle:

- ``"separate"``: a carbon-shell / foam cradle under the back of the head with an air gap;
- ``"touching"``: the same cradle pressed against the scalp over an area (the hard case);
- ``"mask-shell"``: the separate cradle plus a thin perforated thermoplastic mask over the face,
  strapped down to the table at both sides;
- ``"none"``: only the table.

Every variant has a flat table (two carbon shells with foam between) under the cradle.
Labels (DESIGN table): body = the whole head (scalp, skull, brain, sinuses), table-headrest =
cradle + mask + table, bone = skull and facial bones. ``masks`` also holds "headrest" (the
cradle), "mask_shell" (the mask alone) and "table".
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .base import HU, Phantom, compose_auto, curved_table, default_geometry, ellipse, finish, grid_mm, out_of_field

HEADREST_VARIANTS = ("separate", "touching", "mask-shell", "none")

#: Nominal head-CT HU (before noise).
HEAD_HU = {
    "scalp": 25, "cortical": 1050, "diploe": 600, "csf": 8, "grey": 38, "white": 28, "eye": 10,
    "orbital_fat": -80, "face": 45, "air": -1000, "facial_bone": 700,
    "headrest_shell": 300, "headrest_foam": -750, "mask": 120,
    "table_shell": HU["table_shell"], "table_foam": HU["table_foam"],
}

_CRADLE_SHELL_MM, _CRADLE_FOAM_MM = 3.0, 13.0
_TABLE_MM = 20.0


def _inside(X, Y, u, cy, a, b, c_up, c_down):
    """Inside the half-ellipsoids (a, b, c_up) above the equator (u >= 0) and (a, b, c_down) below."""
    c = c_up if u >= 0 else c_down
    if min(a, b, c) <= 0:
        return np.zeros(np.broadcast_shapes(np.shape(X), np.shape(Y)), dtype=bool)
    return (X / a) ** 2 + ((Y - cy) / b) ** 2 + (u / c) ** 2 <= 1.0


def make_head(shape=(32, 128, 128), spacing=None, seed: int = 0, noise_hu: float = 10.0, *,
              headrest: str = "separate", origin=None, jitter: float = 1.0, blur_mm: float = 0.0,
              fov_diameter_mm: float | None = None) -> Phantom:
    """A head CT phantom in a headrest (see the module docstring for the ``headrest`` variants).

    ``shape`` is (z, y, x); ``spacing`` (z, y, x) mm defaults to a 280 mm FOV over 160 mm, from the
    maxillary sinuses to near the vertex. ``seed`` drives noise and small anatomical variation
    (scaled by ``jitter``). ``blur_mm`` and ``fov_diameter_mm`` act as in :func:`make_chest`.
    """
    if headrest not in HEADREST_VARIANTS:
        raise ValueError(f"headrest must be one of {HEADREST_VARIANTS}, got {headrest!r}")
    spacing, origin = default_geometry(shape, spacing, origin, fov_mm=280.0, length_mm=160.0)
    nz, ny, nx = shape
    anat_rng, noise_rng = np.random.default_rng([seed, 1]).spawn(2)
    j = lambda lo, hi: 1.0 + jitter * anat_rng.uniform(lo, hi)  # noqa: E731
    s = lambda mm: jitter * anat_rng.uniform(-mm, mm)  # noqa: E731

    A0, B0 = 74.0 * j(-0.05, 0.04), 90.0 * j(-0.05, 0.04)  # skin semi-axes (LR, AP) at the widest
    c_up, c_down = 100.0 * j(-0.05, 0.05), 180.0
    scalp_mm, table_mm, diploe_mm = 6.0 * j(-0.2, 0.2), 2.0, 3.5 * j(-0.2, 0.2)
    gap = {"touching": -1.5}.get(headrest, 6.0 + abs(s(3.0)))
    mask_gap = max(3.0 + abs(s(1.0)), 1.5 * max(spacing[1:]))  # at least one voxel of air under it
    z, y, x = grid_mm(shape, spacing, origin)
    Y, X = y[:, None], x[None, :]
    z_c = z[0] + 0.42 * (z[-1] - z[0]) + s(5.0)  # the head's widest level (u = 0)
    cradle_mm = 2 * _CRADLE_SHELL_MM + _CRADLE_FOAM_MM
    table_top = y[-1] - 4.0 - _TABLE_MM
    cy = table_top - cradle_mm - gap - B0  # head centre (row direction)
    y_cradle = cy + 0.3 * B0  # the cradle holds the head below (posterior to) this line
    y_cut = cy + 0.1 * B0  # the mask covers the face side of this line

    names = ("body", "table-headrest", "bone", "headrest", "mask_shell", "table")
    masks = {k: np.zeros(shape, dtype=bool) for k in names}
    tissues = {k: np.zeros(shape, dtype=bool) for k in (
        "scalp", "skull", "brain", "csf", "sinus_air", "eye", "orbital_fat", "headrest_shell",
        "headrest_foam", "table_shell", "table_foam", "mask_shell")}
    hu = np.full(shape, HEAD_HU["air"], dtype=np.float32)

    t_shells, t_foam = curved_table(X, Y, table_top, half_width_mm=200.0, radius_mm=np.inf,
                                    thickness_mm=_TABLE_MM)
    # The cradle: a U-shaped trough of foam between two carbon shells, the same in every slice.
    ring = lambda off: ellipse(X, Y, 0.0, cy, A0 + gap + off, B0 + gap + off)  # noqa: E731
    sector = (Y >= y_cradle) & (Y < table_top)
    c_all = ring(cradle_mm) & ~ring(0.0) & sector if headrest != "none" else np.zeros((ny, nx), bool)
    c_foam = c_all & ring(cradle_mm - _CRADLE_SHELL_MM) & ~ring(_CRADLE_SHELL_MM)
    c_shell = c_all & ~c_foam

    off = [0.0, scalp_mm, scalp_mm + table_mm, scalp_mm + table_mm + diploe_mm,
           scalp_mm + 2 * table_mm + diploe_mm, scalp_mm + 2 * table_mm + diploe_mm + 2.0]
    for k, zk in enumerate(z):
        u = zk - z_c
        sl = hu[k]
        lay = [_inside(X, Y, u, cy, A0 - o, B0 - o, c_up - o, c_down - o) for o in off]
        skin, skull_out, diploe_out, diploe_in, skull_in, brain = lay
        f = np.sqrt(max(0.0, 1 - (u / (c_up if u >= 0 else c_down)) ** 2))
        B = B0 * f
        nose = np.zeros_like(skin)
        if -60 < u < -22:
            nose = ellipse(X, Y, 0.0, cy - B - 2.0, 10.0, 14.0)
        body = skin | nose
        sl[body] = HEAD_HU["scalp"]
        sl[skull_out] = HEAD_HU["cortical"]
        sl[diploe_out & ~diploe_in] = HEAD_HU["diploe"]
        sl[skull_in] = HEAD_HU["csf"]
        sl[brain] = HEAD_HU["grey"]
        white = _inside(X, Y, u, cy, A0 - off[-1] - 12, B0 - off[-1] - 12, c_up - off[-1] - 12, c_down - 60)
        sl[white] = HEAD_HU["white"]
        bone = skull_out & ~skull_in
        csf = skull_in & ~brain
        # Lateral ventricles in the mid-brain slices.
        if 2.0 < u < 42.0:
            g = np.sqrt(max(0.0, 1 - ((u - 22.0) / 20.0) ** 2))
            vent = (ellipse(X, Y, -9.0, cy - 6, 5 * g, 25 * g) | ellipse(X, Y, 9.0, cy - 6, 5 * g, 25 * g)) & brain
            sl[vent] = HEAD_HU["csf"]
            csf |= vent
        air = np.zeros_like(skin)
        if -16 < u < 12:  # frontal sinus in the frontal bone
            fs = ellipse(X, Y, 0.0, cy - B + scalp_mm + 6, 13.0, 4.0) & bone
            sl[fs] = HEAD_HU["air"]
            air |= fs
            bone &= ~fs
        eye = fat = np.zeros_like(skin)
        if u <= -18:  # skull base and face: the front of the cranium holds orbits, nose and sinuses
            face = skull_out & (Y < cy - 0.25 * B0)
            sl[face] = HEAD_HU["face"]
            bone &= ~face
            csf &= ~face
            plate = skull_out & (np.abs(Y - (cy - 0.25 * B0)) <= 3.0)
            facial = plate.copy()
            nasal = ellipse(X, Y, 0.0, cy - 0.62 * B, 8.0, 22.0) & face
            pockets = [nasal]
            if u > -46:
                for sx in (-30.0, 30.0):
                    fat_o = ellipse(X, Y, sx, cy - 0.66 * B, 16.0, 18.0) & face
                    facial |= ellipse(X, Y, sx, cy - 0.66 * B, 18.5, 20.5) & face & ~fat_o
                    sl[fat_o] = HEAD_HU["orbital_fat"]
                    e = ellipse(X, Y, sx, cy - 0.70 * B, 11.0, 11.0) & fat_o
                    sl[e] = HEAD_HU["eye"]
                    fat, eye = fat | (fat_o & ~e), eye | e
            else:
                pockets += [ellipse(X, Y, sx, cy - 0.5 * B, 15.0, 17.0) & face for sx in (-27.0, 27.0)]
            for p in pockets:  # air pockets with a thin bony wall
                facial |= ndimage.binary_dilation(p, iterations=1) & ~p & face
            sl[facial] = HEAD_HU["facial_bone"]
            for p in pockets:
                sl[p] = HEAD_HU["air"]
                air |= p
            bone |= facial & ~air
        brain_t = brain & ~csf & ~bone & ~air & ~eye & ~fat & ~(skull_out & (Y < cy - 0.25 * B0) & (u <= -18))
        masks["body"][k], masks["bone"][k] = body, bone
        tissues["scalp"][k] = body & ~skull_out
        tissues["skull"][k], tissues["brain"][k], tissues["csf"][k] = bone, brain_t, csf & ~bone
        tissues["sinus_air"][k], tissues["eye"][k], tissues["orbital_fat"][k] = air, eye, fat

    # Second pass: the thermoplastic mask (a one-voxel shell a few mm off the face, perforated and
    # strapped down to the table; offset from this slice's and its neighbours' skin so it never
    # touches the head), then the cradle and the table.
    for k, zk in enumerate(z):
        sl, body = hu[k], masks["body"][k]
        shell = np.zeros_like(body)
        if headrest == "mask-shell" and zk - z_c <= 55 and body.any():
            near = masks["body"][max(k - 1, 0):k + 2].any(axis=0)
            dist = ndimage.distance_transform_edt(~near, sampling=spacing[1:])
            shell = (dist > mask_gap) & (dist <= mask_gap + max(spacing[1:])) & (Y < y_cut)
            rows = np.nonzero(shell.any(axis=1))[0]
            if rows.size:
                r_cut = rows.max()
                cols = np.nonzero(shell[r_cut])[0]
                below = ((Y >= y[r_cut]) & (Y < table_top))[:, 0]
                shell[below, cols.min()] = shell[below, cols.max()] = True
            th = np.arctan2(Y - cy, X) * 90.0 / 5.0  # ~5 mm of arc per step
            holes = ((np.floor(th).astype(int) + k) % 3 == 0) & (Y < y_cut)
            shell &= ~holes & ~c_all
            sl[shell] = HEAD_HU["mask"]
        sl[t_foam], sl[t_shells] = HEAD_HU["table_foam"], HEAD_HU["table_shell"]
        cradle = c_all & ~body
        sl[cradle & c_foam] = HEAD_HU["headrest_foam"]
        sl[cradle & c_shell] = HEAD_HU["headrest_shell"]
        masks["headrest"][k], masks["mask_shell"][k], masks["table"][k] = cradle, shell, t_shells | t_foam
        masks["table-headrest"][k] = cradle | shell | t_shells | t_foam
        tissues["headrest_shell"][k], tissues["headrest_foam"][k] = cradle & c_shell, cradle & c_foam
        tissues["table_shell"][k], tissues["table_foam"][k], tissues["mask_shell"][k] = t_shells, t_foam, shell

    padding = out_of_field(X, Y, shape, fov_diameter_mm, masks, tissues)
    hu_out = finish(hu, noise_rng, noise_hu, blur_mm, spacing, padding)
    return Phantom(hu=hu_out, labels=compose_auto(masks), spacing=spacing, origin=origin, name=f"head-{headrest}",
                   seed=seed, body_part="HEAD", masks=masks, tissues=tissues, padding_mask=padding,
                   window=(40.0, 400.0))
