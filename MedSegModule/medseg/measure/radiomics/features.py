"""pyradiomics features per segment: one wide row per segment, for one case or a batch of cases.

``extract(image, labels, names, params)`` runs pyradiomics' own
``RadiomicsFeatureExtractor(params).execute(image, mask, label=value)`` once per segment and returns
rows ``{"segment": name, "label_value": value, "original_firstorder_Mean": ..., ...}``. The values are
pyradiomics' own, converted to plain Python scalars, so they equal a direct pyradiomics call made with
the same settings on the same image and mask.

* **Parameters** are pyradiomics YAML files in pyradiomics' own schema, or the name of a preset
  shipped in ``medseg/resources/radiomics/`` (:func:`list_presets`): ``ct-default`` (bin width
  25 HU, 1 mm isotropic B-spline resampling, every original feature class), ``ct-wavelet-log``
  (plus wavelet and LoG sigma 1/2/3 mm) and ``ct-baseline`` (no resampling; the fast one).
* **Segments.** By default every label value present, except that with the auto-label table's names
  body (1) and table-headrest (2) are left out (slow and meaningless for radiomics);
  ``label_values`` picks segments by value or name.
* **Geometry.** Labels are put onto the image grid with :func:`medseg.io.grid.align_labels`:
  a grid that truly differs is a :class:`GeometryError` showing both geometries, unless
  ``resample_labels`` is true.
* **Process pool.** ``jobs > 1`` runs segments (and, in :func:`extract_cases`, cases) in a
  :class:`concurrent.futures.ProcessPoolExecutor`. SimpleITK images are handed to workers as
  ``.npy`` voxel arrays in a temporary folder plus their exact float geometry, so a worker rebuilds
  the identical image and the rows equal those of ``jobs=1``.
  The pool machinery lives in :mod:`medseg.measure.radiomics.pool`.
* pyradiomics is imported only when features are extracted: medseg imports without it, and a
  missing pyradiomics is a :class:`DependencyError` saying how to install it.
"""

from __future__ import annotations

import copy
import os
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import SimpleITK as sitk
import yaml

from ...errors import Cancelled, InputError, MedSegError, ParameterError
from ...labels import BODY, TABLE_HEADREST
from ...limits import check_allocation
from .pool import INSTALL_HINT, Case, new_extractor, resolve_jobs, run_cases
from ...progress import CancelEvent, Progress
from ...io.label_files import read_label_image
from ...labels import segment_name

__all__ = [
    "INSTALL_HINT", "DEFAULT_PRESET", "list_presets", "preset_path", "load_params", "validate_params",
    "label_sizes", "present_label_values", "default_label_values", "select_label_values", "extract", "extract_cases",
]

DEFAULT_PRESET = "ct-default"

#: Top-level keys of pyradiomics' parameter schema.
_PARAM_SECTIONS = {"imageType", "featureClass", "setting", "voxelSetting"}

#: Auto-label segments left out by default (when the names say they are the auto-label table's).
_SKIPPED_BY_DEFAULT = (BODY, TABLE_HEADREST)


# --------------------------------------------------------------------------------------------------
# Parameters and presets


def _presets_dir():
    return resources.files("medseg").joinpath("resources", "radiomics")


def list_presets() -> list[str]:
    """Names of the shipped parameter presets (``ct-default``, ``ct-baseline``, ...)."""
    return sorted(p.name[: -len(".yaml")] for p in _presets_dir().iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str):
    """The preset's YAML resource (a Traversable; a real file when installed from a wheel or a checkout)."""
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    path = _presets_dir().joinpath(stem + ".yaml")
    if not path.is_file():
        raise ParameterError(f"unknown radiomics preset {name!r}; presets: {', '.join(list_presets())}")
    return path


def _check_structure(params: Any, source: str) -> dict:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParameterError(f"{source}: pyradiomics parameters must be a mapping with sections "
                             f"{sorted(_PARAM_SECTIONS)}, got {type(params).__name__}")
    unknown = set(params) - _PARAM_SECTIONS
    if unknown:
        raise ParameterError(f"{source}: unknown pyradiomics parameter sections {sorted(unknown)}; "
                             f"allowed: {sorted(_PARAM_SECTIONS)}")
    return copy.deepcopy(dict(params))


