"""Slices in and out of the model grid: orientation, HU window, in-plane resampling, crop/pad.

Volumes are put in LPS order first (DICOMOrient: axis permutations and flips only), so the
array is (z, y, x) with z = the slice axis, rows toward posterior and columns toward the
patient's left. Each slice (ny, nx) at (sy, sx) mm is then resampled to the model's in-plane
spacing (or kept) and centre-cropped/padded to the model size (H, W), in one bilinear (images)
or nearest (labels) sampling step. The inverse maps (N, K, H, W) probabilities back onto the
input slice grid, so labels land on the input's grid exactly (same array shape, geometry copied).

A card with ``preprocessing.context_mm`` > 0 (a 2.5D model) sees each slice with the planes that
distance above and below it as two more channels (:func:`context_planes`), so a nodule (round
through the stack) and a vessel or a band of dependent density (which moves or runs on) differ.
The planes are interpolated linearly along z at that distance in mm, never "the next slice",
so a 1 mm and a 3 mm series give the model the same geometry; beyond the ends of the stack
the end slice repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F

from ..labels import AIR_HU


@dataclass(frozen=True)
class SliceGrid:
    """The affine map between an input slice grid and the model grid, per in-plane axis.

    ``in_shape`` (ny, nx) and ``in_spacing`` (sy, sx) mm of the input slices; ``size`` (H, W) and
    ``spacing`` (ty, tx) mm of the model grid. Both grids share their centre, so the input pixel
    index along an axis is ``scale * model_index + offset``.
    """

    in_shape: tuple[int, int]
    in_spacing: tuple[float, float]
    size: tuple[int, int]
    spacing: tuple[float, float]

    @classmethod
    def make(cls, in_shape, in_spacing, size, spacing_mm: float | None) -> "SliceGrid":
        """Grid for input slices of ``in_shape`` (ny, nx) at ``in_spacing`` (sy, sx) mm.

        ``spacing_mm`` None keeps the input spacing (crop/pad only).
        """
        sy, sx = (float(s) for s in in_spacing)
        t = (sy, sx) if spacing_mm is None else (float(spacing_mm), float(spacing_mm))
        return cls(tuple(int(n) for n in in_shape), (sy, sx), tuple(int(n) for n in size), t)

    def _affine(self, axis: int) -> tuple[float, float]:
        n, m = self.in_shape[axis], self.size[axis]
        scale = self.spacing[axis] / self.in_spacing[axis]
        return scale, (n - 1) / 2.0 - scale * (m - 1) / 2.0

    def _grid(self, forward: bool, device) -> torch.Tensor:
        """grid_sample grid (1, rows, cols, 2) in normalised (x, y) with align_corners=True."""
        coords = []
        for axis in (0, 1):
            scale, offset = self._affine(axis)
            n, m = self.in_shape[axis], self.size[axis]
            if forward:  # model pixel -> input pixel index
                idx = scale * torch.arange(m, dtype=torch.float64) + offset
                coords.append(2.0 * idx / max(n - 1, 1) - 1.0)
            else:  # input pixel -> model pixel index
                idx = (torch.arange(n, dtype=torch.float64) - offset) / scale
                coords.append(2.0 * idx / max(m - 1, 1) - 1.0)
        gy, gx = torch.meshgrid(coords[0], coords[1], indexing="ij")
        return torch.stack([gx, gy], dim=-1)[None].to(device=device, dtype=torch.float32)

    def _shift(self) -> tuple[int, int] | None:
        """Integer (row, col) offsets when the map is a pure crop/pad (same spacing), else None."""
        out = []
        for axis in (0, 1):
            scale, offset = self._affine(axis)
            if abs(scale - 1.0) > 1e-9 or abs(offset - round(offset)) > 1e-9:
                return None
            out.append(int(round(offset)))
        return out[0], out[1]

    @staticmethod
    def _copy(src: torch.Tensor, dst: torch.Tensor, oy: int, ox: int) -> torch.Tensor:
        """dst[..., j, i] = src[..., j + oy, i + ox] where both exist (exact crop/pad)."""
        (h, w), (n, m) = dst.shape[-2:], src.shape[-2:]
        y0, y1 = max(0, -oy), min(h, n - oy)
        x0, x1 = max(0, -ox), min(w, m - ox)
        if y1 > y0 and x1 > x0:
            dst[..., y0:y1, x0:x1] = src[..., y0 + oy:y1 + oy, x0 + ox:x1 + ox]
        return dst

    def to_model(self, x: torch.Tensor, nearest: bool = False, fill: float = 0.0) -> torch.Tensor:
        """(N, C, ny, nx) input slices -> (N, C, H, W) on the model grid; outside gets ``fill``."""
        shift = self._shift()
        if shift is not None:  # no resampling: copy exactly (no interpolation error on labels or HU)
            out = torch.full(x.shape[:2] + tuple(self.size), fill, dtype=x.dtype, device=x.device)
            return self._copy(x, out, *shift)
        grid = self._grid(True, x.device).expand(x.shape[0], -1, -1, -1)
        mode = "nearest" if nearest else "bilinear"
        return F.grid_sample(x - fill, grid, mode=mode, padding_mode="zeros", align_corners=True) + fill

    def from_model(self, p: torch.Tensor) -> torch.Tensor:
        """(N, K, H, W) class probabilities -> (N, K, ny, nx); outside the model grid is background."""
        shift = self._shift()
        if shift is not None:
            out = torch.zeros(p.shape[:2] + tuple(self.in_shape), dtype=p.dtype, device=p.device)
            out[:, 0] = 1.0
            return self._copy(p, out, -shift[0], -shift[1])
        grid = self._grid(False, p.device).expand(p.shape[0], -1, -1, -1)
        shift = torch.zeros((1, p.shape[1], 1, 1), dtype=p.dtype, device=p.device)
        shift[:, 0] = 1.0  # background is 1 outside: sample p - shift with zero padding, add it back
        return F.grid_sample(p - shift, grid, mode="bilinear", padding_mode="zeros", align_corners=True) + shift


#: Channels of a 2.5D model's input: the plane ``context_mm`` below, the slice, the plane above.
CONTEXT_CHANNELS = 3


def input_channels(preprocessing: dict) -> int:
    """Input channels a card's ``preprocessing`` implies: 3 with ``context_mm`` > 0, else 1."""
    return CONTEXT_CHANNELS if float(preprocessing.get("context_mm") or 0.0) > 0 else 1


