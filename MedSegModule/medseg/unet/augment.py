"""On-the-fly augmentation of one (H, W) slice and its mask, identical geometry on both, seeded.

Geometry (one affine resampling, scipy.ndimage, about the slice centre): shifts up to
``shift`` x size (default ±10 %), rotation up to ``rotate_deg`` (±10°), zoom up to ``zoom``
(±10 %), flips. Images use linear interpolation, masks nearest neighbour so class indices stay
exact. A left-right flip swaps the classes in ``mirror_pairs`` (right lung <-> left lung), since
after the flip the patient's right is drawn where their left was.
Intensity (image only, in the normalised [0, 1] units): gain and offset jitter, Gaussian noise.
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
    """Augmented copies of ``image`` (H, W) float32 in [0, 1] and ``mask`` (H, W) uint8.

    Every random number comes from ``rng``, so the same generator state gives the same result.
    Samples from outside the slice take the image's minimum (air) and background 0.
    """
    image = np.asarray(image, dtype=np.float32)
    mask = np.asarray(mask, dtype=np.uint8)
    if not cfg.enabled:
        return image.copy(), mask.copy()
    h, w = image.shape
    # Draw everything up front in a fixed order so the stream does not depend on which parts fire.
    angle = math.radians(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    scale = 1.0 + rng.uniform(-cfg.zoom, cfg.zoom)
    dy, dx = rng.uniform(-cfg.shift, cfg.shift, 2) * (h, w)
    flip_lr, flip_ud = rng.random() < cfg.flip_lr, rng.random() < cfg.flip_ud
    gain = 1.0 + rng.uniform(-cfg.gain, cfg.gain)
    offset = rng.uniform(-cfg.offset, cfg.offset)
    sigma = rng.uniform(0.0, cfg.noise)
    noise_seed = int(rng.integers(0, 2**31 - 1))

    if angle or scale != 1.0 or dy or dx:
        # affine_transform maps output (row, col) to input coordinates: in = M @ out + off.
        c, s = math.cos(angle), math.sin(angle)
        m = np.array([[c, -s], [s, c]]) / scale
        centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
        off = centre - m @ centre - np.array([dy, dx])
        fill = float(image.min()) if image.size else 0.0
        image = ndimage.affine_transform(image, m, off, order=1, mode="constant", cval=fill)
        mask = ndimage.affine_transform(mask, m, off, order=0, mode="constant", cval=0)
    if flip_lr:
        image, mask = image[:, ::-1], mask[:, ::-1]
        lut = _swap_lut(mirror_pairs)
        if lut is not None:
            mask = lut[mask]
    if flip_ud:
        image, mask = image[::-1], mask[::-1]
    image = image * np.float32(gain) + np.float32(offset)
    if sigma > 0:
        image = image + np.random.default_rng(noise_seed).normal(0.0, sigma, image.shape).astype(np.float32)
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(mask)
