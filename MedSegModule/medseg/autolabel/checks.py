"""Input checks shared by the steps that need CT in Hounsfield units (clean, lungs)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import NotCTError

#: HU at or below which a voxel counts as air for the plausibility check.
AIR_MAX_HU = -900.0
#: Least fraction of the grid that must be air for unknown input to pass as CT: any CT has air
#: around the patient or in the lungs; an MR volume's intensities are >= 0.
MIN_AIR_FRACTION = 0.01


def looks_like_hu(array: np.ndarray) -> bool:
    """Whether values look like CT HU: some air near -1000 HU and nothing far below the CT range."""
    sample = np.asarray(array).ravel()[:: max(1, np.asarray(array).size // 1_000_000)]
    if sample.size == 0:
        return False
    air = np.count_nonzero(sample <= AIR_MAX_HU) / sample.size
    return air >= MIN_AIR_FRACTION and float(sample.min()) >= -1100.0


def require_ct(image: sitk.Image, meta: dict | None, force: bool = False, step: str = "clean") -> None:
    """Raise :class:`NotCTError` unless ``image`` is CT in HU (or ``force`` is set).

    ``meta["is_hu"]`` from :func:`medseg.io.load` decides when it is True or False; for volume
    files it is None (unknown) and the values decide (:func:`looks_like_hu`).
    """
    if force:
        return
    meta = meta or {}
    is_hu = meta.get("is_hu")
    modality = meta.get("modality", "unknown")
    if is_hu is False:
        raise NotCTError(f"{step} needs CT in Hounsfield units, but the input is {modality}; "
                         "pass --force (force=True) to run it anyway")
    if is_hu is None and not looks_like_hu(sitk.GetArrayViewFromImage(image)):
        raise NotCTError(f"{step} needs CT in Hounsfield units, but the values do not look like HU "
                         "(no air near -1000 HU); pass --force (force=True) to run it anyway")
