"""A seeded cardiac MR short-axis phantom (the left-ventricle seed) and its MR DICOM writer.

Signal intensities are bright-blood cine (SSFP-like) values, not HU: blood bright, myocardium
dark, fat bright, lungs and air dark. The left ventricle is a ring whose inner (endocardial) and
outer (epicardial) contours are smooth closed curves ``r(theta)`` that vary a little from slice to
slice and shrink toward the apex; papillary muscles are dark spots inside the blood pool (and
belong to it, as in manual i-contours). The right ventricle wraps the septum.

Ground truth: ``labels`` 1 = blood pool (inside the i-contour), 2 = myocardium (between the
contours), named in :data:`CARDIAC_LABELS` (``phantom.label_table``); ``masks["blood_pool"]``,
``masks["myocardium"]``, ``masks["papillary"]``, ``masks["rv_blood"]``, ``masks["body"]``.
``phantom.contours["icontour" | "ocontour"][k]`` are the polygons (x = column, y = row pixel
coordinates) sampled on those same curves, so they rasterise back onto the masks.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import MRImageStorage
from scipy import ndimage

from ..io.atomic import atomic_output
from ..io.dicom.compat import save_as
from ..labels import Label
from .base import Phantom, default_geometry, ellipse, grid_mm
from .dicom_writer import write_ct_series

BLOOD_POOL = Label(1, "blood_pool", (216, 80, 80))
MYOCARDIUM = Label(2, "myocardium", (230, 200, 120))
CARDIAC_LABELS: tuple[Label, ...] = (BLOOD_POOL, MYOCARDIUM)

#: RT Structure Set ROI name and colour for each point-list contour name.
CONTOUR_ROIS = {"icontour": ("LV endocardium", BLOOD_POOL.color), "ocontour": ("LV epicardium", MYOCARDIUM.color)}

#: Nominal MR signal (arbitrary units) per tissue, before bias field and noise.
MR_SIGNAL = {"air": 0, "blood": 520, "rv_blood": 490, "myocardium": 170, "fat": 380, "muscle": 130,
             "lung": 30, "mediastinum": 220, "aorta": 450, "marrow": 260, "csf": 420}


def _radius(theta, r0, harmonics):
    """r(theta) = r0 * (1 + sum a * cos(m * theta - phase)) for (m, a, phase) in ``harmonics``."""
    r = np.ones_like(theta, dtype=float)
    for m, amp, phase in harmonics:
        r += amp * np.cos(m * theta - phase)
    return r0 * r


def make_cardiac_mr(shape=(12, 128, 128), spacing=None, seed: int = 0, noise: float = 15.0, *,
                    noise_hu: float | None = None, origin=None, jitter: float = 1.0, blur_mm: float = 1.0,
                    n_points: int = 96) -> Phantom:
    """A short-axis cine MR stack from the LV base (slice 0) to near the apex (see the module docstring).

    ``shape`` is (z, y, x); ``spacing`` defaults to 10 mm between slices and a 300 mm FOV.
    ``noise`` is the Rician noise sigma in signal units (``noise_hu`` is accepted as its alias, for
    the makers' common interface). ``blur_mm`` is an in-plane Gaussian PSF; ``n_points`` the
    vertices per contour polygon.
    """
    if noise_hu is not None:
        noise = noise_hu
    nz, ny, nx = shape
    spacing, origin = default_geometry(shape, spacing, origin, fov_mm=300.0, length_mm=10.0 * nz)
    anat_rng, noise_rng = np.random.default_rng([seed, 3]).spawn(2)
    j = lambda lo, hi: 1.0 + jitter * anat_rng.uniform(lo, hi)  # noqa: E731
    s = lambda v: jitter * anat_rng.uniform(-v, v)  # noqa: E731

    r_base, wall0 = 25.0 * j(-0.08, 0.08), 9.5 * j(-0.1, 0.1)
    centre0 = np.array([28.0 + s(4), 8.0 + s(4)])
    drift = np.array([s(3.0), s(3.0)])
    e2, p2, e3, p3 = 0.06 + s(0.02), s(np.pi), 0.025 + s(0.01), s(np.pi)
    ew, pw = 0.12 + s(0.04), s(np.pi)
    bias = (s(0.08), s(0.08))
    z, y, x = grid_mm(shape, spacing, origin)
    Y, X = y[:, None], x[None, :]
    sy, sx = spacing[1], spacing[2]

    masks = {k: np.zeros(shape, dtype=bool) for k in ("blood_pool", "myocardium", "papillary", "rv_blood", "body")}
    tissues = {k: np.zeros(shape, dtype=bool) for k in ("blood", "myocardium", "fat", "muscle", "lung")}
    signal = np.zeros(shape, dtype=np.float32)
    contours: dict[str, dict[int, np.ndarray]] = {"icontour": {}, "ocontour": {}}
    theta_c = 2 * np.pi * np.arange(n_points) / n_points
    M = MR_SIGNAL
    for k in range(nz):
        t = k / (nz - 1) if nz > 1 else 0.5  # 0 at the base, 1 near the apex
        sl = signal[k]
        # Chest: fat, muscle, mediastinum, lungs, spine, descending aorta.
        body = ellipse(X, Y, 0.0, 0.0, 140.0, 100.0)
        sl[body] = M["fat"]
        sl[ellipse(X, Y, 0.0, 0.0, 126.0, 86.0)] = M["muscle"]
        thorax = ellipse(X, Y, 0.0, 0.0, 116.0, 76.0)
        sl[thorax] = M["mediastinum"]
        lungs = (ellipse(X, Y, -62.0, -2.0, 50.0, 66.0) | ellipse(X, Y, 66.0, -2.0, 46.0, 64.0)) & thorax
        vb = ellipse(X, Y, 0.0, 60.0, 17.0, 15.0)
        sl[vb] = M["marrow"]
        sl[ellipse(X, Y, 0.0, 82.0, 7.0, 6.0)] = M["csf"]
        aorta = ellipse(X, Y, 26.0, 52.0, 11.0, 11.0)
        sl[aorta] = M["aorta"]

        # LV geometry of this slice.
        c = centre0 + drift * t + np.array([s(0.7), s(0.7)])
        r_in0 = r_base * (1 - 0.5 * t ** 1.6) + s(0.8)
        w = wall0 * (1 - 0.15 * t) + s(0.4)
        harm = [(2, e2 + s(0.01), p2 + 0.3 * t + s(0.1)), (3, e3, p3 + s(0.1))]
        r_in = lambda th: _radius(th, r_in0, harm)  # noqa: E731
        r_out = lambda th: r_in(th) + w * (1 + ew * np.cos(th - pw))  # noqa: E731
        th = np.arctan2(Y - c[1], X - c[0])
        rho = np.hypot(X - c[0], Y - c[1])
        lv_in, lv_out = rho <= r_in(th), rho <= r_out(th)
        heart_r = float(r_out(theta_c).max())
        # Pericardial fat, then the RV crescent over the septum (patient right = image left, anterior).
        peri = ellipse(X, Y, c[0] - 0.45 * heart_r, c[1] - 2, 1.75 * heart_r + 4, 1.25 * heart_r + 4)
        rv_c, rv_a, rv_b = (c[0] - 0.8 * heart_r, c[1] - 4), 0.75 * heart_r, 1.1 * heart_r
        rv_wall = ellipse(X, Y, *rv_c, rv_a + 3, rv_b + 3) & ~lv_out
        rv_blood = ellipse(X, Y, *rv_c, rv_a, rv_b) & ~(rho <= r_out(th) + 1.5)
        lungs &= ~peri
        sl[lungs] = M["lung"]
        sl[peri & thorax] = M["fat"]
        sl[rv_wall], sl[rv_blood] = M["myocardium"], M["rv_blood"]
        sl[lv_out] = M["myocardium"]
        sl[lv_in] = M["blood"]
        # Papillary muscles: dark spots against the wall, in the mid-ventricle.
        pap = np.zeros_like(lv_in)
        if 0.15 < t < 0.8:
            for ang in (np.deg2rad(-50) + s(0.2), np.deg2rad(130) + s(0.2)):
                rr = float(r_in(np.array([ang]))[0]) - 4.5
                pap |= ellipse(X, Y, c[0] + rr * np.cos(ang), c[1] + rr * np.sin(ang), 3.5, 3.5)
            pap &= lv_in
            sl[pap] = M["myocardium"]

        # The contours: the same curves, sampled as polygons in pixel coordinates.
        for name, fn in (("icontour", r_in), ("ocontour", r_out)):
            r = fn(theta_c)
            px = (c[0] + r * np.cos(theta_c) - origin[0]) / sx
            py = (c[1] + r * np.sin(theta_c) - origin[1]) / sy
            contours[name][k] = np.stack([px, py], axis=1)

        masks["blood_pool"][k], masks["myocardium"][k] = lv_in, lv_out & ~lv_in
        masks["papillary"][k], masks["rv_blood"][k], masks["body"][k] = pap, rv_blood, body
        tissues["blood"][k], tissues["myocardium"][k] = lv_in & ~pap, lv_out & ~lv_in
        tissues["fat"][k] = body & ~ellipse(X, Y, 0.0, 0.0, 126.0, 86.0)
        tissues["muscle"][k] = ellipse(X, Y, 0.0, 0.0, 126.0, 86.0) & ~thorax
        tissues["lung"][k] = lungs

    field = 1.0 + bias[0] * X / 140.0 + bias[1] * Y / 100.0  # smooth coil-sensitivity bias
    signal *= field.astype(np.float32)
    if blur_mm > 0:
        signal = ndimage.gaussian_filter(signal, sigma=[0.0, blur_mm / sy, blur_mm / sx])
    if noise > 0:  # Rician: the magnitude of complex Gaussian noise on a real signal
        n1, n2 = noise_rng.normal(0.0, noise, size=(2, *shape)).astype(np.float32)
        signal = np.hypot(signal + n1, n2)
    values = np.clip(np.rint(signal), 0, 4095).astype(np.int16)
    labels = np.zeros(shape, dtype=np.uint8)
    labels[masks["myocardium"]] = MYOCARDIUM.value
    labels[masks["blood_pool"]] = BLOOD_POOL.value
    return Phantom(hu=values, labels=labels, spacing=spacing, origin=origin, name="cardiac-mr", seed=seed,
                   body_part="HEART", masks=masks, tissues=tissues, modality="MR", label_table=CARDIAC_LABELS,
                   contours=contours, window=(300.0, 700.0))


#: MR acquisition attributes written into every slice (a 1.5 T bright-blood cine frame).
_MR_ATTRIBUTES = {
    "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"], "ScanningSequence": "GR", "SequenceVariant": "SS",
    "ScanOptions": "", "MRAcquisitionType": "2D", "RepetitionTime": "3.2", "EchoTime": "1.6",
    "EchoTrainLength": 1, "FlipAngle": "60", "MagneticFieldStrength": "1.5", "ImagedNucleus": "1H",
    "ImagingFrequency": "63.87", "SequenceName": "trufi2d", "TriggerTime": "0",
}


def write_mr_series(values: np.ndarray, spacing, origin, out_dir: str | os.PathLike, *, seed: int = 0,
                    series_description: str = "MedSeg cardiac MR phantom", body_part: str = "HEART",
                    window: tuple[float, float] = (300.0, 700.0), seed_names: bool = True, **kw) -> list[Path]:
    """Write ``values`` (z, y, x; non-negative signal) as a single-frame MR Image Storage series.

    Reuses :func:`write_ct_series` (geometry, UIDs, pixel data; ``kw`` goes to it) and then turns
    each file into MR: SOP class MR Image Storage, Modality MR, no rescale / HU attributes, MR
    acquisition attributes. With ``seed_names`` (and without ``shuffle_names``) the files are named
    ``IM-0001-{InstanceNumber:04d}.dcm`` as in the left-ventricle seed. Returns paths in slice order.
    """
    values = np.asarray(values)
    if values.min() < 0:
        raise ValueError("MR phantom values must be non-negative")
    files = write_ct_series(values, spacing, origin, out_dir, seed=seed, series_description=series_description,
                            body_part=body_part, window=window, rescale_intercept=0, rescale_slope=1,
                            pixel_representation=0, **kw)
    rename = seed_names and not kw.get("shuffle_names", False)
    out = []
    for path in files:
        ds = pydicom.dcmread(path)
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.SOPClassUID = MRImageStorage
        ds.Modality = "MR"
        for tag in ("RescaleIntercept", "RescaleSlope", "RescaleType", "KVP", "ConvolutionKernel"):
            if tag in ds:
                delattr(ds, tag)
        for tag, value in _MR_ATTRIBUTES.items():
            setattr(ds, tag, value)
        target = path.with_name(f"IM-0001-{int(ds.InstanceNumber):04d}.dcm") if rename else path
        with atomic_output(target) as tmp:
            save_as(ds, tmp)
        if target != path:
            path.unlink()
        out.append(target)
    return out
