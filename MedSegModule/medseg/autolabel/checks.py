"""Input checks shared by the steps that need CT in Hounsfield units (clean, lungs)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..errors import NotCTError
from ..io.hu_check import inspect_values
from ..labels import OUT_OF_FIELD_HU

#: HU at or below which a voxel counts as air for the plausibility check.
AIR_MAX_HU = -900.0
#: Least fraction of the grid that must be air for unknown input to pass as CT: any CT has air
#: around the patient or in the lungs; an MR volume's intensities are >= 0.
MIN_AIR_FRACTION = 0.01


def looks_like_hu(array: np.ndarray) -> bool:
    """Whether values look like CT HU, judged robustly: an air mode near -1000 HU, at least
    :data:`MIN_AIR_FRACTION` of the (non-padding) values at or below -900 HU, and a 1st percentile
    inside the CT range.

    Robust on purpose: some scanners and reconstructions put part of the air at -1200 HU and
    lower, and one filled corner (-2048 outside the field of view) is padding, not a measurement;
    neither says the values are not HU. The minimum is never used.
    """
    check = inspect_values(array)
    if check.verdict != "hu":
        return False
    sample = np.asarray(array).ravel()[:: max(1, np.asarray(array).size // 1_000_000)]
    if check.padding_value is not None:
        sample = sample[sample != check.padding_value]  # padding is no evidence of air
    air = np.count_nonzero(sample <= AIR_MAX_HU) / max(sample.size, 1)
    return air >= MIN_AIR_FRACTION and check.percentiles[1] >= OUT_OF_FIELD_HU


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
