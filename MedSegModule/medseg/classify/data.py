"""Training data of the volume classifier: ``normal/`` and ``abnormal/`` folders of volumes.

Each entry of the two folders is one volume: a file (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd) or a
DICOM folder. Names that share a part before ``__`` (``patient7__lesion2.nii.gz``) are one patient
and stay on one side of the train/validation split, so a volume and its copy with an inserted
lesion are never split apart.

Preprocessing (the tutorial seed's): the volume in LPS, HU clipped to [-1024, 3000] and mapped to
[0, 1], resized to (D, H, W) = (64, 128, 128) by default: first averaged over whole blocks where it
shrinks (no aliasing of small lesions), then trilinear to the exact size. Augmentation: a rotation in
the axial plane by 5-20 degrees either way, drawn per volume and epoch from the seed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError, ParameterError
from ..io.atomic import atomic_output
from ..progress import CancelEvent, Progress, check_cancel, report

CLASSES = ("normal", "abnormal")
WINDOW_HU = (-1024.0, 3000.0)
SIZE_DHW = (64, 128, 128)
ROTATION_DEG = (5.0, 20.0)
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass
class Case:
    """One volume: its path, label (0 normal, 1 abnormal) and patient group."""

    path: Path
    label: int
    group: str


def is_volume(path: Path) -> bool:
    name = path.name.lower()
    return path.is_dir() or (path.is_file() and name.endswith(VOLUME_SUFFIXES))


def group_of(path: Path) -> str:
    """The patient a volume belongs to: the name before ``__``, else the name without its suffixes."""
    name = path.name
    for suffix in sorted(VOLUME_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.split("__")[0]


def discover(folder: str | os.PathLike) -> list[Case]:
    """The volumes of ``folder/normal`` and ``folder/abnormal``; :class:`InputError` when either is empty."""
    root = Path(folder)
    cases = []
    for label, name in enumerate(CLASSES):
        sub = root / name
        found = sorted(p for p in sub.iterdir() if is_volume(p) and not p.name.startswith(".")) if sub.is_dir() else []
        if not found:
            raise InputError(f"{sub}: no volumes (expected folders {root}/normal and {root}/abnormal of NIfTI, "
                             "NRRD or DICOM folders)")
        cases += [Case(p, label, group_of(p)) for p in found]
    return cases


def split(cases: Sequence[Case], val_fraction: float = 0.25, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train indices, validation indices): whole patient groups, seeded, with both classes in each.

    Groups are shuffled; each class's validation share is filled from its own groups first.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ParameterError(f"the validation fraction must be in (0, 1), got {val_fraction}")
    groups = sorted({c.group for c in cases})
    rng = np.random.default_rng(seed)
    rng.shuffle(groups)
    val_groups: set[str] = set()
    for label in (0, 1):
        want = max(1, int(round(val_fraction * sum(c.label == label for c in cases))))
        for g in groups:
            if sum(c.label == label and c.group in val_groups for c in cases) >= want:
                break
            if any(c.label == label and c.group == g for c in cases):
                val_groups.add(g)
    val = [i for i, c in enumerate(cases) if c.group in val_groups]
    train = [i for i, c in enumerate(cases) if c.group not in val_groups]
    if {cases[i].label for i in train} != {0, 1} or {cases[i].label for i in val} != {0, 1}:
        raise InputError("the data cannot be split into training and validation volumes of both classes by patient: "
                         f"{len(groups)} patient groups; add volumes or patients")
    return train, val


def resize(volume: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(D, H, W) -> ``size``: block means where an axis shrinks by 2x or more, then trilinear."""
    import torch.nn.functional as F

    x = volume[None, None].float()
    factors = [max(1, n // s) for n, s in zip(x.shape[2:], size)]
    if any(f > 1 for f in factors):
        x = F.avg_pool3d(x, kernel_size=factors, stride=factors)
    if tuple(x.shape[2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="trilinear", align_corners=False)
    return x[0, 0]


def preprocess(image, size: Sequence[int] = SIZE_DHW, window=WINDOW_HU) -> np.ndarray:
    """A SimpleITK image (HU) -> (D, H, W) float32 in [0, 1] on the LPS-reoriented grid."""
    from ..preprocess import lps_array

    hu, _spacing, _back = lps_array(image)
    lo, hi = (float(v) for v in window)
    scaled = (np.clip(hu.astype(np.float32), lo, hi) - lo) / (hi - lo)
    return resize(torch.from_numpy(scaled), size).numpy()


def _cache_key(path: Path, size, window) -> str:
    parts = [str(path.resolve()), str(list(size)), str(list(window))]
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    parts += [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def load_case(path: Path, size=SIZE_DHW, window=WINDOW_HU, cache: Path | None = None) -> tuple[np.ndarray, dict]:
    """(preprocessed array, facts for the card's input range: modality, HU percentiles, spacing).

    With ``cache`` (a folder) the result is kept there, keyed by the file's path, size and date.
    """
    from ..io import load
    from ..unet.data import hu_stats

    key = _cache_key(path, size, window) if cache is not None else None
    if key is not None and (cache / f"{key}.npy").is_file() and (cache / f"{key}.json").is_file():
        return np.load(cache / f"{key}.npy"), json.loads((cache / f"{key}.json").read_text())
    image, meta = load(path)
    import SimpleITK as sitk

    array = preprocess(image, size, window)
    facts = {"file": str(path), "modality": meta.get("modality") or "unknown",
             "hu": hu_stats(sitk.GetArrayViewFromImage(image)), "spacing_xyz_mm": list(image.GetSpacing())}
    if key is not None:
        cache.mkdir(parents=True, exist_ok=True)
        with atomic_output(cache / f"{key}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, array)
        with atomic_output(cache / f"{key}.json") as tmp:
            tmp.write_text(json.dumps(facts))
    return array, facts


def load_cases(cases: Sequence[Case], size=SIZE_DHW, window=WINDOW_HU, cache: Path | None = None,
               progress: Progress | None = None, cancel: CancelEvent = None) -> tuple[torch.Tensor, list[dict]]:
    """All cases as one (N, 1, D, H, W) float16 tensor (memory: 2 bytes a voxel) and their facts."""
    arrays, facts = [], []
    for i, case in enumerate(cases):
        check_cancel(cancel)
        array, fact = load_case(case.path, size, window, cache)
        arrays.append(torch.from_numpy(array).to(torch.float16))
        facts.append(fact)
        report(progress, (i + 1) / len(cases), f"volume {i + 1}/{len(cases)}")
    return torch.stack(arrays)[:, None], facts


def rotate_axial(volume: torch.Tensor, degrees: float) -> torch.Tensor:
    """(C, D, H, W) rotated by ``degrees`` in the axial (H, W) plane about its centre; outside = 0 (air)."""
    import torch.nn.functional as F

    c, d, h, w = volume.shape
    t = np.deg2rad(degrees)
    theta = torch.tensor([[np.cos(t), -np.sin(t) * w / h, 0.0], [np.sin(t) * h / w, np.cos(t), 0.0]],
                         dtype=torch.float32)
    slices = volume.float().permute(1, 0, 2, 3)  # (D, C, H, W): each slice turned alike
    grid = F.affine_grid(theta.expand(d, 2, 3), list(slices.shape), align_corners=False)
    return F.grid_sample(slices, grid, mode="bilinear", padding_mode="zeros", align_corners=False).permute(1, 0, 2, 3)


class VolumeSet(torch.utils.data.Dataset):
    """(volume float32 (1, D, H, W), label float32) pairs; with ``augment`` each is rotated by an angle
    drawn from (seed, epoch, index), so runs and resumed runs see the same rotations."""

    def __init__(self, volumes: torch.Tensor, labels: Sequence[int], augment: bool = False, seed: int = 0,
                 rotation_deg=ROTATION_DEG):
        self.volumes, self.labels = volumes, torch.as_tensor(list(labels), dtype=torch.float32)
        self.augment, self.seed, self.rotation, self.epoch = augment, seed, tuple(rotation_deg), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def angle(self, index: int) -> float:
        g = torch.Generator().manual_seed(hash((self.seed, self.epoch, index)) & 0x7FFFFFFF)
        lo, hi = self.rotation
        magnitude = lo + (hi - lo) * float(torch.rand(1, generator=g))
        return magnitude if float(torch.rand(1, generator=g)) < 0.5 else -magnitude

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        x = self.volumes[index].float()
        if self.augment:
            x = rotate_axial(x, self.angle(index))
        return x, self.labels[index]