def load_params(preset_or_path: str | os.PathLike | Mapping[str, Any] | None = None) -> dict:
    """pyradiomics parameters as a dict, from a YAML file, a preset name, or a dict (copied).

    ``None`` means :data:`DEFAULT_PRESET`. An existing file wins over a preset of the same name.
    The dict follows pyradiomics' schema (``imageType``, ``featureClass``, ``setting``,
    ``voxelSetting``); its values are checked by pyradiomics itself when features are extracted
    (or by :func:`validate_params`).
    """
    if preset_or_path is None:
        preset_or_path = DEFAULT_PRESET
    if isinstance(preset_or_path, Mapping):
        return _check_structure(preset_or_path, "parameters")
    text_name = str(preset_or_path)
    path = Path(preset_or_path)
    if path.is_file():
        source, opener = str(path), path
    else:
        is_bare_name = "/" not in text_name and os.sep not in text_name
        stem = text_name[: -len(".yaml")] if text_name.endswith(".yaml") else text_name
        if not (is_bare_name and stem in list_presets()):
            raise ParameterError(f"radiomics parameters {text_name!r}: no such file, and not a preset "
                                 f"({', '.join(list_presets())})")
        opener = preset_path(stem)
        source = f"preset {stem}"
    try:
        with opener.open("r", encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise ParameterError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    except (UnicodeDecodeError, ValueError):
        raise ParameterError(f"{source}: not a YAML text file (it holds binary data)") from None
    except OSError as exc:
        raise ParameterError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    return _check_structure(data, source)


def validate_params(params: str | os.PathLike | Mapping[str, Any] | None) -> dict:
    """Load ``params`` and have pyradiomics validate them; :class:`ParameterError` if it refuses them."""
    loaded = load_params(params)
    new_extractor(loaded)
    return loaded


# --------------------------------------------------------------------------------------------------
# Which segments


def label_sizes(labels: sitk.Image) -> dict[int, int]:
    """Voxel count of every non-zero label value in ``labels``, by ascending value."""
    arr = sitk.GetArrayViewFromImage(labels)
    if arr.dtype.kind not in "iub":
        raise InputError(f"the label image has voxel type {labels.GetPixelIDTypeAsString()}; expected integer labels")
    if arr.dtype.itemsize <= 2 and arr.dtype.kind in "ub":
        counts = np.bincount(arr.reshape(-1).astype(np.intp, copy=False))
        values = np.flatnonzero(counts)
        counts = counts[values]
    else:
        values, counts = np.unique(arr, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts) if v != 0}


def present_label_values(labels: sitk.Image) -> list[int]:
    """Non-zero label values in ``labels``, ascending."""
    return list(label_sizes(labels))


def _is_auto_label(value: int, names: Mapping[int, str] | None, label) -> bool:
    return bool(names) and value == label.value and str(names.get(value, "")).strip().lower() == label.name


def default_label_values(present: Sequence[int], names: Mapping[int, str] | None) -> list[int]:
    """Every present value, less body (1) and table-headrest (2) when ``names`` says they are those."""
    skipped = {lab.value for lab in _SKIPPED_BY_DEFAULT if _is_auto_label(lab.value, names, lab)}
    return [v for v in present if v not in skipped]


def _resolve(item: int | str, names: Mapping[int, str] | None) -> int:
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return int(item)
    text = str(item).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    for value, name in (names or {}).items():
        if name == text:
            return int(value)
    for value, name in (names or {}).items():
        if name.lower() == text.lower():
            return int(value)
    known = ", ".join(f"{v}={n}" for v, n in sorted((names or {}).items()))
    raise ParameterError(f"unknown segment {text!r}: give a label value or a segment name"
                         + (f" ({known})" if known else " (this label map has no segment names)"))


def select_label_values(present: Sequence[int], names: Mapping[int, str] | None,
                        label_values: Iterable[int | str] | None = None, strict: bool = True) -> list[int]:
    """The label values to extract: ``label_values`` (values or segment names) or the defaults.

    With ``strict``, a requested value absent from the label map is a :class:`ParameterError`;
    otherwise it is skipped (batches across cases, where a case may lack a structure).
    """
    if label_values is None:
        chosen = default_label_values(present, names)
        if not chosen:
            what = "no labelled voxels" if not present else "only body/table-headrest, which are left out by default"
            raise ParameterError(f"nothing to extract: the label map holds {what}; pick segments with --labels")
        return chosen
    chosen: list[int] = []
    for item in label_values:
        value = _resolve(item, names)
        if value in chosen:
            continue
        if value not in present:
            if strict:
                raise ParameterError(f"label {value} ({segment_name(value, names)}) is not in the label map; "
                                     f"present: {', '.join(map(str, present)) or 'none'}")
            continue
        chosen.append(value)
    if not chosen:
        raise ParameterError("none of the requested labels is in the label map")
    return chosen


