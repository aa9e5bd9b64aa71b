"""A small, seeded chest CT phantom with exact ground-truth labels.

Geometry is built in physical millimetres (LPS: +x patient left, +y posterior, +z superior) on
the voxel centres, so the anatomy keeps its size whatever the grid. With the identity direction
the column index grows toward the patient's left: the right lung sits at low column index (the
image left, radiological convention) and the table at high row index (posterior).

The first part of this file holds the pieces every phantom shares (:class:`Phantom`, the grid,
shapes, the curved table, noise); the head/abdomen/cardiac phantoms reuse them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..labels import AIR_HU, compose

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

#: Nominal tissue HU (before noise).
HU = {
    "air": -1000, "fat": -100, "muscle": 45, "soft": 40, "heart": 45, "lung": -850, "vessel": 40,
    "cortical": 650, "cancellous": 220, "rib": 450, "sternum": 350, "csf": 15,
    "table_shell": 300, "table_foam": -800,
}


@dataclass
class Phantom:
    """A phantom volume: HU and exclusive labels (z, y, x) on one LPS grid.

    ``spacing`` is (z, y, x) mm, ``origin`` the (x, y, z) LPS mm of voxel (0, 0, 0), ``direction``
    9 numbers in SimpleITK order. ``masks`` holds each ground-truth structure by label name
    (overlapping: body lies under the lungs); ``tissues`` holds the HU classes (fat, muscle, ...).
    ``padding_mask`` marks out-of-field voxels (None when the whole grid is in the field).
    """

    hu: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...] = IDENTITY
    name: str = "chest"
    seed: int = 0
    body_part: str = "CHEST"
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    tissues: dict[str, np.ndarray] = field(default_factory=dict)
    padding_mask: np.ndarray | None = None

    @property
    def spacing_xyz(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in self.spacing[::-1])  # type: ignore[return-value]

    def _image(self, array: np.ndarray) -> sitk.Image:
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(self.spacing_xyz)
        image.SetOrigin(tuple(float(o) for o in self.origin))
        image.SetDirection(tuple(float(d) for d in self.direction))
        return image

    def to_image(self) -> sitk.Image:
        """The HU volume as an int16 SimpleITK image in LPS."""
        return self._image(self.hu)

    def labels_image(self) -> sitk.Image:
        """The exclusive label map (the DESIGN label table) as a uint8 image on the same grid."""
        return self._image(self.labels)


def default_geometry(shape, spacing=None, origin=None, fov_mm=350.0, length_mm=160.0):
    """Spacing (z, y, x) and origin (x, y, z) for a grid centred on the isocentre (x = y = 0).

    Without ``spacing`` the in-plane FOV is ``fov_mm`` and the stack ``length_mm`` long, so the
    default 32 x 128 x 128 grid gets 5 mm slices of 2.734375 mm pixels.
    """
    nz, ny, nx = shape
    if spacing is None:
        spacing = (length_mm / nz, fov_mm / ny, fov_mm / nx)
    sz, sy, sx = (float(s) for s in spacing)
    if origin is None:
        origin = (-(nx - 1) * sx / 2, -(ny - 1) * sy / 2, -400.0)
    return (sz, sy, sx), tuple(float(o) for o in origin)


def grid_mm(shape, spacing, origin):
    """Voxel-centre coordinates (z, y, x), each a 1-D array in mm (identity direction)."""
    nz, ny, nx = shape
    sz, sy, sx = spacing
    return (origin[2] + sz * np.arange(nz), origin[1] + sy * np.arange(ny), origin[0] + sx * np.arange(nx))


def ellipse(X, Y, cx, cy, a, b):
    """Boolean mask of the ellipse with centre (cx, cy) and semi-axes (a, b) mm."""
    if a <= 0 or b <= 0:
        return np.zeros(np.broadcast_shapes(np.shape(X), np.shape(Y)), dtype=bool)
    return ((X - cx) / a) ** 2 + ((Y - cy) / b) ** 2 <= 1.0


def curved_table(X, Y, top_mm, half_width_mm=165.0, radius_mm=600.0, shell_mm=3.0, thickness_mm=28.0):
    """(shells, foam) masks of a CT table: two thin curved carbon shells with foam between.

    The upper surface is a shallow trough ``y = top - x^2 / (2 R)`` (edges rise toward the
    patient); ``top_mm`` is its lowest point (largest y), below the patient.
    """
    inner = top_mm - X ** 2 / (2 * radius_mm)
    depth = Y - inner
    within = (np.abs(X) <= half_width_mm) & (depth >= 0) & (depth <= thickness_mm)
    shells = within & ((depth <= shell_mm) | (depth >= thickness_mm - shell_mm))
    return shells, within & ~shells


def finish(hu: np.ndarray, rng: np.random.Generator, noise_hu: float, blur_mm: float, spacing,
           padding_mask=None) -> np.ndarray:
    """Optional blur (scanner PSF), Gaussian noise, clip to the CT range, int16; padding to AIR_HU."""
    out = hu.astype(np.float32)
    if blur_mm > 0:
        out = ndimage.gaussian_filter(out, sigma=[0.0, blur_mm / spacing[1], blur_mm / spacing[2]])
    if noise_hu > 0:
        out += rng.normal(0.0, noise_hu, size=out.shape).astype(np.float32)
    out = np.clip(np.rint(out), AIR_HU, 3071).astype(np.int16)
    if padding_mask is not None:
        out[padding_mask] = AIR_HU
    return out


# ---------------------------------------------------------------------------------------------
# The chest


def make_chest(shape=(32, 128, 128), spacing=None, seed: int = 0, noise_hu: float = 10.0, *,
               origin=None, jitter: float = 1.0, blur_mm: float = 0.0,
               fov_diameter_mm: float | None = None) -> Phantom:
    """A chest CT phantom: body wall, lungs with vessels, airway, heart, aorta, spine, ribs, table.

    ``shape`` is (z, y, x); ``spacing`` (z, y, x) mm defaults to a 350 mm FOV over 160 mm of chest.
    ``seed`` drives both the noise and small anatomical variation (scaled by ``jitter``; 0 gives the
    canonical anatomy). ``blur_mm`` is an optional in-plane Gaussian PSF. ``fov_diameter_mm`` makes
    voxels outside that circle out of field (``padding_mask``, HU = AIR_HU, no noise).
    Labels: body, table-headrest, lung-right, lung-left, airway, bone.
    """
    spacing, origin = default_geometry(shape, spacing, origin)
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
    z, y, x = grid_mm(shape, spacing, origin)
    Y, X = y[:, None], x[None, :]
    t_all = (z - z[0]) / max(z[-1] - z[0], 1e-6)  # 0 at the diaphragm end, 1 at the top (apex)

    masks = {k: np.zeros(shape, dtype=bool) for k in ("body", "table-headrest", "lung-right", "lung-left",
                                                      "airway", "bone")}
    tissues = {k: np.zeros(shape, dtype=bool) for k in ("fat", "muscle", "lung_parenchyma", "vessel",
                                                         "heart", "table_shell", "table_foam")}
    hu = np.full(shape, HU["air"], dtype=np.float32)

    table_top = body_cy + body_b + gap_mm  # lowest point of the trough, below the body's back
    shells, foam = curved_table(X, Y, table_top)
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
            sl[lung] = HU["lung"]
            vessel = np.zeros_like(lung)
            wob = 0.04 * np.sin(2 * np.pi * t + cx)
            for fx, fy in vessels:
                vessel |= ellipse(X, Y, cx + (fx + wob) * la, lcy + fy * lb, 3.2, 3.2)
            vessel &= lung
            sl[vessel] = HU["vessel"]
            masks[side][k], tissues["lung_parenchyma"][k] = lung, tissues["lung_parenchyma"][k] | (lung & ~vessel)
            tissues["vessel"][k] |= vessel

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

    padding = None
    if fov_diameter_mm is not None:
        padding = np.broadcast_to(X ** 2 + Y ** 2 > (fov_diameter_mm / 2) ** 2, shape).copy()
        for m in (*masks.values(), *tissues.values()):
            m[padding] = False
    hu_out = finish(hu, noise_rng, noise_hu, blur_mm, spacing, padding)
    return Phantom(hu=hu_out, labels=compose(masks), spacing=spacing, origin=origin, name="chest",
                   seed=seed, body_part="CHEST", masks=masks, tissues=tissues, padding_mask=padding)