def context_planes(stack, zs, spacing_z_mm: float, context_mm: float, coords=None) -> np.ndarray:
    """(len(zs), 3, ...) float32: for each slice index in ``zs`` of ``stack`` (z, ...), the planes at
    ``-context_mm``, 0 and ``+context_mm`` along z (slice spacing ``spacing_z_mm``), linearly
    interpolated, clamped to the stack's ends. ``coords``: each stack slice's index in its series
    (increasing), when slices were left out of the stack, so a plane is interpolated across the gap
    from the slices either side. ``stack`` may be a memory map; only the needed slices are read."""
    n = len(stack)
    zs = np.asarray(zs, dtype=np.int64)
    c = np.arange(n, dtype=np.float64) if coords is None else np.asarray(coords, dtype=np.float64)
    d = float(context_mm) / float(spacing_z_mm)
    shape = (-1,) + (1,) * (np.ndim(stack) - 1)
    planes = []
    for off in (-d, 0.0, d):
        pos = np.clip(c[zs] + off, c[0], c[-1])
        lo = np.clip(np.searchsorted(c, pos, side="right") - 1, 0, n - 1)
        hi = np.minimum(lo + 1, n - 1)
        gap = np.where(hi > lo, c[hi] - c[lo], 1.0)
        w = np.clip((pos - c[lo]) / gap, 0.0, 1.0).astype(np.float32).reshape(shape)
        a = np.asarray(stack[lo], dtype=np.float32)
        planes.append(a if not w.any() else (1.0 - w) * a + w * np.asarray(stack[hi], dtype=np.float32))
    return np.stack(planes, axis=1)


def normalise(hu: torch.Tensor, window: tuple[float, float]) -> torch.Tensor:
    """HU clipped to ``window`` (lo, hi) and mapped linearly onto [0, 1]."""
    lo, hi = window
    return ((hu - lo) / (hi - lo)).clamp_(0.0, 1.0)


def volume_to_model(hu: np.ndarray, grid: SliceGrid, window, labels: np.ndarray | None = None,
                    batch: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
    """(z, ny, nx) HU (and labels) -> (z, H, W) float32 in [0, 1] (and uint8 labels), in batches."""
    images, masks = [], []
    for k in range(0, hu.shape[0], batch):
        x = torch.from_numpy(np.ascontiguousarray(hu[k:k + batch], dtype=np.float32))[:, None]
        images.append(normalise(grid.to_model(x, fill=float(AIR_HU)), window)[:, 0].numpy())
        if labels is not None:
            y = torch.from_numpy(np.ascontiguousarray(labels[k:k + batch], dtype=np.float32))[:, None]
            masks.append(grid.to_model(y, nearest=True)[:, 0].round().to(torch.uint8).numpy())
    image = np.concatenate(images) if images else np.zeros((0, *grid.size), np.float32)
    mask = (np.concatenate(masks) if masks else np.zeros((0, *grid.size), np.uint8)) if labels is not None else None
    return image, mask


def hu_stats(hu: np.ndarray, max_samples: int = 2_000_000) -> dict[str, float]:
    """p1, p50, p99 and mean HU of a volume, from a strided subsample (bounded time on big CTs)."""
    flat = hu.reshape(-1)
    step = max(1, flat.size // max_samples)
    v = flat[::step].astype(np.float32)
    p1, p50, p99 = np.percentile(v, [1, 50, 99])
    return {"p1": float(p1), "p50": float(p50), "p99": float(p99), "mean": float(v.mean())}
