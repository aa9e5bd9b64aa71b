"""On-the-fly augmentation of one (H, W) slice (or (C, H, W) channels of it) and its mask, identical geometry on all, seeded.

Geometry (one affine resampling, scipy.ndimage, about the slice centre): shifts up to
``shift`` x size (default ±10 %), rotation up to ``rotate_deg`` (±10°), zoom up to ``zoom``
(±10 %), flips. Images use linear interpolation, masks nearest neighbour so class indices stay
exact. A left-right flip swaps the classes in ``mirror_pairs`` (right lung <-> left lung), since
after the flip the patient's right is drawn where their left was.
Intensity (image only, in the normalised [0, 1] units): gain and offset jitter, Gaussian noise;
in HU these are a scale and an offset of the window (offset 0.05 of a 1500 HU window = 75 HU).
Resolution (``blur``): a Gaussian blur of up to ``blur`` pixels, the softer edges of thick or
coarse reconstructions. Field of view (``fov_crop``): with that probability everything outside a
circle of radius 0.30-0.55 of the slice around a point near the centre becomes air and
background, as on a scan reconstructed with a small field of view; what is cut off is not
labelled, since it cannot be seen. Blur and crops draw their numbers after the others, and only
when switched on, so configurations without them give the same stream as before.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage


@dataclass
class AugmentConfig:
    """Augmentation ranges; each draw is uniform in ±range. Zeros switch a part off."""

    shift: float = 0.10          # fraction of the slice size
    rotate_deg: float = 10.0     # degrees
    zoom: float = 0.10           # fraction (0.1: 0.9x .. 1.1x)
    flip_lr: float = 0.5         # probability of a left-right flip
    flip_ud: float = 0.0         # probability of an up-down flip (off by default: CT has a table side)
    gain: float = 0.10           # intensity x (1 ± gain)
    offset: float = 0.05         # intensity + (± offset), in window units
    noise: float = 0.02          # Gaussian noise sigma, drawn in [0, noise]
    blur: float = 0.0            # Gaussian blur sigma (pixels), drawn in [0, blur]
    fov_crop: float = 0.0        # probability of a circular field-of-view crop
    enabled: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def off(cls) -> "AugmentConfig":
        return cls(enabled=False)


def _swap_lut(mirror_pairs) -> np.ndarray | None:
    if not mirror_pairs:
        return None
    lut = np.arange(256, dtype=np.uint8)
    for a, b in mirror_pairs:
        lut[a], lut[b] = b, a
    return lut


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig,
            mirror_pairs=()) -> tuple[np.ndarray, np.ndarray]:
    """Augmented copies of ``image`` (H, W) or (C, H, W) float32 in [0, 1] and ``mask`` (H, W) uint8.

    Every random number comes from ``rng``, so the same generator state gives the same result, and
    every channel (a 2.5D model's neighbouring planes) gets the same geometry and intensity change.
    Samples from outside the slice take the image's minimum (air) and background 0.
    """
    image = np.asarray(image, dtype=np.float32)
    mask = np.asarray(mask, dtype=np.uint8)
    if not cfg.enabled:
        return image.copy(), mask.copy()
    flat = image.ndim == 2
    if flat:
        image = image[None]
    h, w = image.shape[-2:]
    # Draw everything up front in a fixed order so the stream does not depend on which parts fire.
    angle = math.radians(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    scale = 1.0 + rng.uniform(-cfg.zoom, cfg.zoom)
    dy, dx = rng.uniform(-cfg.shift, cfg.shift, 2) * (h, w)
    flip_lr, flip_ud = rng.random() < cfg.flip_lr, rng.random() < cfg.flip_ud
    gain = 1.0 + rng.uniform(-cfg.gain, cfg.gain)
    offset = rng.uniform(-cfg.offset, cfg.offset)
    sigma = rng.uniform(0.0, cfg.noise)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    blur = rng.uniform(0.0, cfg.blur) if cfg.blur > 0 else 0.0
    crop = None
    if cfg.fov_crop > 0 and rng.random() < cfg.fov_crop:
        crop = (rng.uniform(0.30, 0.55), *rng.uniform(-0.08, 0.08, 2))  # radius, centre shift (of the size)

    if angle or scale != 1.0 or dy or dx:
        # affine_transform maps output (row, col) to input coordinates: in = M @ out + off.
        c, s = math.cos(angle), math.sin(angle)
        m = np.array([[c, -s], [s, c]]) / scale
        centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
        off = centre - m @ centre - np.array([dy, dx])
        fill = float(image.min()) if image.size else 0.0
        image = np.stack([ndimage.affine_transform(plane, m, off, order=1, mode="constant", cval=fill)
                          for plane in image])
        mask = ndimage.affine_transform(mask, m, off, order=0, mode="constant", cval=0)
    if flip_lr:
        image, mask = image[..., ::-1], mask[:, ::-1]
        lut = _swap_lut(mirror_pairs)
        if lut is not None:
            mask = lut[mask]
    if flip_ud:
        image, mask = image[:, ::-1], mask[::-1]
    if crop is not None:
        r, cy, cx = crop
        yy, xx = np.ogrid[:h, :w]
        outside = ((yy - (0.5 + cy) * (h - 1)) ** 2 + (xx - (0.5 + cx) * (w - 1)) ** 2) > (r * min(h, w)) ** 2
        image = np.where(outside, np.float32(image.min()), image)
        mask = np.where(outside, np.uint8(0), mask)
    if blur > 0.05:
        image = ndimage.gaussian_filter(np.ascontiguousarray(image), (0.0, blur, blur))
    image = image * np.float32(gain) + np.float32(offset)
    if sigma > 0:
        image = image + np.random.default_rng(noise_seed).normal(0.0, sigma, image.shape).astype(np.float32)
    return np.ascontiguousarray(image[0] if flat else image, dtype=np.float32), np.ascontiguousarray(mask)
