"""The torch Dataset over a training folder's cached slices, with negative-slice sampling.

Each epoch uses every positive slice (any foreground class) of the split plus a seeded draw of
negative slices, so that negatives make up ``neg_fraction`` of the epoch (the tumour seed's
sampling: enough empty slices that the model learns to say "nothing here", not so many that
they swamp the structure). The draw depends only on (seed, epoch), and each item's augmentation
only on (seed, epoch, index), so results do not depend on worker count, rank or resume point.
With ``preprocessing.context_mm`` (a 2.5D model) each image also holds the planes that far above
and below (:func:`.data.context_planes`), read from the same study's cached slices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import AugmentConfig, augment
from .data import context_planes


class SliceSet(Dataset):
    """Slices of one split of a training folder (see :mod:`.dataset`).

    ``neg_fraction`` None takes every slice (validation). Items are ``(image, mask)`` with
    image (C, H, W) float32 in [0, 1] (plus augmentation; C = 1, or 3 with ``context_mm``) and
    mask (H, W) int64 class indices.
    """

    def __init__(self, info: dict, split: str, neg_fraction: float | None = 0.25,
                 augmentation: AugmentConfig | None = None, seed: int = 0, mirror_pairs=()) -> None:
        folder = Path(info["_folder"])
        ids = set(info["split"][split])
        self.images, self.masks, self.z_of = [], [], []
        self.context_mm = float(info["preprocessing"].get("context_mm") or 0.0)
        pos, neg = [], []
        for f in info["files"]:
            if f["id"] not in ids:
                continue
            k = len(self.images)
            # mmap: slices are read on demand, so big datasets need not fit in memory.
            self.images.append(np.load(folder / f["image"], mmap_mode="r"))
            mask = np.load(folder / f["mask"], mmap_mode="r")
            self.masks.append(mask)
            # (slice spacing mm, each cached slice's index in its series): where the context planes lie
            self.z_of.append((float(f.get("slice_spacing_mm") or f["spacing_xyz_mm"][2]), f.get("slice_z")))
            has = np.asarray(mask).reshape(len(mask), -1).any(axis=1)
            pos += [(k, int(z)) for z in np.flatnonzero(has)]
            neg += [(k, int(z)) for z in np.flatnonzero(~has)]
        self.positives, self.negatives = pos, neg
        self.neg_fraction = neg_fraction
        self.augmentation = augmentation or AugmentConfig.off()
        self.seed, self.mirror_pairs = int(seed), [list(p) for p in mirror_pairs]
        self.n_neg = self._n_negatives()
        self.set_epoch(0)

    def _n_negatives(self) -> int:
        if self.neg_fraction is None or not self.positives:
            return len(self.negatives)
        f = min(max(float(self.neg_fraction), 0.0), 0.95)
        return min(len(self.negatives), int(round(f / (1.0 - f) * len(self.positives))))

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's negative slices (and re-seed its augmentation)."""
        self.epoch = int(epoch)
        if self.n_neg >= len(self.negatives):
            chosen = list(self.negatives)
        else:
            rng = np.random.default_rng([self.seed, self.epoch, 7])
            chosen = [self.negatives[i] for i in sorted(rng.choice(len(self.negatives), self.n_neg, replace=False))]
        self.items = sorted(self.positives + chosen)

    def __len__(self) -> int:
        return len(self.items)

    def raw(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Item ``i`` without augmentation: (C, H, W) float32 image, (H, W) uint8 mask."""
        k, z = self.items[i]
        if self.context_mm > 0:
            spacing, coords = self.z_of[k]
            image = context_planes(self.images[k], [z], spacing, self.context_mm, coords)[0]
        else:
            image = np.asarray(self.images[k][z], dtype=np.float32)[None]
        return image, np.asarray(self.masks[k][z])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.raw(i)
        if self.augmentation.enabled:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            image, mask = augment(image, mask, rng, self.augmentation, self.mirror_pairs)
        return torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(mask.astype(np.int64))

    def fixed_batch(self, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` slices spread over the split's positive slices (all slices if none): the montage batch."""
        pool = [self.items.index(p) for p in self.positives] or list(range(len(self.items)))
        picks = [pool[int(round(j))] for j in np.linspace(0, len(pool) - 1, min(n, len(pool)))]
        pairs = [self.raw(i) for i in picks]
        return (torch.from_numpy(np.stack([p[0] for p in pairs])),
                torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64)))