# --------------------------------------------------------------------------------------------------
# Public API


def _prepare(image: sitk.Image, labels: sitk.Image, names: Mapping[int, str] | None,
             label_values: Iterable[int | str] | None, resample_labels: bool, strict: bool,
             case: str | None) -> Case:
    from ...io.grid import align_labels

    if image.GetDimension() != 3 or labels.GetDimension() != 3:
        raise InputError(f"radiomics needs 3D images; got image {image.GetDimension()}D and labels {labels.GetDimension()}D")
    mask = align_labels(labels, image, resample=resample_labels, what="labels")
    names = dict(names or {})
    sizes = label_sizes(mask)
    values = select_label_values(list(sizes), names, label_values, strict=strict)
    return Case(case, image, mask, names, values, sizes)


#: Texture classes whose matrices grow with the number of grey levels (and, for GLSZM, the voxels).
_ANGLES_3D = 13


def check_budget(image: sitk.Image, mask: sitk.Image, values: Sequence[int], params: Mapping[str, Any]) -> None:
    """Refuse, before pyradiomics allocates them, settings whose matrices or resampled images are too large.

    The number of grey levels is the HU range inside the segments over ``binWidth`` (or
    ``binCount``); the GLCM is levels² × 13 angles, the GLSZM levels × voxels; a
    ``resampledPixelSpacing`` gives the resampled bounding box. Limits: :mod:`medseg.limits`.
    """
    setting = dict(params.get("setting") or {})
    classes = set(params.get("featureClass") or {}) or {"glcm", "glszm", "glrlm", "gldm", "ngtdm", "firstorder"}
    lab = sitk.GetArrayViewFromImage(mask)
    inside = np.isin(lab, list(values))
    if not inside.any():
        return
    hu = sitk.GetArrayViewFromImage(image)[inside]
    span = float(np.max(hu)) - float(np.min(hu)) if hu.size else 0.0
    filtered = set(params.get("imageType") or {"Original": {}}) - {"Original"}
    if filtered:
        span *= 4.0  # LoG and wavelet responses spread beyond the original range
    try:
        if setting.get("binCount") is not None:
            levels = float(setting["binCount"])
        else:
            width = float(setting.get("binWidth", 25))
            if not np.isfinite(width) or width <= 0:
                raise ParameterError(f"radiomics binWidth {setting.get('binWidth')!r} must be a positive number")
            levels = span / width + 1
    except (TypeError, ValueError):
        raise ParameterError("radiomics binWidth/binCount must be numbers") from None
    voxels = float(inside.sum())
    check_allocation(f"the radiomics histogram ({levels:.3g} grey levels over {span:.6g} HU; raise binWidth)",
                     (levels,), np.float64)
    if "glcm" in classes:
        check_allocation(f"the radiomics GLCM ({levels:.3g} grey levels; raise binWidth)",
                         (levels, levels, _ANGLES_3D), np.float64)
    if "glszm" in classes:
        check_allocation(f"the radiomics GLSZM ({levels:.3g} grey levels x {voxels:.3g} voxels; raise binWidth)",
                         (levels, voxels), np.float64)
    spacing = setting.get("resampledPixelSpacing")
    if spacing:
        try:
            target = np.array([float(v) for v in spacing], dtype=float)
        except (TypeError, ValueError):
            raise ParameterError(f"radiomics resampledPixelSpacing {spacing!r} must be numbers (mm)") from None
        if target.shape != (3,) or not np.all(np.isfinite(target)) or np.any(target < 0):
            raise ParameterError(f"radiomics resampledPixelSpacing {spacing!r} must be three numbers >= 0 (mm)")
        counts = []
        for axis in range(3):
            hit = np.flatnonzero(inside.any(axis=tuple(a for a in range(3) if a != axis)))
            counts.append(hit[-1] - hit[0] + 1)
        extent_mm = np.asarray(counts[::-1], dtype=float) * np.asarray(image.GetSpacing())
        step = np.where(target > 0, target, np.asarray(image.GetSpacing()))
        check_allocation("the radiomics resampled image (raise resampledPixelSpacing)", tuple(extent_mm / step),
                         np.float64)


