"""Facts the report records so a result can be reproduced: the grid, the options and presets, the libraries.

Library versions come from the installed distributions' metadata (:mod:`importlib.metadata`), so
nothing is imported just to name its version (torch takes seconds to import).
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import numpy as np
import SimpleITK as sitk

#: Distributions whose versions the report lists (distribution name, what it does here).
LIBRARIES = (("medseg", "this toolkit"), ("pydicom", "DICOM reading"), ("SimpleITK", "images, geometry, filters"),
             ("numpy", "arrays"), ("scipy", "morphology"), ("scikit-image", "marching cubes, filters"),
             ("highdicom", "DICOM SEG"), ("torch", "U-Net, classifier"), ("pyradiomics", "radiomics"),
             ("matplotlib", "figures"), ("plotly", "interactive 3D view"))


def library_versions() -> list[tuple[str, str, str]]:
    """(distribution, version or "not installed", role) for each of :data:`LIBRARIES`, then Python and the OS."""
    from .. import __version__

    rows = []
    for name, role in LIBRARIES:
        try:
            version = __version__ if name == "medseg" else metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        rows.append((name, version, role))
    rows.append(("Python", platform.python_version(), sys.implementation.name))
    rows.append(("platform", platform.platform(terse=True), platform.machine()))
    return rows


def grid_facts(image: sitk.Image) -> dict:
    """The image grid: size (x, y, z voxels), spacing (mm), origin (LPS mm), direction cosines (rows
    = the image's x, y, z axes in LPS), the closest orientation code, the extent (mm) and the voxel type."""
    size = image.GetSize()
    spacing = image.GetSpacing()
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    return {
        "size": [int(v) for v in size],
        "spacing_mm": [round(float(v), 4) for v in spacing],
        "origin_lps_mm": [round(float(v), 2) for v in image.GetOrigin()],
        # ITK stores the axes as the matrix's columns; one row per image axis reads better.
        "direction_rows": [[round(float(c), 4) for c in direction[:, k]] for k in range(3)],
        "orientation": sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection()),
        "oblique": bool(np.abs(np.abs(direction) - np.round(np.abs(direction))).max() > 1e-3),
        "extent_mm": [round(float(n * s), 1) for n, s in zip(size, spacing)],
        "voxel_mm3": round(float(np.prod(spacing)), 4),
        "pixel_type": image.GetPixelIDTypeAsString(),
    }


def run_parameters(given: dict) -> dict:
    """The options a run was called with, as JSON-ready values (paths as text; callbacks and events left out)."""
    skip = {"progress", "cancel"}
    out = {}
    for key, value in given.items():
        if key in skip or key.startswith("_") or callable(value):
            continue
        out[key] = value if isinstance(value, (bool, int, float, str, type(None))) else str(value)
    return out


def radiomics_preset(preset: str | None) -> dict | None:
    """The radiomics settings a run used (a preset name or a YAML file): image types, feature
    classes and the ``setting`` section, or None when radiomics was off or the file cannot be read."""
    if not preset:
        return None
    from ..errors import MedSegError
    from ..measure.radiomics import load_params

    try:
        params = load_params(preset)
    except MedSegError:
        return None
    return {"image types": ", ".join(params.get("imageType") or {}) or "Original",
            "feature classes": ", ".join(params.get("featureClass") or {}) or "all",
            **{str(k): v for k, v in (params.get("setting") or {}).items() if k != "label"}}


__all__ = ["LIBRARIES", "library_versions", "grid_facts", "run_parameters", "radiomics_preset"]
