"""Pieces every phantom shares: the :class:`Phantom` record, the grid, shapes, tables and noise.

Geometry is built in physical millimetres (LPS: +x patient left, +y posterior, +z superior) on
the voxel centres, so anatomy keeps its size whatever the grid. With the identity direction the
column index grows toward the patient's left and the row index toward the back (the table side).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..labels import AIR_HU, AUTO_LABELS, Label, compose

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

#: Nominal tissue HU (before noise), shared by the CT phantoms.
HU = {
    "air": -1000, "fat": -100, "muscle": 45, "soft": 40, "heart": 45, "lung": -850, "vessel": 40,
    "cortical": 650, "cancellous": 220, "rib": 450, "sternum": 350, "csf": 15,
    "table_shell": 300, "table_foam": -800, "nodule": 35, "effusion": 15, "atelectasis": -650,
}

_AUTO_NAMES = frozenset(lab.name for lab in AUTO_LABELS)


@dataclass
class Phantom:
    """A phantom volume: image values and exclusive labels (z, y, x) on one LPS grid.

    ``hu`` holds HU for CT and signal intensities for MR (``modality``). ``labels`` follows
    ``label_table`` (the DESIGN auto-label table unless a phantom says otherwise, e.g. the
    cardiac MR's blood pool / myocardium). ``spacing`` is (z, y, x) mm, ``origin`` the (x, y, z)
    LPS mm of voxel (0, 0, 0), ``direction`` 9 numbers in SimpleITK order. ``masks`` holds each
    ground-truth structure by name (overlapping: body lies under the lungs; extra structures such
    as "nodule" too); ``tissues`` holds the intensity classes (fat, muscle, ...). ``padding_mask``
    marks out-of-field voxels (None when the whole grid is in the field). ``contours`` maps a
    contour name to {slice index: (N, 2) array of (x = column, y = row) pixel coordinates}.
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
    modality: str = "CT"
    label_table: tuple[Label, ...] = AUTO_LABELS
    contours: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    window: tuple[float, float] = (40.0, 400.0)

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
        """The volume (HU, or MR signal) as an int16 SimpleITK image in LPS."""
        return self._image(self.hu)

    def labels_image(self) -> sitk.Image:
        """The exclusive label map (``label_table``) as a uint8 image on the same grid."""
        return self._image(self.labels)


def compose_auto(masks: dict[str, np.ndarray]) -> np.ndarray:
    """:func:`labels.compose` of the masks named in the auto-label table; other names are ignored."""
    return compose({k: v for k, v in masks.items() if k in _AUTO_NAMES})


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
    patient); ``top_mm`` is its lowest point (largest y), below the patient. ``radius_mm=inf``
    gives a flat table.
    """
    inner = top_mm - X ** 2 / (2 * radius_mm)
    depth = Y - inner
    within = (np.abs(X) <= half_width_mm) & (depth >= 0) & (depth <= thickness_mm)
    shells = within & ((depth <= shell_mm) | (depth >= thickness_mm - shell_mm))
    return shells, within & ~shells


def out_of_field(X: np.ndarray, Y: np.ndarray, shape, fov_diameter_mm: float | None,
                 *groups: dict[str, np.ndarray]) -> np.ndarray | None:
    """The (z, y, x) mask outside a circular reconstruction field of ``fov_diameter_mm`` (None: no limit).

    ``X``, ``Y`` are in-plane coordinates (mm) from the field's centre. Every mask in ``groups`` is
    cleared there: a scanner reconstructs nothing outside its field, so no truth lies there either.
    """
    if fov_diameter_mm is None:
        return None
    padding = np.broadcast_to(X ** 2 + Y ** 2 > (fov_diameter_mm / 2) ** 2, shape).copy()
    for group in groups:
        for m in group.values():
            m[padding] = False
    return padding


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