def extract(image: sitk.Image, labels: sitk.Image, names: Mapping[int, str] | None = None,
            params: str | os.PathLike | Mapping[str, Any] | None = DEFAULT_PRESET,
            label_values: Iterable[int | str] | None = None, diagnostics: bool = False, jobs: int = 1,
            resample_labels: bool = False, progress: Progress | None = None, cancel: CancelEvent = None,
            mp_context: str | None = None) -> list[dict]:
    """pyradiomics features of each segment of ``labels`` on ``image``: one row per segment.

    Rows start with ``segment`` (its name, or ``label-<value>``) and ``label_value``, then every
    feature under pyradiomics' name (``original_firstorder_Mean``, ...), then, only when
    ``diagnostics`` is true, pyradiomics' ``diagnostics_*`` columns (containers as JSON text).

    ``params``: a preset name, a YAML path, or a dict (pyradiomics' schema). ``label_values``:
    label values or segment names to extract (default: see :func:`default_label_values`).
    ``jobs``: worker processes across segments (``<= 0``: one per CPU). ``resample_labels``: put a
    label map on another grid onto the image's grid (nearest neighbour) instead of refusing it.

    Raises :class:`DependencyError` (no pyradiomics), :class:`ParameterError` (bad parameters or
    labels), :class:`GeometryError` (grids differ), :class:`InputError` (pyradiomics refused a
    segment, e.g. a single voxel), :class:`Cancelled`.
    """
    params = load_params(params)
    new_extractor(params)  # fail early: dependency and parameter errors before any work
    case = _prepare(image, labels, names, label_values, resample_labels, strict=True, case=None)
    check_budget(case.image, case.mask, case.values, params)
    jobs = min(resolve_jobs(jobs), len(case.values))  # no idle workers
    return run_cases(iter([case]), 1, params, diagnostics, jobs, None, progress, cancel, mp_context)


def _case_spec(spec: Sequence) -> tuple[str, str | os.PathLike, str | os.PathLike]:
    if len(spec) == 2:
        return str(spec[0]), spec[0], spec[1]
    if len(spec) == 3:
        return str(spec[0]), spec[1], spec[2]
    raise ParameterError(f"a case is (image, labels) or (case id, image, labels), got {spec!r}")


def extract_cases(cases: Sequence[Sequence], params: str | os.PathLike | Mapping[str, Any] | None = DEFAULT_PRESET,
                  label_values: Iterable[int | str] | None = None, diagnostics: bool = False, jobs: int = 1,
                  resample_labels: bool = False, failures: list | None = None, progress: Progress | None = None,
                  cancel: CancelEvent = None, mp_context: str | None = None) -> list[dict]:
    """:func:`extract` over many cases, all segments of all cases sharing one process pool.

    ``cases``: ``(image_path, labels_path)`` or ``(case_id, image_path, labels_path)`` each; the image
    is any input :func:`medseg.io.load` reads (DICOM folder, NRRD, NIfTI), the labels any label
    image (:func:`medseg.io.read_label_image`; names from a seg.nrrd or a ``<labels>.json`` beside a
    plain volume). Rows gain a leading ``case`` column (the case id, by default the image path).

    ``label_values`` absent from a case are skipped for that case. A case that fails (unreadable,
    geometry mismatch, pyradiomics refusing a segment) raises, unless ``failures`` is a list: then
    ``(case_id, message)`` is appended and the other cases go on (the CLI's exit code 3).
    """
    from ...io import load

    params = load_params(params)
    new_extractor(params)
    specs = [_case_spec(spec) for spec in cases]
    wanted = None if label_values is None else list(label_values)

    def prepared() -> Iterator[Case | MedSegError]:
        for case_id, image_path, labels_path in specs:
            try:
                image, _meta = load(image_path)
                labels, names = read_label_image(labels_path)
                prepared_case = _prepare(image, labels, names, wanted, resample_labels, strict=False, case=case_id)
                check_budget(prepared_case.image, prepared_case.mask, prepared_case.values, params)
                yield prepared_case
            except Cancelled:
                raise
            except MedSegError as error:
                error.case_label = case_id  # type: ignore[attr-defined]
                yield error

    return run_cases(prepared(), len(specs), params, diagnostics, jobs, failures, progress, cancel, mp_context)
